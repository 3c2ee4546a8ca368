import type { VerifyInput, VerifyResult } from '../../workflows/verify';
import { verifyWorkflow } from '../../workflows';
import { createWorker } from '../../workers/worker';
import { temporal, uniqueTaskQueue, workflowBundle } from './temporal';

let run = 0;

/** Runs verifyWorkflow on the real Temporal dev server with a fresh worker. */
export async function runTestVerify(connections: Record<string, string>, input: VerifyInput): Promise<VerifyResult> {
  const env = await temporal();
  const taskQueue = uniqueTaskQueue('verify');
  const { worker, close } = await createWorker({
    connection: env.nativeConnection,
    taskQueue,
    connections: Object.fromEntries(Object.entries(connections).map(([k, url]) => [k, { url }])),
    workflowBundle: await workflowBundle(),
    env: {},
  });
  try {
    return await worker.runUntil(
      env.client.workflow.execute(verifyWorkflow, { taskQueue, workflowId: `test-verify-${process.pid}-${++run}`, args: [input] }),
    );
  } finally {
    await close();
  }
}
