import { syncConfigOf } from '../../lib/config';
import type { CdcProgress, CdcResult, cdcWorkflow } from '../../workflows/cdc';
import { loadConfigFile } from '../config-file';
import { connectClient } from '../start';
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
    return 0;
  } finally {
    await client.connection.close();
  }
}

/** A running stream's progress; an ended one's result (and the slot it left, if any). */
export async function cdcStatusCommand(workflowId: string, opts: { json?: boolean }): Promise<number> {
  const client = await connectClient();
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
    const p = await handle.query<CdcProgress>('cdcProgress');
    if (opts.json) console.log(JSON.stringify({ workflowId, status, ...p }, null, 2));
    else {
      const t = p.totals;
      console.log(`${workflowId}: ${p.phase}, slot "${p.stream}", tables ${p.tables.join(', ') || '(setting up)'}`);
      console.log(`  applied up to ${p.position ?? '(nothing yet)'}, lag ${p.lagBytes ?? '?'} bytes of WAL`);
      console.log(`  ${t.transactions} transactions in ${t.batches} batches: ${t.inserted} inserted, ${t.updated} updated, ${t.deleted} deleted, ${t.truncated} truncated`);
    }
    return 0;
  } finally {
    await client.connection.close();
  }
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
    if (signal !== 'stop' || opts.wait === false) return 0;
    const result = (await handle.result()) as CdcResult;
    console.log(
      result.slotKept ? `stopped; warning: ${result.slotKept}` : result.holdsLog === false ? 'stopped; nothing kept on the source' : `stopped; slot "${result.stream}" and its publication dropped`,
    );
    return 0;
  } finally {
    await client.connection.close();
  }
}
