import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { SyncConfig } from '../lib/config';
import { NON_RETRYABLE } from '../lib/failures';
import { MAX } from '../lib/limits';

/** Retry and timeout settings; partial when read from input not yet validated. */
export interface ActivitySettings {
  retry?: Partial<SyncConfig['retry']>;
  timeouts?: SyncConfig['timeouts'];
}

export function activityOptions(settings: ActivitySettings | undefined, kind: 'catalog' | 'transfer'): ActivityOptions {
  const retry = settings?.retry;
  const base: ActivityOptions = {
    startToCloseTimeout: '10 minutes',
    retry: {
      maximumAttempts: retry?.maximumAttempts ?? 5,
      initialInterval: retry?.initialIntervalMs ?? 1_000,
      backoffCoefficient: retry?.backoffCoefficient ?? 2,
      maximumInterval: retry?.maximumIntervalMs ?? 60_000,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  };
  if (kind === 'catalog' || !settings?.timeouts) return base;
  return {
    ...base,
    startToCloseTimeout: settings.timeouts.partitionMinutes * 60_000,
    heartbeatTimeout: settings.timeouts.heartbeatSeconds * 1_000,
  };
}

/**
 * The retry settings of raw, not yet validated input, so the step that
 * validates it (initializeState) already retries as configured. Only values
 * the config schema would accept are taken; the rest keep their defaults.
 */
export function rawRetry(input: unknown): ActivitySettings | undefined {
  const r = (input as { retry?: Record<string, unknown> } | null)?.retry;
  if (!r || typeof r !== 'object') return undefined;
  const int = (v: unknown, max: number) => (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max ? v : undefined);
  const coefficient = typeof r.backoffCoefficient === 'number' && r.backoffCoefficient >= 1 && r.backoffCoefficient <= MAX.backoff ? r.backoffCoefficient : undefined;
  return {
    retry: {
      maximumAttempts: int(r.maximumAttempts, MAX.attempts),
      initialIntervalMs: int(r.initialIntervalMs, MAX.intervalMs),
      backoffCoefficient: coefficient,
      maximumIntervalMs: int(r.maximumIntervalMs, MAX.intervalMs),
    },
  };
}

export function catalogActivities(settings?: ActivitySettings) {
  return proxyActivities<Activities>(activityOptions(settings, 'catalog'));
}
