import type { TableStatus } from '../activities';
import { catalogActivities } from './options';
import { validatedConfig } from './table-operation';

export interface TableStatusWorkflowInput {
  config: unknown;
  /** Source tables to show; default: every table of the config. */
  tables?: string[];
}

/** Per table: mode, write, cursor and saved value, and the last run, from the state tables. */
export async function tableStatusWorkflow(input: TableStatusWorkflowInput): Promise<TableStatus[]> {
  const config = await validatedConfig(input.config);
  return catalogActivities(config).readTableStatus({ config, tables: input.tables ?? [] });
}
