import type { Pool } from 'pg';
import type { ResolvedTable } from '../discovery';
import { TablesyncError } from '../errors';
import type { SyncConfig } from '../config';
import { refKey, type ReadFilter, type SourceConnection, type SourceTable } from '../sources/base';
import { displayName } from '../tables';
import type { TablePlan } from '../types';
import { planAuto } from './auto';
import { cdcMode } from './cdc';
import { changelogMode } from './changelog';
import { compareMode } from './compare';
import { cursorMode } from './cursor';
import { fullMode } from './full';
import { traitsOf, type SyncModeName } from './names';
import { keylessOutcome, withConfiguredKey } from './keys';
import { describeTarget } from './plan-steps';
import { keepsVersions } from './plans';
import { pgCatalog } from '../sources/postgres/catalog';
import { bothFilters, probeRowFilter, rowFilterOf, rowFilterPlan } from '../sources/row-filter';
import { carriedFlag } from '../target/soft-deletes';
import type { PlanCatalog } from './plan-catalog';
import type { PlanOutcome, SyncMode, TableSettings } from './types';

export * from './names';
export { readPlanCatalog, type PlanCatalog } from './plan-catalog';
export type { Applied, ChunkContext, PendingRule, PlanOutcome, SyncMode, TableSettings } from './types';

const MODES: Record<SyncModeName, SyncMode> = { full: fullMode, compare: compareMode, cursor: cursorMode, changelog: changelogMode, cdc: cdcMode };

/** The module of a planned table's mode. */
export function modeOf(name: SyncModeName | string): SyncMode {
  const mode = MODES[name as SyncModeName];
  if (!mode) throw new Error(`unknown sync mode "${name}"`);
  return mode;
}

/** A table's own settings: its `tables` entry's, else the config's. */
export function settingsOf(config: SyncConfig, ref: ResolvedTable): TableSettings {
  const e = ref.entry;
  const mode = e?.mode ?? config.mode;
  // A mode may carry out deletes by default (a change log names deleted keys) unless the table says otherwise.
  const defaultDeletes = mode !== 'auto' ? traitsOf(mode).defaultDeletes : undefined;
  return {
    field: (name: string) => (e ? `tables[${ref.entryIndex}].${name}` : name),
    mode,
    deletes: e?.deletes ?? (defaultDeletes && config.deletes === 'ignore' ? defaultDeletes : config.deletes),
    changelog: e?.changelog,
    cursor: e?.cursor ?? config.cursor,
    write: e?.write ?? config.write,
    lookback: e?.lookback ?? config.lookback,
    columns: e?.columns,
    where: e?.where,
    primaryKey: e?.primaryKey,
    keyless: e?.keyless ?? config.keyless,
  };
}

/**
 * Plans one table: its mode's planner, with the columns the table syncs.
 * Returns why it is skipped, or throws what fails this table alone.
 * `verify`: a table that keeps a position and has no target rows yet is
 * skipped (nothing to compare), never planned to be created.
 */
export async function planTable(
  source: SourceConnection,
  target: Pool,
  config: SyncConfig,
  ref: ResolvedTable,
  write: boolean,
  verify = false,
  catalog?: PlanCatalog,
): Promise<PlanOutcome> {
  const name = displayName(ref);
  let settings = settingsOf(config, ref);
  const listed = catalog?.source.get(refKey(ref)) ?? (await source.describeTable({ schema: ref.schema, name: ref.name }));
  if (!listed) {
    throw new TablesyncError('UnknownTable', `Source table ${name} does not exist in "${config.source.connection}"`);
  }
  // The filter first: a bad one fails this table, with the source's own words, before anything else is asked.
  const rowFilter = settings.where === undefined ? undefined : rowFilterPlan(source.dialect, listed, settings.where, settings.field('where'), name);
  if (rowFilter) await probeRowFilter(source, listed.ref, rowFilter, settings.field('where'), name);
  const { table: found, notes } = await withConfiguredKey(source, listed, settings);
  if (found.primaryKey.length === 0) {
    if (verify) {
      // Compared whole (count and an order-free digest of its rows); an append table's versions match no source rows.
      if (settings.keyless === 'skip') return { skip: `no primary key (${settings.field('keyless')}: skip)` };
      if (settings.mode !== 'compare' && settings.mode !== 'auto') {
        const need = traitsOf(settings.mode).needsKey(settings.write);
        return { skip: need ? `no primary key, which mode ${settings.mode} needs: ${need}` : `no primary key: its target keeps every version read, which no source row matches` };
      }
    } else {
      const keyless = keylessOutcome(name, settings, settings.mode);
      if ('skip' in keyless) return keyless;
      if (keyless.mode === 'full') settings = { ...settings, mode: 'full' };
      notes.push(...keyless.notes);
    }
  }
  const outcome = await planMode(source, target, config, found, settings, write, verify, catalog);
  if (!('plan' in outcome)) return outcome;
  outcome.plan.notes.push(...notes);
  return rowFilter ? { plan: { ...outcome.plan, rowFilter } } : outcome;
}

async function planMode(
  source: SourceConnection,
  target: Pool,
  config: SyncConfig,
  found: SourceTable,
  settings: TableSettings,
  write: boolean,
  verify: boolean,
  catalog: PlanCatalog | undefined,
): Promise<PlanOutcome> {
  const name = displayName(found.ref);
  const described = selectColumns(found, settings.columns, [...found.primaryKey, ...(settings.cursor ? [settings.cursor] : [])], name, settings.field('columns'));
  const ctx = { source, target, config, described, settings, write, verify, catalog };
  return withDeleteRule(await withMarks(target, config, await planInMode(ctx, verify), catalog), settings);
}

async function planInMode(ctx: Parameters<typeof planAuto>[0], verify: boolean): Promise<PlanOutcome> {
  const { settings } = ctx;
  if (settings.mode === 'auto') return planAuto(ctx);
  const mode = modeOf(settings.mode);
  if (verify && mode.savesPosition) {
    const side = await describeTarget(ctx);
    if (!side.table) return { skip: `target table ${displayName(side.ref)} does not exist (no ${mode.name} run yet)` };
    if (!side.hasRows) return { skip: `target table ${displayName(side.ref)} is empty (no ${mode.name} run yet)` };
  }
  return mode.plan(ctx);
}

/**
 * A table written in place whose target carries soft-delete marks, whatever
 * its mode and delete rule now: every write unmarks the rows it writes, and
 * verify counts only unmarked rows (see TablePlan.marks). A load that swaps
 * in a new table drops the marks with the old one; an append table's new
 * versions are written unmarked.
 */
async function withMarks(target: Pool, config: SyncConfig, outcome: PlanOutcome, catalog: PlanCatalog | undefined): Promise<PlanOutcome> {
  if (!('plan' in outcome)) return outcome;
  const { plan } = outcome;
  if (plan.softDeleteColumn) return { plan: { ...plan, marks: plan.softDeleteColumn } };
  if (modeOf(plan.mode).steps !== 'apply-in-place' || keepsVersions(plan)) return outcome;
  // The catalog's description, unless planning changed the table since (see evolveColumns).
  const key = refKey(plan.target);
  const table = catalog?.target.has(key) ? catalog.target.get(key)! : await pgCatalog.describeTable(target, plan.target);
  const flag = carriedFlag(table, config.softDeleteColumn);
  return flag ? { plan: { ...plan, marks: flag } } : outcome;
}

/** Every plan carries its table's delete rule, whatever its mode does with it: verify's repair follows it. */
function withDeleteRule(outcome: PlanOutcome, settings: TableSettings): PlanOutcome {
  if (!('plan' in outcome) || outcome.plan.deletes !== undefined) return outcome;
  return { plan: { ...outcome.plan, deletes: settings.deletes } };
}

/** The columns a table syncs: all, or those named (the key and the cursor always among them). */
function selectColumns(table: SourceTable, wanted: string[] | undefined, always: string[], name: string, field: string): SourceTable {
  if (!wanted) return table;
  const known = new Set(table.columns.map((c) => c.name));
  const unknown = wanted.filter((c) => !known.has(c));
  if (unknown.length) {
    throw new TablesyncError('InvalidConfig', `${name}: ${field} names ${unknown.map((c) => `"${c}"`).join(', ')}, which the table does not have`);
  }
  const keep = new Set([...wanted, ...always]);
  return { ...table, columns: table.columns.filter((c) => keep.has(c.name)) };
}

/** The rows a read of the table keeps of each key range: its mode's filter (a window, logged keys) and the table's where, for the source's openCopy. */
export function readFilterOf(table: TablePlan): ReadFilter {
  const mode = modeOf(table.mode);
  return bothFilters((dialect, placeholder) => mode.readFilter(dialect, table, placeholder), rowFilterOf(table));
}

