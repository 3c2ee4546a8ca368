import { basename, extname } from 'node:path';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleDescription } from '@temporalio/client';
import { syncConfigOf } from '../../lib/config';
import { loadConfigFile } from '../config-file';
import { InputError } from '../input-error';
import {
  checkCron,
  checkScheduleId,
  createSchedule,
  deleteSchedule,
  describeSchedule,
  listSchedules,
  onceWorkflowId,
  pauseSchedule,
  recentRuns,
  scheduleCron,
  scheduleWorkflowId,
  triggerSchedule,
  unpauseSchedule,
  updateSchedule,
  type Overlap,
} from '../schedules';
import { connectClient, startSync } from '../start';
import { chooseTaskQueue } from '../task-queue';

async function withClient(fn: (client: Client) => Promise<number>): Promise<number> {
  const client = await connectClient();
  try {
    return await fn(client);
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new InputError('UnknownSchedule', `no schedule "${err.scheduleId}" (tablesync schedule list shows them)`);
    if (err instanceof ScheduleAlreadyRunning) {
      throw new InputError('ScheduleExists', `schedule "${err.scheduleId}" already exists: change it with tablesync schedule update, or delete it first`);
    }
    throw err;
  } finally {
    await client.connection.close();
  }
}

const when = (d: Date | undefined) => (d ? d.toISOString().replace(/\.\d+Z$/, 'Z') : '-');

export interface CreateOptions {
  config: string;
  cron: string;
  id?: string;
  overlap?: Overlap;
  paused?: boolean;
  note?: string;
  taskQueue?: string;
}

export function createCommand(opts: CreateOptions): Promise<number> {
  const file = loadConfigFile(opts.config);
  // Default id: the config file's name, so `sync.yaml` runs as tablesync-sync-<time>.
  const id = checkScheduleId(opts.id ?? basename(opts.config, extname(opts.config)));
  const taskQueue = chooseTaskQueue(opts.taskQueue, file.taskQueue, process.env, false);
  const config = syncConfigOf(file);
  if (opts.cron.trim() === '@once') {
    // One run now, under the id a schedule's run would have; no schedule is left behind.
    return withClient(async (client) => {
      const handle = await startSync(config, { client, taskQueue, workflowId: onceWorkflowId(id) });
      console.log(`Started ${handle.workflowId} on task queue "${taskQueue}" (@once: no schedule kept)`);
      return 0;
    });
  }
  const cron = checkCron(opts.cron);
  return withClient(async (client) => {
    const handle = await createSchedule(client, { id, config, cron, taskQueue, overlap: opts.overlap, paused: opts.paused, note: opts.note });
    const d = await handle.describe();
    console.log(
      `Created schedule ${id}: cron "${cron}", overlap ${(opts.overlap ?? 'skip')}${opts.paused ? ', paused' : ''}; ` +
        `runs ${scheduleWorkflowId(id)}-<time> on task queue "${taskQueue}"`,
    );
    console.log(`  next runs ${d.info.nextActionTimes.slice(0, 3).map(when).join(', ') || '-'}`);
    return 0;
  });
}

export function listCommand(opts: { json?: boolean }): Promise<number> {
  return withClient(async (client) => {
    const schedules = await listSchedules(client);
    if (opts.json) {
      console.log(JSON.stringify(schedules.map((s) => ({ id: s.scheduleId, paused: s.state.paused, note: s.state.note, cron: scheduleCron(s), next: s.info.nextActionTimes[0], recent: s.info.recentActions.map((a) => a.action.workflow.workflowId) })), null, 2));
      return 0;
    }
    if (!schedules.length) console.log('no tablesync schedules');
    for (const s of schedules) {
      const last = s.info.recentActions[s.info.recentActions.length - 1]?.action.workflow.workflowId;
      console.log(
        `${s.scheduleId}  ${s.state.paused ? 'paused' : 'active'}  cron "${scheduleCron(s) ?? '?'}"  next ${when(s.info.nextActionTimes[0])}` +
          `  last ${last ?? '-'}${s.state.note ? `  note: ${s.state.note}` : ''}`,
      );
    }
    return 0;
  });
}

/** A `tables` entry as the config says it: a name or pattern, or an object's table and the settings it gives. */
function tableEntryText(entry: unknown): string {
  if (typeof entry === 'string') return entry;
  const { table, ...settings } = entry as { table?: string } & Record<string, unknown>;
  const given = Object.entries(settings).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return given.length ? `${table} (${given.join(', ')})` : String(table);
}

function describeLines(d: ScheduleDescription): string[] {
  const config = d.action.args?.[0] as { tables?: unknown } | undefined;
  return [
    `schedule ${d.scheduleId} (${d.state.paused ? 'paused' : 'active'})`,
    `  cron      "${scheduleCron(d) ?? '?'}"`,
    `  overlap   ${String(d.policies.overlap).toLowerCase().replace(/_/g, '-')}`,
    `  runs      ${d.action.workflowType} ${d.action.workflowId}-<time> on task queue "${d.action.taskQueue}"`,
    `  tables    ${Array.isArray(config?.tables) ? config.tables.map(tableEntryText).join(', ') : '-'}`,
    ...(d.state.note ? [`  note      ${d.state.note}`] : []),
    `  taken     ${d.info.numActionsTaken} runs, ${d.info.numActionsSkippedOverlap} skipped (overlap)`,
    `  next runs ${d.info.nextActionTimes.slice(0, 5).map(when).join(', ') || '-'}`,
  ];
}

export function describeCommand(id: string, opts: { json?: boolean }): Promise<number> {
  return withClient(async (client) => {
    const d = await describeSchedule(client, id);
    const recent = await recentRuns(client, d);
    if (opts.json) {
      const { raw: _raw, ...rest } = d;
      console.log(JSON.stringify({ ...rest, recentRuns: recent }, null, 2));
      return 0;
    }
    for (const line of describeLines(d)) console.log(line);
    console.log(`  recent runs${recent.length ? '' : ' -'}`);
    for (const r of recent) console.log(`    ${when(r.scheduledAt)} ${r.workflowId} ${r.status}${r.outcome ? `: ${r.outcome}` : ''}`);
    return 0;
  });
}

export function pauseCommand(id: string, opts: { note?: string }, pause: boolean): Promise<number> {
  return withClient(async (client) => {
    await (pause ? pauseSchedule : unpauseSchedule)(client, id, opts.note);
    console.log(`${pause ? 'Paused' : 'Unpaused'} schedule ${id}`);
    return 0;
  });
}

export function triggerCommand(id: string): Promise<number> {
  return withClient(async (client) => {
    await triggerSchedule(client, id);
    console.log(`Triggered schedule ${id}: its run starts as ${scheduleWorkflowId(id)}-<time> (skipped if one is still running under overlap skip)`);
    return 0;
  });
}

export interface UpdateOptions {
  cron?: string;
  overlap?: Overlap;
  config?: string;
  note?: string;
  taskQueue?: string;
}

export function updateCommand(id: string, opts: UpdateOptions): Promise<number> {
  if (opts.cron?.trim() === '@once') throw new InputError('InvalidCron', '--cron @once makes no schedule: use tablesync schedule trigger ID to run it now');
  const file = opts.config ? loadConfigFile(opts.config) : undefined;
  const taskQueue = opts.taskQueue ?? file?.taskQueue;
  if (opts.cron === undefined && opts.overlap === undefined && !file && taskQueue === undefined && opts.note === undefined) {
    throw new InputError('InvalidArguments', 'schedule update: nothing to change (give --cron, --overlap, --config, --task-queue or --note)');
  }
  return withClient(async (client) => {
    await updateSchedule(client, id, {
      cron: opts.cron,
      overlap: opts.overlap,
      config: file && syncConfigOf(file),
      taskQueue,
      note: opts.note,
    });
    console.log(`Updated schedule ${id}`);
    return 0;
  });
}

export function deleteCommand(id: string): Promise<number> {
  return withClient(async (client) => {
    await deleteSchedule(client, id);
    console.log(`Deleted schedule ${id} (runs it started go on; tablesync cancel stops one)`);
    return 0;
  });
}
