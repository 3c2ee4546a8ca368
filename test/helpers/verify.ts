import type { VerifyInput, VerifyResult } from '../../workflows/verify';
import { verifyWorkflow } from '../../workflows';
import { testWorker } from './temporal';

let run = 0;

/** Runs verifyWorkflow on the real Temporal dev server with a fresh worker. */
export async function runTestVerify(connections: Record<string, string>, input: VerifyInput): Promise<VerifyResult> {
  const { env, taskQueue, worker, close } = await testWorker(connections, 'verify');
  try {
    return await worker.runUntil(
      env.client.workflow.execute(verifyWorkflow, { taskQueue, workflowId: `test-verify-${process.pid}-${++run}`, args: [input] }),
    );
  } finally {
    await close();
  }
}
