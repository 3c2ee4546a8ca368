import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { SyncConfigInput } from '../../lib/config';
import type { SyncSummary } from '../../lib/types';
import type { SyncTableInput } from '../../workflows/sync-table';
import { testWorker } from './temporal';
import { completeSummary } from '../../client/results';

/**
 * Every test that runs a workflow in this process goes through runWorkflow:
 * the shared dev server, a worker of its own on a fresh task queue, and the
 * outcome (result or error) with the workflow id, so the test can read the
 * history too. syncOk is the form for a sync that must complete.
 */

export type Outcome<T> = { ok: true; value: T; ms: number } | { ok: false; error: Error; ms: number };

/** A workflow that has started: what a `during` callback gets to watch or break it. */
export interface RunningWorkflow {
  env: TestWorkflowEnvironment;
  client: Client;
  taskQueue: string;
  workflowId: string;
}

export interface RunOptions {
  /** Starts the task queue's and the workflow id's names, so a test's runs are found by name (default 'sync'). */
  prefix?: string;
  /** Runs once the workflow has started, before its result is awaited; an error here fails the test. */
  during?: (run: RunningWorkflow) => Promise<void>;
  /** The worker's environment (webhook URLs for notify:); empty by default. */
  env?: Record<string, string>;
}

export interface WorkflowRun<T> {
  workflowId: string;
  client: Client;
  outcome: Outcome<T>;
}

let run = 0;

/** The summaries incrementalSyncWorkflow itself returned, by workflow id, where runWorkflow completed them (SyncSummary.listed). */
export const rawSummaries = new Map<string, SyncSummary>();

/**
 * Starts a workflow by its type name (as the CLI and the Web UI do) and
 * returns how it ended; it never throws for a failed workflow.
 */
export async function runWorkflow<T>(
  connections: Record<string, string>,
  workflowType: string,
  input: unknown,
  options: string | RunOptions = {},
): Promise<WorkflowRun<T>> {
  const { prefix = 'sync', during, env: workerEnv } = typeof options === 'string' ? { prefix: options } : options;
  const { env, taskQueue, worker, close } = await testWorker(connections, prefix, workerEnv);
  const workflowId = `${prefix}-${process.pid}-${++run}`;
  const started = Date.now();
  try {
    const outcome = await worker.runUntil(async (): Promise<Outcome<T>> => {
      const handle = await env.client.workflow.start(workflowType, { taskQueue, workflowId, args: [input] });
      if (during) await during({ env, client: env.client, taskQueue, workflowId });
      try {
        let value = (await handle.result()) as T;
        // A sync of many tables lists its failed tables only; the rest are read back as the CLI does (the raw summary: rawSummaries).
        if (workflowType === 'incrementalSyncWorkflow' && (value as SyncSummary)?.listed) {
          rawSummaries.set(workflowId, value as SyncSummary);
          value = (await completeSummary(env.client, input as SyncConfigInput, value as SyncSummary, taskQueue)) as T;
        }
        return { ok: true, value, ms: Date.now() - started };
      } catch (error) {
        return { ok: false, error: error as Error, ms: Date.now() - started };
      }
    });
    return { workflowId, client: env.client, outcome };
  } finally {
    await close();
  }
}

/** incrementalSyncWorkflow over `config` as given (no retry policy added): how it ended. */
export function runSyncInProcess(connections: Record<string, string>, config: SyncConfigInput | unknown, options?: string | RunOptions) {
  return runWorkflow<SyncSummary>(connections, 'incrementalSyncWorkflow', config, options);
}

/** syncTableWorkflow for one table's input: how it ended. */
export function runTableInProcess(connections: Record<string, string>, input: SyncTableInput, options?: string | RunOptions) {
  return runWorkflow<SyncSummary['tables'][number]>(connections, 'syncTableWorkflow', input, options);
}

/**
 * A sync that must complete as a workflow (its tables may still fail): its
 * summary and id. A failed workflow throws, naming its id and every cause.
 */
export async function syncOk(
  connections: Record<string, string>,
  config: SyncConfigInput | object,
  options?: string | RunOptions,
): Promise<SyncSummary & { workflowId: string }> {
  const { workflowId, outcome } = await runSyncInProcess(connections, config, options);
  if (!outcome.ok) throw new Error(`sync ${workflowId} failed: ${failureChain(outcome.error)}`, { cause: outcome.error });
  return { ...outcome.value, workflowId };
}

/** Retries fast enough for tests, still more than one attempt; spread it into a config that has no retry of its own. */
export const FAST_RETRY = { retry: { maximumAttempts: 2, initialIntervalMs: 200, maximumIntervalMs: 500 } };

/** Every message down a Temporal failure's cause chain, for asserting on the root error. */
export function failureChain(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.message) parts.push(e.message);
  }
  return parts.join(' <- ');
}
