import type { SyncSummary } from '../../lib/types';
import { InputError, inWorkflow } from '../input-error';
import { readProgress, type LiveProgress } from '../progress';
import { followProgress, plainLine, ProgressView, RateMeter } from '../progress-view';
import { printSummary } from '../report';
import { watchPollers } from '../pollers';
import { connectClient } from '../start';
import { isCancelled } from '../wait';
import { workflowStatus } from './cancel';

export interface StatusOptions {
  watch?: boolean;
  /** Seconds between progress lines off a TTY. */
  interval?: string;
  json?: boolean;
}

/**
 * The progress of a sync started anywhere (a schedule, the Web UI, another
 * shell); with --watch, followed until it ends, then its summary, with the
 * exit codes of `run`.
 */
export async function statusCommand(workflowId: string, opts: StatusOptions): Promise<number> {
  const seconds = Number(opts.interval ?? 5);
  const client = await connectClient();
  try {
    const status = await workflowStatus(client, workflowId);
    const handle = client.workflow.getHandle(workflowId);
    // A cdc stream has no sync progress: its position, lag and changes instead.
    if ((await handle.describe()).type === 'cdcWorkflow') {
      if (opts.watch) throw new InputError('InvalidArguments', `${workflowId} is a cdc stream: it runs until stopped, so status --watch does not wait for it; status without --watch shows its lag`);
      return await (await import('./cdc')).cdcStatusCommand(workflowId, opts, client);
    }
    if (!opts.watch) {
      let progress: LiveProgress | null = null;
      try {
        progress = await readProgress(client, workflowId);
      } catch (err) {
        console.error(`tablesync: no progress from ${workflowId} (${status}): ${(err as Error).message}`);
      }
      if (opts.json) console.log(JSON.stringify(progress ?? { workflowId, status }, null, 2));
      else console.log(`${status} ${progress ? plainLine(progress, new RateMeter().sample(progress, 0)) : workflowId}`);
      return 0;
    }
    const view = new ProgressView(process.stdout, seconds * 1_000);
    const follow = followProgress(() => readProgress(client, workflowId), view, view.tty ? 1_000 : seconds * 1_000);
    // Its progress needs a worker to answer (and to run it): say so when none is there.
    const workers = watchPollers({ client, taskQueue: (await handle.describe()).taskQueue, noLocal: true }, 'sync', handle);
    let summary: SyncSummary;
    try {
      summary = (await handle.result()) as SyncSummary;
    } catch (err) {
      if (isCancelled(err)) {
        console.log(`cancelled sync ${workflowId}`);
        return 1;
      }
      throw inWorkflow(err, workflowId);
    } finally {
      follow.stop();
      workers.stop();
    }
    if (opts.json) console.log(JSON.stringify(summary, null, 2));
    else printSummary(summary);
    return summary.tablesFailed > 0 ? 1 : 0;
  } finally {
    await client.connection.close();
  }
}
