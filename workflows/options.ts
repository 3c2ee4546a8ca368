import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { SyncConfig } from '../lib/config';

// Errors no retry can fix; activities also mark their own failures non-retryable.
const NON_RETRYABLE = [
  'InvalidConfig',
  'UnknownConnection',
  'UnknownTable',
  'UnknownColumn',
  'UnknownSchema',
  'UnknownDatabase',
  'MissingPrimaryKey',
  'PermissionDenied',
  'AuthenticationFailed',
  'UnsupportedType',
  'UnsupportedValue',
  'UnsupportedSource',
];

export function activityOptions(config: SyncConfig | undefined, kind: 'catalog' | 'transfer'): ActivityOptions {
  const retry = config?.retry;
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
  if (kind === 'catalog' || !config) return base;
  return {
    ...base,
    startToCloseTimeout: config.timeouts.partitionMinutes * 60_000,
    heartbeatTimeout: config.timeouts.heartbeatSeconds * 1_000,
  };
}

export function catalogActivities(config?: SyncConfig) {
  return proxyActivities<Activities>(activityOptions(config, 'catalog'));
}
