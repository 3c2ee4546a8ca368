import type { Client, WorkflowHandle } from '@temporalio/client';
import type { SetModeResult, StateChange, TableStatus } from '../../activities';
import type { TableState } from '../../lib/state';
import { syncConfigOf } from '../../lib/config';
import { loadConfigFile } from '../config-file';
import { note } from '../report';
import { startResetState, startSetMode, startTableStatus } from '../operations';
import { connectClient } from '../start';
import { chooseTaskQueue } from '../task-queue';
import { awaitOrCancel } from '../wait';
import { closeClient, hostWorker } from './host';
import { streamLines, streamReport, type StreamReport } from './cdc';

// reset-state, set-mode and status --config: each starts its workflow,
// waits for it (with a worker of its own under --local) and prints what
// changed, or with --dry-run what would.

export interface StateCommandOptions {
  config: string;
  local?: boolean;
  workflowId?: string;
  taskQueue?: string;
  json?: boolean;
  dryRun?: boolean;
}

async function runOperation<T>(
  opts: StateCommandOptions,
  what: string,
  start: (config: unknown, options: { taskQueue: string; workflowId?: string; client: Client; eager: boolean }) => Promise<WorkflowHandle>,
  /** More to ask Temporal once the result is in (the client is still open). */
  then?: (result: T, client: Client) => Promise<void>,
): Promise<{ result: T } | { exitCode: number }> {
  const file = loadConfigFile(opts.config);
  const config = syncConfigOf(file);
  const taskQueue = chooseTaskQueue(opts.taskQueue, file.taskQueue, process.env, Boolean(opts.local));
  const hosted = opts.local ? await hostWorker(file.connections, taskQueue) : null;
  const client = hosted?.client ?? (await connectClient());
  try {
    const handle = await start(config, { client, taskQueue, eager: Boolean(hosted), ...(opts.workflowId && { workflowId: opts.workflowId }) });
    const waited = await awaitOrCancel<T>(handle, hosted, what, { watch: { client, taskQueue, configFile: opts.config }, out: note(opts) });
    if (then && 'result' in waited) await then(waited.result, client);
    return waited;
  } finally {
    await closeClient(client, hosted);
  }
}

const stateLine = (s: TableState | null) =>
  s
    ? `mode ${s.mode}${s.write ? `, write ${s.write}` : ''}${s.cursorColumn ? `, cursor ${s.cursorColumn} = ${s.cursorValue ?? '(none: the next run reads every row)'}` : ''}`
    : '(no saved state)';

function printChange(r: StateChange): void {
  const verb = r.dryRun ? 'would change (dry run, nothing changed)' : r.applied ? 'changed' : 'unchanged';
  console.log(`${r.table} → ${r.target}: ${verb}`);
  console.log(`  before: ${stateLine(r.before)}`);
  console.log(`  after:  ${r.applied || r.dryRun ? stateLine(r.after) : stateLine(r.before)}`);
  for (const c of r.changes) console.log(`  ${r.dryRun ? 'would ' : ''}${c}`);
  for (const w of r.warnings) console.log(`  warning: ${w}`);
  if (r.refused) console.log(`  refused: ${r.refused}`);
}

export interface ResetStateOptions extends StateCommandOptions {
  cursor?: string;
}

export async function resetStateCommand(table: string, opts: ResetStateOptions): Promise<number> {
  const waited = await runOperation<StateChange>(opts, 'reset-state', (config, o) =>
    startResetState({ config, table, cursor: opts.cursor ?? null, dryRun: Boolean(opts.dryRun) }, o),
  );
  if ('exitCode' in waited) return waited.exitCode;
  if (opts.json) console.log(JSON.stringify(waited.result, null, 2));
  else printChange(waited.result);
  return 0;
}

export interface SetModeOptions extends StateCommandOptions {
  mode: string;
  write?: 'upsert' | 'append';
  cursor?: string;
  primaryKeys?: string;
  force?: boolean;
}

export async function setModeCommand(table: string, opts: SetModeOptions): Promise<number> {
  const primaryKeys = opts.primaryKeys?.split(',').map((k) => k.trim()).filter(Boolean);
  const waited = await runOperation<SetModeResult>(opts, 'set-mode', (config, o) =>
    startSetMode(
      { config, table, mode: opts.mode, write: opts.write, cursor: opts.cursor, primaryKeys, force: Boolean(opts.force), dryRun: Boolean(opts.dryRun) },
      o,
    ),
  );
  if ('exitCode' in waited) return waited.exitCode;
  const r = waited.result;
  if (opts.json) console.log(JSON.stringify(r, null, 2));
  else {
    console.log(`state_action: ${r.stateAction}`);
    printChange(r);
    if (!r.refused) {
      console.log(`${r.applied ? 'Now' : 'After the change,'} the config's tables entry must say the same (runs compare it with the saved state):`);
      for (const line of r.configLines) console.log(line);
    }
  }
  return r.refused ? 1 : 0;
}

export async function tableStatusCommand(tables: string[], opts: StateCommandOptions): Promise<number> {
  // A cdc table's stream: whether its workflow runs (Temporal, asked here) and its lag; one report per stream.
  const streams = new Map<string, StreamReport>();
  const waited = await runOperation<TableStatus[]>(
    opts,
    'status',
    (config, o) => startTableStatus({ config, tables }, o),
    async (rows, client) => {
      for (const t of rows) if (t.stream && !streams.has(t.stream.name)) streams.set(t.stream.name, await streamReport(client, t.stream));
    },
  );
  if ('exitCode' in waited) return waited.exitCode;
  const rows = waited.result;
  if (opts.json) {
    console.log(JSON.stringify(rows.map((t) => (t.stream ? { ...t, stream: streams.get(t.stream.name) } : t)), null, 2));
    return 0;
  }
  const warned = new Set<string>();
  for (const t of rows) {
    const cursor = t.cursorColumn ? `, cursor ${t.cursorColumn} = ${t.cursorValue ?? '(none)'}${t.cursorType ? ` (${t.cursorType})` : ''}` : '';
    console.log(`${t.table} → ${t.target}: mode ${t.mode}${t.write ? `, write ${t.write}` : ''}${cursor}`);
    const stream = t.stream && streams.get(t.stream.name);
    if (stream) {
      // A stream's warning once, at its first table.
      for (const line of streamLines(warned.has(stream.name) ? { ...stream, warning: null } : stream)) console.log(line);
      warned.add(stream.name);
    }
    const r = t.lastRun;
    if (!r) console.log('  last run: none');
    else {
      console.log(
        `  last run: ${r.status} ${r.workflowId} at ${r.endedAt ?? r.startedAt ?? '?'}: ${r.rowsCopied} read, ${r.inserted} inserted, ${r.updated} updated, ${r.unchanged} unchanged, ${r.deleted} deleted`,
      );
      if (r.error) console.log(`  error: ${r.error}`);
    }
  }
  return 0;
}
