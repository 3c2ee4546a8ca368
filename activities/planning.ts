import { log } from '@temporalio/activity';
import type { Pool } from 'pg';
import { mapLimit } from '../lib/concurrency';
import { ConfigError, parseSyncConfig, type SyncConfig } from '../lib/config';
import { resolveTableSpecs, targetCollisions, type ResolvedTable } from '../lib/discovery';
import { TablesyncError } from '../lib/errors';
import { planUserTypes, readColumnTypes } from '../lib/sources/postgres/user-types';
import { planPartitions, planSampledPartitions, samplePieces, sameOrderOnTarget } from '../lib/planner';
import type { SourceConnection, SourceTable } from '../lib/sources/base';
import { changelogMaxSql } from '../lib/sources/changelog';
import { parseLookback } from '../lib/sources/cursor';
import { PostgresSource } from '../lib/sources/postgres';
import { pgCatalog } from '../lib/sources/postgres/catalog';
import {
  generationsTableSql,
  readTableStateSql,
  stateTableSql,
  stateCheckSql,
  stateIsCurrent,
  STATE_UPGRADE_COLUMNS,
  tableStateTablesSql,
  tableStateUpgradeSql,
  TABLE_STATE_UPGRADE_COLUMNS,
  type TableState,
} from '../lib/state';
import {
  planCompareColumns,
  planFullColumns,
  refuseLossyColumns,
  columnNotes,
  tableNameNotes,
  targetRefOf,
} from '../lib/table-plan';
import { applySchemaChanges, backfillColumns, planSchemaChanges, stateColumnTypes, withLatestView } from '../lib/schema-evolution';
import { displayName, parseTableName } from '../lib/tables';
import { advisoryXactLockSql, APPEND_COLUMNS, planSoftDeletes, softDeleteColumns, targetKey } from '../lib/target';
import type { ColumnPlan, FailedTable, SkippedTable, SyncTask, TablePlan } from '../lib/types';
import { inTransaction, type ActivityDeps } from './context';
import { classifyError, nonRetryable } from './errors';
import { claimGenerations, type ClaimInput } from './generations';

// Planning: validate the config and create the state tables, decide per
// table how it syncs (or why it fails or is skipped), and cut tables into
// key-range partitions.

export interface InitializeStateInput {
  config: unknown;
}
export interface InitializeStateResult {
  config: SyncConfig;
}
export interface DiscoverTablesInput extends ClaimInput {
  config: SyncConfig;
  /**
   * More tables than this: plan none, return their names (in `batches`, cut
   * into groups of this many) for batch workflows to plan, so no one payload
   * or history grows with the table count.
   */
  batchAbove?: number;
  /** A batch: plan only these tables ("schema.table", as `batches` names them) of what the config resolves to. */
  only?: string[];
  /** run --dry-run: plan only; nothing in the target is changed (no ALTER), only said. */
  dryRun?: boolean;
  /** verify: a cursor or change-log table whose target is missing or empty is skipped (nothing to compare), not planned to be created. */
  verify?: boolean;
}
export interface DiscoverTablesResult {
  tables: TablePlan[];
  skipped: SkippedTable[];
  /** Tables refused at discovery (unknown, unsupported type, name collision…); every other table still syncs. */
  failed?: FailedTable[];
  /** What patterns matched and left out, names shortened: said before any row moves. */
  plan?: string[];
  /** With batchAbove: the tables left to plan, one array per batch (tables is then empty). */
  batches?: string[][];
}
export interface CreateSyncTasksInput {
  config: SyncConfig;
  tables: TablePlan[];
  /**
   * The ranges are also evaluated on the target (verify's checksums): a key
   * the target does not order as the source does is not split (one range).
   */
  targetRanges?: boolean;
}

/** Tables planned at once by discoverTables and createSyncTasks (each holds a source and a target connection). */
const PLAN_CONCURRENCY = 4;

/** Error types that say the source or target as a whole is unusable: the run fails, not one table. */
const RUN_WIDE_ERRORS = new Set(['AuthenticationFailed', 'HostNotFound', 'UnknownDatabase', 'UnknownConnection']);

/** A table's own settings: its `tables` entry's, else the config's. */
export function settingsOf(config: SyncConfig, ref: ResolvedTable) {
  const e = ref.entry;
  return {
    field: (name: string) => (e ? `tables[${ref.entryIndex}].${name}` : name),
    mode: e?.mode ?? config.mode,
    // A change log names deleted keys: soft deletes unless the table says otherwise.
    deletes: e?.deletes ?? ((e?.mode ?? config.mode) === 'changelog' && config.deletes === 'ignore' ? 'soft' : config.deletes),
    changelog: e?.changelog,
    cursor: e?.cursor ?? config.cursor,
    write: e?.write ?? config.write,
    writeGiven: e?.write !== undefined,
    lookback: e?.lookback ?? config.lookback,
    columns: e?.columns,
  };
}

/** Plans one table: how it syncs, which columns, or why it is skipped. Throws what fails this table alone. */
async function planTable(
  source: SourceConnection,
  target: Pool,
  config: SyncConfig,
  ref: ResolvedTable,
  write: boolean,
  verify = false,
): Promise<{ plan: TablePlan } | { skip: string }> {
  const name = displayName(ref);
  const settings = settingsOf(config, ref);
  // The config as this table's own settings make it.
  const tableConfig = { ...config, deletes: settings.deletes };
  const found = await source.describeTable({ schema: ref.schema, name: ref.name });
  if (!found) {
    throw new TablesyncError('UnknownTable', `Source table ${name} does not exist in "${config.source.connection}"`);
  }
  if (found.primaryKey.length === 0) return { skip: 'no primary key' };
  if (settings.writeGiven && settings.mode !== 'cursor') {
    throw new TablesyncError('InvalidConfig', `${name}: ${settings.field('write')} applies to mode cursor only (this table's mode is ${settings.mode})`);
  }
  const described = selectColumns(found, settings.columns, [...found.primaryKey, ...(settings.cursor ? [settings.cursor] : [])], name, settings.field('columns'));
  if (verify && (settings.mode === 'cursor' || settings.mode === 'changelog')) {
    const targetRef = targetRefOf(config, described.ref);
    if (!(await pgCatalog.describeTable(target, targetRef))) return { skip: `target table ${displayName(targetRef)} does not exist (no ${settings.mode} run yet)` };
    if (!(await pgCatalog.hasRows(target, targetRef))) return { skip: `target table ${displayName(targetRef)} is empty (no ${settings.mode} run yet)` };
  }
  if (settings.mode === 'cursor') return { plan: await planCursorTable(source, target, config, described, settings, write) };
  if (settings.mode === 'changelog') return { plan: await planChangelogTable(source, target, tableConfig, described, settings, write) };
  const targetRef = targetRefOf(config, described.ref);
  const targetTable = await pgCatalog.describeTable(target, targetRef);
  const hasRows = targetTable !== null && (await pgCatalog.hasRows(target, targetRef));
  const keyType = described.columns.find((c) => c.name === described.primaryKey[0])!.type;
  const notes = tableNameNotes(config.target.naming, described.ref);
  const base = {
    source: described.ref,
    target: targetRef,
    primaryKey: described.primaryKey,
    integerKey: described.primaryKey.length === 1 && source.dialect.isIntegerType(keyType),
    ...(settings.deletes !== config.deletes && { deletes: settings.deletes }),
  };
  if (settings.mode === 'full' || (settings.mode === 'auto' && !hasRows)) {
    const columns = planFullColumns(source.dialect, config, described);
    const why = !targetTable ? 'target table is missing' : !hasRows ? 'target table is empty' : 'mode: full';
    log.info(`${name}: full load into ${displayName(targetRef)} (${why})`);
    const plan = await planSoftDeletes(target, tableConfig, { ...base, mode: 'full', columns, notes: [...notes, ...columnNotes(config.target.naming, described, columns)] }, described, targetTable, write);
    return { plan: await withUserTypes(source, target, config, plan) };
  }
  if (!targetTable) return { skip: `target table ${displayName(targetRef)} does not exist (run a full migration first)` };
  if (!hasRows) return { skip: `target table ${displayName(targetRef)} is empty (run a full migration first)` };
  const softColumns = settings.deletes === 'soft' ? softDeleteColumns(config.softDeleteColumn) : [];
  const compared = planCompareColumns(config.target.naming, described, targetTable, softColumns);
  if (compared.missingKeys.length) {
    return { skip: `target table ${displayName(targetRef)} lacks key column(s) ${compared.missingKeys.join(', ')}` };
  }
  const wantedKey = targetKey(compared.columns, described.primaryKey);
  const sameKey =
    targetTable.primaryKey.length === wantedKey.length && wantedKey.every((k) => targetTable.primaryKey.includes(k));
  if (!sameKey) {
    return {
      skip: `target primary key (${targetTable.primaryKey.join(', ') || 'none'}) differs from source primary key (${described.primaryKey.join(', ')})`,
    };
  }
  // Added columns are filled by the run itself (it reads every row), so no backfill.
  const changes = planSchemaChanges(source.dialect, config, described, targetTable, compared, { synced: null, types: null }, softColumns, write);
  refuseLossyColumns(source.dialect, config, described, changes.columns);
  const plan = {
    ...base,
    mode: 'compare' as const,
    columns: changes.columns,
    notes: [...notes, ...columnNotes(config.target.naming, described, changes.columns), ...changes.notes],
  };
  // Last: they change the target, so only once nothing else can refuse the table.
  const planned = await planSoftDeletes(target, tableConfig, await withUserTypes(source, target, config, plan), described, targetTable, write);
  await applySchemaChanges(target, changes);
  return { plan: planned };
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

/**
 * A cursor table: the cursor column must exist and order (timestamps, dates,
 * integers, numerics, rowversion); its saved value comes from the table
 * state; a missing target is created by the first run, which reads
 * everything.
 */
async function planCursorTable(
  source: SourceConnection,
  target: Pool,
  config: SyncConfig,
  described: SourceTable,
  settings: ReturnType<typeof settingsOf>,
  write: boolean,
): Promise<TablePlan> {
  const name = displayName(described.ref);
  const field = settings.field('cursor');
  if (!settings.cursor) {
    throw new TablesyncError('InvalidConfig', `${name}: mode cursor needs a cursor column (${field}: e.g. updated_at)${settings.write === 'append' ? '; write: append keeps versions by cursor' : ''}`);
  }
  const column = described.columns.find((c) => c.name === settings.cursor);
  if (!column) {
    throw new TablesyncError('UnknownColumn', `${name}: ${field} "${settings.cursor}" is not a column of the table (columns: ${described.columns.map((c) => c.name).join(', ')})`);
  }
  const kind = source.dialect.cursor?.kind(column) ?? null;
  if (!kind) {
    throw new TablesyncError(
      'UnsupportedType',
      `${name}: ${field} "${column.name}" is ${column.type}, which cannot order a cursor; use a timestamp, date, integer, numeric or rowversion column`,
    );
  }
  if (settings.lookback && !parseLookback(settings.lookback, kind)) {
    throw new TablesyncError(
      'InvalidConfig',
      `${name}: ${settings.field('lookback')} "${settings.lookback}" does not fit a ${kind} cursor (${kind === 'time' ? 'e.g. "5 minutes"' : 'a number, e.g. "100"'})`,
    );
  }
  const targetRef = targetRefOf(config, described.ref);
  const targetTable = await pgCatalog.describeTable(target, targetRef);
  const notes = tableNameNotes(config.target.naming, described.ref);
  const state = (await target.query(readTableStateSql(config.target.stateSchema, targetRef))).rows[0] as TableState | undefined;
  // A saved cursor only means something for the rows it covered: a target that is gone or empty
  // (dropped, truncated) is read again from the start, never from the saved cursor.
  const targetHasRows = targetTable !== null && (await pgCatalog.hasRows(target, targetRef));
  if (state?.mode === 'cursor' && state.cursorValue !== null && !targetHasRows) {
    notes.push(`the saved cursor is ignored: target table ${displayName(targetRef)} is ${targetTable ? 'empty' : 'missing'}, so every row is read`);
  }
  const saved = state?.mode === 'cursor' && targetHasRows ? state.cursorValue : null;
  let columns: ColumnPlan[];
  let changes: ReturnType<typeof planSchemaChanges> | null = null;
  if (!targetTable) {
    columns = planFullColumns(source.dialect, config, described);
    notes.push(`target table ${displayName(targetRef)} is missing: this run creates it and reads every row`);
  } else {
    const compared = planCompareColumns(config.target.naming, described, targetTable);
    if (compared.missingKeys.length) {
      throw new TablesyncError('InvalidConfig', `${name}: target table ${displayName(targetRef)} lacks key column(s) ${compared.missingKeys.join(', ')}`);
    }
    const isAppend = APPEND_COLUMNS.every((m) => targetTable.columns.some((c) => c.name === m));
    if (isAppend !== (settings.write === 'append')) {
      throw new TablesyncError(
        'InvalidConfig',
        `${name}: target table ${displayName(targetRef)} is ${isAppend ? 'an append table' : 'not an append table'} but the config says write: ${settings.write}; ` +
          `change it with tablesync set-mode, which rewrites the table and keeps the saved cursor`,
      );
    }
    if (!isAppend) {
      const wantedKey = targetKey(compared.columns, described.primaryKey);
      const sameKey = targetTable.primaryKey.length === wantedKey.length && wantedKey.every((k) => targetTable.primaryKey.includes(k));
      if (!sameKey) {
        throw new TablesyncError('InvalidConfig', `${name}: target primary key (${targetTable.primaryKey.join(', ') || 'none'}) differs from source primary key (${described.primaryKey.join(', ')})`);
      }
    }
    // With a saved cursor, the state's columns are what the target's rows hold: others need a backfill.
    changes = planSchemaChanges(
      source.dialect,
      config,
      described,
      targetTable,
      compared,
      { synced: saved === null ? null : state!.columns, types: state?.columnTypes ?? null },
      APPEND_COLUMNS,
      write,
    );
    if (isAppend) changes = withLatestView(changes, targetRef, described.primaryKey, changes.columns.find((c) => c.name === column.name)!.targetName);
    refuseLossyColumns(source.dialect, config, described, changes.columns);
    columns = changes.columns;
    notes.push(...changes.notes.filter((n) => !APPEND_COLUMNS.some((m) => n.includes(`"${m}"`))));
  }
  if (state?.mode === 'cursor' && (state.cursorColumn !== column.name || state.write !== settings.write)) {
    throw new TablesyncError(
      'InvalidConfig',
      `${name}: the saved state is cursor "${state.cursorColumn}" with write: ${state.write}, the config says cursor "${column.name}" with write: ${settings.write}; ` +
        `run tablesync set-mode (keeps what can be kept) or reset-state (reads everything again) first`,
    );
  }
  notes.push(...columnNotes(config.target.naming, described, columns));
  if (column.nullable) notes.push(`cursor "${column.name}" is nullable: rows whose cursor is NULL are read only by a first run`);
  const keyType = described.columns.find((c) => c.name === described.primaryKey[0])!.type;
  const plan = await withUserTypes(source, target, config, {
    source: described.ref,
    target: targetRef,
    mode: 'cursor',
    columns,
    primaryKey: described.primaryKey,
    integerKey: described.primaryKey.length === 1 && source.dialect.isIntegerType(keyType),
    cursor: {
      column: column.name,
      targetColumn: columns.find((c) => c.name === column.name)!.targetName,
      sourceType: column.type,
      dataType: column.dataType,
      kind,
      write: settings.write,
      ...(settings.lookback && { lookback: settings.lookback }),
      nullable: column.nullable,
      saved,
      stateVersion: state?.stateVersion ?? null,
      ...(changes?.backfill.length && { backfill: changes.backfill }),
      ...(changes?.dropped.length && { dropped: changes.dropped }),
    },
    columnTypes: stateColumnTypes(source.dialect, described, columns, changes?.droppedTypes),
    notes,
  });
  // Last: they change the target, so only once nothing else can refuse the table.
  if (changes) await applySchemaChanges(target, changes);
  return plan;
}

/**
 * What a cursor table reads this run: from the saved cursor (minus the
 * lookback) up to the source's largest cursor value now. Rows changed while
 * the run goes get a larger value and are read by the next run; the upper
 * bound is what keeps one chunk's late read from moving the saved cursor past
 * rows another chunk read earlier.
 */
async function withCursorWindow(source: SourceConnection, table: TablePlan): Promise<TablePlan> {
  const cursor = table.cursor;
  if (!cursor || !source.cursorBounds) return table;
  const { max, nulls } = await source.cursorBounds(table.source, cursor);
  const window = { from: cursor.saved, to: max, includeNull: cursor.saved === null, ...(cursor.lookback && { lookback: cursor.lookback }) };
  return { ...table, cursor: { ...cursor, window, nullRows: nulls } };
}

/**
 * A change-log table: its log must exist with the named columns, its key be
 * one column, its position order; a missing target is created by the first
 * run, which reads the whole table.
 */
async function planChangelogTable(
  source: SourceConnection,
  target: Pool,
  config: SyncConfig,
  described: SourceTable,
  settings: ReturnType<typeof settingsOf>,
  write: boolean,
): Promise<TablePlan> {
  const name = displayName(described.ref);
  const field = settings.field('changelog');
  const log = settings.changelog;
  if (!log) throw new TablesyncError('InvalidConfig', `${name}: mode changelog needs ${field} (table, key, action, position)`);
  if (described.primaryKey.length !== 1) {
    throw new TablesyncError('InvalidConfig', `${name}: mode changelog needs a one-column primary key (the log names one key per change); this table's is (${described.primaryKey.join(', ')})`);
  }
  let logRef;
  try {
    logRef = parseTableName(log.table, described.ref.schema);
  } catch (err) {
    throw new TablesyncError('InvalidConfig', `${name}: ${field}.table: ${(err as Error).message}`);
  }
  const logTable = await source.describeTable(logRef);
  if (!logTable) throw new TablesyncError('UnknownTable', `${name}: ${field}.table ${displayName(logRef)} does not exist in "${config.source.connection}"`);
  const logColumn = (what: string, column: string) => {
    const c = logTable.columns.find((x) => x.name === column);
    if (!c) {
      throw new TablesyncError('UnknownColumn', `${name}: ${field}.${what} "${column}" is not a column of ${displayName(logRef)} (columns: ${logTable.columns.map((x) => x.name).join(', ')})`);
    }
    return c;
  };
  logColumn('key', log.key);
  logColumn('action', log.action);
  const position = logColumn('position', log.position);
  const filters = Object.entries(log.where).map(([column, value]): [string, string, string, string] => {
    const c = logColumn(`where.${column}`, column);
    return [column, String(value), c.type, c.dataType];
  });
  if (!source.dialect.cursor?.kind(position) || !source.queryRows) {
    throw new TablesyncError('UnsupportedType', `${name}: ${field}.position "${position.name}" is ${position.type}, which cannot order a change log; use an integer or timestamp column`);
  }
  const key = described.columns.find((c) => c.name === described.primaryKey[0])!;
  const targetRef = targetRefOf(config, described.ref);
  const targetTable = await pgCatalog.describeTable(target, targetRef);
  const notes = tableNameNotes(config.target.naming, described.ref);
  const state = (await target.query(readTableStateSql(config.target.stateSchema, targetRef))).rows[0] as TableState | undefined;
  // A target that is gone or empty is loaded again from the start, whatever the saved position says.
  const targetHasRows = targetTable !== null && (await pgCatalog.hasRows(target, targetRef));
  const started = state?.mode === 'changelog' && state.cursorColumn === log.position && targetHasRows;
  const saved = started ? state.cursorValue : null;
  let columns: ColumnPlan[];
  let changes: ReturnType<typeof planSchemaChanges> | null = null;
  if (!targetTable) {
    columns = planFullColumns(source.dialect, config, described);
    notes.push(`target table ${displayName(targetRef)} is missing: this run creates it and reads every row`);
  } else {
    const softColumns = settings.deletes === 'soft' ? softDeleteColumns(config.softDeleteColumn) : [];
    const compared = planCompareColumns(config.target.naming, described, targetTable, softColumns);
    if (compared.missingKeys.length) {
      throw new TablesyncError('InvalidConfig', `${name}: target table ${displayName(targetRef)} lacks key column(s) ${compared.missingKeys.join(', ')}`);
    }
    // With a saved position, the state's columns are what the target's rows hold: others need a backfill.
    const previous = { synced: started ? state.columns : null, types: state?.columnTypes ?? null };
    changes = planSchemaChanges(source.dialect, config, described, targetTable, compared, previous, softColumns, write);
    refuseLossyColumns(source.dialect, config, described, changes.columns);
    columns = changes.columns;
    notes.push(...changes.notes);
  }
  notes.push(...columnNotes(config.target.naming, described, columns));
  if (!started) notes.push(`no saved log position: this run reads the whole table, then takes the log from the position it read first`);
  const plan: TablePlan = {
    source: described.ref,
    target: targetRef,
    mode: 'changelog',
    columns,
    primaryKey: described.primaryKey,
    integerKey: source.dialect.isIntegerType(key.type),
    ...(settings.deletes !== 'ignore' && { deletes: settings.deletes }),
    changelog: {
      table: logRef,
      key: log.key,
      action: log.action,
      position: position.name,
      positionType: position.type,
      positionDataType: position.dataType,
      keyType: key.type,
      keyDataType: key.dataType,
      actions: log.actions,
      where: filters,
      saved,
      started,
      ...(changes?.backfill.length && { backfill: changes.backfill }),
    },
    columnTypes: stateColumnTypes(source.dialect, described, columns, changes?.droppedTypes),
    notes,
  };
  const planned = await planSoftDeletes(target, config, await withUserTypes(source, target, config, plan), described, targetTable, write);
  // Last: they change the target, so only once nothing else can refuse the table.
  if (changes) await applySchemaChanges(target, changes);
  return planned;
}

/** What a change-log table reads this run: log positions past the saved one, up to the log's largest now. */
async function withChangelogWindow(source: SourceConnection, table: TablePlan): Promise<TablePlan> {
  const log = table.changelog;
  if (!log || !source.queryRows) return table;
  const { sql, params } = changelogMaxSql(source.dialect, log);
  const [row] = await source.queryRows(sql, params);
  const to = (row?.max_value ?? null) as string | null;
  return { ...table, changelog: { ...log, window: { from: log.saved, to, started: log.started } } };
}

/** A PostgreSQL source's user types: created in the target by full loads, checked against it here. */
async function withUserTypes(source: SourceConnection, target: Pool, config: SyncConfig, plan: TablePlan): Promise<TablePlan> {
  if (!(source instanceof PostgresSource)) return plan;
  return planUserTypes(await readColumnTypes(source.pool, plan.source), target, config, plan);
}

export function createPlanningActivities({ connections, identity }: ActivityDeps & { identity: string }) {
  return {
    async initializeState(input: InitializeStateInput): Promise<InitializeStateResult> {
      let config: SyncConfig;
      try {
        config = parseSyncConfig(input.config);
      } catch (err) {
        if (err instanceof ConfigError) throw nonRetryable(err.type, err.message);
        throw err;
      }
      connections.dialect(config.source.connection);
      // Pin what each name means here; every later step checks it (see withPinnedConnections).
      config.pins = {};
      for (const name of new Set([config.source.connection, config.target.connection])) {
        config.pins[name] = { fingerprint: connections.fingerprint(name), worker: identity };
      }
      const stateSchema = config.target.stateSchema;
      try {
        // One query on every run; the DDL, and the lock that makes concurrent starts wait on each other, only when something is missing.
        const found = await connections.pg(config.target.connection).query(stateCheckSql(stateSchema));
        if (stateIsCurrent(found.rows[0])) return { config };
        await inTransaction(connections, config.target.connection, async (client) => {
          // Concurrent syncs may create the table at the same moment.
          await client.query(advisoryXactLockSql('tablesync._migration_state'));
          const [create, upgrade] = stateTableSql(stateSchema);
          await client.query(create);
          // ALTER needs ownership: run it only when an older version made the table.
          const have = await client.query(stateCheckSql(stateSchema));
          if (have.rows[0].columns < STATE_UPGRADE_COLUMNS.length) await client.query(upgrade);
          await client.query(generationsTableSql(stateSchema));
          for (const sql of tableStateTablesSql(stateSchema)) await client.query(sql);
          if (have.rows[0].table_columns < TABLE_STATE_UPGRADE_COLUMNS.length) await client.query(tableStateUpgradeSql(stateSchema));
        });
      } catch (err) {
        throw classifyError(err, `initialize_state in target "${config.target.connection}"`);
      }
      return { config };
    },

    async discoverTables({ config, batchAbove, only, dryRun, verify, ...claim }: DiscoverTablesInput): Promise<DiscoverTablesResult> {
      const source = connections.source(config.source.connection);
      const target = connections.pg(config.target.connection);
      const planned: TablePlan[] = [];
      const skipped: SkippedTable[] = [];
      const failed: FailedTable[] = [];
      let plan: string[] = [];
      try {
        const resolution = resolveTableSpecs(
          config.tables,
          config.source.schema ?? source.dialect.defaultSchema,
          await source.listTables(),
          config.source.connection,
          await source.nameRule(),
        );
        let refs = resolution.refs;
        if (only) {
          // A batch: the parent said what the patterns resolved to and refused.
          const wanted = new Set(only);
          refs = refs.filter((r) => wanted.has(displayName(r)));
        } else {
          plan = resolution.plan;
          failed.push(...resolution.failed);
          log.info(`Found ${refs.length} tables in source "${config.source.connection}"`);
        }
        if (!only && batchAbove !== undefined && refs.length > batchAbove) {
          // Collisions across batches are found here, by name; within a batch discoverTables finds them again.
          const named = refs.map((r) => ({ source: r, target: targetRefOf(config, r) }));
          const { kept, failed: collided } = targetCollisions(named);
          failed.push(...collided);
          for (const line of plan) log.info(line);
          for (const f of failed) log.warn(`${f.table} failed: ${f.reason}`);
          const names = kept.map((t) => displayName(t.source));
          const batches: string[][] = [];
          for (let i = 0; i < names.length; i += batchAbove) batches.push(names.slice(i, i + batchAbove));
          log.info(`${names.length} tables: planned and synced in ${batches.length} batches of up to ${batchAbove}`);
          return { tables: [], skipped, failed, plan, batches };
        }
        // A few tables at once: with many small tables the catalog round trips, not the queries, take the time.
        // Outcomes are kept per table and taken in order, so the plan reads the same whatever finished first.
        type Outcome = { plan: TablePlan } | { skip: string } | { failed: FailedTable };
        let stop: unknown = null;
        const outcomes = await mapLimit(refs, PLAN_CONCURRENCY, async (ref): Promise<Outcome> => {
          // The step fails: the other lanes start no further table (and change no target) behind its back.
          if (stop) throw stop;
          try {
            // Only a run that writes (not verify without --repair) may add columns to the target.
            return await planTable(source, target, config, ref, claim.claim !== false && !dryRun, verify);
          } catch (err) {
            // One bad table fails alone; what no table could survive (lost
            // connections, bad credentials) still fails or retries the step.
            // TablesyncErrors name their table already; driver errors get it put in front.
            const failure = err instanceof TablesyncError ? nonRetryable(err.type, err.message) : classifyError(err, displayName(ref));
            if (!failure.nonRetryable || RUN_WIDE_ERRORS.has(failure.type ?? '')) throw (stop = err);
            return { failed: { table: displayName(ref), target: displayName(targetRefOf(config, ref)), type: failure.type ?? 'Error', reason: failure.message } };
          }
        });
        for (const [i, outcome] of outcomes.entries()) {
          if ('skip' in outcome) {
            log.warn(`Skipping ${displayName(refs[i])}: ${outcome.skip}`);
            skipped.push({ table: displayName(refs[i]), reason: outcome.skip });
          } else if ('failed' in outcome) failed.push(outcome.failed);
          else planned.push(outcome.plan);
        }
      } catch (err) {
        throw classifyError(err, `discover_tables in source "${config.source.connection}"`);
      }
      const { kept: tables, failed: collided } = targetCollisions(planned);
      failed.push(...collided);
      for (const t of tables) plan.push(...t.notes.map((n) => `${displayName(t.source)}: ${n}`));
      for (const line of plan) log.info(line);
      for (const f of failed) log.warn(`${f.table} failed: ${f.reason}`);
      log.info(`Prepared ${tables.length} tables for sync`);
      await claimGenerations(target, config, tables, claim);
      return { tables, skipped, failed, plan };
    },

    async createSyncTasks({ config, tables, targetRanges }: CreateSyncTasksInput): Promise<SyncTask[]> {
      const source = connections.source(config.source.connection);
      let stop: unknown = null;
      return mapLimit(tables, PLAN_CONCURRENCY, async (planned): Promise<SyncTask> => {
        if (stop) throw stop;
        try {
          let table = await withChangelogWindow(source, await withCursorWindow(source, planned));
          const estimatedRows = await source.estimateRows(table.source);
          let bounds: { min: string | null; max: string | null } = { min: null, max: null };
          // A cursor or change-log run past its first reads few rows: one chunk, one pass over the source,
          // not one per key chunk (a first run or a backfill, which read every row, are chunked and resumable).
          const incremental = (table.cursor?.window?.from != null || table.changelog?.window?.started === true) && !backfillColumns(table).length;
          if (table.integerKey && !incremental && (estimatedRows >= config.partitionThreshold || estimatedRows > config.batchSize)) {
            bounds = await source.keyBounds(table.source, table.primaryKey[0]);
          }
          const sizing = {
            estimatedRows,
            threshold: config.partitionThreshold,
            // A cursor table runs as one partition (its chunks in order), so its last chunk can save the cursor.
            maxPartitions: table.mode === 'cursor' || table.mode === 'changelog' ? 1 : config.maxPartitionsPerTable,
            rowsPerPartition: config.rowsPerPartition,
          };
          let partitions = planPartitions({ ...sizing, integerKey: table.integerKey, ...bounds });
          const key = table.primaryKey.map((k) => table.columns.find((c) => c.name === k)!);
          const sameOrder = key.every((c) =>
            sameOrderOnTarget(source.dialect.name, c.sourceType, c.targetType, source.dialect.isIntegerType(c.sourceType)),
          );
          if (
            !table.integerKey &&
            !incremental &&
            source.sampleKeys &&
            key.every((c) => source.dialect.key.splits(c.sourceType)) &&
            (sameOrder || !targetRanges) &&
            (estimatedRows >= config.partitionThreshold || estimatedRows > config.batchSize)
          ) {
            const wanted = estimatedRows < sizing.threshold ? 1 : Math.min(sizing.maxPartitions, Math.floor(estimatedRows / sizing.rowsPerPartition));
            const pieces = samplePieces(estimatedRows, config.batchSize, wanted);
            const cuts = pieces > 1 ? await source.sampleKeys(table, pieces, estimatedRows) : [];
            partitions = planSampledPartitions({ ...sizing, cuts });
            // Said in the task's plan, so every chunk of every attempt applies ranges alike.
            if (cuts.length) table = { ...table, rangesOnTarget: sameOrder };
          }
          if (partitions.length > 1) {
            log.info(`${displayName(table.source)}: ~${estimatedRows} rows in ${partitions.length} partitions`);
          }
          return { table, estimatedRows, keyMin: bounds.min, keyMax: bounds.max, partitions };
        } catch (err) {
          throw (stop = classifyError(err, `create_sync_tasks for ${displayName(planned.source)}`));
        }
      });
    },
  };
}
