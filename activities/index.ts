import { hostname } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { Context, log } from '@temporalio/activity';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { ConfigError, parseSyncConfig, type SyncConfig } from '../lib/config';
import { TablesyncError } from '../lib/errors';
import { planChunks, planPartitions } from '../lib/planner';
import { ensureUserTypes, planUserTypes, readColumnTypes } from '../lib/pg-user-types';
import type { CopyStream, SourceConnection } from '../lib/sources/base';
import { PostgresSource, pgCanonical, pgCatalog, pgChecksumSql, qualifyPg, quotePg } from '../lib/sources/postgres';
import { failedTableResult, summarize } from '../lib/summary';
import { resolveTableSpecs, targetCollisions } from '../lib/discovery';
import { columnNotes, planCompareColumns, planFullColumns, refuseLossyColumns, tableNameNotes, targetRefOf } from '../lib/table-plan';
import { displayName } from '../lib/tables';
import { generationsTableSql } from '../lib/state-sql';
import {
  addPrimaryKeySql,
  copyIntoSql,
  createStagingSql,
  createTableSql,
  deleteMissingSql,
  dropTableSql,
  loadTableName,
  markCompletedSql,
  markFailedSql,
  markProgressSql,
  markRunningSql,
  stagingName,
  stateRowSql,
  STATE_UPGRADE_COLUMNS,
  stateTableSql,
  swapTableSql,
  targetKey,
  truncateTableSql,
  upsertSql,
  type StateKey,
} from '../lib/target-sql';
import type {
  FailedTable,
  PartitionRange,
  PartitionResult,
  RangeChecksum,
  SkippedTable,
  SyncSummary,
  SyncTask,
  TablePlan,
  TableRef,
  TableResult,
} from '../lib/types';
import type { ConnectionRegistry } from './connections';
import { classifyError, nonRetryable } from './errors';
import { checkGeneration, claimGenerations, type ClaimInput } from './generations';

export interface ActivityDeps {
  connections: ConnectionRegistry;
  /** This worker's identity, as Temporal records it; named when workers disagree on a connection. */
  identity?: string;
}

export interface InitializeStateInput {
  config: unknown;
}
export interface InitializeStateResult {
  config: SyncConfig;
}
export interface DiscoverTablesInput extends ClaimInput {
  config: SyncConfig;
}
export interface DiscoverTablesResult {
  tables: TablePlan[];
  skipped: SkippedTable[];
  /** Tables refused at discovery (unknown, unsupported type, name collision…); every other table still syncs. */
  failed?: FailedTable[];
  /** What patterns matched and left out, names shortened: said before any row moves. */
  plan?: string[];
}
export interface CreateSyncTasksInput {
  config: SyncConfig;
  tables: TablePlan[];
}
/** The sync a step belongs to: names its staging/load tables and its _migration_state rows. */
export interface RunKey {
  syncWorkflowId: string;
  syncRunId: string;
}
export interface SyncPartitionInput extends RunKey {
  config: SyncConfig;
  table: TablePlan;
  range: PartitionRange;
  /** Delete target rows of this range the source no longer has (verify --repair), whatever config.deletes says. */
  deleteMissing?: boolean;
  /** From the plan: lets the partition commit in chunks of config.batchSize rows and resume after the last one. */
  chunking?: { min: string | null; max: string | null; estimatedRows: number };
  /**
   * Full load of a one-partition, one-chunk table: create the load table, copy,
   * add the key, ANALYZE and swap it in, all in this activity's one transaction
   * (createLoadTable and swapLoadTable are not called).
   */
  wholeLoad?: boolean;
}

/** What a partition's committed chunks did, and where a retried attempt resumes. */
interface PartitionProgress {
  nextChunk: number;
  rowsCopied: number;
  inserted: number;
  updated: number;
  deleted: number;
  warnings: Record<string, number>;
}

async function ensureSchema(client: PoolClient, schema: string): Promise<void> {
  const found = await client.query('SELECT to_regnamespace($1) IS NOT NULL AS present', [quotePg(schema)]);
  if (found.rows[0].present) return;
  // Tables of one schema load in parallel; CREATE SCHEMA IF NOT EXISTS races without this.
  await client.query(`SELECT pg_advisory_xact_lock(hashtext('tablesync.schema.' || $1))`, [schema]);
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${quotePg(schema)}`);
}

function partitionResult(index: number, attempt: number, p: PartitionProgress): PartitionResult {
  const { rowsCopied, inserted, updated, deleted } = p;
  const warnings = Object.entries(p.warnings).map(([what, n]) => `${n} × ${what}`);
  return { index, rowsCopied, inserted, updated, unchanged: rowsCopied - inserted - updated, deleted, attempt, warnings };
}

function addCounts(p: PartitionProgress, c: Omit<PartitionProgress, 'nextChunk'>, nextChunk: number): PartitionProgress {
  const warnings = { ...p.warnings };
  for (const [what, n] of Object.entries(c.warnings)) warnings[what] = (warnings[what] ?? 0) + n;
  return {
    nextChunk,
    rowsCopied: p.rowsCopied + c.rowsCopied,
    inserted: p.inserted + c.inserted,
    updated: p.updated + c.updated,
    deleted: p.deleted + c.deleted,
    warnings,
  };
}
export interface LoadTableInput extends RunKey {
  config: SyncConfig;
  table: TablePlan;
}
export interface SwapLoadTableResult {
  replaced: boolean;
}
export interface ChecksumRangesInput {
  config: SyncConfig;
  table: TablePlan;
  ranges: PartitionRange[];
}
export interface CollectResultsInput {
  tables: TableResult[];
  skipped: SkippedTable[];
  failed?: FailedTable[];
  plan?: string[];
}

const runKeyOf = (k: RunKey): string => `${k.syncWorkflowId}/${k.syncRunId}`;
const loadRefOf = (k: RunKey, table: TablePlan): TableRef => ({
  schema: table.target.schema,
  name: loadTableName(runKeyOf(k), table.target),
});

/** Error types that say the source or target as a whole is unusable: the run fails, not one table. */
const RUN_WIDE_ERRORS = new Set(['AuthenticationFailed', 'HostNotFound', 'UnknownDatabase', 'UnknownConnection']);

/** Plans one table: how it syncs, which columns, or why it is skipped. Throws what fails this table alone. */
async function planTable(
  source: SourceConnection,
  target: Pool,
  config: SyncConfig,
  ref: TableRef,
): Promise<{ plan: TablePlan } | { skip: string }> {
  const name = displayName(ref);
  const described = await source.describeTable(ref);
  if (!described) {
    throw new TablesyncError('UnknownTable', `Source table ${name} does not exist in "${config.source.connection}"`);
  }
  if (described.primaryKey.length === 0) return { skip: 'no primary key' };
  const targetRef = targetRefOf(config, ref);
  const targetTable = await pgCatalog.describeTable(target, targetRef);
  const hasRows = targetTable !== null && (await pgCatalog.hasRows(target, targetRef));
  const keyType = described.columns.find((c) => c.name === described.primaryKey[0])!.type;
  const renamed = tableNameNotes(config.target.naming, ref);
  const base = {
    source: ref,
    target: targetRef,
    primaryKey: described.primaryKey,
    integerKey: described.primaryKey.length === 1 && source.dialect.isIntegerType(keyType),
  };
  if (config.mode === 'full' || (config.mode === 'auto' && !hasRows)) {
    const columns = planFullColumns(source.dialect, config, described);
    const why = !targetTable ? 'target table is missing' : !hasRows ? 'target table is empty' : 'mode: full';
    log.info(`${name}: full load into ${displayName(targetRef)} (${why})`);
    return { plan: await withUserTypes(source, target, config, { ...base, mode: 'full', columns, notes: [...renamed, ...columnNotes(config.target.naming, described, columns)] }) };
  }
  if (!targetTable) return { skip: `target table ${displayName(targetRef)} does not exist (run a full migration first)` };
  if (!hasRows) return { skip: `target table ${displayName(targetRef)} is empty (run a full migration first)` };
  const { columns, notes, missingKeys } = planCompareColumns(config.target.naming, described, targetTable);
  if (missingKeys.length) return { skip: `target table ${displayName(targetRef)} lacks key column(s) ${missingKeys.join(', ')}` };
  const wantedKey = targetKey(columns, described.primaryKey);
  const sameKey =
    targetTable.primaryKey.length === wantedKey.length && wantedKey.every((k) => targetTable.primaryKey.includes(k));
  if (!sameKey) {
    return {
      skip: `target primary key (${targetTable.primaryKey.join(', ') || 'none'}) differs from source primary key (${described.primaryKey.join(', ')})`,
    };
  }
  refuseLossyColumns(source.dialect, config, described, columns);
  for (const note of notes) log.info(`${name}: ${note}`);
  return { plan: await withUserTypes(source, target, config, { ...base, mode: 'compare', columns, notes: [...renamed, ...columnNotes(config.target.naming, described, columns), ...notes] }) };
}

/** A PostgreSQL source's user types: created in the target by full loads, checked against it here. */
async function withUserTypes(source: SourceConnection, target: Pool, config: SyncConfig, plan: TablePlan): Promise<TablePlan> {
  if (!(source instanceof PostgresSource)) return plan;
  return planUserTypes(await readColumnTypes(source.pool, plan.source), target, config, plan);
}

export function createActivities(deps: ActivityDeps) {
  const { connections } = deps;
  const identity = deps.identity ?? defaultIdentity();

  /** Runs fn in one transaction on a dedicated client; a failed client is discarded, not reused. */
  async function inTransaction<T>(connection: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await connections.pg(connection).connect();
    // A backend killed mid-query also emits 'error' on the client; the query's
    // own rejection carries it, so the event must not crash the worker.
    const ignore = () => undefined;
    client.on('error', ignore);
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      client.off('error', ignore);
      client.release();
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.off('error', ignore);
      client.release(err as Error);
      throw err;
    }
  }

  return withPinnedConnections({
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
      try {
        await inTransaction(config.target.connection, async (client) => {
          // Concurrent syncs may create the table at the same moment.
          await client.query(`SELECT pg_advisory_xact_lock(hashtext('tablesync._migration_state'))`);
          const [create, upgrade] = stateTableSql(config.target.stateSchema);
          await client.query(create);
          // ALTER needs ownership: run it only when an older version made the table.
          const have = await client.query(
            `SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = ANY($2) AND NOT attisdropped`,
            [qualifyPg({ schema: config.target.stateSchema, name: '_migration_state' }), STATE_UPGRADE_COLUMNS],
          );
          if (have.rows[0].n < STATE_UPGRADE_COLUMNS.length) await client.query(upgrade);
          await client.query(generationsTableSql(config.target.stateSchema));
        });
      } catch (err) {
        throw classifyError(err, `initialize_state in target "${config.target.connection}"`);
      }
      return { config };
    },

    async discoverTables({ config, ...claim }: DiscoverTablesInput): Promise<DiscoverTablesResult> {
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
        plan = resolution.plan;
        failed.push(...resolution.failed);
        log.info(`Found ${resolution.refs.length} tables in source "${config.source.connection}"`);
        for (const ref of resolution.refs) {
          try {
            const outcome = await planTable(source, target, config, ref);
            if ('skip' in outcome) {
              log.warn(`Skipping ${displayName(ref)}: ${outcome.skip}`);
              skipped.push({ table: displayName(ref), reason: outcome.skip });
            } else planned.push(outcome.plan);
          } catch (err) {
            // One bad table fails alone; what no table could survive (lost
            // connections, bad credentials) still fails or retries the step.
            // TablesyncErrors name their table already; driver errors get it put in front.
            const failure = err instanceof TablesyncError ? nonRetryable(err.type, err.message) : classifyError(err, displayName(ref));
            if (!failure.nonRetryable || RUN_WIDE_ERRORS.has(failure.type ?? '')) throw err;
            failed.push({ table: displayName(ref), target: displayName(targetRefOf(config, ref)), type: failure.type ?? 'Error', reason: failure.message });
          }
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

    async createSyncTasks({ config, tables }: CreateSyncTasksInput): Promise<SyncTask[]> {
      const source = connections.source(config.source.connection);
      const tasks: SyncTask[] = [];
      for (const table of tables) {
        try {
          const estimatedRows = await source.estimateRows(table.source);
          let bounds: { min: string | null; max: string | null } = { min: null, max: null };
          if (table.integerKey && (estimatedRows >= config.partitionThreshold || estimatedRows > config.batchSize)) {
            bounds = await source.keyBounds(table.source, table.primaryKey[0]);
          }
          const partitions = planPartitions({
            estimatedRows,
            integerKey: table.integerKey,
            ...bounds,
            threshold: config.partitionThreshold,
            maxPartitions: config.maxPartitionsPerTable,
            rowsPerPartition: config.rowsPerPartition,
          });
          if (partitions.length > 1) {
            log.info(`${displayName(table.source)}: ~${estimatedRows} rows in ${partitions.length} partitions`);
          }
          tasks.push({ table, estimatedRows, keyMin: bounds.min, keyMax: bounds.max, partitions });
        } catch (err) {
          throw classifyError(err, `create_sync_tasks for ${displayName(table.source)}`);
        }
      }
      return tasks;
    },

    async createLoadTable(input: LoadTableInput): Promise<void> {
      const { config, table } = input;
      const load = loadRefOf(input, table);
      try {
        await inTransaction(config.target.connection, async (client) => {
          await ensureSchema(client, table.target.schema);
          await ensureUserTypes(client, table.userTypes, ensureSchema);
          // A retry of this step starts over: no partition has loaded yet.
          await client.query(dropTableSql(load));
          await client.query(createTableSql(load, table.columns));
        });
      } catch (err) {
        throw classifyError(err, `create_load_table for ${displayName(table.target)}`);
      }
    },

    async swapLoadTable(input: LoadTableInput): Promise<SwapLoadTableResult> {
      const { config, table } = input;
      const load = loadRefOf(input, table);
      const target = connections.pg(config.target.connection);
      try {
        // Key built after the load: one sorted build instead of per-row index upkeep.
        const hasKey = await target.query(
          `SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'`,
          [qualifyPg(load)],
        );
        if (hasKey.rowCount === 0) await target.query(addPrimaryKeySql(load, table.columns, table.primaryKey));
        await target.query(`ANALYZE ${qualifyPg(load)}`);
        return await inTransaction(config.target.connection, async (client) => {
          const stillLoading = await client.query('SELECT to_regclass($1) IS NOT NULL AS present', [qualifyPg(load)]);
          if (!stillLoading.rows[0].present) return { replaced: false }; // an earlier attempt swapped it in
          // A load that a newer sync overtook holds older rows than the table has now.
          await checkGeneration(client, config, table);
          const exists = await client.query('SELECT to_regclass($1) IS NOT NULL AS present', [qualifyPg(table.target)]);
          for (const sql of swapTableSql(load, table.target, exists.rows[0].present)) await client.query(sql);
          return { replaced: exists.rows[0].present as boolean };
        });
      } catch (err) {
        throw classifyError(err, `swap_load_table for ${displayName(table.target)}`);
      }
    },

    async dropLoadTable(input: LoadTableInput): Promise<void> {
      try {
        await connections.pg(input.config.target.connection).query(dropTableSql(loadRefOf(input, input.table)));
      } catch (err) {
        throw classifyError(err, `drop_load_table for ${displayName(input.table.target)}`);
      }
    },

    async syncPartition(input: SyncPartitionInput): Promise<PartitionResult> {
      const { config, table, range } = input;
      const ctx = Context.current();
      const attempt = ctx.info.attempt;
      const where = `sync_partition ${displayName(table.source)} partition ${range.index + 1}/${range.count}`;
      for (const bound of [range.lo, range.hi]) {
        if (bound !== null && (!table.integerKey || !/^-?\d+$/.test(bound))) {
          throw nonRetryable('InvalidConfig', `${where}: key range bound ${JSON.stringify(bound)} is not an integer key value`);
        }
      }
      const target = connections.pg(config.target.connection);
      const source = connections.source(config.source.connection);
      const key: StateKey = {
        stateSchema: config.target.stateSchema,
        workflowId: input.syncWorkflowId,
        runId: input.syncRunId,
        source: table.source,
        target: table.target,
        partitionIndex: range.index,
        partitionCount: range.count,
        lo: range.lo,
        hi: range.hi,
        mode: table.mode,
      };
      // What earlier attempts committed is read from _migration_state, written
      // in the same transactions as the rows: exact, unlike heartbeat details,
      // which Temporal throttles and a killed worker may never have sent.
      let progress: PartitionProgress = { nextChunk: 0, rowsCopied: 0, inserted: 0, updated: 0, deleted: 0, warnings: {} };
      try {
        const prior = (await target.query(stateRowSql(key))).rows[0];
        if (prior) {
          progress = {
            nextChunk: Number(prior.chunks_done),
            rowsCopied: Number(prior.rows_copied),
            inserted: Number(prior.rows_inserted),
            updated: Number(prior.rows_updated),
            deleted: Number(prior.rows_deleted),
            warnings: prior.warnings ?? {},
          };
        }
        if (prior?.sync_status === 'completed') {
          // The commit landed but its completion never reached Temporal (worker killed just after COMMIT).
          log.info(`${where} already committed by an earlier attempt`);
          return partitionResult(range.index, attempt, progress);
        }
        await target.query(markRunningSql(key, attempt - 1));
      } catch (err) {
        throw classifyError(err, `${where}: recording state`);
      }

      const full = table.mode === 'full';
      const dest: TableRef = full
        ? loadRefOf(input, table)
        : { schema: table.target.schema, name: stagingName(runKeyOf(input), table.source, range.index) };
      const chunks = planChunks({
        range,
        integerKey: table.integerKey && Boolean(input.chunking),
        min: input.chunking?.min ?? null,
        max: input.chunking?.max ?? null,
        estimatedRows: input.chunking?.estimatedRows ?? 0,
        batchSize: config.batchSize,
      });
      if (progress.nextChunk > 0) log.info(`${where}: resuming at chunk ${progress.nextChunk + 1}/${chunks.length}`);
      const whole = full && input.wholeLoad === true && chunks.length === 1;
      if (whole) {
        await inTransaction(config.target.connection, async (client) => {
          await ensureSchema(client, table.target.schema);
          await ensureUserTypes(client, table.userTypes, ensureSchema);
        });
      }
      let copy: CopyStream | null = null;
      const heartbeat = setInterval(() => ctx.heartbeat({ ...progress, inFlight: copy?.rows() ?? 0 }), 1_000);
      // Cancelled (its sync was cancelled): no further chunk commits; the COPY itself is aborted through the signal.
      const stopIfCancelled = () => {
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
      };
      try {
        for (let i = progress.nextChunk; i < chunks.length; i++) {
          stopIfCancelled();
          const chunk: PartitionRange = { ...range, ...chunks[i] };
          const last = i === chunks.length - 1;
          // One transaction per chunk: staging, copy, apply and state commit
          // together or not at all, so a failed attempt leaves neither rows
          // nor staging behind, and committed chunks are never redone.
          const counts = await inTransaction(config.target.connection, async (client) => {
            // One attempt at a time per partition: a retry that starts while an earlier
            // attempt still runs (its worker cut off from Temporal) waits here, then goes
            // on from what that attempt committed instead of redoing and recounting it.
            await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tablesync.partition:${runKeyOf(input)}:${displayName(table.source)}:${range.index}`]);
            const now = (await client.query(stateRowSql(key))).rows[0];
            if (now && Number(now.chunks_done) > i) {
              return {
                committed: {
                  nextChunk: Number(now.chunks_done),
                  rowsCopied: Number(now.rows_copied),
                  inserted: Number(now.rows_inserted),
                  updated: Number(now.rows_updated),
                  deleted: Number(now.rows_deleted),
                  warnings: now.warnings ?? {},
                } as PartitionProgress,
              };
            }
            // Holds the table's claim until COMMIT: a newer sync's claim waits for this chunk, and a chunk
            // of a run that was overtaken fails before it reads or writes anything.
            await checkGeneration(client, config, table);
            if (!full) {
              await client.query(createStagingSql(dest, table.target, table.columns, config.useUnloggedStaging));
              await client.query(truncateTableSql(dest));
            }
            if (whole) {
              await client.query(dropTableSql(dest));
              await client.query(createTableSql(dest, table.columns));
            }
            copy = await source.openCopy(table, chunk, config.useBinaryCopy);
            try {
              const sink = client.query(copyFrom(copyIntoSql(dest, table.columns, copy.format)));
              await pipeline(copy.stream, sink, { signal: ctx.cancellationSignal });
              await copy.finish();
            } catch (err) {
              await copy.finish(err).catch(() => undefined);
              throw err;
            }
            const rowsCopied = copy.rows();
            let inserted = rowsCopied;
            let updated = 0;
            let deleted = 0;
            if (!full) {
              const applied = await client.query(upsertSql(table.target, dest, table.columns, table.primaryKey));
              inserted = Number(applied.rows[0].inserted);
              updated = Number(applied.rows[0].updated);
              if (config.deletes === 'hard' || input.deleteMissing) {
                const gone = await client.query(deleteMissingSql(table.target, dest, table.columns, table.primaryKey, chunk));
                deleted = gone.rowCount ?? 0;
              }
              await client.query(dropTableSql(dest));
            }
            if (whole) {
              await client.query(addPrimaryKeySql(dest, table.columns, table.primaryKey));
              await client.query(`ANALYZE ${qualifyPg(dest)}`);
              const exists = await client.query('SELECT to_regclass($1) IS NOT NULL AS present', [qualifyPg(table.target)]);
              for (const sql of swapTableSql(dest, table.target, exists.rows[0].present)) await client.query(sql);
            }
            stopIfCancelled();
            const counts = { rowsCopied, inserted, updated, deleted, warnings: copy.warnings() };
            const totals = addCounts(progress, counts, i + 1);
            const unchanged = totals.rowsCopied - totals.inserted - totals.updated;
            await client.query((last ? markCompletedSql : markProgressSql)(key, { ...totals, unchanged, chunksDone: i + 1 }));
            return counts;
          });
          copy = null;
          if ('committed' in counts) {
            log.info(`${where}: chunks up to ${counts.committed.nextChunk} committed by another attempt`);
            progress = counts.committed;
            i = progress.nextChunk - 1;
            continue;
          }
          progress = addCounts(progress, counts, i + 1);
          ctx.heartbeat(progress);
        }
        const result = partitionResult(range.index, attempt, progress);
        for (const w of result.warnings) log.warn(`${where}: ${w}`);
        return result;
      } catch (err) {
        if (ctx.cancellationSignal.aborted && ctx.cancellationDetails?.cancelRequested) {
          // Rethrown as the SDK's CancelledFailure, so Temporal records the activity as cancelled, not failed.
          await target.query(markFailedSql(key, `cancelled after ${progress.nextChunk}/${chunks.length} chunks`, 'cancelled')).catch(() => undefined);
          throw ctx.cancellationSignal.reason;
        }
        const failure = classifyError(err, where);
        await target.query(markFailedSql(key, failure.message)).catch(() => undefined);
        throw failure;
      } finally {
        clearInterval(heartbeat);
      }
    },

    async checksumRanges({ config, table, ranges }: ChecksumRangesInput): Promise<RangeChecksum[]> {
      const source = connections.source(config.source.connection);
      const target = connections.pg(config.target.connection);
      const canonical = source.dialect.canonicalText?.bind(source.dialect);
      if (!source.checksumRange || !canonical) {
        throw nonRetryable('UnsupportedSource', `verify: ${source.dialect.name} sources cannot be checksummed yet`);
      }
      const included = table.columns.filter((c) => canonical(c) !== null);
      const skippedColumns = table.columns.filter((c) => !included.includes(c)).map((c) => c.name);
      const targetCanonical = included.map((c) => pgCanonical(quotePg(c.targetName), c.targetType));
      const key = targetKey(table.columns, table.primaryKey)[0];
      const out: RangeChecksum[] = [];
      try {
        for (const range of ranges) {
          // Both sides at once, so the two snapshots are as close in time as they can be.
          const [s, t] = await Promise.all([
            source.checksumRange(table, included, range),
            target.query(pgChecksumSql(table.target, targetCanonical, key, range)),
          ]);
          out.push({
            range,
            sourceRows: s.rows,
            targetRows: Number(t.rows[0].rows),
            sourceSum: s.sum,
            targetSum: t.rows[0].sum,
            skippedColumns,
          });
          Context.current().heartbeat({ ranges: out.length });
        }
      } catch (err) {
        throw classifyError(err, `verify ${displayName(table.source)}`);
      }
      return out;
    },

    async collectResults({ tables, skipped, failed = [], plan = [] }: CollectResultsInput): Promise<SyncSummary> {
      const summary = summarize([...failed.map(failedTableResult), ...tables], skipped, plan);
      for (const t of tables.filter((t) => t.status === 'failed')) log.error(`${t.table} failed: ${t.error}`);
      log.info(summary.message);
      return summary;
    },
  }, connections, identity);
}

/** The identity the SDK gives a worker by default. */
export function defaultIdentity(): string {
  return `${process.pid}@${hostname()}`;
}

/**
 * Wraps every activity so that, before it touches a database, it checks that
 * this worker means by each connection name what the worker that started the
 * sync meant (config.pins). Two workers on one queue with different
 * definitions of "dst" (a stale config on one host) would otherwise write one
 * sync's rows into two databases.
 */
function withPinnedConnections<T extends Record<string, (input: never) => Promise<unknown>>>(
  activities: T,
  connections: ConnectionRegistry,
  identity: string,
): T {
  const check = (config: unknown) => {
    const pins = (config as SyncConfig | undefined)?.pins;
    if (!pins) return; // started before pins existed, or the step that sets them
    for (const [name, pin] of Object.entries(pins)) {
      const mine = connections.fingerprint(name);
      if (mine !== pin.fingerprint) {
        throw nonRetryable(
          'ConnectionMismatch',
          `Connection "${name}" means another database on worker ${identity} than on worker ${pin.worker}, which started this sync ` +
            `(driver, host, port, database or user differ; fingerprints ${mine} and ${pin.fingerprint}). ` +
            `Nothing was done here: give every worker on this task queue the same connection definitions.`,
        );
      }
    }
  };
  const wrapped: Record<string, (input: never) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (input: never) => {
      check((input as { config?: unknown } | undefined)?.config);
      return fn(input);
    };
  }
  return wrapped as T;
}

export type Activities = ReturnType<typeof createActivities>;
