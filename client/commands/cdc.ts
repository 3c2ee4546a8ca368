import type { Client } from '@temporalio/client';
import type { TableStatus } from '../../activities';
import { syncConfigOf } from '../../lib/config';
import type { StreamPosition } from '../../lib/sources/changes';
import type { CdcProgress, CdcResult, cdcWorkflow } from '../../workflows/cdc';
import { loadConfigFile } from '../config-file';
import { connectClient } from '../start';
import { livePollers, noWorkerLine, startWorkerHint, watchPollers } from '../pollers';
import { chooseTaskQueue } from '../task-queue';
import { workflowStatus } from './cancel';

// tablesync cdc start|status|pause|resume|stop: a cdc workflow (one change
// stream per config and source) is long-running; these start it and talk to
// it by signal and query.

export interface CdcStartOptions {
  config: string;
  workflowId?: string;
  taskQueue?: string;
}

/** The workflow id of a config's stream: given, or one per source connection, so a second start finds the first. */
export function cdcWorkflowId(sourceConnection: string, given?: string): string {
  return given ?? `tablesync-cdc-${sourceConnection}`;
}

export async function cdcStartCommand(opts: CdcStartOptions): Promise<number> {
  const file = loadConfigFile(opts.config);
  const config = syncConfigOf(file);
  const taskQueue = chooseTaskQueue(opts.taskQueue, file.taskQueue, process.env, false);
  const client = await connectClient();
  try {
    const workflowId = cdcWorkflowId(config.source.connection, opts.workflowId);
    await client.workflow.start<typeof cdcWorkflow>('cdcWorkflow', { taskQueue, workflowId, args: [{ config }] });
    console.log(`Started ${workflowId} on task queue "${taskQueue}": tablesync cdc status ${workflowId} shows its position and lag`);
    // Nothing waits on a stream: a start no worker will take is said now, not found out later.
    if (!(await livePollers(client, taskQueue).catch(() => [''])).length) {
      console.error(noWorkerLine({ client, taskQueue, configFile: opts.config, noLocal: true }, 'cdc stream', workflowId, false));
    }
    return 0;
  } finally {
    await client.connection.close();
  }
}

/** What status calls a stream's log and the source's hold on it: a PostgreSQL slot and its WAL, or (holdsLog false) the binlog read from a saved position. */
function logWords(holdsLog: boolean | undefined): { stream: string; log: string } {
  return holdsLog === false ? { stream: 'binlog reader', log: 'binary log' } : { stream: 'slot', log: 'WAL' };
}

/** Lag in seconds as status prints it. */
const seconds = (s: number | null | undefined) => (s === null || s === undefined ? '?' : `${Math.round(s * 10) / 10}`);

/** How to start a worker for a task queue no worker polls (null: one does). */
async function missingWorker(client: Client, taskQueue: string): Promise<string | null> {
  if ((await livePollers(client, taskQueue).catch(() => [''])).length) return null;
  return `no worker polls task queue "${taskQueue}"; start one: ${startWorkerHint({ client, taskQueue, noLocal: true })}`;
}

/** A running stream's progress; an ended one's result (and the slot it left, if any). */
export async function cdcStatusCommand(workflowId: string, opts: { json?: boolean }, connected?: Client): Promise<number> {
  const client = connected ?? (await connectClient());
  try {
    const status = await workflowStatus(client, workflowId);
    const handle = client.workflow.getHandle(workflowId);
    if (status !== 'RUNNING') {
      let ended: CdcResult | { error: string };
      try {
        ended = (await handle.result()) as CdcResult;
      } catch (err) {
        ended = { error: (err as Error).cause ? String(((err as Error).cause as Error).message) : (err as Error).message };
      }
      if (opts.json) console.log(JSON.stringify({ workflowId, status, ...ended }, null, 2));
      else {
        console.log(`${workflowId}: ${status}`);
        if ('error' in ended) console.log(`  error: ${ended.error}`);
        else console.log(ended.slotKept ? `  warning: ${ended.slotKept}` : ended.holdsLog === false ? '  nothing kept on the source' : `  slot "${ended.stream}" dropped`);
      }
      return 0;
    }
    // Only a worker answers a query: without one the server would time the query out after seconds, saying only that.
    const missing = await missingWorker(client, (await handle.describe()).taskQueue).catch(() => null);
    if (missing) {
      if (opts.json) console.log(JSON.stringify({ workflowId, status, error: missing }, null, 2));
      else console.error(`tablesync: ${workflowId} is running, but ${missing} (the stream reads nothing until then, and its progress is unknown)`);
      return 1;
    }
    const p = await handle.query<CdcProgress>('cdcProgress');
    if (opts.json) console.log(JSON.stringify({ workflowId, status, ...p }, null, 2));
    else {
      const t = p.totals;
      const words = logWords(p.holdsLog);
      console.log(`${workflowId}: ${p.phase}, ${words.stream} "${p.stream}", tables ${p.tables.join(', ') || '(setting up)'}`);
      console.log(
        `  applied up to ${p.position ?? '(nothing yet)'}${p.commitTime ? ` (committed at the source ${p.commitTime})` : ''}, lag ${p.lagBytes ?? '?'} bytes of ${words.log}, ${seconds(p.lagSeconds)} s`,
      );
      console.log(`  ${t.transactions} transactions in ${t.batches} batches: ${t.inserted} inserted, ${t.updated} updated, ${t.deleted} deleted, ${t.truncated} truncated`);
    }
    return 0;
  } finally {
    if (!connected) await client.connection.close();
  }
}

/** A cdc table's stream as status --config shows it: the slot now, the workflow's state, and a warning for a slot no stream reads. */
export interface StreamReport {
  name: string;
  workflowId: string | null;
  workflowStatus: string | null;
  /** Absent: the slot is gone (a binlog stream: no position saved, or the log purged past it). */
  slot: StreamPosition | null;
  /** The source keeps its log for the stream (a slot); false for a binlog. */
  holdsLog?: boolean;
  lagSeconds: number | null;
  position: string | null;
  warning: string | null;
}

export async function streamReport(client: Client, stream: NonNullable<TableStatus['stream']>): Promise<StreamReport> {
  let status: string | null = null;
  let progress: CdcProgress | null = null;
  if (stream.workflowId) {
    status = await workflowStatus(client, stream.workflowId).catch(() => 'NOT FOUND');
    if (status === 'RUNNING') progress = await client.workflow.getHandle(stream.workflowId).query<CdcProgress>('cdcProgress').catch(() => null);
  }
  const { slot } = stream;
  const running = status === 'RUNNING';
  const warning =
    // Only a slot holds the source's log: a binlog stream left behind costs the source nothing.
    slot && !running && stream.holdsLog !== false
      ? `replication slot "${stream.name}" exists while no cdc workflow reads it (${stream.workflowId ?? 'no workflow'}: ${status ?? 'unknown'}): ` +
        `it holds ${slot.retainedBytes} bytes of the source's WAL, more with every write, until the source's disk fills; ` +
        `start the stream again (tablesync cdc start), or drop the slot (SELECT pg_drop_replication_slot('${stream.name}') on the source, then reset-state for a new snapshot)`
      : null;
  return {
    name: stream.name,
    workflowId: stream.workflowId,
    workflowStatus: status,
    slot,
    holdsLog: stream.holdsLog,
    // Nothing between the source's log and the slot's confirmed position: caught up, whatever the last batch said.
    lagSeconds: slot?.lagBytes === 0 ? 0 : (progress?.lagSeconds ?? null),
    position: progress?.position ?? slot?.confirmed ?? null,
    warning,
  };
}

/** status --config's lines for a cdc table's stream. */
export function streamLines(r: StreamReport): string[] {
  const words = logWords(r.holdsLog);
  const missing = r.holdsLog === false ? 'its saved binlog position is not in the source\'s binary log' : 'no replication slot on the source';
  const lines = [
    r.slot
      ? `  cdc stream "${r.name}" (${r.workflowId ?? '?'}: ${r.workflowStatus ?? '?'}): applied up to ${r.position ?? '?'}, lag ${r.slot.lagBytes} bytes of ${words.log}, ${seconds(r.lagSeconds)} s`
      : `  cdc stream "${r.name}" (${r.workflowId ?? '?'}: ${r.workflowStatus ?? '?'}): ${missing}${r.workflowStatus === 'RUNNING' ? ' (the stream fails: reset-state for a new snapshot)' : ''}`,
  ];
  if (r.warning) lines.push(`  warning: ${r.warning}`);
  return lines;
}

/** pause, resume, stop: a signal to the stream. */
export async function cdcSignalCommand(signal: 'pause' | 'resume' | 'stop', workflowId: string, opts: { dropSlot?: boolean; wait?: boolean }): Promise<number> {
  const client = await connectClient();
  try {
    const status = await workflowStatus(client, workflowId);
    if (status !== 'RUNNING') {
      console.error(`tablesync: ${workflowId} is not running (${status})`);
      return 1;
    }
    const handle = client.workflow.getHandle(workflowId);
    if (signal === 'pause') await handle.signal('cdcPause');
    else if (signal === 'resume') await handle.signal('cdcResume');
    else await handle.signal('cdcStop', { dropSlot: Boolean(opts.dropSlot) });
    console.log(`${signal} sent to ${workflowId}`);
    const taskQueue = (await handle.describe()).taskQueue;
    if (signal !== 'stop' || opts.wait === false) {
      const missing = await missingWorker(client, taskQueue).catch(() => null);
      if (missing) console.error(`tablesync: ${missing}; the ${signal} takes effect when one does`);
      return 0;
    }
    // Waiting for the stop: said when no worker polls (or one starts), as a sync's wait does.
    const watch = watchPollers({ client, taskQueue, noLocal: true }, 'cdc stream', handle);
    let result: CdcResult;
    try {
      result = (await handle.result()) as CdcResult;
    } finally {
      watch.stop();
    }
    console.log(
      result.slotKept ? `stopped; warning: ${result.slotKept}` : result.holdsLog === false ? 'stopped; nothing kept on the source' : `stopped; slot "${result.stream}" and its publication dropped`,
    );
    return 0;
  } finally {
    await client.connection.close();
  }
}
