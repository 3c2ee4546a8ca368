#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { extname } from 'node:path';
import { CancelledFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { parse as parseYaml } from 'yaml';
import { ConfigError, parseConfigFile, syncConfigOf } from '../lib/config';
import type { SyncSummary } from '../lib/types';
import { installLogger } from '../workers/logger';
import { createWorker, type CreateWorkerResult } from '../workers/worker';
import { defaultWorkflowId, startSync, startVerify } from './start';
import type { VerifyResult } from '../workflows/verify';

const USAGE = `Usage:
  tablesync worker [--config FILE] [--task-queue NAME]
                                           run a worker on the task queue (default TEMPORAL_TASK_QUEUE or tablesync)
  tablesync verify --config FILE [TABLE...] [--repair] [--local] [--json]
                                           compare source and target per key range (counts, checksums);
                                           --repair re-syncs only the ranges that differ
  tablesync run --config FILE [options]    start an incremental sync
      --wait              wait for the result and print the summary
      --local             also host a worker in this process (implies --wait)
      --workflow-id ID    workflow id (default tablesync-<time>)
      --task-queue NAME   task queue (default: the config's taskQueue, TEMPORAL_TASK_QUEUE or tablesync;
                          with --local and none of these, a queue private to this process)
      --json              print the summary as JSON

Environment: TEMPORAL_ADDRESS (localhost:7233), TEMPORAL_NAMESPACE (default),
TEMPORAL_TASK_QUEUE (tablesync), TABLESYNC_CONNECTION_<NAME>=url, and the
config overrides INCLUDE_TABLES, DEFAULT_INCREMENTAL_BATCH_SIZE, PARTITION_THRESHOLD,
MAX_PARTITIONS_PER_TABLE, MAX_PARALLEL_TRANSFERS, USE_BINARY_COPY, USE_UNLOGGED_STAGING.`;

interface Args {
  command?: string;
  positional: string[];
  flags: Map<string, string | true>;
}

function parseArgs(argv: string[]): Args {
  const flags = new Map<string, string | true>();
  let command: string | undefined;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split('=', 2);
      if (inline !== undefined) flags.set(name, inline);
      else if (['config', 'workflow-id', 'task-queue'].includes(name)) flags.set(name, argv[++i] ?? '');
      else flags.set(name, true);
    } else if (!command) command = a;
    else positional.push(a);
  }
  return { command, positional, flags };
}

export function loadConfigFile(path: string, env = process.env) {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read config file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`Config file ${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  return parseConfigFile(raw, env, `config file ${path}`);
}

export function printVerify(result: VerifyResult): void {
  for (const t of result.tables) {
    const state = t.matches ? 'ok    ' : 'DIFFER';
    console.log(`  ${state} ${t.table} → ${t.target}: ${t.sourceRows} source rows, ${t.targetRows} target rows, ${t.ranges} ranges` +
      (t.repaired ? `, ${t.repaired} repaired` : ''));
    for (const r of t.differing) {
      const lo = r.range.lo ?? '-∞';
      const hi = r.range.hi ?? '+∞';
      console.log(`         key range (${lo}, ${hi}]: ${r.sourceRows} vs ${r.targetRows} rows${r.sourceSum !== r.targetSum ? ', checksums differ' : ''}`);
    }
    const skippedColumns = t.differing[0]?.skippedColumns ?? [];
    if (skippedColumns.length) console.log(`         not checksummed: ${skippedColumns.join(', ')}`);
  }
  for (const s of result.skipped) console.log(`  NOT CHECKED ${s.table}: ${s.reason}`);
  console.log(result.message);
}

export function printSummary(summary: SyncSummary): void {
  for (const line of summary.plan ?? []) console.log(`  plan   ${line}`);
  for (const t of summary.tables) {
    if (t.status === 'failed' && t.errorType) {
      console.log(`  FAILED ${t.table}${t.target ? ` → ${t.target}` : ''}: ${t.errorType}: ${t.error}`);
      continue;
    }
    const counts =
      t.mode === 'full'
        ? `full load, ${t.inserted} rows`
        : `${t.inserted} inserted, ${t.updated} updated, ${t.unchanged} unchanged${t.deleted ? `, ${t.deleted} deleted` : ''}`;
    console.log(`  ${t.status === 'completed' ? 'ok    ' : 'FAILED'} ${t.table} → ${t.target}: ${counts}${t.error ? ` (${t.error})` : ''}`);
    for (const w of t.warnings) console.log(`         warning: ${w}`);
  }
  for (const s of summary.skipped) console.log(`  skip   ${s.table}: ${s.reason}`);
  console.log(summary.message);
}

/**
 * The task queue a command uses. A --local run hosts its own worker, which
 * resolves connection names with this process's config: on a shared queue,
 * other processes' workers would take its tasks and run them against their
 * own databases (and this worker theirs). So unless a queue is named
 * explicitly, a local run gets a queue no other process uses.
 */
export function chooseTaskQueue(
  flags: Map<string, string | true>,
  fileQueue: string | undefined,
  env: Record<string, string | undefined>,
  local: boolean,
): string {
  const given = flags.get('task-queue');
  if (typeof given === 'string' && given) return given;
  const explicit = fileQueue ?? env.TEMPORAL_TASK_QUEUE;
  if (explicit) return explicit;
  return local ? `tablesync-local-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}` : 'tablesync';
}

/** Exit code of a command interrupted by a signal, as shells report it (128 + signal number). */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Waits for the workflow this command started (with the local worker, if
 * any). A run nobody waits for must not go on and finish later on its own:
 * on SIGINT/SIGTERM the workflow is cancelled and the wait goes on, the local
 * worker still running, until the cancelled run has dropped its load tables
 * (a second signal exits at once); on any other early exit (the worker or
 * the connection failed) it is cancelled too.
 */
async function awaitOrCancel<T>(
  handle: WorkflowHandle,
  hosted: CreateWorkerResult | null,
  what: string,
): Promise<{ result: T } | { exitCode: number }> {
  let signalled: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      console.error(`tablesync: ${signal} again: exiting without waiting for ${what} ${handle.workflowId} to finish cancelling`);
      process.exit(SIGNAL_EXIT[signal] ?? 1);
    }
    signalled = signal;
    console.error(`tablesync: ${signal}: cancelling ${what} ${handle.workflowId} (${signal} again to exit without waiting)`);
    handle.cancel().catch((err) => console.error(`tablesync: could not cancel ${handle.workflowId}: ${(err as Error).message}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = (hosted ? await hosted.worker.runUntil(handle.result()) : await handle.result()) as T;
    return { result };
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure) {
      console.log(`cancelled ${what} ${handle.workflowId}`);
      return { exitCode: (signalled && SIGNAL_EXIT[signalled]) || 1 };
    }
    // A workflow that failed or was terminated has ended; anything else left it running.
    if (!(err instanceof WorkflowFailedError)) {
      await handle.cancel().then(
        () => console.error(`tablesync: cancelled ${what} ${handle.workflowId} (it goes on cleaning up on a worker of its queue)`),
        (e) => console.error(`tablesync: could not cancel ${handle.workflowId}: ${(e as Error).message}`),
      );
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function main(argv: string[]): Promise<number> {
  const { command, positional, flags } = parseArgs(argv);
  if (positional.length && command !== 'verify') throw new ConfigError(`Unexpected argument "${positional[0]}"`);
  // run and verify handle SIGINT/SIGTERM themselves (cancel the workflow, let the local worker clean up);
  // the SDK's default would shut the worker down and leave the workflow running.
  installLogger(undefined, command === 'worker' ? {} : { shutdownSignals: [] });
  const configPath = flags.get('config');
  if (command === 'worker') {
    const file = typeof configPath === 'string' ? loadConfigFile(configPath) : undefined;
    const taskQueue = chooseTaskQueue(flags, file?.taskQueue, process.env, false);
    const { worker, close } = await createWorker({ connections: file?.connections, taskQueue });
    process.once('SIGINT', () => worker.shutdown());
    process.once('SIGTERM', () => worker.shutdown());
    console.log(`tablesync worker polling task queue "${taskQueue}"`);
    await worker.run();
    await close();
    return 0;
  }
  if (command === 'run') {
    if (typeof configPath !== 'string' || !configPath) throw new ConfigError('run needs --config FILE');
    const file = loadConfigFile(configPath);
    const local = flags.has('local');
    const wait = local || flags.has('wait');
    const taskQueue = chooseTaskQueue(flags, file.taskQueue, process.env, local);
    const workflowId = typeof flags.get('workflow-id') === 'string' ? (flags.get('workflow-id') as string) : defaultWorkflowId();
    const hosted = local ? await createWorker({ connections: file.connections, taskQueue }) : null;
    const handle = await startSync(syncConfigOf(file), { taskQueue, workflowId });
    console.log(`Started ${handle.workflowId} on task queue "${taskQueue}"`);
    if (!wait) return 0;
    const waited = await awaitOrCancel<SyncSummary>(handle, hosted, 'sync');
    await hosted?.close();
    if ('exitCode' in waited) return waited.exitCode;
    const summary = waited.result;
    if (flags.has('json')) console.log(JSON.stringify(summary, null, 2));
    else printSummary(summary);
    return summary.tablesFailed > 0 ? 1 : 0;
  }
  if (command === 'verify') {
    if (typeof configPath !== 'string' || !configPath) throw new ConfigError('verify needs --config FILE');
    const file = loadConfigFile(configPath);
    const taskQueue = chooseTaskQueue(flags, file.taskQueue, process.env, flags.has('local'));
    const hosted = flags.has('local') ? await createWorker({ connections: file.connections, taskQueue }) : null;
    const handle = await startVerify(
      { config: syncConfigOf(file), tables: positional, repair: flags.has('repair') },
      { taskQueue, workflowId: typeof flags.get('workflow-id') === 'string' ? (flags.get('workflow-id') as string) : undefined },
    );
    console.log(`Started ${handle.workflowId} on task queue "${taskQueue}"`);
    const waited = await awaitOrCancel<VerifyResult>(handle, hosted, 'verify');
    await hosted?.close();
    if ('exitCode' in waited) return waited.exitCode;
    const result = waited.result;
    if (flags.has('json')) console.log(JSON.stringify(result, null, 2));
    else printVerify(result);
    return result.matches ? 0 : 1;
  }
  console.log(USAGE);
  return command && command !== 'help' && !flags.has('help') ? 2 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      const cause = (err as { cause?: { message?: string } }).cause;
      console.error(`tablesync: ${(err as Error).message}${cause?.message ? `: ${cause.message}` : ''}`);
      process.exit(err instanceof ConfigError ? 2 : 1);
    },
  );
}
