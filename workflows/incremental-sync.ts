import { executeChild, isCancellation, patched, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import { mapLimit } from '../lib/concurrency';
import type { SyncConfig } from '../lib/config';
import type { DiscoverTablesResult } from '../activities/planning';
import type { SyncSummary, TableResult } from '../lib/types';
import { batchLabel, withRunWarnings } from '../lib/summary';
import { notifyRunEnd } from './notify';
import { catalogActivities, rawRetry } from './options';
import { counted, newSyncProgress, planningProgress, refusedProgress, syncProgressQuery, tableProgress, type SyncProgress } from './progress';
import { splitRefused, syncBatchWorkflow, syncTables } from './sync-batch';

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
  // (Histories from before batches never return `batches`, so they replay down the path they took.)
  const discovered = await acts.discoverTables({ config, syncWorkflowId: info.workflowId, syncRunId: info.runId, batchAbove: config.tablesPerBatch });
  if (discovered.batches && patched('table-batches')) return syncInBatches(config, discovered, progress);
  const { tables, skipped, plan } = discovered;
  const { tasks, refused } = splitRefused(tables.length ? await acts.createSyncTasks({ config, tables }) : []);
  const failed = [...(discovered.failed ?? []), ...refused];
  progress.tables = [...tasks.map(tableProgress), ...failed.map(refusedProgress)];
  progress.phase = 'sync';
  setCurrentDetails(`syncing ${tasks.length} table${tasks.length === 1 ? '' : 's'}${failed.length ? `; ${failed.length} refused at planning` : ''}`);
  const runKey = { syncWorkflowId: info.workflowId, syncRunId: info.runId };
  const results = await syncTables(config, tasks, progress.tables, runKey, config.maxParallelTransfers);
  progress.phase = 'collect';
  const summary = await acts.collectResults({ tables: results, skipped, failed, plan });
  progress.phase = 'done';
  return summary;
}

/**
 * Many tables: a child syncBatchWorkflow per batch plans and runs its tables.
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
      const done = await executeChild(syncBatchWorkflow, {
        workflowId,
        args: [{ config, tables, syncWorkflowId: info.workflowId, syncRunId: info.runId, maxParallel }],
        ...(labelled && { staticSummary: batchLabel(i, batches.length, tables) }),
      });
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
