import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { ApplicationFailure, log } from '@temporalio/activity';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { SyncConfig } from '../lib/config';
import type { ReadSession } from '../lib/sources/base';
import { chunkReads } from '../lib/modes/backfill';
import { tableSteps } from '../lib/modes/names';
import { planChunks } from '../lib/planner';
import {
  lockGenerationsSql,
  markFailedSql,
  markManyCompletedSql,
  markManyRunningSql,
  stateRowsSql,
  type StateKey,
} from '../lib/state';
import { displayName } from '../lib/tables';
import {
  addSoftDeleteColumnsSql,
  advisoryXactLocksSql,
  analyzeSql,
  copyIntoSql,
  createKeyedTableSql,
  dropTableSql,
  swapTableSql,
} from '../lib/target';
import { qualifyPg } from '../lib/target/sql';
import type { PartitionRange, PartitionResult, SyncTask, TablePlan } from '../lib/types';
import { ensureSchema, inTransaction, loadRefOf, runKeyOf, type ActivityDeps, type RunKey } from './context';
import { classifyError, nonRetryable } from './errors';
import { stepTimer } from './step-timer';
import { openRead, partitionResult, progressOf, type PartitionRun } from './partition-run';

// Full loads of many small tables in one target transaction: what
// syncSmallTables spends per table otherwise is mostly fixed cost (a
// transaction and its commit, state reads and writes, a claim check, DDL in
// separate round trips), which here is paid once per group. Each table runs
// inside its own savepoint, so a table that fails is rolled back alone and
// the others commit; state rows are read, marked running and marked completed
// for the whole group in one statement each. One transaction holds at most
// MAX_TRANSACTION_TABLES (25) tables (see lib/planner.ts): a group of more
// (up to MAX_GROUP_TABLES) commits in several, one after another.

type Spent = Record<'read' | 'load', number>;

/** One table of a group, and where it ended. */
interface Member {
  task: SyncTask;
  key: StateKey;
  range: PartitionRange;
  /** The one chunk the table is read in. */
  chunk: PartitionRange;
  /** Loaded in the group transaction, not yet committed. */
  copied?: { rowsCopied: number; warnings: Record<string, number> };
  result?: PartitionResult;
  error?: Error;
}

/**
 * Whether a task's full load can run in a group transaction: a one-partition,
 * one-chunk full load by key range (no block range, whose snapshot a
 * createLoadTable holds), with no user types to create first.
 */
export function groupLoadable(task: SyncTask, config: Pick<SyncConfig, 'batchSize'>): boolean {
  const [range] = task.partitions;
  if (tableSteps(task.table.mode) !== 'load-and-swap' || task.partitions.length !== 1 || range.blocks || task.table.userTypes?.length) return false;
  return onlyChunk(task, range, config) !== null;
}

/** The table's one chunk as the partition transfer would plan it, or null when it has more. */
function onlyChunk(task: SyncTask, range: PartitionRange, config: Pick<SyncConfig, 'batchSize'>): PartitionRange | null {
  const chunks = chunkReads(task.table, planChunks({
    range,
    integerKey: task.table.integerKey,
    min: task.keyMin ?? null,
    max: task.keyMax ?? null,
    estimatedRows: task.estimatedRows,
    batchSize: config.batchSize,
  }));
  return chunks.length === 1 ? { ...range, ...chunks[0].chunk } : null;
}

const pairKey = (schema: string, name: string, index: number) => JSON.stringify([schema, name, index]);

/**
 * Loads `tasks` (each groupLoadable) in one target transaction, each table
 * in its own savepoint. Returns, per task in order, its partition's result
 * or the error it failed with (named by table, as its own partition's would
 * be). A table an earlier attempt committed is not loaded again: its result
 * is read from _migration_state. When the transaction itself fails (its
 * connection lost, COMMIT refused), every table not committed before fails
 * with that error, to be retried on its own.
 */
export async function loadSmallTables(
  connections: ActivityDeps['connections'],
  config: SyncConfig,
  tasks: SyncTask[],
  runKey: RunKey,
  run: PartitionRun,
): Promise<Array<PartitionResult | Error>> {
  const where = (t: TablePlan, r: PartitionRange) => `sync_partition ${displayName(t.source)} partition ${r.index + 1}/${r.count}`;
  const members: Member[] = tasks.map((task) => {
    const range = task.partitions[0];
    const chunk = onlyChunk(task, range, config);
    if (!chunk) throw nonRetryable('InvalidInput', `${where(task.table, range)}: a group load takes one-chunk tables only`);
    const key: StateKey = {
      stateSchema: config.target.stateSchema,
      workflowId: runKey.syncWorkflowId,
      runId: runKey.syncRunId,
      source: task.table.source,
      target: task.table.target,
      partitionIndex: range.index,
      partitionCount: range.count,
      lo: range.lo,
      hi: range.hi,
      mode: task.table.mode,
    };
    return { task, key, range, chunk };
  });
  const target = connections.pg(config.target.connection);
  const source = connections.source(config.source.connection);
  const steps = stepTimer(`sync_partition of ${members.length} small tables in one transaction`);
  /** Where the tables' loads spent their time, summed over the group (debug log). */
  const spent: Spent = { read: 0, load: 0 };
  const open = () => members.filter((m) => !m.result && !m.error && !m.copied);
  /** Tables an earlier attempt (or another, still running) committed: their counts, from the state. */
  const takeCommitted = (rows: Record<string, unknown>[]) => {
    const byKey = new Map(rows.map((r) => [pairKey(r.source_schema as string, r.table_name as string, Number(r.partition_index)), r]));
    for (const m of open()) {
      const row = byKey.get(pairKey(m.key.source.schema, m.key.source.name, m.key.partitionIndex));
      if (row?.sync_status === 'completed') {
        log.info(`${where(m.task.table, m.range)} already committed by an earlier attempt`);
        m.result = partitionResult(m.range.index, run.attempt, progressOf(row));
      }
    }
  };
  try {
    takeCommitted((await target.query(stateRowsSql(members.map((m) => m.key)))).rows);
    if (open().length) await target.query(markManyRunningSql(open().map((m) => m.key), run.attempt - 1));
  } catch (err) {
    const failure = classifyError(err, `sync_partition of ${members.length} small tables: recording state`);
    for (const m of open()) m.error = failure;
  }
  steps.lap('state');
  for (const schema of new Set(open().map((m) => m.task.table.target.schema))) {
    try {
      await inTransaction(connections, config.target.connection, (client) => ensureSchema(client, schema));
    } catch (err) {
      for (const m of open().filter((x) => x.task.table.target.schema === schema)) m.error = classifyError(err, where(m.task.table, m.range));
    }
  }
  const loading = open();
  if (loading.length) {
    try {
      await inTransaction(connections, config.target.connection, async (client) => {
        // One attempt at a time per partition, as in a partition's own transfer (names sorted: two groups never wait on each other).
        const locks = loading.map((m) => `tablesync.partition:${runKeyOf(runKey)}:${displayName(m.task.table.source)}:${m.range.index}`);
        await client.query(advisoryXactLocksSql(locks));
        takeCommitted((await client.query(stateRowsSql(loading.map((m) => m.key)))).rows);
        await checkGenerations(client, config, open());
        const present = await targetsPresent(client, open().map((m) => m.task.table));
        steps.lap('locks and claims');
        // The group's reads share one source session and read transaction, where the source has them.
        const reader = source.readSession ? await source.readSession() : source;
        try {
          for (const m of open()) {
            if (run.signal.aborted) throw run.signal.reason;
            try {
              m.copied = await loadOne(client, reader, config, runKey, m, present[qualifyPg(m.task.table.target)], run.signal, spent);
            } catch (err) {
              m.error = classifyError(err, where(m.task.table, m.range));
              await client.query('ROLLBACK TO SAVEPOINT small_table');
            }
          }
        } catch (err) {
          if (reader !== source) await reader.close().catch(() => undefined);
          throw err;
        }
        // A read transaction that does not end cleanly fails the group: each table is then retried on its own.
        if (reader !== source) await reader.close().catch((err) => {
          throw sharedStepFailed(err, `the source read of ${loading.length} small tables`);
        });
        steps.lap(`loads (${Object.entries(spent).map(([k, v]) => `${k} ${Math.round(v)} ms`).join(', ')})`);
        const loaded = members.filter((m) => m.copied);
        if (loaded.length) {
          // One ANALYZE of every loaded table: one round trip a group, not a table. Should it fail, the group
          // transaction fails as a whole and each table runs again on its own, where its ANALYZE is its own.
          await client.query(analyzeSql(loaded.map((m) => m.task.table.target))).catch((err) => {
            throw sharedStepFailed(err, `ANALYZE of ${loaded.length} small tables loaded together`);
          });
          steps.lap('analyze');
          const counts = loaded.map((m) => ({ ...m.copied!, inserted: m.copied!.rowsCopied, updated: 0, unchanged: 0, deleted: 0, chunksDone: 1 }));
          await client.query(markManyCompletedSql(loaded.map((m) => m.key), counts));
        }
      });
      steps.lap('completed and commit');
      steps.done();
      // Committed: a full load's counts, as its own partition's transfer reports them.
      for (const m of members.filter((x) => x.copied)) {
        const { rowsCopied, warnings } = m.copied!;
        m.result = partitionResult(m.range.index, run.attempt, { nextChunk: 1, rowsCopied, skipped: 0, inserted: rowsCopied, updated: 0, deleted: 0, warnings });
      }
    } catch (err) {
      if (run.signal.aborted && run.cancelRequested()) {
        // Rethrown as the SDK's CancelledFailure, as a partition's own transfer does.
        await markEnded(target, loading, 'cancelled', 'cancelled: the group of small tables was rolled back');
        throw run.signal.reason;
      }
      // Nothing of the transaction committed: every table in it fails with its error, to be retried on its own.
      for (const m of loading.filter((x) => !x.result)) m.error ??= classifyError(err, `${where(m.task.table, m.range)} (one of ${loading.length} small tables in one transaction)`);
    }
  }
  await markEnded(target, members.filter((m) => m.error), 'failed');
  return members.map((m) => m.result ?? m.error!);
}

/**
 * A step the group's tables share failed: no table's own error, and not one
 * that repeats for each table alone, so it is retryable whatever its kind,
 * and every table of the group runs again on its own (see syncSmallTables).
 */
function sharedStepFailed(err: unknown, what: string): ApplicationFailure {
  const failure = classifyError(err, what);
  return ApplicationFailure.create({ type: 'SmallGroupFailed', message: `${failure.message}; each table runs again on its own`, cause: failure });
}

/** Rows of tables that did not complete: failed (or cancelled), with their own error. */
async function markEnded(target: import('pg').Pool, members: Member[], status: 'failed' | 'cancelled', message?: string): Promise<void> {
  for (const m of members) {
    if (m.result) continue;
    await target.query(markFailedSql(m.key, message ?? m.error?.message ?? status, status)).catch(() => undefined);
  }
}

/**
 * Holds every table's claim FOR SHARE until COMMIT, as checkGeneration does
 * for one: a table a newer sync claimed since this plan was made fails
 * (Superseded), the others go on.
 */
async function checkGenerations(client: PoolClient, config: SyncConfig, members: Member[]): Promise<void> {
  const claimed = members.filter((m) => m.task.table.generation !== undefined);
  if (!claimed.length) return;
  const rows = (await client.query(lockGenerationsSql(config.target.stateSchema, claimed.map((m) => m.task.table.target)))).rows;
  const byTarget = new Map(rows.map((r) => [JSON.stringify([r.target_schema, r.target_table]), r]));
  for (const m of claimed) {
    const t = m.task.table;
    const row = byTarget.get(JSON.stringify([t.target.schema, t.target.name]));
    if (row && Number(row.generation) === t.generation) continue;
    const why = row
      ? `was claimed by a newer sync, ${row.workflow_id} (generation ${row.generation}; this run has ${t.generation})`
      : `lost this run's claim (generation ${t.generation})`;
    m.error = nonRetryable('Superseded', `${displayName(t.target)} ${why}: this run's write to it is not committed`);
  }
}

/** Which target tables exist, by qualified name, in one query. */
async function targetsPresent(client: PoolClient, tables: TablePlan[]): Promise<Record<string, boolean>> {
  const names = tables.map((t) => qualifyPg(t.target));
  const r = await client.query('SELECT n, to_regclass(n) IS NOT NULL AS present FROM unnest($1::text[]) AS n', [names]);
  return Object.fromEntries(r.rows.map((row) => [row.n as string, row.present as boolean]));
}

/**
 * One table's full load inside the group transaction, in savepoint
 * small_table (released when it is in): a target that does not exist yet is
 * created under its own name, keyed and filled (nothing to swap);
 * one that exists is replaced by a keyed load table, as a swap does. All of
 * it, from the savepoint to its release, is one query around the COPY, sent
 * while the source's read starts: one round trip on each side. (The group's
 * tables are analyzed together afterwards.)
 */
async function loadOne(
  client: PoolClient,
  reader: Pick<ReadSession, 'openCopy'>,
  config: SyncConfig,
  runKey: RunKey,
  m: Member,
  targetExists: boolean,
  signal: AbortSignal,
  spent: Spent,
): Promise<NonNullable<Member['copied']>> {
  let at = performance.now();
  const lap = (step: keyof Spent) => {
    const now = performance.now();
    spent[step] += now - at;
    at = now;
  };
  const table = m.task.table;
  const dest = targetExists ? loadRefOf(runKey, table) : table.target;
  const ddl = ['SAVEPOINT small_table', ...(targetExists ? [dropTableSql(dest)] : []), createKeyedTableSql(dest, table.columns, table.primaryKey)];
  if (table.softDeleteColumn) ddl.push(addSoftDeleteColumnsSql(dest, table.softDeleteColumn));
  const copy = await openRead(reader, table, m.chunk, config.useBinaryCopy);
  lap('read');
  const swap = targetExists ? swapTableSql(dest, table.target, true, table.primaryKey.length > 0) : [];
  const sql = [...ddl, copyIntoSql(dest, table.columns, copy.format), ...swap, 'RELEASE SAVEPOINT small_table'].join('; ');
  try {
    await pipeline(copy.stream, client.query(copyFrom(sql)), { signal });
    await copy.finish();
  } catch (err) {
    await copy.finish(err).catch(() => undefined);
    throw err;
  }
  lap('load');
  return { rowsCopied: copy.rows(), warnings: copy.warnings() };
}
