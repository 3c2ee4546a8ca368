import { pipeline } from 'node:stream/promises';
import { Context, log } from '@temporalio/activity';
import { from as copyFrom } from 'pg-copy-streams';
import type { SyncConfig } from '../lib/config';
import { planBlockPartitions, planChunks } from '../lib/planner';
import type { SnapshotRead } from '../lib/sources/changes';
import { ensureUserTypes } from '../lib/sources/postgres/user-types';
import { tableStateLockSql } from '../lib/state';
import { displayName } from '../lib/tables';
import {
  addPrimaryKeySql,
  addSoftDeleteColumnsSql,
  analyzeSql,
  copyIntoSql,
  createTableSql,
  DEFAULT_KEY_BUILD_MB,
  dropTableSql,
  keyBuildSettingsSql,
  resetKeyBuildSql,
  swapTableSql,
  tableExistsSql,
} from '../lib/target';
import type { PartitionRange, TablePlan } from '../lib/types';
import { ensureSchema, inTransaction, loadRefOf, type ActivityDeps, type RunKey } from './context';
import { checkGeneration } from './generations';

// A cdc stream's initial snapshot, loaded while the capture holds the
// snapshot the stream starts from (inside startCdc: the snapshot ends with the
// replication connection that exported it, so it cannot outlive the activity).
// Each table goes into a new load table; where the capture's snapshot can be
// shared by other sessions (PostgreSQL), a table is read by block ranges, as a
// full load reads it, several sessions at once under that one snapshot; each
// table is then keyed and swapped in with its state (the stream's starting
// position) in one target transaction, as soon as its last range is in.

const WHOLE: PartitionRange = { index: 0, count: 1, lo: null, hi: null };

export interface SnapshotLoadOptions {
  /** `read` takes block ranges, each read in its own session under the same snapshot. */
  ranges?: boolean;
}

/** The ranges a table's snapshot is read in: block ranges of about batchSize rows, or the whole table. */
async function rangesOf(deps: ActivityDeps, config: SyncConfig, table: TablePlan): Promise<PartitionRange[]> {
  const source = deps.connections.source(config.source.connection);
  if (!source.blockCount) return [WHOLE];
  const estimatedRows = await source.estimateRows(table.source);
  // One batch or less: one read, as a full load does.
  if (estimatedRows <= config.batchSize) return [WHOLE];
  const blocks = await source.blockCount(table.source);
  if (blocks === null || blocks < 2) return [WHOLE];
  const partitions = planBlockPartitions({
    estimatedRows,
    blocks,
    batchSize: config.batchSize,
    threshold: config.partitionThreshold,
    maxPartitions: config.maxPartitionsPerTable,
    rowsPerPartition: config.rowsPerPartition,
  });
  // Each chunk of each partition is a read of its own: many small reads keep every session busy to the end.
  const chunks = partitions.flatMap((p) => planChunks({ range: p, integerKey: false, min: null, max: null, estimatedRows, batchSize: config.batchSize }));
  return chunks.map((c, index) => ({ index, count: chunks.length, lo: c.lo, hi: c.hi, blocks: true as const }));
}

/**
 * Loads every table's snapshot through `read` (up to maxParallelTransfers
 * reads at once when `options.ranges`, else one table after another, whole)
 * and swaps each in with `state(table, rows)` in its swap's transaction.
 * Returns rows and ranges per table. A failure leaves no load table behind; the tables
 * already swapped in stay (the caller's next attempt loads every table again).
 */
export async function loadCdcSnapshot(
  deps: ActivityDeps,
  config: SyncConfig,
  tables: TablePlan[],
  read: SnapshotRead,
  options: SnapshotLoadOptions,
  runKey: RunKey,
  state: (table: TablePlan, rows: number) => { text: string; values: unknown[] },
): Promise<{ rows: Record<string, number>; ranges: Record<string, number> }> {
  const ctx = Context.current();
  const target = config.target.connection;
  const work: { table: number; range: PartitionRange }[] = [];
  const rows = tables.map(() => 0);
  const left = tables.map(() => 0);
  const swapped = tables.map(() => false);
  let copied = 0;
  let done = 0;
  const beat = setInterval(() => ctx.heartbeat({ rowsCopied: copied, rangesDone: done, ranges: work.length }), 1_000);
  try {
    for (const [i, table] of tables.entries()) {
      const ranges = options.ranges ? await rangesOf(deps, config, table) : [WHOLE];
      if (ranges.length > 1) log.info(`${displayName(table.source)}: snapshot in ${ranges.length} block ranges`);
      for (const range of ranges) work.push({ table: i, range });
      left[i] = ranges.length;
      // Committed before the reads: each range copies into it in a transaction of its own.
      await inTransaction(deps.connections, target, async (client) => {
        await checkGeneration(client, config, table);
        await ensureSchema(client, table.target.schema);
        await ensureUserTypes(client, table.userTypes, ensureSchema);
        const load = loadRefOf(runKey, table);
        await client.query(dropTableSql(load)); // left by an earlier attempt
        await client.query(createTableSql(load, table.columns));
        if (table.softDeleteColumn) await client.query(addSoftDeleteColumnsSql(load, table.softDeleteColumn));
      });
    }
    const copyRange = async ({ table: i, range }: (typeof work)[number]) => {
      const table = tables[i];
      const load = loadRefOf(runKey, table);
      const n = await inTransaction(deps.connections, target, async (client) => {
        // Holds the table's claim (FOR SHARE) while it copies: a sync that claims the table later waits.
        await checkGeneration(client, config, table);
        const copy = await (range === WHOLE ? read(table) : read(table, range));
        try {
          await pipeline(copy.stream, client.query(copyFrom(copyIntoSql(load, table.columns, copy.format))));
          await copy.finish();
        } catch (err) {
          await copy.finish(err).catch(() => undefined);
          throw err;
        }
        return copy.rows();
      });
      rows[i] += n;
      copied += n;
      done++;
      if (--left[i] > 0) return;
      await inTransaction(deps.connections, target, async (client) => {
        await checkGeneration(client, config, table);
        // As a full load's swap does: the sort in memory, parallel workers where the server allows them.
        await client.query(keyBuildSettingsSql(config.keyBuildMemoryMB ?? DEFAULT_KEY_BUILD_MB));
        await client.query(addPrimaryKeySql(load, table.columns, table.primaryKey));
        await client.query(resetKeyBuildSql);
        await client.query(analyzeSql(load));
        const exists = await client.query(tableExistsSql(table.target));
        for (const sql of swapTableSql(load, table.target, exists.rows[0].present)) await client.query(sql);
        await client.query(tableStateLockSql(table.target));
        await client.query(state(table, rows[i]));
      });
      swapped[i] = true;
    };
    await runAll(work, options.ranges ? config.maxParallelTransfers : 1, copyRange);
  } catch (err) {
    for (const [i, table] of tables.entries()) {
      if (!swapped[i]) await deps.connections.pg(target).query(dropTableSql(loadRefOf(runKey, table))).catch(() => undefined);
    }
    throw err;
  } finally {
    clearInterval(beat);
  }
  const perTable = (n: (i: number) => number) => Object.fromEntries(tables.map((t, i) => [displayName(t.source), n(i)]));
  return { rows: perTable((i) => rows[i]), ranges: perTable((i) => work.filter((w) => w.table === i).length) };
}

/**
 * Runs fn over items, `limit` at a time; after a failure starts no more and
 * waits for the ones running (they hold sessions under the snapshot, which
 * the caller ends next), then throws the first failure.
 */
async function runAll<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { err: unknown } | null = null;
  const lane = async () => {
    while (!failed && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failed) throw (failed as { err: unknown }).err;
}
