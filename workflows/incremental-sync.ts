import { ChildWorkflowFailure, ApplicationFailure, executeChild, workflowInfo } from '@temporalio/workflow';
import { mapLimit } from '../lib/concurrency';
import { rootMessage } from '../lib/failures';
import type { SyncSummary, TableResult } from '../lib/types';
import { catalogActivities, rawRetry } from './options';
import { syncTableWorkflow } from './sync-table';

export type IncrementalSyncInput = unknown;
export type IncrementalSyncResult = SyncSummary;

/** initialize_state → discover_tables → create_sync_tasks → syncTableWorkflow × N → collect_results */
export async function incrementalSyncWorkflow(input: IncrementalSyncInput): Promise<IncrementalSyncResult> {
  const { config } = await catalogActivities(rawRetry(input)).initializeState({ config: input });
  const acts = catalogActivities(config);
  const info = workflowInfo();
  // The run claims the tables it writes: a load of an older, abandoned run can no longer commit over them.
  const { tables, skipped, failed, plan } = await acts.discoverTables({ config, syncWorkflowId: info.workflowId, syncRunId: info.runId });
  const tasks = tables.length ? await acts.createSyncTasks({ config, tables }) : [];

  const results = await mapLimit(tasks, config.maxParallelTransfers, async (task): Promise<TableResult> => {
    const table = `${task.table.source.schema}.${task.table.source.name}`;
    try {
      return await executeChild(syncTableWorkflow, {
        workflowId: `${info.workflowId}/${table}`,
        args: [{ config, task, syncWorkflowId: info.workflowId, syncRunId: info.runId }],
      });
    } catch (err) {
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

  return acts.collectResults({ tables: results, skipped, failed, plan });
}
