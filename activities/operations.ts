import type { PoolClient } from 'pg';
import type { SyncConfig } from '../lib/config';
import { resolveTableSpecs, type ResolvedTable } from '../lib/discovery';
import { TablesyncError } from '../lib/errors';
import { normalizeMode } from '../lib/modes/names';
import type { SourceConnection, SourceTable } from '../lib/sources/base';
import { pgCatalog } from '../lib/sources/postgres/catalog';
import { lastRunSql, readTableStateSql, saveTableStateSql, tableStateLockSql, type TableState } from '../lib/state';
import { targetName, targetRefOf } from '../lib/table-plan';
import { displayName, parseTableName } from '../lib/tables';
import {
  APPEND_COLUMNS,
  appendToUpsertSql,
  primaryKeyConstraintSql,
  tableExistsSql,
  upsertToAppendSql,
  versionCountSql,
} from '../lib/target';
import type { TableRef } from '../lib/types';
import { inTransaction, type ActivityDeps } from './context';
import { classifyError, nonRetryable } from './errors';
import { settingsOf } from './planning';

// Operations on a table's saved state: reset-state, set-mode, status. Each
// change runs in one target transaction that locks the state row (FOR
// UPDATE) and writes the new state with its history row; a dry run does the
// same reads and changes nothing.

export interface TableOperationInput {
  config: SyncConfig;
  /** The source table, as the config's `tables` names it (schema.table, or table in the default schema). */
  table: string;
  dryRun?: boolean;
  /** Who changes it: the operation's workflow id, written to the history row. */
  changedBy: string;
}

export interface ResetStateInput extends TableOperationInput {
  /** Set the saved cursor to this (the source's text of it); absent or null: forget it. */
  cursor?: string | null;
}

export interface SetModeInput extends TableOperationInput {
  mode: string;
  write?: 'upsert' | 'append';
  cursor?: string;
  primaryKeys?: string[];
  force?: boolean;
}

/** What an operation did (or, dry or refused, would do). */
export interface StateChange {
  table: string;
  target: string;
  before: TableState | null;
  after: TableState | null;
  /** Whether it changed anything: false for a dry run, a refused change, or nothing to change. */
  applied: boolean;
  dryRun: boolean;
  /** What changes (or would), one line each. */
  changes: string[];
  warnings: string[];
  /** Why it changed nothing though asked to: the change needs --force. */
  refused?: string;
}

export interface SetModeResult extends StateChange {
  stateAction: 'preserve' | 'reset';
  /** The `tables` entry the config should now have: planning compares it with the saved state. */
  configLines: string[];
}

export interface TableStatusInput {
  config: SyncConfig;
  /** Source tables to show; default: every table of the config. */
  tables?: string[];
}

export interface TableStatus {
  table: string;
  target: string;
  mode: string;
  write: string | null;
  cursorColumn: string | null;
  cursorValue: string | null;
  cursorType: string | null;
  /** When the saved state last changed, and how (run, reset-state, set-mode). */
  stateChangedAt: string | null;
  lastRun: {
    workflowId: string;
    runId: string;
    startedAt: string | null;
    endedAt: string | null;
    status: string;
    rowsCopied: number;
    inserted: number;
    updated: number;
    unchanged: number;
    deleted: number;
    error: string | null;
  } | null;
}

const invalid = (message: string) => new TablesyncError('InvalidConfig', message);

/** The config's entry for one table, its settings and its target; an unknown table is an error naming it. */
async function locate(source: SourceConnection, config: SyncConfig, spec: string) {
  const defaultSchema = config.source.schema ?? source.dialect.defaultSchema;
  let wanted: TableRef;
  try {
    wanted = parseTableName(spec, defaultSchema);
  } catch (err) {
    throw invalid((err as Error).message);
  }
  const rule = await source.nameRule();
  const { refs } = resolveTableSpecs(config.tables, defaultSchema, await source.listTables(), config.source.connection, rule);
  const key = (r: TableRef) => `${rule.key(r.schema)}.${rule.key(r.name)}`;
  const ref = refs.find((r) => key(r) === key(wanted));
  if (!ref) {
    throw new TablesyncError('UnknownTable', `${displayName(wanted)} is not one of the config's tables (${refs.map(displayName).join(', ') || 'none found'})`);
  }
  const described = await source.describeTable(ref);
  if (!described) throw new TablesyncError('UnknownTable', `Source table ${displayName(ref)} does not exist`);
  return { ref, described, settings: settingsOf(config, ref), target: targetRefOf(config, ref) };
}

/** A cursor column of the source table, checked as planning checks it; `field` names the argument. */
function cursorColumnOf(source: SourceConnection, described: SourceTable, column: string, field: string) {
  const name = displayName(described.ref);
  const found = described.columns.find((c) => c.name === column);
  if (!found) {
    throw new TablesyncError('UnknownColumn', `${name}: ${field} "${column}" is not a column of the table (columns: ${described.columns.map((c) => c.name).join(', ')})`);
  }
  if (!source.dialect.cursor.kind(found)) {
    throw new TablesyncError('UnsupportedType', `${name}: ${field} "${column}" is ${found.type}, which cannot order a cursor`);
  }
  return found;
}

async function lockedState(client: PoolClient, config: SyncConfig, target: TableRef): Promise<TableState | null> {
  // No row yet (a table never synced in cursor mode): the advisory lock serializes operations on it.
  await client.query(tableStateLockSql(target));
  return ((await client.query(readTableStateSql(config.target.stateSchema, target, true))).rows[0] as TableState | undefined) ?? null;
}

const stateOnly = (s: TableState | null): TableState | null =>
  s && {
    sourceSchema: s.sourceSchema,
    sourceTable: s.sourceTable,
    mode: s.mode,
    write: s.write,
    cursorColumn: s.cursorColumn,
    cursorValue: s.cursorValue,
    cursorType: s.cursorType,
    columns: s.columns,
    lastWorkflowId: s.lastWorkflowId,
    lastRunId: s.lastRunId,
    lastCounts: s.lastCounts,
  };

/** A state to write: what changes, on top of what was (the last run's fields are kept by the save). */
function nextState(before: TableState | null, ref: TableRef, change: Partial<TableState>): TableState {
  return {
    sourceSchema: ref.schema,
    sourceTable: ref.name,
    mode: before?.mode ?? 'cursor',
    write: before?.write ?? null,
    cursorColumn: before?.cursorColumn ?? null,
    cursorValue: before?.cursorValue ?? null,
    cursorType: before?.cursorType ?? null,
    columns: before?.columns ?? [],
    ...change,
    lastWorkflowId: null,
    lastRunId: null,
    lastCounts: null,
  };
}

async function resetState(source: SourceConnection, deps: ActivityDeps, input: ResetStateInput): Promise<StateChange> {
  const { config } = input;
  const { ref, described, settings, target } = await locate(source, config, input.table);
  const name = displayName(ref);
  const value = input.cursor ?? null;
  return inTransaction(deps.connections, config.target.connection, async (client) => {
    const before = stateOnly(await lockedState(client, config, target));
    // The cursor column of the saved state, else the config's (a table not yet run).
    const column = before?.mode === 'cursor' ? before.cursorColumn : settings.mode === 'cursor' ? (settings.cursor ?? null) : null;
    if (!column) {
      throw invalid(`${name}: reset-state needs a cursor table; the saved state and the config say mode ${before?.mode ?? settings.mode}`);
    }
    const sourceColumn = cursorColumnOf(source, described, column, settings.field('cursor'));
    let canonical: string | null = null;
    if (value !== null) {
      canonical = await source.cursorValueText(sourceColumn, value);
      if (canonical === null) {
        throw invalid(`${name}: reset-state --cursor "${value}" is not a value of cursor "${column}" (${sourceColumn.type}); nothing changed`);
      }
    }
    const after = nextState(before, ref, {
      mode: 'cursor',
      write: before?.write ?? settings.write,
      cursorColumn: column,
      cursorValue: canonical,
      cursorType: sourceColumn.type,
    });
    const changes = [
      canonical === null
        ? `forget the saved cursor ${before?.cursorValue ?? '(none)'}: the next run reads every row`
        : `saved cursor ${before?.cursorValue ?? '(none)'} → ${canonical}: the next run reads rows with ${column} >= ${canonical}`,
    ];
    const same = before?.mode === 'cursor' && before.cursorValue === canonical;
    if (!input.dryRun && !same) {
      await client.query(saveTableStateSql(config.target.stateSchema, target, after, 'reset-state', input.changedBy));
    }
    return { table: name, target: displayName(target), before, after, applied: !input.dryRun && !same, dryRun: Boolean(input.dryRun), changes: same ? ['nothing to change'] : changes, warnings: [] };
  });
}

async function setMode(source: SourceConnection, deps: ActivityDeps, input: SetModeInput): Promise<SetModeResult> {
  const { config } = input;
  const { ref, described, settings, target } = await locate(source, config, input.table);
  const name = displayName(ref);
  const mode = normalizeMode(input.mode);
  if (!['auto', 'full', 'compare', 'cursor'].includes(mode)) {
    throw invalid(`${name}: set-mode --mode "${input.mode}" is not a mode (auto, full, compare, cursor)`);
  }
  if (input.write && mode !== 'cursor') throw invalid(`${name}: set-mode --write applies to mode cursor only`);
  if (input.cursor && mode !== 'cursor') throw invalid(`${name}: set-mode --cursor applies to mode cursor only`);
  if (input.primaryKeys?.length) {
    const same = input.primaryKeys.length === described.primaryKey.length && input.primaryKeys.every((k, i) => k === described.primaryKey[i]);
    if (!same) {
      throw invalid(`${name}: set-mode --primary-keys ${input.primaryKeys.join(',')} differs from the source's primary key (${described.primaryKey.join(', ')}), which tablesync keys the table by`);
    }
  }
  const naming = config.target.naming;
  const keys = described.primaryKey.map((k) => targetName(naming, k));
  return inTransaction(deps.connections, config.target.connection, async (client) => {
    const before = stateOnly(await lockedState(client, config, target));
    const exists = (await client.query(tableExistsSql(target))).rows[0].present as boolean;
    const targetTable = exists ? await pgCatalog.describeTable(client, target) : null;
    const isAppend = Boolean(targetTable && APPEND_COLUMNS.every((m) => targetTable.columns.some((c) => c.name === m)));
    const fromMode = before?.mode ?? (isAppend ? 'cursor' : settings.mode);
    const fromCursor = before?.mode === 'cursor' ? before.cursorColumn : null;
    const fromWrite = fromMode === 'cursor' ? (before?.write ?? (isAppend ? 'append' : 'upsert')) : null;
    const write = mode === 'cursor' ? (input.write ?? fromWrite ?? settings.write) : null;
    const cursorName = mode === 'cursor' ? (input.cursor ?? fromCursor ?? settings.cursor) : undefined;
    if (mode === 'cursor' && !cursorName) throw invalid(`${name}: set-mode --mode cursor needs --cursor COLUMN (no saved or configured cursor)`);
    const cursorColumn = cursorName ? cursorColumnOf(source, described, cursorName, '--cursor') : null;

    const changes: string[] = [];
    const warnings: string[] = [];
    let stateAction: 'preserve' | 'reset' = 'preserve';
    let refused: string | undefined;
    const savedCursor = before?.mode === 'cursor' ? before.cursorValue : null;
    let cursorValue: string | null = null;
    if (mode === 'cursor') {
      if (fromMode !== 'cursor' || !fromCursor) {
        warnings.push(`no saved cursor: the next run reads every row${exists ? ' (and applies it to the rows already there, adding no duplicates)' : ''}`);
      } else if (fromCursor === cursorColumn!.name) {
        cursorValue = savedCursor;
        if (savedCursor !== null) changes.push(`keep the saved cursor ${savedCursor}`);
      } else {
        stateAction = 'reset';
        warnings.push(`the cursor changes from "${fromCursor}" to "${cursorColumn!.name}": the saved cursor ${savedCursor ?? '(none)'} does not apply to it, so the next run reads every row`);
        refused = 'the saved cursor cannot be kept (use --force to reset it)';
      }
    } else if (savedCursor !== null) {
      warnings.push(`mode ${mode} keeps no cursor: the saved cursor ${savedCursor} is dropped`);
    }

    // The target's shape: an append table (versions, no key) or a keyed table.
    const statements: (string | { text: string; values: string[] })[] = [];
    const wantAppend = mode === 'cursor' && write === 'append';
    if (exists && isAppend && !wantAppend) {
      const counts = (await client.query(versionCountSql(target, keys))).rows[0];
      const older = Number(counts.rows) - Number(counts.keys);
      changes.push(`rewrite ${displayName(target)} to one row per key (the latest version): ${counts.keys} rows kept, ${older} older version${older === 1 ? '' : 's'} removed`);
      changes.push(`drop ${APPEND_COLUMNS.join(', ')} and the ${target.name}_latest view, add the primary key (${keys.join(', ')})`);
      if (older > 0) warnings.push(`${older} older version${older === 1 ? '' : 's'} of rows are removed from ${displayName(target)}`);
      const versionCursor = fromCursor ? targetName(naming, fromCursor) : cursorColumn ? targetName(naming, cursorColumn.name) : null;
      if (!versionCursor) throw invalid(`${name}: ${displayName(target)} is an append table but no cursor says which version is the latest; pass --mode cursor --cursor COLUMN`);
      statements.push(...appendToUpsertSql(target, keys, versionCursor));
    } else if (exists && !isAppend && wantAppend) {
      const pk = (await client.query(primaryKeyConstraintSql(target))).rows[0]?.name ?? null;
      const columns = targetTable!.columns.map((c) => c.name);
      changes.push(`turn ${displayName(target)} into an append table: its rows become versions, ${APPEND_COLUMNS.join(', ')} added, the primary key dropped, the ${target.name}_latest view created`);
      statements.push(...upsertToAppendSql(target, columns, keys, targetName(naming, cursorColumn!.name), pk, input.changedBy));
    }
    const after = nextState(before, ref, {
      mode,
      write,
      cursorColumn: cursorColumn?.name ?? null,
      cursorValue,
      cursorType: cursorColumn?.type ?? null,
    });
    const sameState = before !== null && before.mode === after.mode && before.write === after.write && before.cursorColumn === after.cursorColumn && before.cursorValue === after.cursorValue;
    if (!sameState) changes.unshift(`state: mode ${fromMode}${fromWrite ? `/${fromWrite}` : ''}${fromCursor ? ` cursor ${fromCursor}` : ''} → ${mode}${write ? `/${write}` : ''}${cursorColumn ? ` cursor ${cursorColumn.name}` : ''}`);
    if (sameState && statements.length === 0) changes.push('nothing to change');
    if (refused && input.force) refused = undefined;
    const apply = !input.dryRun && !refused && (!sameState || statements.length > 0);
    if (apply) {
      for (const sql of statements) await client.query(sql);
      await client.query(saveTableStateSql(config.target.stateSchema, target, after, 'set-mode', input.changedBy));
    }
    const entry = ref.entry ?? { table: displayName(ref) };
    const configLines = [
      `  - table: ${entry.table === displayName(ref) || entry.table === ref.name ? entry.table : displayName(ref)}`,
      `    mode: ${mode}`,
      ...(cursorColumn ? [`    cursor: ${cursorColumn.name}`] : []),
      ...(write ? [`    write: ${write}`] : []),
      ...(mode === 'cursor' && settings.lookback ? [`    lookback: ${settings.lookback}`] : []),
      ...(entry.deletes ? [`    deletes: ${entry.deletes}`] : []),
      ...(entry.columns ? [`    columns: [${entry.columns.join(', ')}]`] : []),
    ];
    return {
      table: name,
      target: displayName(target),
      before,
      after,
      applied: apply,
      dryRun: Boolean(input.dryRun),
      changes,
      warnings,
      stateAction,
      configLines,
      ...(refused && { refused }),
    };
  });
}

async function tableStatus(source: SourceConnection, deps: ActivityDeps, input: TableStatusInput): Promise<TableStatus[]> {
  const { config } = input;
  const defaultSchema = config.source.schema ?? source.dialect.defaultSchema;
  const { refs } = resolveTableSpecs(config.tables, defaultSchema, await source.listTables(), config.source.connection, await source.nameRule());
  let chosen: ResolvedTable[] = refs;
  if (input.tables?.length) {
    chosen = [];
    for (const spec of input.tables) chosen.push((await locate(source, config, spec)).ref);
  }
  const pool = deps.connections.pg(config.target.connection);
  const out: TableStatus[] = [];
  for (const ref of chosen) {
    const target = targetRefOf(config, ref);
    const state = (await pool.query(readTableStateSql(config.target.stateSchema, target))).rows[0] as (TableState & { updatedAt: Date }) | undefined;
    const run = (await pool.query(lastRunSql(config.target.stateSchema, target))).rows[0];
    const settings = settingsOf(config, ref);
    out.push({
      table: displayName(ref),
      target: displayName(target),
      mode: state?.mode ?? settings.mode,
      write: state ? state.write : settings.mode === 'cursor' ? settings.write : null,
      cursorColumn: state ? state.cursorColumn : settings.mode === 'cursor' ? (settings.cursor ?? null) : null,
      cursorValue: state?.cursorValue ?? null,
      cursorType: state?.cursorType ?? null,
      stateChangedAt: state ? new Date(state.updatedAt).toISOString() : null,
      lastRun: run
        ? {
            workflowId: run.workflowId,
            runId: run.runId,
            startedAt: run.startedAt ? new Date(run.startedAt).toISOString() : null,
            endedAt: run.endedAt ? new Date(run.endedAt).toISOString() : null,
            status: run.status,
            rowsCopied: Number(run.rowsCopied),
            inserted: Number(run.inserted),
            updated: Number(run.updated),
            unchanged: Number(run.unchanged),
            deleted: Number(run.deleted),
            error: run.error,
          }
        : null,
    });
  }
  return out;
}

/** Runs an operation; its own refusals fail it for good, with their type and message. */
async function operation<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof TablesyncError) throw nonRetryable(err.type, err.message);
    throw classifyError(err, what);
  }
}

export function createOperationActivities(deps: ActivityDeps) {
  const source = (config: SyncConfig) => deps.connections.source(config.source.connection);
  return {
    resetTableState: (input: ResetStateInput) => operation(`reset-state ${input.table}`, () => resetState(source(input.config), deps, input)),
    setTableMode: (input: SetModeInput) => operation(`set-mode ${input.table}`, () => setMode(source(input.config), deps, input)),
    readTableStatus: (input: TableStatusInput) => operation('status', () => tableStatus(source(input.config), deps, input)),
  };
}
