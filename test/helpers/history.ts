import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;

export async function fetchHistory(client: Client, workflowId: string): Promise<History> {
  return client.workflow.getHandle(workflowId).fetchHistory();
}

/**
 * A history as searchable text: every string in it, one per line, with every
 * byte field (payload data and metadata, encoded attributes) decoded as
 * UTF-8, so a secret inside a payload shows up as itself. (JSON.stringify
 * would not do: protobuf messages serialise bytes as base64.)
 */
export function historyText(history: History): string {
  return protoText(history);
}

/** Every string of a protobuf message (history, describe response) as `field=value` lines, bytes decoded. */
export function protoText(message: unknown): string {
  const out: string[] = [];
  const seen = new Set<object>();
  const visit = (value: unknown, key: string): void => {
    if (value === null || value === undefined) return;
    if (typeof value === 'string') out.push(`${key}=${value}`);
    else if (value instanceof Uint8Array) out.push(`${key}=${Buffer.from(value).toString('utf8')}`);
    else if (typeof value === 'object' && !seen.has(value)) {
      seen.add(value);
      for (const [k, v] of Object.entries(value)) visit(v, k);
    }
  };
  visit(message, '');
  return out.join('\n');
}

/** Ids of the child workflows a workflow started, from its own history. */
export function childWorkflowIds(history: History): string[] {
  return (history.events ?? [])
    .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId)
    .filter((id): id is string => !!id);
}

export interface ActivityRun {
  type: string;
  activityId: string;
  /** Attempt number of the attempt that closed the activity (ActivityTaskStarted.attempt). */
  attempt: number;
  /** Worker identity that ran that attempt. */
  identity: string;
  outcome: 'completed' | 'failed' | 'timedOut' | 'canceled' | 'open';
  failure?: { message: string; type: string; nonRetryable: boolean };
}

/**
 * Every activity a workflow ran, as its history records it. Temporal writes
 * ActivityTaskStarted once per activity, for the attempt that finished it, so
 * `attempt` is how many attempts the activity took.
 */
export function activityRuns(history: History): ActivityRun[] {
  const events = history.events ?? [];
  const runs = new Map<number, ActivityRun>();
  for (const e of events) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      runs.set(Number(e.eventId), {
        type: s.activityType?.name ?? '',
        activityId: s.activityId ?? '',
        attempt: 0,
        identity: '',
        outcome: 'open',
      });
    }
  }
  for (const e of events) {
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const run = runs.get(Number(started.scheduledEventId));
      if (run) {
        run.attempt = started.attempt ?? 0;
        run.identity = started.identity ?? '';
      }
    }
    const closed =
      (e.activityTaskCompletedEventAttributes && { outcome: 'completed' as const, a: e.activityTaskCompletedEventAttributes }) ||
      (e.activityTaskFailedEventAttributes && { outcome: 'failed' as const, a: e.activityTaskFailedEventAttributes }) ||
      (e.activityTaskTimedOutEventAttributes && { outcome: 'timedOut' as const, a: e.activityTaskTimedOutEventAttributes }) ||
      (e.activityTaskCanceledEventAttributes && { outcome: 'canceled' as const, a: e.activityTaskCanceledEventAttributes });
    if (closed) {
      const run = runs.get(Number(closed.a.scheduledEventId));
      if (!run) continue;
      run.outcome = closed.outcome;
      const failure = (closed.a as temporal.api.history.v1.IActivityTaskFailedEventAttributes).failure;
      if (failure) {
        // The activity's own error sits under the ActivityFailure wrapper, if any.
        const f = failure.applicationFailureInfo ? failure : (failure.cause ?? failure);
        run.failure = {
          message: f.message ?? '',
          type: f.applicationFailureInfo?.type ?? '',
          nonRetryable: !!f.applicationFailureInfo?.nonRetryable,
        };
      }
    }
  }
  return [...runs.values()];
}

/** Activity runs of a workflow and all its children, fetched from the server. */
export async function activityRunsWithChildren(client: Client, workflowId: string): Promise<ActivityRun[]> {
  const parent = await fetchHistory(client, workflowId);
  const runs = activityRuns(parent);
  for (const child of childWorkflowIds(parent)) runs.push(...activityRuns(await fetchHistory(client, child)));
  return runs;
}

/** The innermost error of a failure chain (WorkflowFailedError → ActivityFailure → ApplicationFailure). */
export function rootCause(err: unknown): { message: string; type?: string; nonRetryable?: boolean } {
  let e = err as { message?: string; cause?: unknown; type?: string; nonRetryable?: boolean };
  while (e?.cause) e = e.cause as typeof e;
  return { message: e?.message ?? String(e), type: e?.type, nonRetryable: e?.nonRetryable };
}

/** Decoded input (first argument) of each child workflow a workflow started, by child workflow id. */
export function childInputs(history: History): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const e of history.events ?? []) {
    const a = e.startChildWorkflowExecutionInitiatedEventAttributes;
    const data = a?.input?.payloads?.[0]?.data;
    if (a?.workflowId && data) out.set(a.workflowId, JSON.parse(Buffer.from(data).toString('utf8')));
  }
  return out;
}
