import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { InputError } from '../input-error';
import { connectClient } from '../start';
import { cancelStrandedText, isCancelled, noWorkerTakes } from '../wait';

/** The workflow's status, or a clear error when no such workflow exists. */
export async function workflowStatus(client: Client, workflowId: string): Promise<string> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new InputError('UnknownWorkflow', `no workflow "${workflowId}" in namespace ${client.options.namespace}`);
    }
    throw err;
  }
}

/**
 * Cancels a sync started anywhere (run, a schedule, the Web UI): the
 * workflow and its children are cancelled, each partition rolls back and
 * says `cancelled`, staging and load tables are dropped. Waits until the
 * run has ended unless --no-wait.
 */
export async function cancelCommand(workflowId: string, opts: { wait?: boolean }): Promise<number> {
  const client = await connectClient();
  try {
    const status = await workflowStatus(client, workflowId);
    if (status !== 'RUNNING') {
      console.error(`tablesync: ${workflowId} is not running (${status}): nothing to cancel`);
      return 1;
    }
    const handle = client.workflow.getHandle(workflowId);
    await handle.cancel();
    console.log(`cancelling ${workflowId}`);
    if (opts.wait === false) return 0;
    const taskQueue = (await handle.describe()).taskQueue;
    // A cancellation no worker carries out is not waited for (it would wait forever): checked every 3 s.
    let ended = false;
    const stranded = async (): Promise<boolean> => {
      while (!ended) {
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        if (!ended && (await noWorkerTakes({ client, taskQueue }, handle))) return true;
      }
      return false;
    };
    try {
      const result = handle.result().finally(() => (ended = true));
      const first = await Promise.race([result.then(() => 'done' as const), stranded().then(() => 'stranded' as const)]);
      if (first === 'stranded') {
        result.catch(() => undefined);
        const untouched = await handle.describe().then((d) => d.historyLength <= 3, () => false);
        console.error(cancelStrandedText({ client, taskQueue }, 'sync', workflowId, untouched));
        return 1;
      }
      console.error(`tablesync: ${workflowId} completed before the cancellation reached it`);
      return 1;
    } catch (err) {
      if (!isCancelled(err)) throw err;
      console.log(`cancelled sync ${workflowId}`);
      return 0;
    }
  } finally {
    await client.connection.close();
  }
}
