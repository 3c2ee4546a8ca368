import type { Client } from '@temporalio/client';
import type { SyncConfigInput } from '../../lib/config';
import type { SyncSummary } from '../../lib/types';
import { incrementalSyncWorkflow, syncTableWorkflow } from '../../workflows';
import type { SyncTableInput } from '../../workflows/sync-table';
import { testWorker } from './temporal';

export type Outcome<T> = { ok: true; value: T; ms: number } | { ok: false; error: Error; ms: number };

let run = 0;

/**
 * Runs a workflow on the shared dev server with an in-process worker on a
 * fresh task queue and returns how it ended (result or error) with its id,
 * so a test can also read its history. Unlike runTestSync it never throws
 * for a failed workflow.
 */
export async function runInProcess<T>(
  connections: Record<string, string>,
  workflow: 'incrementalSyncWorkflow' | 'syncTableWorkflow',
  input: unknown,
  prefix: string,
): Promise<{ workflowId: string; client: Client; outcome: Outcome<T> }> {
  const { env, taskQueue, worker, close } = await testWorker(connections, prefix);
  const workflowId = `${prefix}-${process.pid}-${++run}`;
  const started = Date.now();
  try {
    const outcome = await worker.runUntil(async (): Promise<Outcome<T>> => {
      const fn = workflow === 'incrementalSyncWorkflow' ? incrementalSyncWorkflow : syncTableWorkflow;
      const handle = await env.client.workflow.start(fn as typeof incrementalSyncWorkflow, {
        taskQueue,
        workflowId,
        args: [input],
      });
      try {
        return { ok: true, value: (await handle.result()) as T, ms: Date.now() - started };
      } catch (error) {
        return { ok: false, error: error as Error, ms: Date.now() - started };
      }
    });
    return { workflowId, client: env.client, outcome };
  } finally {
    await close();
  }
}

export function runSyncInProcess(connections: Record<string, string>, config: SyncConfigInput | unknown, prefix: string) {
  return runInProcess<SyncSummary>(connections, 'incrementalSyncWorkflow', config, prefix);
}

export function runTableInProcess(connections: Record<string, string>, input: SyncTableInput, prefix: string) {
  return runInProcess<SyncSummary['tables'][number]>(connections, 'syncTableWorkflow', input, prefix);
}

/** Retries fast enough for tests, still more than one attempt: what the integration tests run with unless they say otherwise. */
export const FAST_RETRY = { retry: { maximumAttempts: 2, initialIntervalMs: 200, maximumIntervalMs: 500 } };

/** A sync (with FAST_RETRY unless config sets retry) that must complete as a workflow; its summary and id. */
export async function syncOk(connections: Record<string, string>, config: object, prefix: string): Promise<SyncSummary & { workflowId: string }> {
  const { workflowId, outcome } = await runSyncInProcess(connections, { ...FAST_RETRY, ...config }, prefix);
  if (!outcome.ok) throw new Error(`sync ${workflowId} failed: ${outcome.error.message}`, { cause: outcome.error });
  return { ...outcome.value, workflowId };
}
