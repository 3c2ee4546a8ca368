import { ApplicationFailure, patched, workflowInfo } from '@temporalio/workflow';

/**
 * A batch or table workflow writes `_migration_state` rows and generation
 * claims under the sync run named in its input. That name is trusted only
 * when Temporal's own record of who started this workflow agrees: a batch is
 * a child of that sync run; a table is a child of the sync run or of one of
 * its batches (`<sync>/batch-…`, which itself passed this check). Anyone
 * else naming a run (the Web UI, `temporal workflow start`) could supersede
 * that run's claims. (No command unless refused: histories replay as before.)
 */
export function refuseForeignRunClaim(workflowType: 'syncBatchWorkflow' | 'syncTableWorkflow', syncWorkflowId: string | undefined, syncRunId: string | undefined): void {
  const info = workflowInfo();
  // A table started on its own is its own run; a batch only ever runs for a sync.
  const batchMayStart = workflowType === 'syncTableWorkflow';
  if (batchMayStart && syncWorkflowId === undefined && syncRunId === undefined) return;
  if (syncWorkflowId === info.workflowId && syncRunId === info.runId) return;
  const parent = info.parent;
  const startedBySync = parent !== undefined && parent.workflowId === syncWorkflowId && parent.runId === syncRunId;
  const startedByBatch = batchMayStart && parent !== undefined && syncWorkflowId !== undefined && parent.workflowId.startsWith(`${syncWorkflowId}/batch-`);
  if (startedBySync || startedByBatch || !patched('refuse-foreign-run-claim')) return;
  throw ApplicationFailure.nonRetryable(
    `${workflowType}: syncWorkflowId/syncRunId name the sync run this workflow belongs to and are accepted only from that run (as its child); started ${parent ? `by ${parent.workflowId}` : 'on its own'}, leave them out`,
    'InvalidInput',
  );
}
