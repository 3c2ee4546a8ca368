import type { NotifyTarget, SyncConfig } from './config';
import { MAX } from './limits';
import type { SyncSummary } from './types';

// Webhooks told of a sync's end (config `notify:`). Pure and workflow-safe:
// the workflow decides whom to call and with what; activities/notify.ts reads
// the URL from the worker's environment and makes the call.

/** What a webhook receives: the run, how it ended, and the summary `run --json` prints. */
export interface NotifyPayload {
  workflowId: string;
  runId: string;
  /** failed: a table failed (exit 1), or the run itself did (then `summary` is null and `error` says why). */
  status: 'completed' | 'failed';
  summary: SyncSummary | null;
  error?: string;
}

/** Attempts of one webhook call (Temporal's retries) before the run gives up on it and says so. */
export const NOTIFY_ATTEMPTS = 4;
/** Longest wait between two attempts: a notification must not hold the run's result for long. */
export const NOTIFY_MAX_INTERVAL_MS = 30_000;
/** One attempt: the HTTP request's own timeout is shorter (activities/notify.ts). */
export const NOTIFY_ATTEMPT_TIMEOUT_MS = 15_000;

/**
 * The webhooks of a config, validated or not: a run that failed before its
 * config was validated still tells its webhooks, and the activity checks
 * each one (so a bad entry is a warning naming its field, not a crash here).
 */
export function notifyTargets(config: unknown): unknown[] {
  const notify = (config as { notify?: unknown } | null | undefined)?.notify;
  if (notify === undefined || notify === null) return [];
  return (Array.isArray(notify) ? notify : [notify]).slice(0, MAX.webhooks);
}

/** Whether a webhook is called for a run that ended so; an entry that does not parse is called, to report it. */
export function wantsCall(target: unknown, failed: boolean): boolean {
  const on = (target as Partial<NotifyTarget> | null)?.on;
  return failed || on === 'always';
}

/** The env var a webhook's URL is in, as its warnings name it; never the URL. */
export function targetLabel(target: unknown, index: number): string {
  const env = (target as Partial<NotifyTarget> | null)?.urlEnv;
  return `notify[${index}]${typeof env === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(env) ? ` (${env})` : ''}`;
}

/** Retry intervals follow the config's retry settings, capped; the attempts are fixed and few. */
export function notifyRetry(retry: Partial<SyncConfig['retry']> | undefined) {
  return {
    maximumAttempts: NOTIFY_ATTEMPTS,
    initialInterval: Math.min(retry?.initialIntervalMs ?? 1_000, 5_000),
    backoffCoefficient: Math.min(retry?.backoffCoefficient ?? 2, 4),
    maximumInterval: Math.min(retry?.maximumIntervalMs ?? NOTIFY_MAX_INTERVAL_MS, NOTIFY_MAX_INTERVAL_MS),
    nonRetryableErrorTypes: ['InvalidConfig', 'WebhookRefused'],
  };
}
