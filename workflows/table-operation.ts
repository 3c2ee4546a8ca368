import { workflowInfo } from '@temporalio/workflow';
import type { SyncConfig } from '../lib/config';
import { catalogActivities, rawRetry } from './options';

// What reset-state, set-mode and status share: the config is validated (and
// the state tables created) by the sync's own first step, so an operation
// started from the Web UI with JSON input checks it exactly as a run would.

export async function validatedConfig(raw: unknown): Promise<SyncConfig> {
  return (await catalogActivities(rawRetry(raw)).initializeState({ config: raw })).config;
}

/** The history rows say which operation changed the state: its workflow id. */
export const changedBy = (): string => workflowInfo().workflowId;
