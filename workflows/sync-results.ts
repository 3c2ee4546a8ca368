import type { ReadBatchResultsResult } from '../activities';
import { catalogActivities } from './options';
import { validatedConfig } from './table-operation';

export interface SyncResultsInput {
  /** The sync's config, as it was started. */
  config: unknown;
  syncWorkflowId: string;
  syncRunId: string;
  /** First batch to read (0: what discovery refused and planned), and the run's number of batches. */
  from: number;
  batches: number;
}

/**
 * A page of a sync of many tables' per-table results, from the target's
 * state (its summary lists only the failed tables: see SyncSummary.listed).
 * The client calls it until `next` is null; each page stays well under
 * Temporal's 2 MB payload limit.
 */
export async function syncResultsWorkflow(input: SyncResultsInput): Promise<ReadBatchResultsResult> {
  const config = await validatedConfig(input.config);
  return catalogActivities(config).readBatchResults({ config, syncWorkflowId: input.syncWorkflowId, syncRunId: input.syncRunId, from: input.from, batches: input.batches });
}
