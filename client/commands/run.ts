import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import { syncConfigOf } from '../../lib/config';
import type { SyncSummary } from '../../lib/types';
import type { planSyncWorkflow, PlanSyncResult } from '../../workflows/plan-sync';
import type { VerifyResult } from '../../workflows/verify';
import { loadConfigFile } from '../config-file';
import { InputError } from '../input-error';
import { readProgress } from '../progress';
import { followProgress, ProgressView } from '../progress-view';
import { note, printSummary, printVerify } from '../report';
import { completeSummary } from '../results';
import { connectClient, defaultWorkflowId, startSync, startVerify } from '../start';
import { chooseTaskQueue } from '../task-queue';
import { livePollers, noWorkerLine, type WaitContext } from '../pollers';
import { awaitOrCancel } from '../wait';
import { closeClient, hostWorker, type HostedWorker } from './host';
import { stepLaps } from '../../lib/step-laps';

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
  /** --metrics: the local worker's Prometheus exporter address. */
  metrics?: string;
}

export async function runCommand(opts: RunOptions): Promise<number> {
  if (opts.metrics !== undefined && !opts.local) {
    throw new InputError('InvalidArguments', '--metrics serves the metrics of a worker in this process: it needs --local (a worker elsewhere takes tablesync worker --metrics)');
  }
  const file = loadConfigFile(opts.config);
  const config = syncConfigOf(file);
  const local = Boolean(opts.local);
  const wait = local || Boolean(opts.wait);
  const taskQueue = chooseTaskQueue(opts.taskQueue, file.taskQueue, process.env, local);
  // The local worker exists before the run starts, so the start hands it the first task (eager start).
  const phases = phaseTimer();
  const hosted = local ? await hostWorker(file.connections, taskQueue, opts.metrics) : null;
  const client = hosted?.client ?? (await connectClient());
  phases.lap(local ? 'worker and connection' : 'connection');
  try {
    if (opts.dryRun) return await dryRun(client, config, taskQueue, opts, hosted);
    const handle = await startSync(config, { client, taskQueue, workflowId: opts.workflowId ?? defaultWorkflowId(), eager: Boolean(hosted) });
    phases.lap('start');
    note(opts)(`Started ${handle.workflowId} on task queue "${taskQueue}"`);
    const watch: WaitContext = { client, taskQueue, configFile: opts.config };
    if (!wait) {
      // Nobody waits to notice a run that never starts: say so now.
      if (!(await livePollers(client, taskQueue).catch(() => [''])).length) console.error(noWorkerLine(watch, 'sync', handle.workflowId, false));
      return 0;
    }
    // On stderr, so --json keeps stdout to the summary alone.
    const view = new ProgressView(process.stderr, 5_000);
    const follow = opts.progress !== false ? followProgress(() => readProgress(client, handle.workflowId), view, view.tty ? 1_000 : 5_000) : null;
    let waited: Awaited<ReturnType<typeof awaitOrCancel<SyncSummary>>>;
    try {
      // A sync of many tables lists its failed tables only: the rest are read back (workflows the local worker runs too) to print every table.
      const finish = (s: unknown) => completeSummary(client, config, s as SyncSummary, taskQueue);
      waited = await awaitOrCancel<SyncSummary>(handle, hosted, 'sync', { watch, view: follow ?? undefined, out: note(opts), finish });
    } finally {
      follow?.stop();
    }
    phases.lap('sync');
    if ('exitCode' in waited) return waited.exitCode;
    const summary = waited.result;
    if (opts.json) console.log(JSON.stringify(summary, null, 2));
    else printSummary(summary);
    return summary.tablesFailed > 0 ? 1 : 0;
  } finally {
    await closeClient(client, hosted);
    phases.lap('close');
    phases.done();
  }
}

/**
 * With TABLESYNC_LOG_LEVEL=debug, where a run's wall time went, on stderr:
 * the process start (node and the modules loaded before the command ran), the
 * worker's start, the sync, the shutdown.
 */
function phaseTimer(): { lap(step: string): void; done(): void } {
  const debug = /^(debug|trace)$/i.test(process.env.TABLESYNC_LOG_LEVEL ?? '');
  const laps = stepLaps(performance.now(), 'process start');
  return {
    lap: laps.lap,
    done() {
      if (debug) console.error(`run: ${laps.text()}`);
    },
  };
}


/** run --dry-run: discovery alone (planSyncWorkflow), its plan lines printed; nothing is written. */
async function dryRun(
  client: Client,
  config: ReturnType<typeof syncConfigOf>,
  taskQueue: string,
  opts: RunOptions,
  hosted: HostedWorker | null,
): Promise<number> {
  const handle = await client.workflow.start<typeof planSyncWorkflow>('planSyncWorkflow', {
    taskQueue,
    workflowId: (opts.workflowId ?? defaultWorkflowId()).replace(/^tablesync-/, 'tablesync-plan-'),
    args: [config],
    requestEagerStart: Boolean(hosted),
  });
  const waited = await awaitOrCancel<PlanSyncResult>(handle, hosted, 'dry run', { watch: { client, taskQueue, configFile: opts.config }, out: note(opts) });
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
  const config = syncConfigOf(file);
  const taskQueue = chooseTaskQueue(opts.taskQueue, file.taskQueue, process.env, Boolean(opts.local));
  const hosted = opts.local ? await hostWorker(file.connections, taskQueue) : null;
  const client = hosted?.client ?? (await connectClient());
  try {
    const handle = await startVerify(
      { config, tables, repair: Boolean(opts.repair) },
      { client, taskQueue, workflowId: opts.workflowId, eager: Boolean(hosted) },
    );
    note(opts)(`Started ${handle.workflowId} on task queue "${taskQueue}"`);
    const waited = await awaitOrCancel<VerifyResult>(handle, hosted, 'verify', { watch: { client, taskQueue, configFile: opts.config }, out: note(opts) });
    if ('exitCode' in waited) return waited.exitCode;
    const result = waited.result;
    if (opts.json) console.log(JSON.stringify(result, null, 2));
    else printVerify(result);
    return result.matches ? 0 : 1;
  } finally {
    await closeClient(client, hosted);
  }
}
