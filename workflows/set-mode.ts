import type { SetModeResult } from '../activities';
import { catalogActivities } from './options';
import { changedBy, validatedConfig } from './table-operation';

export interface SetModeWorkflowInput {
  config: unknown;
  table: string;
  mode: string;
  write?: 'upsert' | 'append';
  cursor?: string;
  primaryKeys?: string[];
  /** Make a change that cannot keep the saved state (it is reset). */
  force?: boolean;
  dryRun?: boolean;
}

/** Moves a table to another mode, keeping its saved state where that is sound (state_action preserve or reset). */
export async function setModeWorkflow(input: SetModeWorkflowInput): Promise<SetModeResult> {
  const config = await validatedConfig(input.config);
  return catalogActivities(config).setTableMode({
    config,
    table: input.table,
    mode: input.mode,
    ...(input.write && { write: input.write }),
    ...(input.cursor && { cursor: input.cursor }),
    ...(input.primaryKeys?.length && { primaryKeys: input.primaryKeys }),
    force: Boolean(input.force),
    dryRun: Boolean(input.dryRun),
    changedBy: changedBy(),
  });
}
