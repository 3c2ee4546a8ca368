import { ChildWorkflowFailure, ApplicationFailure, executeChild, setHandler } from '@temporalio/workflow';
import type { RunKey } from '../activities';
import { mapLimit } from '../lib/concurrency';
import type { SyncConfig } from '../lib/config';
import { rootMessage } from '../lib/failures';
import type { FailedTable, SkippedTable, SyncTask, TableResult } from '../lib/types';
import { catalogActivities } from './options';
import { counted, newSyncProgress, syncProgressQuery, tableProgress, type TableProgress } from './progress';
import { syncTableWorkflow } from './sync-table';

/**
 * Runs each task as its child syncTableWorkflow, `limit` at once, keeping
 * `entries[i]` (task i's progress) up to date. A child that fails gives a
 * failed result with what it did land; the others go on.
 */
export async function syncTables(
  config: SyncConfig,
  tasks: SyncTask[],
  entries: TableProgress[],
  runKey: Required<Pick<RunKey, 'syncWorkflowId' | 'syncRunId'>>,
  limit: number,
): Promise<TableResult[]> {
  return mapLimit(tasks, limit, async (task, i): Promise<TableResult> => {
    const table = `${task.table.source.schema}.${task.table.source.name}`;
    const entry = entries[i];
    entry.phase = 'copy';
    try {
      const done = await executeChild(syncTableWorkflow, {
        workflowId: `${runKey.syncWorkflowId}/${table}`,
        args: [{ config, task, ...runKey }],
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
}

export interface SyncBatchInput {
  /** Normalised config from the parent's initializeState. */
  config: SyncConfig;
  /** The batch's tables, "schema.table", as the parent's discoverTables named them. */
  tables: string[];
  syncWorkflowId: string;
  syncRunId: string;
  /** Tables of this batch synced at once. */
  maxParallel: number;
}

export interface SyncBatchResult {
  tables: TableResult[];
  skipped: SkippedTable[];
  failed: FailedTable[];
  plan: string[];
}

/**
 * One batch of a sync of many tables: plans its tables and runs each as a
 * child syncTableWorkflow, so the parent's history grows with the number of
 * batches, not of tables. Answers the same `progress` query as the parent,
 * for its own tables.
 */
export async function syncBatchWorkflow(input: SyncBatchInput): Promise<SyncBatchResult> {
  const progress = newSyncProgress();
  setHandler(syncProgressQuery, () => counted(progress));
  const { config, syncWorkflowId, syncRunId } = input;
  const acts = catalogActivities(config);
  const { tables, skipped, failed = [], plan = [] } = await acts.discoverTables({ config, only: input.tables, syncWorkflowId, syncRunId });
  const tasks = tables.length ? await acts.createSyncTasks({ config, tables }) : [];
  progress.tables = tasks.map(tableProgress);
  progress.phase = 'sync';
  const results = await syncTables(config, tasks, progress.tables, { syncWorkflowId, syncRunId }, input.maxParallel);
  progress.phase = 'done';
  return { tables: results, skipped, failed, plan };
}
