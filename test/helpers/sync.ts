import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { SyncConfigInput } from '../../lib/config';
import type { SyncSummary } from '../../lib/types';
import { incrementalSyncWorkflow } from '../../workflows';
import { testWorker } from './temporal';

export interface TestSync {
  env: TestWorkflowEnvironment;
  taskQueue: string;
  workflowId: string;
}

let run = 0;

/**
 * Runs one incrementalSyncWorkflow on the real Temporal dev server with a
 * real worker on a fresh task queue. `during` runs alongside the workflow.
 */
export async function runTestSync(
  connections: Record<string, string>,
  config: SyncConfigInput,
  during?: (sync: TestSync) => Promise<void>,
): Promise<SyncSummary & { workflowId: string }> {
  const { env, taskQueue, worker, close } = await testWorker(connections, 'sync');
  const workflowId = `test-sync-${process.pid}-${++run}`;
  try {
    const summary = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(incrementalSyncWorkflow, {
        taskQueue,
        workflowId,
        args: [config],
      });
      if (during) await during({ env, taskQueue, workflowId });
      return handle.result();
    });
    return { ...summary, workflowId };
  } finally {
    await close();
  }
}

/** Every message down a Temporal failure's cause chain, for asserting on the root error. */
export function failureChain(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.message) parts.push(e.message);
  }
  return parts.join(' <- ');
}
