import type { StateChange } from '../activities';
import { catalogActivities } from './options';
import { changedBy, validatedConfig } from './table-operation';

export interface ResetStateWorkflowInput {
  config: unknown;
  /** The source table, as the config names it. */
  table: string;
  /** The new saved cursor (the cursor column's type, checked on the source); absent or null: forget it. */
  cursor?: string | null;
  dryRun?: boolean;
}

/** Forgets a cursor table's saved cursor (the next run reads everything) or sets it to a value. */
export async function resetStateWorkflow(input: ResetStateWorkflowInput): Promise<StateChange> {
  const config = await validatedConfig(input.config);
  return catalogActivities(config).resetTableState({
    config,
    table: input.table,
    cursor: input.cursor ?? null,
    dryRun: Boolean(input.dryRun),
    changedBy: changedBy(),
  });
}
