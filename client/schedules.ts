import { ScheduleOverlapPolicy, type Client, type ScheduleDescription } from '@temporalio/client';
import { ConfigError, type SyncConfigInput } from '../lib/config';
import { runLabel } from '../lib/summary';

export const OVERLAP_POLICIES = ['skip', 'buffer-one', 'cancel-other', 'allow-all'] as const;
export type Overlap = (typeof OVERLAP_POLICIES)[number];

const OVERLAP: Record<Overlap, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

const NAMED = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

/**
 * A cron expression Temporal accepts: 5 fields (minute hour day month
 * weekday), 6 (… year) or 7 (second … year), the @hourly/@daily forms and
 * `@every <duration>`. Checked here so a typo is a config error naming
 * --cron, not a server error.
 */
export function checkCron(expr: string): string {
  const cron = expr.trim();
  if (NAMED.has(cron) || /^@every \d+(ms|s|m|h|d)(\d+(ms|s|m|h|d))*$/.test(cron)) return cron;
  const fields = cron.split(/\s+/);
  const field = /^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/\d+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/\d+)?)*$/;
  if (![5, 6, 7].includes(fields.length) || !fields.every((f) => field.test(f))) {
    throw new ConfigError(
      `--cron: "${expr}" is not a cron expression: use 5 fields (minute hour day-of-month month day-of-week, e.g. "0 3 * * *"), ` +
        `7 with seconds and year ("*/10 * * * * * *"), @hourly, @daily, @weekly, @monthly, @yearly, "@every 30m" or @once`,
    );
  }
  return cron;
}

export function overlapPolicy(name: string | undefined): ScheduleOverlapPolicy {
  const key = (name ?? 'skip') as Overlap;
  if (!OVERLAP[key]) throw new ConfigError(`--overlap: "${name}" is not one of ${OVERLAP_POLICIES.join(', ')}`);
  return OVERLAP[key];
}

/** Schedule ids go into workflow ids (tablesync-<id>-<time>) and the Web UI: letters, digits, . _ - only. */
export function checkScheduleId(id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(id)) {
    throw new ConfigError(`--id: "${id}" is not a schedule id: letters, digits, ".", "_" and "-", starting with a letter or digit`);
  }
  return id;
}

/** Workflow id prefix of a schedule's runs; Temporal appends "-<time>" to each run's. */
export function scheduleWorkflowId(id: string): string {
  return `tablesync-${id}`;
}

/** The id of a one-off run, in the same form as a schedule's runs. */
export function onceWorkflowId(id: string, now = new Date()): string {
  return `${scheduleWorkflowId(id)}-${now.toISOString().replace(/\.\d+Z$/, 'Z')}`;
}

export interface CreateScheduleInput {
  id: string;
  /** The same workflow input as `run`: connection names only, never URLs. */
  config: SyncConfigInput;
  cron: string;
  taskQueue: string;
  overlap?: Overlap;
  paused?: boolean;
  note?: string;
}

function action(input: { id: string; config: SyncConfigInput; taskQueue: string; cron: string }) {
  return {
    type: 'startWorkflow' as const,
    workflowType: 'incrementalSyncWorkflow',
    workflowId: scheduleWorkflowId(input.id),
    taskQueue: input.taskQueue,
    args: [input.config],
    // The expression as given (the server keeps only the calendar it compiles it to), and which
    // schedule started a run, on each run: the action's memo, unlike the schedule's, follows updates.
    memo: { schedule: input.id, cron: input.cron },
    // Each run's summary in the Web UI: which schedule started it, and what it syncs.
    staticSummary: `schedule ${input.id}: ${runLabel(input.config)}`,
  };
}

/** The cron expression a schedule was last given. */
export function scheduleCron(d: ScheduleDescription): string | undefined {
  return d.action.memo?.cron as string | undefined;
}

export async function createSchedule(client: Client, input: CreateScheduleInput) {
  return client.schedule.create({
    scheduleId: checkScheduleId(input.id),
    spec: { cronExpressions: [checkCron(input.cron)] },
    action: action(input),
    policies: { overlap: overlapPolicy(input.overlap) },
    state: { paused: Boolean(input.paused), ...(input.note !== undefined && { note: input.note }) },
  });
}

export interface UpdateScheduleInput {
  cron?: string;
  overlap?: Overlap;
  config?: SyncConfigInput;
  taskQueue?: string;
  note?: string;
}

/** Changes what is given and keeps the rest. */
export async function updateSchedule(client: Client, id: string, input: UpdateScheduleInput): Promise<void> {
  const spec = input.cron !== undefined ? { cronExpressions: [checkCron(input.cron)] } : undefined;
  const overlap = input.overlap !== undefined ? overlapPolicy(input.overlap) : undefined;
  await client.schedule.getHandle(id).update((prev) => ({
    ...prev,
    ...(spec && { spec }),
    policies: { ...prev.policies, ...(overlap && { overlap }) },
    action: {
      ...prev.action,
      ...(input.config && { args: [input.config], staticSummary: `schedule ${id}: ${runLabel(input.config)}` }),
      ...(input.taskQueue && { taskQueue: input.taskQueue }),
      ...(input.cron !== undefined && { memo: { ...prev.action.memo, cron: input.cron.trim() } }),
    },
    state: { ...prev.state, ...(input.note !== undefined && { note: input.note }) },
  }));
}

/** The schedules that start tablesync syncs, described (a list entry lacks the action's memo). */
export async function listSchedules(client: Client): Promise<ScheduleDescription[]> {
  const ids: string[] = [];
  for await (const s of client.schedule.list()) {
    if (s.action?.workflowType === 'incrementalSyncWorkflow') ids.push(s.scheduleId);
  }
  const described = await Promise.all(ids.map((id) => describeSchedule(client, id).catch(() => null)));
  return described.filter((d): d is ScheduleDescription => d !== null);
}

export function describeSchedule(client: Client, id: string): Promise<ScheduleDescription> {
  return client.schedule.getHandle(id).describe();
}

export function pauseSchedule(client: Client, id: string, note?: string): Promise<void> {
  return client.schedule.getHandle(id).pause(note);
}

export function unpauseSchedule(client: Client, id: string, note?: string): Promise<void> {
  return client.schedule.getHandle(id).unpause(note);
}

/** Runs the schedule's action now, under its overlap policy (skip: not while a run of it is open). */
export function triggerSchedule(client: Client, id: string): Promise<void> {
  return client.schedule.getHandle(id).trigger();
}

export function deleteSchedule(client: Client, id: string): Promise<void> {
  return client.schedule.getHandle(id).delete();
}

export interface RecentRun {
  workflowId: string;
  scheduledAt: Date;
  status: string;
  /** The summary's last line, or the failure's, once the run ended. */
  outcome?: string;
}

/** The schedule's latest runs, with how each ended (its summary message, or why it failed). */
export async function recentRuns(client: Client, description: ScheduleDescription, limit = 5): Promise<RecentRun[]> {
  const recent = description.info.recentActions.slice(-limit);
  return Promise.all(
    recent.map(async (a): Promise<RecentRun> => {
      const { workflowId, firstExecutionRunId } = a.action.workflow;
      const handle = client.workflow.getHandle(workflowId, firstExecutionRunId);
      const base = { workflowId, scheduledAt: a.scheduledAt };
      try {
        const d = await handle.describe();
        if (d.status.name === 'RUNNING') return { ...base, status: 'RUNNING' };
        try {
          const summary = (await handle.result()) as { message?: string };
          return { ...base, status: d.status.name, outcome: summary?.message };
        } catch (err) {
          const { failureLine } = await import('./report');
          return { ...base, status: d.status.name, outcome: failureLine(err).replace(/^tablesync: /, '') };
        }
      } catch (err) {
        return { ...base, status: 'UNKNOWN', outcome: (err as Error).message };
      }
    }),
  );
}
