import { syncConfigOf } from '../../lib/config';
import type { SyncSummary } from '../../lib/types';
import type { planSyncWorkflow, PlanSyncResult } from '../../workflows/plan-sync';
import type { VerifyResult } from '../../workflows/verify';
import { loadConfigFile } from '../config-file';
import { readProgress } from '../progress';
import { followProgress, ProgressView } from '../progress-view';
import { printSummary, printVerify } from '../report';
import { connectClient, defaultWorkflowId, startSync, startVerify } from '../start';
import { chooseTaskQueue } from '../task-queue';
import { awaitOrCancel } from '../wait';
import { hostWorker } from './host';

export interface RunOptions {
  config: string;
  wait?: boolean;
  local?: boolean;
  workflowId?: string;
  taskQueue?: string;
  json?: boolean;
  /** false with --no-progress. */
  progress?: boolean;
  /** Plan only: print the schema changes and backfills a run would make, change nothing. */
  dryRun?: boolean;
}

export async function runCommand(opts: RunOptions): Promise<number> {
  const file = loadConfigFile(opts.config);
  const local = Boolean(opts.local);
  const wait = local || Boolean(opts.wait);
  const taskQueue = chooseTaskQueue(opts.taskQueue, file.taskQueue, process.env, local);
  // A local worker starts (~0.4 s) while the client connects and starts the run: the run's first task waits on the queue.
  const hosting = local ? hostWorker(file.connections, taskQueue) : null;
  hosting?.catch(() => undefined);
  const client = await connectClient().catch(async (err) => {
    await hosting?.then((h) => h.close(), () => undefined);
    throw err;
  });
  try {
    if (opts.dryRun) return await dryRun(client, syncConfigOf(file), taskQueue, opts, hosting ? await hosting : null);
    const handle = await startSync(syncConfigOf(file), { client, taskQueue, workflowId: opts.workflowId ?? defaultWorkflowId() });
    let hosted: Awaited<ReturnType<typeof hostWorker>> | null = null;
    try {
      hosted = await hosting;
    } catch (err) {
      // Nothing ran: no worker ever polled this run's queue for it (or one elsewhere ran what --local was to run here).
      await handle.terminate(`the local worker did not start: ${(err as Error).message}`).catch(() => undefined);
      throw err;
    }
    console.log(`Started ${handle.workflowId} on task queue "${taskQueue}"`);
    if (!wait) return 0;
    // On stderr, so --json keeps stdout to the summary alone.
    const view = new ProgressView(process.stderr, 5_000);
    const follow = opts.progress !== false ? followProgress(() => readProgress(client, handle.workflowId), view, view.tty ? 1_000 : 5_000) : null;
    let waited: Awaited<ReturnType<typeof awaitOrCancel<SyncSummary>>>;
    try {
      waited = await awaitOrCancel<SyncSummary>(handle, hosted, 'sync');
    } finally {
      follow?.stop();
      await hosted?.close();
    }
    if ('exitCode' in waited) return waited.exitCode;
    const summary = waited.result;
    if (opts.json) console.log(JSON.stringify(summary, null, 2));
    else printSummary(summary);
    return summary.tablesFailed > 0 ? 1 : 0;
  } finally {
    await client.connection.close();
  }
}

/** run --dry-run: discovery alone (planSyncWorkflow), its plan lines printed; nothing is written. */
async function dryRun(
  client: Awaited<ReturnType<typeof connectClient>>,
  config: ReturnType<typeof syncConfigOf>,
  taskQueue: string,
  opts: RunOptions,
  hosted: Awaited<ReturnType<typeof hostWorker>> | null,
): Promise<number> {
  const handle = await client.workflow.start<typeof planSyncWorkflow>('planSyncWorkflow', {
    taskQueue,
    workflowId: (opts.workflowId ?? defaultWorkflowId()).replace(/^tablesync-/, 'tablesync-plan-'),
    args: [config],
  });
  let waited: Awaited<ReturnType<typeof awaitOrCancel<PlanSyncResult>>>;
  try {
    waited = await awaitOrCancel<PlanSyncResult>(handle, hosted, 'dry run');
  } finally {
    await hosted?.close();
  }
  if ('exitCode' in waited) return waited.exitCode;
  const result = waited.result;
  if (opts.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`Dry run: nothing was changed. A run would sync ${result.tables.length} table(s).`);
    for (const line of result.plan) console.log(`  ${line}`);
    for (const s of result.skipped) console.log(`  skipped ${s.table}: ${s.reason}`);
    for (const f of result.failed) console.log(`  would fail ${f.table} (${f.type}): ${f.reason}`);
  }
  return result.failed.length > 0 ? 1 : 0;
}

export interface VerifyOptions {
  config: string;
  repair?: boolean;
  local?: boolean;
  workflowId?: string;
  taskQueue?: string;
  json?: boolean;
}

export async function verifyCommand(tables: string[], opts: VerifyOptions): Promise<number> {
  const file = loadConfigFile(opts.config);
  const taskQueue = chooseTaskQueue(opts.taskQueue, file.taskQueue, process.env, Boolean(opts.local));
  const hosted = opts.local ? await hostWorker(file.connections, taskQueue) : null;
  const client = await connectClient();
  try {
    const handle = await startVerify(
      { config: syncConfigOf(file), tables, repair: Boolean(opts.repair) },
      { client, taskQueue, workflowId: opts.workflowId },
    );
    console.log(`Started ${handle.workflowId} on task queue "${taskQueue}"`);
    let waited: Awaited<ReturnType<typeof awaitOrCancel<VerifyResult>>>;
    try {
      waited = await awaitOrCancel<VerifyResult>(handle, hosted, 'verify');
    } finally {
      await hosted?.close();
    }
    if ('exitCode' in waited) return waited.exitCode;
    const result = waited.result;
    if (opts.json) console.log(JSON.stringify(result, null, 2));
    else printVerify(result);
    return result.matches ? 0 : 1;
  } finally {
    await client.connection.close();
  }
}
