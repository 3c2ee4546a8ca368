import type { Client } from '@temporalio/client';
import type { SyncConfigInput } from '../lib/config';
import { summaryOfBatches, type BatchResult } from '../lib/summary';
import type { SyncSummary } from '../lib/types';
// Types only: the workflow is started by its type name.
import type { syncResultsWorkflow } from '../workflows';

/**
 * A sync's summary with every table listed. A sync of many tables returns
 * only its failed tables (its history would not hold them all: see
 * SyncSummary.listed); the rest are read back, a page a syncResultsWorkflow,
 * from the target's state, and the summary made again from all of them,
 * as a sync of few tables gives it.
 */
export async function completeSummary(client: Client, config: SyncConfigInput, summary: SyncSummary, taskQueue: string): Promise<SyncSummary> {
  if (!summary.listed) return summary;
  const { syncWorkflowId, syncRunId, batches } = summary.listed;
  const results: BatchResult[] = [];
  const stamp = Date.now().toString(36);
  for (let from: number | null = 0; from !== null; ) {
    const page: Awaited<ReturnType<typeof syncResultsWorkflow>> = await client.workflow.execute<typeof syncResultsWorkflow>('syncResultsWorkflow', {
      taskQueue,
      workflowId: `${syncWorkflowId}/results-${from}-${stamp}`,
      args: [{ config, syncWorkflowId, syncRunId, from, batches }],
    });
    results.push(...page.results);
    from = page.next;
  }
  return summaryOfBatches(results);
}
