import { Context } from '@temporalio/activity';
import type { PoolClient } from 'pg';
import { markNotSwappedSql } from '../lib/state';
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
  keyBuildSettingsSql,
  resetKeyBuildSql,
  swapTableSql,
  tableExistsSql,
} from '../lib/target';
import { ensureSchema, inTransaction, loadRefOf, runKeyOf, type ActivityDeps, type LoadTableInput } from './context';
import { SnapshotHolders } from './snapshots';
import { classifyError } from './errors';
import { checkGeneration } from './generations';
import { stepTimer } from './step-timer';

/** Runs planned before keyBuildMemoryMB existed carry no value for it. */
const DEFAULT_KEY_BUILD_MB = 512;

// Loading: the load table of a full load, created before its partitions
// fill it, then keyed and swapped in (or dropped when any partition failed).

export interface CreateLoadTableInput extends LoadTableInput {
  /** The load's partitions are block ranges: export a source snapshot for them to read under. */
  holdSnapshot?: boolean;
}

export interface CreateLoadTableResult {
  /** With holdSnapshot: the name of the snapshot every block range reads under. */
  snapshot?: string;
}

export interface SwapLoadTableResult {
  replaced: boolean;
}

export interface DropLoadTableInput extends LoadTableInput {
  /**
   * The load is given up (not swapped in): the run's partition rows of the
   * table, which say "completed" for rows that never reached the target, say
   * this instead. Absent (runs from before): they are left as they are.
   */
  outcome?: { status: 'cancelled' | 'failed'; reason: string };
}

/**
 * Runs fn on one client of the target while heartbeating; when the activity is
 * cancelled, the statement running on that client is cancelled too (a key
 * build on millions of rows), and the activity ends cancelled.
 */
async function cancellableOnTarget<T>(target: import('pg').Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const client = await target.connect();
  const pid = (client as unknown as { processID: number }).processID;
  const heartbeat = setInterval(() => ctx.heartbeat(), 1_000);
  const onAbort = () => void target.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined);
  ctx.cancellationSignal.addEventListener('abort', onAbort);
  let broken = false;
  try {
    return await fn(client);
  } catch (err) {
    broken = true;
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
    throw err;
  } finally {
    clearInterval(heartbeat);
    ctx.cancellationSignal.removeEventListener('abort', onAbort);
    client.release(broken);
  }
}

/** Which load a held snapshot belongs to: one per run and table. */
const snapshotKey = (input: LoadTableInput) => `${runKeyOf(input)}:${displayName(input.table.source)}`;

export function createLoadingActivities({ connections }: ActivityDeps) {
  const snapshots = new SnapshotHolders();
  return {
    async createLoadTable(input: CreateLoadTableInput): Promise<CreateLoadTableResult> {
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
        if (!input.holdSnapshot) return {};
        // After the load table exists: the snapshot's holder lives as long as that table.
        const source = connections.source(config.source.connection);
        const limitMs = config.timeouts.partitionMinutes * 60_000 * config.maxPartitionsPerTable;
        const snapshot = await snapshots.open(snapshotKey(input), source, connections.pg(config.target.connection), load, limitMs);
        return { snapshot };
      } catch (err) {
        throw classifyError(err, `create_load_table for ${displayName(table.target)}`);
      }
    },

    async swapLoadTable(input: LoadTableInput): Promise<SwapLoadTableResult> {
      const { config, table } = input;
      const load = loadRefOf(input, table);
      const target = connections.pg(config.target.connection);
      // Every partition has read: the source need not keep the snapshot (nor hold back its vacuum) any longer.
      await snapshots.release(snapshotKey(input));
      // Heartbeats, so a cancelled sync's cancel reaches the key build; the
      // workflow waits for this step to end before it drops the load table.
      try {
        return await cancellableOnTarget(target, async (client) => {
          const steps = stepTimer(`swap_load_table ${displayName(table.target)}`);
          // Key built after the load: one sorted build instead of per-row index upkeep.
          const hasKey = await client.query(hasPrimaryKeySql(load));
          if (hasKey.rowCount === 0 && table.primaryKey.length) {
            await client.query(keyBuildSettingsSql(config.keyBuildMemoryMB ?? DEFAULT_KEY_BUILD_MB));
            try {
              await client.query(addPrimaryKeySql(load, table.columns, table.primaryKey));
            } finally {
              await client.query(resetKeyBuildSql);
            }
            steps.lap('key build');
          }
          Context.current().cancellationSignal.throwIfAborted();
          await client.query(analyzeSql(load));
          steps.lap('analyze');
          // Cancelled by now: the load is not swapped in (the workflow drops it).
          Context.current().cancellationSignal.throwIfAborted();
          await client.query('BEGIN');
          try {
            const stillLoading = await client.query(tableExistsSql(load));
            if (!stillLoading.rows[0].present) {
              await client.query('ROLLBACK');
              return { replaced: false }; // an earlier attempt swapped it in
            }
            // A load that a newer sync overtook holds older rows than the table has now.
            await checkGeneration(client, config, table);
            const exists = await client.query(tableExistsSql(table.target));
            for (const sql of swapTableSql(load, table.target, exists.rows[0].present, table.primaryKey.length > 0)) await client.query(sql);
            await client.query('COMMIT');
            steps.lap('swap');
            steps.done();
            return { replaced: exists.rows[0].present as boolean };
          } catch (err) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw err;
          }
        });
      } catch (err) {
        if (Context.current().cancellationSignal.aborted) throw err;
        throw classifyError(err, `swap_load_table for ${displayName(table.target)}`);
      }
    },

    async dropLoadTable(input: DropLoadTableInput): Promise<void> {
      const { config, table, outcome } = input;
      await snapshots.release(snapshotKey(input));
      try {
        await inTransaction(connections, config.target.connection, async (client) => {
          await client.query(dropTableSql(loadRefOf(input, table)));
          if (outcome) {
            const run = { stateSchema: config.target.stateSchema, workflowId: input.syncWorkflowId, runId: input.syncRunId, source: table.source };
            await client.query(markNotSwappedSql(run, outcome.status, `${outcome.reason}: the load table was dropped, not swapped in`));
          }
        });
      } catch (err) {
        throw classifyError(err, `drop_load_table for ${displayName(input.table.target)}`);
      }
    },
  };
}
