import { CancellationScope, executeChild, isCancellation, log, patched, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import { mapLimit } from '../lib/concurrency';
import type { SyncConfig } from '../lib/config';
import type { DiscoverTablesResult } from '../activities/planning';
import type { FailedTable, SkippedTable, SyncSummary, SyncTask, TableResult } from '../lib/types';
import { batchLabel, failedTableResult, summarize, tableLabel, withRunWarnings } from '../lib/summary';
import { notifyRunEnd } from './notify';
import { catalogActivities, rawRetry } from './options';
import { counted, newSyncProgress, planningProgress, refusedProgress, syncProgressQuery, tableProgress, type SyncProgress, type TableProgress } from './progress';
import { splitRefused, syncBatchWorkflow, syncTables, tableFailure, type SyncBatchResult } from './sync-batch';
import { runTableSteps } from './sync-table';

export type IncrementalSyncInput = unknown;
export type IncrementalSyncResult = SyncSummary;

/**
 * initialize_state → discover_tables → create_sync_tasks → syncTableWorkflow × N → collect_results;
 * more than config.tablesPerBatch (200) tables: discover_tables only names them, and syncBatchWorkflow × ⌈N/200⌉
 * plans and runs them. Each table costs the workflow that runs it about 7 history events (child initiated,
 * started, completed, the workflow tasks around them), so a batch stays near 1,400 events and the parent
 * near 9 per batch; plans (~0.5 KB a narrow table, more with many columns) travel per batch, under
 * Temporal's 2 MB payload limit.
 */
export async function incrementalSyncWorkflow(input: IncrementalSyncInput): Promise<IncrementalSyncResult> {
  // The validated config once initializeState returns; until then the webhooks are taken from the input as given.
  const run: { config?: SyncConfig } = {};
  let summary: SyncSummary;
  try {
    summary = await syncAll(input, run);
  } catch (err) {
    // The webhooks hear of a run that failed (not of one cancelled: someone chose that); the run still fails with its error.
    if (!isCancellation(err)) await notifyRunEnd(run.config ?? input, run.config?.retry ?? rawRetry(input)?.retry, { error: err });
    throw err;
  }
  const ended = withRunWarnings(summary, await notifyRunEnd(run.config, run.config?.retry, { summary }));
  // The Web UI's "current details" of the run (no command: replays as before).
  setCurrentDetails(ended.message);
  return ended;
}

async function syncAll(input: IncrementalSyncInput, run: { config?: SyncConfig }): Promise<SyncSummary> {
  const progress = newSyncProgress();
  setHandler(syncProgressQuery, () => counted(progress));
  setCurrentDetails('planning: finding and planning the tables');
  const { config } = await catalogActivities(rawRetry(input)).initializeState({ config: input });
  run.config = config;
  const acts = catalogActivities(config);
  const info = workflowInfo();
  // The run claims the tables it writes: a load of an older, abandoned run can no longer commit over them.
  // (Histories from before batches never return `batches`, so they replay down the path they took;
  // those from before batches in the state never asked for them, and get names back.)
  const inState = patched('batches-in-state');
  // Fewer steps per run (a sync every minute is mostly their cost): discovery plans the tasks too, a sync of one
  // table that reads only what changed runs it without a child workflow, and the summary is made here.
  // patched(): runs started before replay with createSyncTasks, a child per table and collectResults.
  const fewerSteps = patched('fewer-steps-per-run');
  const discovered = await acts.discoverTables({
    config,
    syncWorkflowId: info.workflowId,
    syncRunId: info.runId,
    batchAbove: config.tablesPerBatch,
    ...(inState && { batchesInState: true }),
    ...(fewerSteps && { withTasks: true }),
  });
  if (discovered.batchCount !== undefined) {
    return syncBatchesInState(config, { batches: discovered.batchCount, tables: discovered.batchedTables ?? 0, refused: discovered.refusedTables ?? 0 }, progress);
  }
  if (discovered.batches && patched('table-batches')) return syncInBatches(config, discovered, progress);
  const { tables, skipped, plan } = discovered;
  const { tasks, refused } = splitRefused(discovered.tasks ?? (tables.length ? await acts.createSyncTasks({ config, tables }) : []));
  const failed = [...(discovered.failed ?? []), ...refused];
  progress.tables = [...tasks.map(tableProgress), ...failed.map(refusedProgress)];
  progress.phase = 'sync';
  setCurrentDetails(`syncing ${tasks.length} table${tasks.length === 1 ? '' : 's'}${failed.length ? `; ${failed.length} refused at planning` : ''}`);
  const runKey = { syncWorkflowId: info.workflowId, syncRunId: info.runId };
  const alone = fewerSteps && tasks.length === 1 && tasks[0].changesOnly === true;
  const results = alone
    ? [await runHere(config, tasks[0], progress.tables[0], runKey)]
    : await syncTables(config, tasks, progress.tables, runKey, config.maxParallelTransfers);
  progress.phase = 'collect';
  // A cancelled run ends cancelled, not completed with its cancelled tables failed (collectResults, an
  // activity, was cancelled with it and so ended it).
  const scope = CancellationScope.current();
  if (fewerSteps && scope.consideredCancelled) await scope.cancelRequested;
  const summary = fewerSteps ? summaryOf({ tables: results, skipped, failed, plan }) : await acts.collectResults({ tables: results, skipped, failed, plan });
  progress.phase = 'done';
  return summary;
}

/**
 * A table run by the sync itself, with the steps its syncTableWorkflow would
 * run; the progress query answers for it (`here`), its partition's heartbeat
 * is the sync's. A failed table is a failed result, as a failed child is.
 */
async function runHere(config: SyncConfig, task: SyncTask, entry: TableProgress, runKey: { syncWorkflowId: string; syncRunId: string }): Promise<TableResult> {
  Object.assign(entry, { phase: 'copy', here: true });
  try {
    return await runTableSteps(config, task, runKey, entry, tableLabel(task));
  } catch (err) {
    // A cancelled run ends cancelled, as it does when its child was cancelled.
    if (isCancellation(err)) throw err;
    entry.phase = 'failed';
    return tableFailure(task, err);
  }
}

/** What collectResults returns, made here (plain data, no I/O), and logged by the workflow's replay-aware logger. */
function summaryOf({ tables, skipped, failed, plan }: { tables: TableResult[]; skipped: SkippedTable[]; failed: FailedTable[]; plan?: string[] }): SyncSummary {
  const summary = summarize([...failed.map(failedTableResult), ...tables], skipped, plan ?? []);
  for (const t of tables.filter((t) => t.status === 'failed')) log.error(`${t.table} failed: ${t.error}`);
  log.info(summary.message);
  return summary;
}

/**
 * Many tables: a child syncBatchWorkflow per batch (numbered from 1) reads
 * its tables' names from the state discovery saved them in, plans and runs
 * them, saves its results there and returns counts; collectBatchResults makes
 * the summary from the state. So the history holds no table's name, plan or
 * result, whatever the number of tables: about 10 events a batch. Two
 * batches run at once, each with half of maxParallelTransfers. The progress
 * query answers counts of the batches that ended and names the running ones,
 * which answer for their own tables.
 */
async function syncBatchesInState(
  config: SyncConfig,
  { batches, tables, refused }: { batches: number; tables: number; refused: number },
  progress: SyncProgress,
): Promise<SyncSummary> {
  const info = workflowInfo();
  // A batch's size until it ends (batches are cut in order, tablesPerBatch each), then its own count.
  const sizes = Array.from({ length: batches }, (_, i) => Math.min(config.tablesPerBatch, tables - i * config.tablesPerBatch));
  const ended = { done: 0, failed: refused, rowsCopied: 0 };
  const running = new Set<string>();
  setHandler(syncProgressQuery, () => ({
    phase: progress.phase,
    tablesTotal: refused + sizes.reduce((a, b) => a + b, 0),
    tablesDone: ended.done,
    tablesFailed: ended.failed,
    tablesRunning: 0,
    tables: [],
    batches: [...running],
    rowsCopied: ended.rowsCopied,
  }));
  progress.phase = 'sync';
  const atOnce = Math.min(2, batches, config.maxParallelTransfers);
  const maxParallel = Math.max(1, Math.floor(config.maxParallelTransfers / atOnce));
  const numbers = Array.from({ length: batches }, (_, i) => i + 1);
  const labelled = patched('web-ui-summaries');
  await mapLimit(numbers, atOnce, async (batch) => {
    const workflowId = `${info.workflowId}/batch-${batch}-of-${batches}`;
    running.add(workflowId);
    try {
      const totals = await executeChild(syncBatchWorkflow, {
        workflowId,
        args: [{ config, batch, syncWorkflowId: info.workflowId, syncRunId: info.runId, maxParallel }],
        // Its tables' names are in the state, not here: the label says which batch and how many.
        ...(labelled && { staticSummary: `batch ${batch} of ${batches}: ${sizes[batch - 1]} tables` }),
      });
      if ('done' in totals) {
        sizes[batch - 1] = totals.tables;
        ended.done += totals.done;
        ended.failed += totals.failed;
        ended.rowsCopied += totals.rowsCopied;
      }
    } finally {
      running.delete(workflowId);
    }
  });
  progress.phase = 'collect';
  const summary = await catalogActivities(config).collectBatchResults({ config, syncWorkflowId: info.workflowId, syncRunId: info.runId, batches });
  progress.phase = 'done';
  return summary;
}

/**
 * Many tables (runs started before batches were kept in the state): a child
 * syncBatchWorkflow per batch plans and runs its tables.
 * Two batches run at once, each with half of maxParallelTransfers, so one
 * batch's slow last table does not leave every slot idle.
 */
async function syncInBatches(config: SyncConfig, discovered: DiscoverTablesResult, progress: SyncProgress): Promise<SyncSummary> {
  const info = workflowInfo();
  const batches = discovered.batches ?? [];
  const failed = [...(discovered.failed ?? [])];
  const skipped = [...discovered.skipped];
  const plan = [...(discovered.plan ?? [])];
  // One entry per table, in the order listed; a batch's result replaces its tables' entries.
  const entries = new Map(batches.flat().map((t) => [t, planningProgress(t)]));
  for (const f of failed) entries.set(f.table, refusedProgress(f));
  const running = new Set<string>();
  setHandler(syncProgressQuery, () => counted({ ...progress, tables: [...entries.values()], batches: [...running] }));
  progress.phase = 'sync';
  setCurrentDetails(`syncing ${batches.flat().length} tables in ${batches.length} batches`);
  const labelled = patched('web-ui-summaries');
  const atOnce = Math.min(2, batches.length, config.maxParallelTransfers);
  const maxParallel = Math.max(1, Math.floor(config.maxParallelTransfers / atOnce));
  const results: TableResult[][] = await mapLimit(batches, atOnce, async (tables, i) => {
    const workflowId = `${info.workflowId}/batch-${i + 1}-of-${batches.length}`;
    running.add(workflowId);
    try {
      const done = (await executeChild(syncBatchWorkflow, {
        workflowId,
        args: [{ config, tables, syncWorkflowId: info.workflowId, syncRunId: info.runId, maxParallel }],
        ...(labelled && { staticSummary: batchLabel(i, batches.length, tables) }),
      })) as SyncBatchResult;
      for (const t of tables) entries.delete(t);
      for (const r of done.tables) {
        entries.set(r.table, { ...planningProgress(r.table), target: r.target, mode: r.mode, phase: r.status === 'failed' ? 'failed' : 'done', partitionsTotal: r.partitions, partitionsDone: r.status === 'failed' ? 0 : r.partitions, rowsCopied: r.rowsCopied });
      }
      for (const f of done.failed) entries.set(f.table, refusedProgress(f));
      failed.push(...done.failed);
      skipped.push(...done.skipped);
      plan.push(...done.plan);
      return done.tables;
    } finally {
      running.delete(workflowId);
    }
  });
  progress.phase = 'collect';
  const summary = await catalogActivities(config).collectResults({ tables: results.flat(), skipped, failed, plan });
  progress.phase = 'done';
  return summary;
}
