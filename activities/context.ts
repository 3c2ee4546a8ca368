import type { Pool, PoolClient } from 'pg';
import type { SyncConfig } from '../lib/config';
import { advisoryXactLockSql, createSchemaSql, loadTableName, schemaExistsSql, stagingName } from '../lib/target';
import { qualifyPg } from '../lib/target/sql';
import type { TablePlan, TableRef } from '../lib/types';
import type { ConnectionRegistry } from './connections';

// What every activity role shares: its dependencies, the run a step belongs
// to, and the target transaction helper.

export interface ActivityDeps {
  connections: ConnectionRegistry;
  /** This worker's identity, as Temporal records it; named when workers disagree on a connection. */
  identity?: string;
  /** The worker's environment: webhook URLs are read from it (notify:), by the names the config gives. */
  env?: Record<string, string | undefined>;
}

/** The sync a step belongs to: names its staging/load tables and its _migration_state rows. */
export interface RunKey {
  syncWorkflowId: string;
  syncRunId: string;
}

export const runKeyOf = (k: RunKey): string => `${k.syncWorkflowId}/${k.syncRunId}`;

/** The table a full load fills before it is swapped in. */
export const loadRefOf = (k: RunKey, table: TablePlan): TableRef => ({
  schema: table.target.schema,
  name: loadTableName(runKeyOf(k), table.target),
});

/** The staging table of one partition. */
export const stagingRefOf = (k: RunKey, table: TablePlan, partitionIndex: number): TableRef => ({
  schema: table.target.schema,
  name: stagingName(runKeyOf(k), table.source, partitionIndex),
});

export interface LoadTableInput extends RunKey {
  config: SyncConfig;
  table: TablePlan;
}

/** Runs fn in one target transaction on a dedicated client; a failed client is discarded, not reused. */
export async function inTransaction<T>(
  connections: ConnectionRegistry,
  connection: string,
  fn: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await connections.pg(connection).connect();
  // A backend killed mid-query also emits 'error' on the client; the query's
  // own rejection carries it, so the event must not crash the worker.
  const ignore = () => undefined;
  client.on('error', ignore);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    client.off('error', ignore);
    client.release();
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.off('error', ignore);
    client.release(err as Error);
    throw err;
  }
}

export async function ensureSchema(client: PoolClient, schema: string): Promise<void> {
  const found = await client.query(schemaExistsSql(schema));
  if (found.rows[0].present) return;
  // Tables of one schema load in parallel; CREATE SCHEMA IF NOT EXISTS races without this.
  await client.query(advisoryXactLockSql(`tablesync.schema.${schema}`));
  // Asked again: the transaction that held the lock may just have created it (IF NOT EXISTS
  // looks in this backend's catalog cache, which can still say absent).
  if ((await client.query(schemaExistsSql(schema))).rows[0].present) return;
  await client.query(createSchemaSql(schema));
}

/**
 * Creates a state table unless it exists (a run started before the table was
 * part of initializeState), under initializeState's own lock.
 */
export async function ensureStateTable(target: Pool, stateSchema: string, name: string, ddl: string): Promise<void> {
  const found = await target.query('SELECT to_regclass($1) IS NOT NULL AS present', [qualifyPg({ schema: stateSchema, name })]);
  if (found.rows[0].present) return;
  const client = await target.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('tablesync._migration_state'))`);
    await client.query(ddl);
    await client.query('COMMIT');
    client.release();
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release(err as Error);
    throw err;
  }
}

/**
 * An activity's heartbeat for loops that beat per change or per statement:
 * sent at most every `ms`. Each heartbeat call costs the SDK a payload
 * encoding and a call into its core (tens of microseconds), which per
 * change was seconds of CPU per million changes; Temporal only sends one
 * every few seconds anyway, and a cancellation arrives with its reply.
 */
export function heartbeatEvery(ctx: { heartbeat(): void }, ms = 500): () => void {
  let last = 0;
  return () => {
    const now = Date.now();
    if (now - last < ms) return;
    last = now;
    ctx.heartbeat();
  };
}
