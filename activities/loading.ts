import { ensureUserTypes } from '../lib/sources/postgres/user-types';
import { derivedUserTypes } from './user-types';
import { displayName } from '../lib/tables';
import {
  addPrimaryKeySql,
  addSoftDeleteColumnsSql,
  analyzeSql,
  createTableSql,
  dropTableSql,
  hasPrimaryKeySql,
  swapTableSql,
  tableExistsSql,
} from '../lib/target';
import { ensureSchema, inTransaction, loadRefOf, type ActivityDeps, type LoadTableInput } from './context';
import { classifyError } from './errors';
import { checkGeneration } from './generations';

// Loading: the load table of a full load, created before its partitions
// fill it, then keyed and swapped in (or dropped when any partition failed).

export interface SwapLoadTableResult {
  replaced: boolean;
}

export function createLoadingActivities({ connections }: ActivityDeps) {
  return {
    async createLoadTable(input: LoadTableInput): Promise<void> {
      const { config, table } = input;
      const load = loadRefOf(input, table);
      try {
        // Before the transaction: deriving reads the catalogs on other pooled clients.
        const userTypes = await derivedUserTypes(connections, config, table);
        await inTransaction(connections, config.target.connection, async (client) => {
          await ensureSchema(client, table.target.schema);
          await ensureUserTypes(client, userTypes, ensureSchema);
          // A retry of this step starts over: no partition has loaded yet.
          await client.query(dropTableSql(load));
          await client.query(createTableSql(load, table.columns));
          if (table.softDeleteColumn) await client.query(addSoftDeleteColumnsSql(load, table.softDeleteColumn));
        });
      } catch (err) {
        throw classifyError(err, `create_load_table for ${displayName(table.target)}`);
      }
    },

    async swapLoadTable(input: LoadTableInput): Promise<SwapLoadTableResult> {
      const { config, table } = input;
      const load = loadRefOf(input, table);
      const target = connections.pg(config.target.connection);
      try {
        // Key built after the load: one sorted build instead of per-row index upkeep.
        const hasKey = await target.query(hasPrimaryKeySql(load));
        if (hasKey.rowCount === 0) await target.query(addPrimaryKeySql(load, table.columns, table.primaryKey));
        await target.query(analyzeSql(load));
        return await inTransaction(connections, config.target.connection, async (client) => {
          const stillLoading = await client.query(tableExistsSql(load));
          if (!stillLoading.rows[0].present) return { replaced: false }; // an earlier attempt swapped it in
          // A load that a newer sync overtook holds older rows than the table has now.
          await checkGeneration(client, config, table);
          const exists = await client.query(tableExistsSql(table.target));
          for (const sql of swapTableSql(load, table.target, exists.rows[0].present)) await client.query(sql);
          return { replaced: exists.rows[0].present as boolean };
        });
      } catch (err) {
        throw classifyError(err, `swap_load_table for ${displayName(table.target)}`);
      }
    },

    async dropLoadTable(input: LoadTableInput): Promise<void> {
      try {
        await connections.pg(input.config.target.connection).query(dropTableSql(loadRefOf(input, input.table)));
      } catch (err) {
        throw classifyError(err, `drop_load_table for ${displayName(input.table.target)}`);
      }
    },
  };
}
