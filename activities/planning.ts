import { log } from '@temporalio/activity';
import type { Pool } from 'pg';
import { mapLimit } from '../lib/concurrency';
import { ConfigError, parseSyncConfig, type SyncConfig } from '../lib/config';
import { resolveConfigTables, resolveTableSpecs, targetCollisions } from '../lib/discovery';
import { TablesyncError } from '../lib/errors';
import { modeOf, planTable, readPlanCatalog, settingsOf } from '../lib/modes';
import { refKey } from '../lib/sources/base';
import { planBlockPartitions, planPartitions, planSampledPartitions, samplePieces, sameOrderOnTarget } from '../lib/planner';
import {
  generationsTableSql,
  markPlanFailedSql,
  stateTableSql,
  stateCheckSql,
  stateIsCurrent,
  STATE_UPGRADE_COLUMNS,
  tableStateTablesSql,
  tableStateUpgradeSql,
  TABLE_STATE_UPGRADE_COLUMNS,
} from '../lib/state';
import { rowFilterOf } from '../lib/sources/row-filter';
import { targetRefOf } from '../lib/table-plan';
import { displayName } from '../lib/tables';
import { advisoryXactLockSql } from '../lib/target';
import type { FailedTable, SkippedTable, SyncTask, TablePlan, TableRef } from '../lib/types';
import { inTransaction, type ActivityDeps } from './context';
import { classifyError, nonRetryable } from './errors';
import { batchTables, saveBatches } from './batches';
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
  /**
   * With batchAbove: the batches' table names go into the target's state
   * (see activities/batches.ts), and only their number comes back
   * (`batchCount`), so no payload grows with the table count.
   */
  batchesInState?: boolean;
  /** A batch whose names its run's discovery saved in the state (batchesInState): plan those. */
  batch?: number;
  /** run --dry-run: plan only; nothing in the target is changed (no ALTER), only said. */
  dryRun?: boolean;
  /** verify: a cursor or change-log table whose target is missing or empty is skipped (nothing to compare), not planned to be created. */
  verify?: boolean;
  /** Also plan the tables' tasks (what createSyncTasks returns), in `tasks`: one activity fewer per run. */
  withTasks?: boolean;
  /** With withTasks: `tables` comes back empty (each task holds its table's plan), so no plan travels twice. */
  onlyTasks?: boolean;
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
  /** With batchesInState: how many batches were saved (numbered from 1), and their tables in all. */
  batchCount?: number;
  batchedTables?: number;
  /** With batchesInState: how many tables discovery refused (they are in the state's batch 0). */
  refusedTables?: number;
  /** With withTasks (and no batches): createSyncTasks' answer for the tables planned (`tables`, unless onlyTasks). */
  tasks?: SyncTask[];
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

/** A table refused at planning, with what its state row needs. */
interface RefusedTable {
  source: TableRef;
  target: TableRef;
  mode: string;
  failure: FailedTable;
}

async function recordRefused(target: Pool, config: SyncConfig, run: { workflowId: string; runId: string }, refused: RefusedTable[]): Promise<void> {
  const stateSchema = config.target.stateSchema;
  try {
    for (const r of refused) {
      await target.query(markPlanFailedSql({ stateSchema, ...run, source: r.source, target: r.target, mode: r.mode }, `${r.failure.type}: ${r.failure.reason}`));
    }
  } catch (err) {
    throw classifyError(err, `discover_tables: recording refused tables in target "${config.target.connection}"`);
  }
}

/** Each planned table's read window, row estimate and partitions (createSyncTasks, or discoverTables asked for tasks). */
async function planTasks(
  connections: ActivityDeps['connections'],
  { config, tables, targetRanges }: CreateSyncTasksInput,
): Promise<SyncTask[]> {
  const source = connections.source(config.source.connection);
  // Every table's estimate in a few queries; one they leave out is asked alone, below, where its error is its own.
  const estimates =
    tables.length > 1
      ? await source.estimateRowsMany(tables.map((t) => t.source)).catch((err: Error) => {
          log.warn(`Estimating ${tables.length} tables at once failed (${err.message}); estimating table by table`);
          return new Map<string, number>();
        })
      : new Map<string, number>();
  let stop: unknown = null;
  return mapLimit(tables, PLAN_CONCURRENCY, async (planned): Promise<SyncTask> => {
    if (stop) throw stop;
    try {
      const mode = modeOf(planned.mode);
      let table = await mode.readWindow(source, planned, { verifyAfter: config.verifyAfterSync });
      const estimatedRows = estimates.get(refKey(table.source)) ?? (await source.estimateRows(table.source));
      const sizingOf = () => ({
        estimatedRows,
        threshold: config.partitionThreshold,
        // A table that keeps a position runs as one partition (its chunks in order), so its last chunk can save it.
        maxPartitions: mode.onePartition ? 1 : config.maxPartitionsPerTable,
        rowsPerPartition: config.rowsPerPartition,
      });
      // A full load reads every row and compares no range with the target: a source that can (PostgreSQL 14+)
      // is read by storage blocks, each range reading only its own blocks (a key range of a uuid or a
      // composite key scans the whole table), under one snapshot createLoadTable exports. More rows than
      // one batch only: a smaller table loads whole in one activity, which exports no snapshot.
      const blocks =
        mode.steps === 'load-and-swap' && !targetRanges && source.blockCount && estimatedRows > config.batchSize
          ? await source.blockCount(table.source)
          : null;
      if (blocks !== null && blocks > 1) {
        const partitions = planBlockPartitions({ ...sizingOf(), blocks, batchSize: config.batchSize });
        log.info(`${displayName(table.source)}: ~${estimatedRows} rows in ${partitions.length} partition(s) of storage blocks`);
        return { table, estimatedRows, keyMin: null, keyMax: null, partitions };
      }
      let bounds: { min: string | null; max: string | null } = { min: null, max: null };
      // A cursor or change-log run past its first reads few rows: one chunk, one pass over the source,
      // not one per key chunk (a first run or a backfill, which read every row, are chunked and resumable).
      const incremental = mode.incremental(table) && !mode.backfillColumns(table).length;
      if (table.integerKey && !incremental && (estimatedRows >= config.partitionThreshold || estimatedRows > config.batchSize)) {
        bounds = await source.keyBounds(table.source, table.primaryKey[0], rowFilterOf(table));
      }
      const sizing = sizingOf();
      let partitions = planPartitions({ ...sizing, integerKey: table.integerKey, ...bounds });
      const key = table.primaryKey.map((k) => table.columns.find((c) => c.name === k)!);
      const sameOrder = key.every((c) =>
        sameOrderOnTarget(source.dialect.name, c.sourceType, c.targetType, source.dialect.isIntegerType(c.sourceType)),
      );
      if (
        // A table without a key is read whole, as one partition of one chunk: nothing to cut it by.
        table.primaryKey.length > 0 &&
        !table.integerKey &&
        !incremental &&
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
      // Reads only what changed since the saved position, in one partition of one chunk: the sync may run it itself.
    return { table, estimatedRows, keyMin: bounds.min, keyMax: bounds.max, partitions, ...(incremental && partitions.length === 1 && { changesOnly: true }) };
    } catch (err) {
      // As at discovery: one bad table (a filter value its column cannot take, a
      // missing object) fails alone; what no table could survive fails or retries the step.
      const failure = err instanceof TablesyncError ? nonRetryable(err.type, `${displayName(planned.source)}: ${err.message}`) : classifyError(err, `create_sync_tasks for ${displayName(planned.source)}`);
      if (!failure.nonRetryable || RUN_WIDE_ERRORS.has(failure.type ?? '')) throw (stop = failure);
      const failed = { table: displayName(planned.source), target: displayName(planned.target), type: failure.type ?? 'Error', reason: failure.message };
      log.warn(`${failed.table} failed: ${failed.reason}`);
      return { table: planned, estimatedRows: 0, partitions: [], failed };
    }
  });
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

    async discoverTables({ config, batchAbove, only, batchesInState, batch, dryRun, verify, withTasks, onlyTasks, ...claim }: DiscoverTablesInput): Promise<DiscoverTablesResult> {
      const source = connections.source(config.source.connection);
      const target = connections.pg(config.target.connection);
      const planned: TablePlan[] = [];
      const skipped: SkippedTable[] = [];
      const failed: FailedTable[] = [];
      const refused: RefusedTable[] = [];
      let plan: string[] = [];
      try {
        let resolution;
        if (batch !== undefined) {
          if (!claim.syncWorkflowId || !claim.syncRunId) throw nonRetryable('InvalidInput', 'discoverTables: a batch needs its sync run (syncWorkflowId, syncRunId)');
          // The run's discovery listed the source and resolved the config: the batch resolves it again (each table's
          // own settings) against its own tables only, not a listing of every table of the source per batch.
          const mine = await batchTables(target, config, { workflowId: claim.syncWorkflowId, runId: claim.syncRunId }, batch);
          only = mine.map(displayName);
          const listing = mine.map((t) => ({ schema: t.schema, name: t.name, kind: 'table' as const }));
          const defaultSchema = config.source.schema ?? source.dialect.defaultSchema;
          resolution = resolveTableSpecs(config.tables, defaultSchema, listing, config.source.connection, await source.nameRule(), { typoHints: false });
        } else resolution = await resolveConfigTables(source, config);
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
          if (batchesInState && claim.syncWorkflowId && claim.syncRunId) {
            const refsOf = kept.map((t) => ({ schema: t.source.schema, name: t.source.name }));
            const saved: TableRef[][] = [];
            for (let i = 0; i < refsOf.length; i += batchAbove) saved.push(refsOf.slice(i, i + batchAbove));
            await saveBatches(target, config, { workflowId: claim.syncWorkflowId, runId: claim.syncRunId }, saved, { tables: [], skipped, failed, plan });
            return { tables: [], skipped: [], failed: [], plan: [], batchCount: batches.length, batchedTables: names.length, refusedTables: failed.length };
          }
          return { tables: [], skipped, failed, plan, batches };
        }
        // A few tables at once: with many small tables the catalog round trips, not the queries, take the time.
        // Outcomes are kept per table and taken in order, so the plan reads the same whatever finished first.
        type Outcome = { plan: TablePlan } | { skip: string } | { failed: FailedTable; ref: (typeof refs)[number] };
        // And what they ask the catalogs, read for all of them first in a few queries.
        const catalog = refs.length > 1 ? await readPlanCatalog(source, target, config, refs) : undefined;
        let stop: unknown = null;
        const outcomes = await mapLimit(refs, PLAN_CONCURRENCY, async (ref): Promise<Outcome> => {
          // The step fails: the other lanes start no further table (and change no target) behind its back.
          if (stop) throw stop;
          try {
            // Only a run that writes (not verify without --repair) may add columns to the target.
            return await planTable(source, target, config, ref, claim.claim !== false && !dryRun, verify, catalog);
          } catch (err) {
            // One bad table fails alone; what no table could survive (lost
            // connections, bad credentials) still fails or retries the step.
            // TablesyncErrors name their table already; driver errors get it put in front.
            const failure = err instanceof TablesyncError ? nonRetryable(err.type, err.message) : classifyError(err, displayName(ref));
            if (!failure.nonRetryable || RUN_WIDE_ERRORS.has(failure.type ?? '')) throw (stop = err);
            return { failed: { table: displayName(ref), target: displayName(targetRefOf(config, ref)), type: failure.type ?? 'Error', reason: failure.message }, ref };
          }
        });
        for (const [i, outcome] of outcomes.entries()) {
          if ('skip' in outcome) {
            log.warn(`Skipping ${displayName(refs[i])}: ${outcome.skip}`);
            skipped.push({ table: displayName(refs[i]), reason: outcome.skip });
          } else if ('failed' in outcome) {
            failed.push(outcome.failed);
            refused.push({ source: outcome.ref, target: targetRefOf(config, outcome.ref), mode: settingsOf(config, outcome.ref).mode, failure: outcome.failed });
          } else planned.push(outcome.plan);
        }
      } catch (err) {
        throw classifyError(err, `discover_tables in source "${config.source.connection}"`);
      }
      const { kept: tables, failed: collided } = targetCollisions(planned);
      failed.push(...collided);
      for (const f of collided) {
        const t = planned.find((p) => displayName(p.source) === f.table)!;
        refused.push({ source: t.source, target: t.target, mode: t.mode, failure: f });
      }
      // A run that writes leaves every refused table's outcome in its state (status shows the last run);
      // verify, a dry run and a plan write nothing.
      if (claim.syncWorkflowId && claim.syncRunId && claim.claim !== false && !dryRun && !verify) {
        await recordRefused(target, config, { workflowId: claim.syncWorkflowId, runId: claim.syncRunId }, refused);
      }
      for (const t of tables) plan.push(...t.notes.map((n) => `${displayName(t.source)}: ${n}`));
      for (const line of plan) log.info(line);
      for (const f of failed) log.warn(`${f.table} failed: ${f.reason}`);
      log.info(`Prepared ${tables.length} tables for sync`);
      await claimGenerations(target, config, tables, claim);
      if (withTasks) {
        const tasks = tables.length ? await planTasks(connections, { config, tables }) : [];
        return { tables: onlyTasks ? [] : tables, skipped, failed, plan, tasks };
      }
      return { tables, skipped, failed, plan };
    },

    async createSyncTasks(input: CreateSyncTasksInput): Promise<SyncTask[]> {
      return planTasks(connections, input);
    },
  };
}
