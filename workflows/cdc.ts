import { ApplicationFailure, condition, ContinueAsNew, continueAsNew, defineQuery, defineSignal, isCancellation, patched, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities, ApplyCdcBatchResult } from '../activities';
import type { SyncConfig } from '../lib/config';
import { rootMessage } from '../lib/failures';
import { cdcStreamName, legacyCdcStreamName } from '../lib/modes/cdc/stream';
import type { TablePlan } from '../lib/types';
import { activityOptions, catalogActivities, rawRetry } from './options';

/** What a cdc workflow carries into its next run (continue-as-new). */
export interface CdcCarried {
  config: SyncConfig;
  /** The stream's slot and publication (absent in runs carried before it was: those streams have the legacy name). */
  stream?: string;
  tables: TablePlan[];
  totals: CdcTotals;
  paused: boolean;
  /** What status shows, carried so it never reads as unknown right after continue-as-new. */
  position?: string | null;
  lagBytes?: number | null;
  /** The source keeps its log for the stream (a slot); absent in runs from before MariaDB streams, all PostgreSQL. */
  holdsLog?: boolean;
  lagSeconds?: number | null;
}

export interface CdcWorkflowInput {
  /** The sync config (raw, validated by the first run). */
  config: unknown;
  /** Changes per batch, about: a batch holds whole source transactions (default 50,000; 20,000 or 5,000 in runs started under earlier defaults). */
  maxChanges?: number;
  /** An idle batch waits for changes this long before the workflow records it (default 10 s). */
  waitMs?: number;
  /** Batches per run before continue-as-new (default 500): each costs about 6 history events. */
  batchesPerRun?: number;
  /** Set by the previous run. */
  carried?: CdcCarried;
}

export interface CdcTotals {
  batches: number;
  transactions: number;
  inserted: number;
  updated: number;
  deleted: number;
  truncated: number;
  skipped: number;
}

export interface CdcProgress {
  stream: string;
  phase: 'setup' | 'snapshot' | 'streaming' | 'paused' | 'stopping' | 'stopped';
  tables: string[];
  /** Rows per table of the snapshot this run took (none when it went on from saved positions). */
  snapshot: Record<string, number> | null;
  /** The last position applied (or acknowledged with nothing to apply). */
  position: string | null;
  /** WAL bytes between the source's current position and the last acknowledged one, as of the last batch. */
  lagBytes: number | null;
  /** Seconds behind the source as of the last batch: 0 when it read all there was (see ApplyCdcBatchResult). */
  lagSeconds: number | null;
  /** When the last transaction applied committed at the source. */
  commitTime: string | null;
  totals: CdcTotals;
  /** The source keeps its log for the stream (a PostgreSQL slot); false for a binlog (status words it so). */
  holdsLog?: boolean;
}

export interface CdcResult {
  stream: string;
  totals: CdcTotals;
  /** Said when the slot was kept: it keeps the source's log from being freed until the stream goes on or is dropped. */
  slotKept: string | null;
  /** The source keeps a log for streams (a PostgreSQL slot); false for a binlog, which keeps nothing per stream. */
  holdsLog?: boolean;
}

export const cdcPauseSignal = defineSignal('cdcPause');
export const cdcResumeSignal = defineSignal('cdcResume');
export const cdcStopSignal = defineSignal<[{ dropSlot?: boolean }?]>('cdcStop');
export const cdcProgressQuery = defineQuery<CdcProgress>('cdcProgress');

const noTotals = (): CdcTotals => ({ batches: 0, transactions: 0, inserted: 0, updated: 0, deleted: 0, truncated: 0, skipped: 0 });

/**
 * One change stream per config and source: setup and snapshot (startCdc),
 * then batches of whole source transactions (applyCdcBatch, each one target
 * transaction with the positions, acknowledged to the source after its
 * commit) until stopped; pause/resume/stop by signal; continue-as-new every
 * `batchesPerRun` batches, so the history stays small.
 */
export async function cdcWorkflow(input: CdcWorkflowInput): Promise<CdcResult> {
  const info = workflowInfo();
  // A new stream's name, unless startCdc finds the tables following this workflow's stream under its old name.
  let stream = input.carried ? (input.carried.stream ?? legacyCdcStreamName(info.workflowId)) : cdcStreamName(info.workflowId);
  const run = { workflowId: info.workflowId, runId: info.runId };
  const progress: CdcProgress = {
    stream,
    phase: 'setup',
    tables: [],
    snapshot: null,
    position: input.carried?.position ?? null,
    lagBytes: input.carried?.lagBytes ?? null,
    lagSeconds: input.carried?.lagSeconds ?? null,
    commitTime: null,
    totals: input.carried?.totals ?? noTotals(),
  };
  let paused = input.carried?.paused ?? false;
  let stop: { dropSlot: boolean } | null = null;
  let holdsLog = input.carried?.holdsLog ?? true;
  setHandler(cdcProgressQuery, () => ({ ...progress, holdsLog, phase: stop ? 'stopping' : paused && progress.phase === 'streaming' ? 'paused' : progress.phase }));
  setHandler(cdcPauseSignal, () => void (paused = true));
  setHandler(cdcResumeSignal, () => void (paused = false));
  setHandler(cdcStopSignal, (opts) => void (stop = { dropSlot: Boolean(opts?.dropSlot) }));

  const config = input.carried?.config ?? (await catalogActivities(rawRetry(input.config)).initializeState({ config: input.config })).config;
  const acts = proxyActivities<Activities>(activityOptions(config, 'transfer'));
  const catalog = catalogActivities(config);
  let tables = input.carried?.tables;
  try {
    if (!tables) {
      progress.phase = 'snapshot';
      const started = await acts.startCdc({ config, stream, run });
      stream = started.stream ?? stream;
      progress.stream = stream;
      tables = started.tables;
      holdsLog = started.holdsLog ?? true;
      progress.snapshot = started.snapshot;
      progress.position = started.position;
    }
    progress.tables = tables.map((t) => `${t.source.schema}.${t.source.name}`);
    progress.phase = 'streaming';
    const perRun = input.batchesPerRun ?? 500;
    // Larger batches: each costs a workflow step, an activity's state reads and a target commit besides its changes
    // (docs/performance.md). Runs started under an earlier default keep theirs.
    const maxChanges = input.maxChanges ?? (patched('cdc-batch-50k') ? 50_000 : patched('cdc-batch-20k') ? 20_000 : 5_000);
    for (let batches = 0; !stop; ) {
      if (paused) {
        await condition(() => !paused || stop !== null);
        continue;
      }
      if (batches >= perRun) {
        const carried: CdcCarried = { config, stream, tables, totals: progress.totals, paused, position: progress.position, lagBytes: progress.lagBytes, lagSeconds: progress.lagSeconds, holdsLog };
        await continueAsNew<typeof cdcWorkflow>({ ...input, carried });
      }
      const r: ApplyCdcBatchResult = await acts.applyCdcBatch({ config, stream, run, tables, maxChanges, waitMs: input.waitMs ?? 10_000 });
      batches++;
      add(progress.totals, r);
      if (r.position) progress.position = r.position;
      progress.lagBytes = r.lagBytes;
      progress.lagSeconds = r.lagSeconds ?? null;
      if (r.commitTime) progress.commitTime = r.commitTime;
      // A schema change in the batch changed a table's plan: later batches (and runs) apply rows by the new one.
      if (r.tables) tables = r.tables;
    }
  } catch (err) {
    if (isCancellation(err) || err instanceof ContinueAsNew || !tables) throw err; // no stream made (a refused setup, a snapshot that failed drops its slot)
    // A failed stream keeps its slot (dropping it would lose the changes a fix could still apply): say so.
    throw ApplicationFailure.create({
      type: 'CdcFailed',
      message: holdsLog
        ? `${rootMessage(err)}; replication slot "${stream}" is kept and holds back the source's WAL until the stream goes on, or tablesync cdc stop --drop-slot removes it`
        : `${rootMessage(err)}; the saved positions are kept: start the workflow again to go on from them while the source still has that binary log`,
      nonRetryable: true,
      cause: err as Error,
    });
  }
  progress.phase = 'stopped';
  const ending = stop as { dropSlot: boolean } | null;
  const { slotKept } = await catalog.stopCdc({ config, stream, dropSlot: Boolean(ending?.dropSlot) });
  return {
    stream,
    holdsLog,
    totals: progress.totals,
    slotKept: slotKept ? `replication slot "${stream}" is kept (${slotKept.retainedBytes} bytes of WAL held): start the workflow again to go on, or stop --drop-slot to free it` : null,
  };
}

function add(totals: CdcTotals, r: ApplyCdcBatchResult): void {
  totals.batches++;
  totals.transactions += r.transactions;
  totals.inserted += r.inserted;
  totals.updated += r.updated;
  totals.deleted += r.deleted;
  totals.truncated += r.truncated;
  totals.skipped += r.skipped;
}
