import { randomBytes } from 'node:crypto';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { SyncConfigInput } from '../lib/config';
import { completeSummary } from './results';
import { connectWithSettings, temporalConnectionSettings } from './temporal-connection';
import { runLabel } from '../lib/summary';
import type { SyncSummary } from '../lib/types';
// Types only: starting by type name keeps the workflow code (and its SDK) out of the client process.
import type { incrementalSyncWorkflow, verifyWorkflow } from '../workflows';
import type { VerifyInput } from '../workflows/verify';

export interface StartSyncOptions {
  client?: Client;
  address?: string;
  namespace?: string;
  taskQueue?: string;
  workflowId?: string;
  /** Ask the server to hand the first workflow task to the worker on the client's connection (--local). */
  eager?: boolean;
}

/**
 * A client with the Temporal CLI's settings (TEMPORAL_ADDRESS, _NAMESPACE,
 * _API_KEY, _TLS_*, TEMPORAL_PROFILE and its config file), `address` and
 * `namespace` given here winning.
 */
export async function connectClient(options: StartSyncOptions = {}): Promise<Client> {
  const settings = temporalConnectionSettings(process.env, options);
  return new Client({
    connection: await connectWithSettings(settings, () => Connection.connect(settings.connectionOptions)),
    namespace: settings.namespace,
  });
}

export function defaultWorkflowId(now = new Date()): string {
  // The time orders ids in the Web UI; the random tail keeps two runs started in the same
  // millisecond (two processes, a script's loop) from colliding (WorkflowExecutionAlreadyStarted).
  return `tablesync-${now.toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
}

/** Starts an incremental sync; the config holds connection names only, never URLs. */
export async function startSync(
  config: SyncConfigInput,
  options: StartSyncOptions = {},
): Promise<WorkflowHandle<typeof incrementalSyncWorkflow>> {
  const client = options.client ?? (await connectClient(options));
  return client.workflow.start<typeof incrementalSyncWorkflow>('incrementalSyncWorkflow', {
    taskQueue: options.taskQueue ?? process.env.TEMPORAL_TASK_QUEUE ?? 'tablesync',
    workflowId: options.workflowId ?? defaultWorkflowId(),
    args: [config],
    requestEagerStart: options.eager,
    // The Web UI's summary of the run: connections, tables as configured, mode.
    staticSummary: runLabel(config),
  });
}

/** Starts a verification (and, with repair, a re-sync of the ranges that differ). */
export async function startVerify(
  input: VerifyInput,
  options: StartSyncOptions = {},
): Promise<WorkflowHandle<typeof verifyWorkflow>> {
  const client = options.client ?? (await connectClient(options));
  return client.workflow.start<typeof verifyWorkflow>('verifyWorkflow', {
    taskQueue: options.taskQueue ?? process.env.TEMPORAL_TASK_QUEUE ?? 'tablesync',
    workflowId: options.workflowId ?? defaultWorkflowId().replace(/^tablesync-/, 'tablesync-verify-'),
    args: [input],
    requestEagerStart: options.eager,
    staticSummary: runLabel(input.config, input.repair ? 'verify --repair' : 'verify', input.tables),
  });
}

/** Starts a sync and waits for its summary. */
export async function runSync(config: SyncConfigInput, options: StartSyncOptions = {}): Promise<SyncSummary> {
  const client = options.client ?? (await connectClient(options));
  const handle = await startSync(config, { ...options, client });
  return completeSummary(client, config, await handle.result(), options.taskQueue ?? process.env.TEMPORAL_TASK_QUEUE ?? 'tablesync');
}
