import { ChildWorkflowFailure, ApplicationFailure, executeChild, setHandler, workflowInfo } from '@temporalio/workflow';
import { mapLimit } from '../lib/concurrency';
import { rootMessage } from '../lib/failures';
import type { SyncSummary, TableResult } from '../lib/types';
import { catalogActivities, rawRetry } from './options';
import { counted, newSyncProgress, refusedProgress, syncProgressQuery, tableProgress } from './progress';
import { syncTableWorkflow } from './sync-table';

export type IncrementalSyncInput = unknown;
export type IncrementalSyncResult = SyncSummary;

/** initialize_state → discover_tables → create_sync_tasks → syncTableWorkflow × N → collect_results */
export async function incrementalSyncWorkflow(input: IncrementalSyncInput): Promise<IncrementalSyncResult> {
  const progress = newSyncProgress();
  setHandler(syncProgressQuery, () => counted(progress));
  const { config } = await catalogActivities(rawRetry(input)).initializeState({ config: input });
  const acts = catalogActivities(config);
  const info = workflowInfo();
  // The run claims the tables it writes: a load of an older, abandoned run can no longer commit over them.
  const { tables, skipped, failed, plan } = await acts.discoverTables({ config, syncWorkflowId: info.workflowId, syncRunId: info.runId });
  const tasks = tables.length ? await acts.createSyncTasks({ config, tables }) : [];
  progress.tables = [...tasks.map(tableProgress), ...(failed ?? []).map(refusedProgress)];
  progress.phase = 'sync';

  const results = await mapLimit(tasks, config.maxParallelTransfers, async (task, i): Promise<TableResult> => {
    const table = `${task.table.source.schema}.${task.table.source.name}`;
    const entry = progress.tables[i];
    entry.phase = 'copy';
    try {
      const done = await executeChild(syncTableWorkflow, {
        workflowId: `${info.workflowId}/${table}`,
        args: [{ config, task, syncWorkflowId: info.workflowId, syncRunId: info.runId }],
      });
      Object.assign(entry, { phase: 'done', partitionsDone: entry.partitionsTotal, rowsCopied: done.rowsCopied });
      return done;
    } catch (err) {
      entry.phase = 'failed';
      const cause = err instanceof ChildWorkflowFailure ? err.cause : err;
      const partial =
        cause instanceof ApplicationFailure && cause.details?.length ? (cause.details[0] as TableResult) : undefined;
      return {
        table,
        target: `${task.table.target.schema}.${task.table.target.name}`,
        status: 'failed',
        mode: task.table.mode,
        partitions: task.partitions.length,
        warnings: partial?.warnings ?? [],
        rowsCopied: partial?.rowsCopied ?? 0,
        inserted: partial?.inserted ?? 0,
        updated: partial?.updated ?? 0,
        unchanged: partial?.unchanged ?? 0,
        deleted: partial?.deleted ?? 0,
        error: partial?.error ?? rootMessage(err),
        ...(partial?.verification && { verification: partial.verification }),
      };
    }
  });

  progress.phase = 'collect';
  const summary = await acts.collectResults({ tables: results, skipped, failed, plan });
  progress.phase = 'done';
  return summary;
}
