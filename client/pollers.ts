import type { Client, WorkflowHandle } from '@temporalio/client';

/**
 * A worker that polls waits up to ~70 s in one long poll before it polls
 * again, and the server lists a poller for minutes after its last poll: one
 * seen in the last 75 s is alive, an older one is a worker that went away.
 */
const ALIVE_MS = 75_000;
/** temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW (the proto package is not a dependency of ours). */
const WORKFLOW_TASK_QUEUE = 1;

/** Identities of the workers polling a task queue for workflow tasks now (Temporal's DescribeTaskQueue). */
export async function livePollers(client: Client, taskQueue: string, now = Date.now()): Promise<string[]> {
  const r = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: WORKFLOW_TASK_QUEUE,
  });
  return (r.pollers ?? [])
    .filter((p) => {
      const seconds = Number(p.lastAccessTime?.seconds ?? 0);
      return now - seconds * 1000 < ALIVE_MS;
    })
    .map((p) => p.identity ?? '?');
}

/** temporal.api.enums.v1.PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED. */
const TASK_SCHEDULED = 1;
/**
 * A workflow task no worker has taken for this long, with workers listed on
 * the queue: those workers are gone (the server lists a worker for up to a
 * minute after its last poll) or cannot take it.
 */
export const UNTAKEN_MS = 10_000;

/** How long the workflow's next workflow task has waited for a worker to take it; 0 when none waits. */
export async function workflowTaskWaitingMs(handle: WorkflowHandle, now = Date.now()): Promise<number> {
  const task = (await handle.describe()).raw.pendingWorkflowTask;
  if (!task || task.state !== TASK_SCHEDULED) return 0;
  const at = task.originalScheduledTime ?? task.scheduledTime;
  return at ? Math.max(0, now - Number(at.seconds ?? 0) * 1000 - Math.floor((at.nanos ?? 0) / 1e6)) : 0;
}

export interface WaitContext {
  client: Client;
  taskQueue: string;
  /** The config file the command was given, for the worker command it suggests. */
  configFile?: string;
  /** The command has no --local to suggest (status --watch, cancel). */
  noLocal?: boolean;
}

/** How to start a worker for this queue, as a user would type it. */
export function startWorkerHint(ctx: WaitContext): string {
  const address = process.env.TEMPORAL_ADDRESS ? `TEMPORAL_ADDRESS=${process.env.TEMPORAL_ADDRESS} ` : '';
  const config = ctx.configFile ? ` --config ${ctx.configFile}` : ' --config FILE';
  return `${address}tablesync worker${config} --task-queue ${ctx.taskQueue}`;
}

export function noWorkerLine(ctx: WaitContext, what: string, workflowId: string, waiting = true): string {
  return (
    `tablesync: no worker polls task queue "${ctx.taskQueue}" (namespace ${ctx.client.options.namespace}): ` +
    `${what} ${workflowId} waits until one does. Start one in another shell:\n` +
    `  ${startWorkerHint(ctx)}\n` +
    `${ctx.noLocal ? '' : 'or run this command with --local to host a worker in this process.'}` +
    `${waiting ? `${ctx.noLocal ? '' : ' '}Still waiting (Ctrl-C to stop).` : ''}`
  );
}

export function untakenLine(ctx: WaitContext, what: string, workflowId: string, pollers: string[], waitingMs: number): string {
  return (
    `tablesync: no worker has taken ${what} ${workflowId}'s next task for ${Math.round(waitingMs / 1000)} s: ` +
    `the worker${pollers.length === 1 ? '' : 's'} last seen on task queue "${ctx.taskQueue}" (${pollers.join(', ')}) ` +
    `${pollers.length === 1 ? 'has' : 'have'} most likely stopped (Temporal lists a worker for about a minute after its last poll). Start one in another shell:\n` +
    `  ${startWorkerHint(ctx)}\n` +
    `Still waiting (Ctrl-C to stop).`
  );
}

/**
 * Watches the queue while a command waits for a workflow no worker of this
 * process runs: says within a few seconds when no worker polls it (and
 * again if every worker goes away later), when the workers it lists leave
 * the workflow's task untaken (they stopped less than a minute ago), and
 * when one starts. Keeps waiting: a worker started now picks the workflow
 * up where it is.
 */
export function watchPollers(ctx: WaitContext, what: string, handle: WorkflowHandle, firstCheckMs = 2_000, everyMs = 5_000): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let reported: 'none' | 'untaken' | 'some' | null = null;
  const tick = async () => {
    try {
      const pollers = await livePollers(ctx.client, ctx.taskQueue);
      const waiting = pollers.length ? await workflowTaskWaitingMs(handle) : 0;
      if (stopped) return;
      if (pollers.length === 0 && reported !== 'none') {
        reported = 'none';
        process.stderr.write(`${noWorkerLine(ctx, what, handle.workflowId)}\n`);
      } else if (pollers.length > 0 && waiting > UNTAKEN_MS && reported !== 'untaken') {
        reported = 'untaken';
        process.stderr.write(`${untakenLine(ctx, what, handle.workflowId, pollers, waiting)}\n`);
      } else if (pollers.length > 0 && waiting === 0 && (reported === 'none' || reported === 'untaken')) {
        reported = 'some';
        process.stderr.write(`tablesync: worker ${pollers.join(', ')} now polls task queue "${ctx.taskQueue}"\n`);
      }
    } catch {
      // The server is unreachable: the wait itself reports that.
    } finally {
      if (!stopped) timer = setTimeout(() => void tick(), everyMs);
    }
  };
  timer = setTimeout(() => void tick(), firstCheckMs);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** The command that ends a workflow at once, without its cleanup, as the Temporal CLI takes it. */
export function terminateHint(client: Client, workflowId: string): string {
  const address = process.env.TEMPORAL_ADDRESS ? ` --address ${process.env.TEMPORAL_ADDRESS}` : '';
  return `temporal workflow terminate --workflow-id ${workflowId} --namespace ${client.options.namespace}${address} --reason "no worker"`;
}
