// Where a sync's wall time went, read back from Temporal's history of the
// sync workflow and its per-table children: time inside each activity type,
// and the time during which no activity ran at all (pure orchestration:
// workflow tasks, scheduling, child workflow start and completion).
import type { Client as TemporalClient } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

// temporal.api.enums.v1.EventType values used here.
const WORKFLOW_STARTED = 1;
const WORKFLOW_COMPLETED = 2;
const ACTIVITY_SCHEDULED = 10;
const ACTIVITY_STARTED = 11;
const ACTIVITY_COMPLETED = 12;
const ACTIVITY_FAILED = 13;
const CHILD_INITIATED = 29;

export interface Timeline {
  /** Workflow start to workflow completion as the server recorded it. */
  workflowSeconds: number;
  /** Seconds of that during which no activity of this sync was running. */
  orchestrationSeconds: number;
  /** Per activity type: how many ran, their summed and longest run time, summed queueing (scheduled → started). */
  activities: Record<string, { count: number; totalSeconds: number; maxSeconds: number; queuedSeconds: number }>;
  /** The sync's workflows (the run and every descendant), the longest history among them and the largest in bytes (as the server stores it, protobuf). */
  workflows: number;
  largestHistory: { workflowId: string; events: number; bytes: number };
  biggestHistory: { workflowId: string; events: number; bytes: number };
}

interface Span {
  type: string;
  scheduled: number;
  started: number;
  ended: number;
}

const seconds = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  Number(t?.seconds ?? 0) + (t?.nanos ?? 0) / 1e9;

interface Walk {
  spans: Span[];
  workflows: number;
  largest: { workflowId: string; events: number; bytes: number };
  biggest: { workflowId: string; events: number; bytes: number };
}

async function spansOf(client: TemporalClient, workflowId: string, walk: Walk): Promise<{ start: number; end: number }> {
  const { spans } = walk;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events?.length ?? 0;
  const bytes = temporal.api.history.v1.History.encode(history).finish().length;
  walk.workflows++;
  if (events > walk.largest.events) walk.largest = { workflowId, events, bytes };
  if (bytes > walk.biggest.bytes) walk.biggest = { workflowId, events, bytes };
  const scheduled = new Map<string, { type: string; at: number }>();
  const started = new Map<string, number>();
  const children: string[] = [];
  let start = 0;
  let end = 0;
  for (const e of history.events ?? []) {
    const at = seconds(e.eventTime);
    const id = String(e.eventId);
    switch (e.eventType) {
      case WORKFLOW_STARTED:
        start = at;
        break;
      case WORKFLOW_COMPLETED:
        end = at;
        break;
      case ACTIVITY_SCHEDULED:
        scheduled.set(id, { type: e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?', at });
        break;
      case ACTIVITY_STARTED:
        started.set(String(e.activityTaskStartedEventAttributes?.scheduledEventId), at);
        break;
      case ACTIVITY_COMPLETED:
      case ACTIVITY_FAILED: {
        const attrs = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
        const key = String(attrs?.scheduledEventId);
        const s = scheduled.get(key);
        if (s) spans.push({ type: s.type, scheduled: s.at, started: started.get(key) ?? s.at, ended: at });
        break;
      }
      case CHILD_INITIATED:
        children.push(e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? '');
        break;
    }
  }
  for (const child of children.filter(Boolean)) await spansOf(client, child, walk);
  return { start, end };
}

/** Length of the union of [from, to) intervals. */
function covered(intervals: [number, number][]): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [curFrom, curTo] = [-Infinity, -Infinity];
  for (const [from, to] of sorted) {
    if (from > curTo) {
      if (curTo > curFrom) total += curTo - curFrom;
      [curFrom, curTo] = [from, to];
    } else curTo = Math.max(curTo, to);
  }
  if (curTo > curFrom) total += curTo - curFrom;
  return total;
}

export async function timelineOf(client: TemporalClient, workflowId: string): Promise<Timeline> {
  const walk: Walk = { spans: [], workflows: 0, largest: { workflowId, events: 0, bytes: 0 }, biggest: { workflowId, events: 0, bytes: 0 } };
  const { start, end } = await spansOf(client, workflowId, walk);
  const { spans } = walk;
  const activities: Timeline['activities'] = {};
  for (const s of spans) {
    const a = (activities[s.type] ??= { count: 0, totalSeconds: 0, maxSeconds: 0, queuedSeconds: 0 });
    a.count++;
    a.totalSeconds += s.ended - s.started;
    a.maxSeconds = Math.max(a.maxSeconds, s.ended - s.started);
    a.queuedSeconds += s.started - s.scheduled;
  }
  const round = (x: number) => Math.round(x * 1000) / 1000;
  for (const a of Object.values(activities)) {
    a.totalSeconds = round(a.totalSeconds);
    a.maxSeconds = round(a.maxSeconds);
    a.queuedSeconds = round(a.queuedSeconds);
  }
  const busy = covered(spans.map((s) => [s.started, s.ended]));
  return { workflowSeconds: round(end - start), orchestrationSeconds: round(end - start - busy), activities, workflows: walk.workflows, largestHistory: walk.largest, biggestHistory: walk.biggest };
}

/** One line: "wf 4.01 s, no activity running 0.35 s; syncPartition 2x max 3.10 s; …". */
export function timelineLine(t: Timeline): string {
  const acts = Object.entries(t.activities)
    .map(([name, a]) => `${name} ${a.count}x ${a.count > 1 ? `sum ${a.totalSeconds.toFixed(2)} max ${a.maxSeconds.toFixed(2)}` : a.totalSeconds.toFixed(2)} s`)
    .join('; ');
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  const histories =
    t.workflows > 1
      ? `; ${t.workflows} workflows, longest history ${t.largestHistory.events} events (${mb(t.largestHistory.bytes)}), largest ${mb(t.biggestHistory.bytes)} (${t.biggestHistory.events} events)`
      : '';
  return `workflow ${t.workflowSeconds.toFixed(2)} s, no activity running ${t.orchestrationSeconds.toFixed(2)} s; ${acts}${histories}`;
}
