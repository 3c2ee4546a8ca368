import type { WorkflowHandle } from '@temporalio/client';
import type { SetModeResult, StateChange, TableStatus } from '../activities';
import type { SyncConfigInput } from '../lib/config';
// Types only, as in start.ts: the client process never loads workflow code.
import type { resetStateWorkflow, setModeWorkflow, tableStatusWorkflow } from '../workflows';
import type { ResetStateWorkflowInput } from '../workflows/reset-state';
import type { SetModeWorkflowInput } from '../workflows/set-mode';
import type { TableStatusWorkflowInput } from '../workflows/table-status';
import { connectClient, defaultWorkflowId, type StartSyncOptions } from './start';

// The operations on table state, for programs: each is a workflow (recorded
// in Temporal's history like a run), started here and awaited.

type Workflows = { resetStateWorkflow: typeof resetStateWorkflow; setModeWorkflow: typeof setModeWorkflow; tableStatusWorkflow: typeof tableStatusWorkflow };

async function startOperation<K extends keyof Workflows>(
  type: K,
  prefix: string,
  input: Parameters<Workflows[K]>[0],
  options: StartSyncOptions,
): Promise<WorkflowHandle<Workflows[K]>> {
  const client = options.client ?? (await connectClient(options));
  return client.workflow.start<Workflows[K]>(type, {
    taskQueue: options.taskQueue ?? process.env.TEMPORAL_TASK_QUEUE ?? 'tablesync',
    workflowId: options.workflowId ?? defaultWorkflowId().replace(/^tablesync-/, `tablesync-${prefix}-`),
    args: [input] as Parameters<Workflows[K]>,
    requestEagerStart: options.eager,
  });
}

export const startResetState = (input: ResetStateWorkflowInput & { config: SyncConfigInput | unknown }, options: StartSyncOptions = {}) =>
  startOperation('resetStateWorkflow', 'reset-state', input, options);
export const startSetMode = (input: SetModeWorkflowInput, options: StartSyncOptions = {}) => startOperation('setModeWorkflow', 'set-mode', input, options);
export const startTableStatus = (input: TableStatusWorkflowInput, options: StartSyncOptions = {}) =>
  startOperation('tableStatusWorkflow', 'status', input, options);

/** Forgets a table's saved cursor, or sets it (`cursor`); returns the old and new state. */
export async function resetState(input: ResetStateWorkflowInput, options: StartSyncOptions = {}): Promise<StateChange> {
  return (await startResetState(input, options)).result();
}

/** Moves a table to another mode; answers state_action preserve or reset, with warnings. */
export async function setMode(input: SetModeWorkflowInput, options: StartSyncOptions = {}): Promise<SetModeResult> {
  return (await startSetMode(input, options)).result();
}

/** Per table: mode, write, cursor, saved value and the last run. */
export async function tableStatus(input: TableStatusWorkflowInput, options: StartSyncOptions = {}): Promise<TableStatus[]> {
  return (await startTableStatus(input, options)).result();
}
