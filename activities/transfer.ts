import { pipeline } from 'node:stream/promises';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { from as copyFrom } from 'pg-copy-streams';
import type { SyncConfig } from '../lib/config';
import { modeOf } from '../lib/modes';
import { ensureUserTypes } from '../lib/sources/postgres/user-types';
import { derivedUserTypes } from './user-types';
import { MAX_TRANSACTION_TABLES, planChunks } from '../lib/planner';
import { decodeKey, type CopyStream } from '../lib/sources/base';
import type { ChunkContext, ChunkNarrowing, Db } from '../lib/modes/types';
import { chunkReads } from '../lib/modes/backfill';
import { markCompletedSql, markFailedSql, markProgressSql, markRunningSql, stateRowSql, type StateKey } from '../lib/state';
import { displayName } from '../lib/tables';
import { advisoryXactLockSql, copyIntoSql } from '../lib/target';
import { NON_RETRYABLE, rootMessage } from '../lib/failures';
import { tableSteps } from '../lib/modes/names';
import { tableResultOf } from '../lib/summary';
import type { PartitionRange, PartitionResult, SyncTask, TablePlan, TableResult } from '../lib/types';
import { ensureSchema, inTransaction, loadRefOf, runKeyOf, stagingRefOf, type ActivityDeps, type RunKey } from './context';
import { classifyError, nonRetryable } from './errors';
import { checkGeneration } from './generations';
import { groupLoadable, loadSmallTables } from './small-loads';
import { stepTimer } from './step-timer';
import { NO_PROGRESS, openRead, partitionResult, progressOf, type ChunkCounts, type PartitionProgress, type PartitionRun } from './partition-run';

// Partition transfer: one key range of one table, copied from the source and
// applied by the table's mode, in chunks of batchSize rows that each commit
// (rows and state together) or not at all, resuming after the last one.

export interface SyncPartitionInput extends RunKey {
  config: SyncConfig;
  table: TablePlan;
  range: PartitionRange;
  /** Remove target rows of this range the source no longer has (verify --repair): marked with the plan's softDeleteColumn, else deleted. */
  deleteMissing?: boolean;
  /** From the plan: lets the partition commit in chunks of config.batchSize rows and resume after the last one. */
  chunking?: { min: string | null; max: string | null; estimatedRows: number };
  /**
   * Full load of a one-partition, one-chunk table: create the load table, copy,
   * add the key, ANALYZE and swap it in, all in this activity's one transaction
   * (createLoadTable and swapLoadTable are not called).
   */
  wholeLoad?: boolean;
  /** A block range (range.blocks) is read under this snapshot, which createLoadTable exported for the whole load. */
  snapshot?: string;
}


function addProgress(p: PartitionProgress, c: ChunkCounts, nextChunk: number): PartitionProgress {
  const warnings = { ...p.warnings };
  for (const [what, n] of Object.entries(c.warnings)) warnings[what] = (warnings[what] ?? 0) + n;
  return {
    nextChunk,
    rowsCopied: p.rowsCopied + c.rowsCopied,
    skipped: p.skipped + c.skipped,
    inserted: p.inserted + c.inserted,
    updated: p.updated + c.updated,
    deleted: p.deleted + c.deleted,
    warnings,
  };
}

function isKeyBound(bound: string, width: number): boolean {
  try {
    decodeKey(bound, width);
    return true;
  } catch {
    return false;
  }
}


function runOf(ctx: Context): PartitionRun {
  return {
    attempt: ctx.info.attempt,
    heartbeat: (details) => ctx.heartbeat(details),
    signal: ctx.cancellationSignal,
    cancelRequested: () => ctx.cancellationDetails?.cancelRequested === true,
  };
}

async function transferPartition(connections: ActivityDeps['connections'], input: SyncPartitionInput, run: PartitionRun): Promise<PartitionResult> {
  const { config, table, range } = input;
  const mode = modeOf(table.mode);
  const attempt = run.attempt;
    const where = `sync_partition ${displayName(table.source)} partition ${range.index + 1}/${range.count}`;
    if (range.blocks && (!input.snapshot || mode.steps !== 'load-and-swap')) {
      // Rows move between blocks under concurrent updates: block ranges are one load's only under one snapshot.
      throw nonRetryable('InvalidInput', `${where}: a block range is read only by a full load, under the snapshot its createLoadTable exported`);
    }
    for (const bound of [range.lo, range.hi, ...(range.splits ?? [])]) {
      if (bound === null) continue;
      if (range.blocks) {
        if (!/^\d{1,10}$/.test(bound)) throw nonRetryable('InvalidInput', `${where}: block range bound ${JSON.stringify(bound)} is not a block number`);
      } else if (table.integerKey && !range.splits ? !/^-?\d+$/.test(bound) : !isKeyBound(bound, table.primaryKey.length)) {
        throw nonRetryable('InvalidConfig', `${where}: key range bound ${JSON.stringify(bound)} is not a value of key (${table.primaryKey.join(', ')})`);
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
    let progress: PartitionProgress = NO_PROGRESS;
    try {
      const prior = (await target.query(stateRowSql(key))).rows[0];
      if (prior) progress = progressOf(prior);
      if (prior?.sync_status === 'completed') {
        // The commit landed but its completion never reached Temporal (worker killed just after COMMIT).
        log.info(`${where} already committed by an earlier attempt`);
        return partitionResult(range.index, attempt, progress);
      }
      await target.query(markRunningSql(key, attempt - 1));
    } catch (err) {
      throw classifyError(err, `${where}: recording state`);
    }

    const dest = mode.destination(table, { load: loadRefOf(input, table), staging: stagingRefOf(input, table, range.index) });
    // A cursor backfill reads every chunk twice (new columns, then past the cursor): see chunkReads.
    const chunks = chunkReads(table, planChunks({
      range,
      integerKey: table.integerKey && Boolean(input.chunking),
      min: input.chunking?.min ?? null,
      max: input.chunking?.max ?? null,
      estimatedRows: input.chunking?.estimatedRows ?? 0,
      batchSize: config.batchSize,
    }));
    if (progress.nextChunk > 0) log.info(`${where}: resuming at chunk ${progress.nextChunk + 1}/${chunks.length}`);
    const whole = mode.steps === 'load-and-swap' && input.wholeLoad === true && chunks.length === 1;
    if (whole || mode.createsTarget) {
      // Before the transaction: deriving reads the catalogs on other pooled clients.
      const userTypes = await derivedUserTypes(connections, config, table);
      await inTransaction(connections, config.target.connection, async (client) => {
        await ensureSchema(client, table.target.schema);
        await ensureUserTypes(client, userTypes, ensureSchema);
      });
    }
    let copy: CopyStream | null = null;
    // copy while the chunk's rows stream in, apply while they are applied (progress views show it).
    let phase: 'copy' | 'apply' = 'copy';
    const heartbeat = setInterval(() => run.heartbeat({ ...progress, inFlight: copy?.rows() ?? 0, phase }), 1_000);
    // Cancelled (its sync was cancelled): no further chunk commits; the COPY itself is aborted through the signal.
    const stopIfCancelled = () => {
      if (run.signal.aborted) throw run.signal.reason;
    };
    const steps = stepTimer(where);
    steps.lap('state and setup');
    // compare's range digests, until a chunk shows they do not pay in this partition.
    let digestsPay = true;
    const sync = { workflowId: input.syncWorkflowId, runId: input.syncRunId };
    const sizing = input.chunking && { estimatedRows: input.chunking.estimatedRows, min: input.chunking.min, max: input.chunking.max };
    const contextOf = (i: number): ChunkContext => ({
      config,
      table: chunks[i].table,
      chunk: { ...range, ...chunks[i].chunk },
      dest,
      deleteMissing: Boolean(input.deleteMissing),
      whole,
      last: i === chunks.length - 1,
      run: sync,
      source,
      sizing,
    });
    // A chunk's digests only read (pooled connections on both sides, before the chunk's transaction), so the
    // next chunk's run while this one copies and applies: its key range is not this chunk's, which is all it writes.
    let ahead = null as { index: number; narrowing: Promise<ChunkNarrowing | null> } | null;
    const digest = (i: number): Promise<ChunkNarrowing | null> => {
      const narrowing = mode.narrowChunk!(target, contextOf(i));
      narrowing.catch(() => undefined); // awaited when its chunk runs; one that never runs must not reject unhandled
      return narrowing;
    };
    try {
      for (let i = progress.nextChunk; i < chunks.length; i++) {
        stopIfCancelled();
        phase = 'copy';
        const chunkCtx = contextOf(i);
        const { chunk, table: read, last } = chunkCtx;
        // One transaction per chunk: staging, copy, apply and state commit
        // together or not at all, so a failed attempt leaves neither rows
        // nor staging behind, and committed chunks are never redone.
        // The chunk's state row (and, in the last chunk, the table's state), in its transaction.
        const commitChunk = async (client: Db, counts: ChunkCounts, position?: string | null) => {
          const totals = addProgress(progress, counts, i + 1);
          const unchanged = totals.rowsCopied + totals.skipped - totals.inserted - totals.updated;
          await client.query((last ? markCompletedSql : markProgressSql)(key, { ...totals, unchanged, chunksDone: i + 1 }));
          if (last) await mode.saveState?.(client, chunkCtx, { ...totals, ...(position !== undefined && { position }) });
        };
        // compare: digests of both sides say which of the chunk's rows need copying (none, some, or all).
        // Awaited before the chunk's transaction takes a pooled connection: a transaction holding one while
        // its digest waits for another could, with every connection so held, wait forever.
        const pending = ahead?.index === i ? ahead.narrowing : null;
        ahead = null;
        const narrowing = digestsPay && mode.narrowChunk ? await (pending ?? digest(i)) : null;
        if (narrowing) steps.lap(`chunk ${i + 1} digest`);
        // Most of this chunk's rows differed: so will the next chunks' most likely (a bulk change), and a
        // digest that finds that costs a pass over both sides for nothing; they are copied whole.
        if (narrowing !== null && 'whole' in narrowing) digestsPay = false;
        if (narrowing && digestsPay && i + 1 < chunks.length) ahead = { index: i + 1, narrowing: digest(i + 1) };
        const counts = await inTransaction(connections, config.target.connection, async (client): Promise<ChunkCounts | { committed: PartitionProgress }> => {
          // One attempt at a time per partition: a retry that starts while an earlier
          // attempt still runs (its worker cut off from Temporal) waits here, then goes
          // on from what that attempt committed instead of redoing and recounting it.
          await client.query(advisoryXactLockSql(`tablesync.partition:${runKeyOf(input)}:${displayName(table.source)}:${range.index}`));
          const now = (await client.query(stateRowSql(key))).rows[0];
          if (now && Number(now.chunks_done) > i) return { committed: progressOf(now) };
          // Holds the table's claim until COMMIT: a newer sync's claim waits for this chunk, and a chunk
          // of a run that was overtaken fails before it reads or writes anything.
          await checkGeneration(client, config, table);
          const narrowed = narrowing === null || 'whole' in narrowing ? null : narrowing;
          if (narrowed && !narrowed.filter) {
            const counts = { rowsCopied: 0, skipped: narrowed.skipped, inserted: 0, updated: 0, deleted: 0, warnings: {} };
            await commitChunk(client, counts);
            return counts;
          }
          const ctx: ChunkContext = narrowed?.filter ? { ...chunkCtx, only: narrowed.only } : chunkCtx;
          await mode.prepareChunk(client, ctx);
          copy = await openRead(source, read, chunk, config.useBinaryCopy, input.snapshot, narrowed?.filter);
          try {
            const sink = client.query(copyFrom(copyIntoSql(dest, read.columns, copy.format)));
            await pipeline(copy.stream, sink, { signal: run.signal });
            await copy.finish();
          } catch (err) {
            await copy.finish(err).catch(() => undefined);
            throw err;
          }
          steps.lap(`chunk ${i + 1} copy`);
          const rowsCopied = copy.rows();
          // A load table has nothing to apply; a staging table is applied to the target now.
          if (mode.steps === 'apply-in-place') phase = 'apply';
          const applied = await mode.applyChunk(client, ctx, rowsCopied);
          stopIfCancelled();
          const warnings = { ...copy.warnings() };
          for (const [what, n] of Object.entries(applied.warnings ?? {})) warnings[what] = (warnings[what] ?? 0) + n;
          const counts = { rowsCopied, skipped: narrowed?.skipped ?? 0, inserted: applied.inserted, updated: applied.updated, deleted: applied.deleted, warnings };
          await commitChunk(client, counts, applied.position);
          return counts;
        });
        copy = null;
        steps.lap(`chunk ${i + 1} apply and commit`);
        if ('committed' in counts) {
          log.info(`${where}: chunks up to ${counts.committed.nextChunk} committed by another attempt`);
          progress = counts.committed;
          i = progress.nextChunk - 1;
          continue;
        }
        progress = addProgress(progress, counts, i + 1);
        phase = 'copy';
        run.heartbeat({ ...progress, inFlight: 0, phase });
      }
      const result = partitionResult(range.index, attempt, progress);
      steps.done();
      for (const w of result.warnings) log.warn(`${where}: ${w}`);
      return result;
    } catch (err) {
      if (run.signal.aborted && run.cancelRequested()) {
        // Rethrown as the SDK's CancelledFailure, so Temporal records the activity as cancelled, not failed.
        await target.query(markFailedSql(key, `cancelled after ${progress.nextChunk}/${chunks.length} chunks`, 'cancelled')).catch(() => undefined);
        throw run.signal.reason;
      }
      const failure = classifyError(err, where);
      await target.query(markFailedSql(key, failure.message)).catch(() => undefined);
      throw failure;
    } finally {
      clearInterval(heartbeat);
      // A digest started for a chunk that never ran: let it end before the activity does.
      await ahead?.narrowing.catch(() => undefined);
    }
}


export interface SyncSmallTablesInput extends RunKey {
  config: SyncConfig;
  /** Tasks of one partition of at most one chunk each (groupSmallTasks chose them). */
  tasks: SyncTask[];
}

export interface SyncSmallTablesResult {
  /** One per task, in order: completed, or failed with its error. */
  tables: TableResult[];
  /** Indices of the tasks that failed with an error a retry may fix (their entry in tables says why). */
  again: number[];
}

export function createTransferActivities({ connections }: ActivityDeps) {
  return {
    async syncPartition(input: SyncPartitionInput): Promise<PartitionResult> {
      return transferPartition(connections, input, runOf(Context.current()));
    },

    /**
     * Several small tables, each with the _migration_state row its own
     * syncTableWorkflow would write: full loads of one chunk together in one
     * transaction, a savepoint each (loadSmallTables); the others one after
     * another, each exactly as its own workflow would run its one partition. A table whose error no retry can fix fails alone;
     * one whose error a retry may fix is named in `again`, for the workflow to
     * run as its own syncTableWorkflow, with the configured retries.
     */
    async syncSmallTables({ config, tasks, syncWorkflowId, syncRunId }: SyncSmallTablesInput): Promise<SyncSmallTablesResult> {
      const ctx = Context.current();
      // Heartbeats name the group's progress; one per table would overwrite each other.
      const run = { ...runOf(ctx), heartbeat: () => undefined };
      let tablesDone = 0;
      let rowsCopied = 0;
      const heartbeat = setInterval(() => ctx.heartbeat({ tablesDone, rowsCopied }), 1_000);
      const tables = new Array<TableResult>(tasks.length);
      const again: number[] = [];
      // A table that failed, worded as the table's own workflow words a failed partition.
      const failedTable = (i: number, failure: ApplicationFailure) => {
        const range = tasks[i].partitions[0];
        if (!failure.nonRetryable && !NON_RETRYABLE.includes(failure.type ?? '')) again.push(i);
        tables[i] = tableResultOf(tasks[i], [], [`partition ${range.index + 1}/${range.count}: ${rootMessage(failure)}`]);
      };
      try {
        // Full loads of one chunk: all in one transaction (see small-loads.ts); the others one after another.
        const grouped = tasks.flatMap((task, i) => (groupLoadable(task, config) ? [i] : []));
        if (grouped.length > 1) {
          // At most MAX_TRANSACTION_TABLES a transaction, cut evenly (51 tables: 17, 17, 17).
          const parts = Math.ceil(grouped.length / MAX_TRANSACTION_TABLES);
          const size = Math.ceil(grouped.length / parts);
          for (let from = 0; from < grouped.length; from += size) {
            if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
            const part = grouped.slice(from, from + size);
            const done = await loadSmallTables(connections, config, part.map((i) => tasks[i]), { syncWorkflowId, syncRunId }, run);
            for (const [k, i] of part.entries()) {
              const r = done[k];
              if (r instanceof Error) failedTable(i, classifyError(r, `sync_partition ${displayName(tasks[i].table.source)}`));
              else {
                rowsCopied += r.rowsCopied;
                tables[i] = tableResultOf(tasks[i], [r], []);
              }
              tablesDone++;
            }
          }
        }
        for (const [i, task] of tasks.entries()) {
          if (tables[i]) continue;
          if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
          const range = task.partitions[0];
          const input: SyncPartitionInput = {
            config,
            table: task.table,
            range,
            chunking: { min: task.keyMin ?? null, max: task.keyMax ?? null, estimatedRows: task.estimatedRows },
            ...(tableSteps(task.table.mode) === 'load-and-swap' && { wholeLoad: true }),
            syncWorkflowId,
            syncRunId,
          };
          try {
            const done = await transferPartition(connections, input, run);
            rowsCopied += done.rowsCopied;
            tables[i] = tableResultOf(task, [done], []);
          } catch (err) {
            if (ctx.cancellationSignal.aborted) throw err;
            failedTable(i, classifyError(err, `sync_partition ${displayName(task.table.source)}`));
          }
          tablesDone++;
        }
      } finally {
        clearInterval(heartbeat);
      }
      return { tables, again };
    },
  };
}
