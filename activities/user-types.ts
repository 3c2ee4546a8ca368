import type { SyncConfig } from '../lib/config';
import { planUserTypes, readColumnTypes } from '../lib/sources/postgres/user-types';
import { PostgresSource } from '../lib/sources/postgres';
import type { TablePlan, TargetUserType } from '../lib/types';
import type { ConnectionRegistry } from './connections';

/**
 * The user types a full load creates in the target, derived again here from
 * the source catalog and the validated config: the CREATE statements in the
 * plan travelled through workflow input, where anyone who can start a
 * workflow could have written them, so they are never run.
 */
export async function derivedUserTypes(connections: ConnectionRegistry, config: SyncConfig, table: TablePlan): Promise<TargetUserType[] | undefined> {
  if (!table.userTypes?.length) return undefined;
  const source = connections.source(config.source.connection);
  if (!(source instanceof PostgresSource)) return undefined;
  const types = await readColumnTypes(source.pool, table.source);
  const plan = await planUserTypes(types, connections.pg(config.target.connection), config, { ...table, mode: 'full', userTypes: undefined });
  return plan.userTypes;
}
