import type { SyncConfig } from '../config';
import type { ResolvedTable } from '../discovery';
import { TablesyncError } from '../errors';
import type { SourceConnection, SourceTable } from '../sources/base';
import { pgCatalog } from '../sources/postgres/catalog';
import { saveTableStateSql, type TableState } from '../state';
import { targetName } from '../table-plan';
import { displayName } from '../tables';
import {
  APPEND_COLUMNS,
  appendToUpsertSql,
  primaryKeyConstraintSql,
  tableExistsSql,
  upsertToAppendSql,
  versionCountSql,
} from '../target';
import type { TableRef } from '../types';
import { configTraits, normalizeMode, SYNC_MODES, traitsOf, type ConfigModeName } from './names';
import type { Db, TableSettings } from './types';

// reset-state and set-mode: what each may do with a table's saved state, and
// the moves between modes (a cursor kept or dropped, an append table rewritten
// to one row per key and back). The caller holds the state row's lock in the
// target transaction these run in and passes the state it read under it.

/** A table of the config as an operation names it: its entry, settings, source description and target. */
export interface LocatedTable {
  ref: ResolvedTable;
  described: SourceTable;
  settings: TableSettings;
  target: TableRef;
}

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

const invalid = (message: string) => new TablesyncError('InvalidConfig', message);

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

export async function resetTableState(client: Db, source: SourceConnection, located: LocatedTable, before: TableState | null, input: ResetStateInput): Promise<StateChange> {
  const { config } = input;
  const { ref, described, settings, target } = located;
  const name = displayName(ref);
  const value = input.cursor ?? null;
  // A mode with its own reset rule (a log position, not a cursor): the position is forgotten.
  const saved = before ? normalizeMode(before.mode) : null;
  const mode = saved ?? (settings.mode === 'auto' ? null : settings.mode);
  // A mode no longer known (a state written by another version) keeps the cursor rules below.
  const forget = mode && mode !== 'auto' && (SYNC_MODES as string[]).includes(mode) ? traitsOf(mode).resetState : undefined;
  if (forget) {
    if (value !== null) throw invalid(`${name}: reset-state --cursor applies to cursor tables only (this table's mode is ${mode})`);
    const after = nextState(before, ref, { mode: before?.mode ?? mode!, cursorColumn: null, cursorValue: null, cursorType: null });
    const same = before === null || (before.cursorValue === null && before.cursorColumn === null);
    if (!input.dryRun && !same) await client.query(saveTableStateSql(config.target.stateSchema, target, after, 'reset-state', input.changedBy));
    const changes = same ? ['nothing to change'] : [`${forget} (saved position ${before!.cursorValue ?? '(none)'})`];
    return { table: name, target: displayName(target), before, after, applied: !input.dryRun && !same, dryRun: Boolean(input.dryRun), changes, warnings: [] };
  }
  {
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
  }
}

export async function setTableMode(client: Db, source: SourceConnection, located: LocatedTable, before: TableState | null, input: SetModeInput): Promise<SetModeResult> {
  const { config } = input;
  const { ref, described, settings, target } = located;
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
  {
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
    const keyNeed = described.primaryKey.length || mode === 'auto' ? null : traitsOf(mode).needsKey(write === 'append' ? 'append' : 'upsert');
    if (keyNeed) throw new TablesyncError('MissingPrimaryKey', `${name} has no primary key, which mode ${mode} needs: ${keyNeed}`);

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
    const takesDeletes = configTraits(mode as ConfigModeName).every((t) => t.deletes.includes(settings.deletes));
    const configLines = [
      `  - table: ${entry.table === displayName(ref) || entry.table === ref.name ? entry.table : displayName(ref)}`,
      `    mode: ${mode}`,
      ...(cursorColumn ? [`    cursor: ${cursorColumn.name}`] : []),
      ...(write ? [`    write: ${write}`] : []),
      ...(mode === 'cursor' && settings.lookback ? [`    lookback: ${settings.lookback}`] : []),
      // A delete rule the new mode does not carry out would be refused with the config: it is turned off there.
      ...(entry.deletes || !takesDeletes ? [`    deletes: ${takesDeletes ? entry.deletes : 'ignore'}`] : []),
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
  }
}
