import assert from 'node:assert/strict';
import type { Connection } from 'mysql2/promise';
import type { Pool, PoolClient } from 'pg';
import { sleep } from './worker-process';

/**
 * The promises a finished run must keep, checked against the databases
 * themselves: target equals source, no key twice, nothing left behind, and a
 * _migration_state that says what happened.
 */

/** Polls `probe` until it returns something truthy; fails naming what it waited for. */
export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Every row of a PostgreSQL table as text, ordered by its first column (the key in these tests). */
export async function pgRows(pool: Pool, qualified: string): Promise<string[]> {
  const r = await pool.query(`SELECT t::text AS row FROM ${qualified} t ORDER BY 1`);
  return r.rows.map((x) => x.row);
}

/** Every row of a table as arrays of text (NULL stays null), ordered by the first column (or `orderBy`). */
export async function pgTextRows(pool: Pool, qualified: string, orderBy = '1'): Promise<(string | null)[][]> {
  const cols = await pool.query(
    `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [qualified],
  );
  const list = cols.rows.map((r) => `${quoteIdent(r.attname)}::text`).join(', ');
  const r = await pool.query({ text: `SELECT ${list} FROM ${qualified} ORDER BY ${orderBy}`, rowMode: 'array' });
  return r.rows;
}

export async function mariadbTextRows(
  my: Connection,
  database: string,
  table: string,
  orderBy = '1',
): Promise<(string | null)[][]> {
  const [cols] = await my.query(
    `SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [database, table],
  );
  const names = (cols as { c: string }[]).map((r) => r.c);
  const q = (n: string) => `\`${n.replace(/`/g, '``')}\``;
  const [rows] = await my.query({
    sql: `SELECT ${names.map((c) => `CAST(${q(c)} AS CHAR)`).join(', ')} FROM ${q(database)}.${q(table)} ORDER BY ${orderBy}`,
    rowsAsArray: true,
  });
  return rows as (string | null)[][];
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Target and source hold the same rows (PostgreSQL on both sides). */
export async function assertPgTablesEqual(src: Pool, dst: Pool, srcTable: string, dstTable = srcTable): Promise<void> {
  const [a, b] = [await pgTextRows(src, srcTable), await pgTextRows(dst, dstTable)];
  assert.equal(b.length, a.length, `${dstTable}: row count equals the source's`);
  assert.deepEqual(b, a, `${dstTable}: rows equal the source's`);
}

/** How many key values occur more than once. Zero is the promise. */
export async function duplicateKeys(pool: Pool, qualified: string, key: string[]): Promise<number> {
  const cols = key.map(quoteIdent).join(', ');
  const r = await pool.query(`SELECT count(*)::int AS n FROM (SELECT ${cols} FROM ${qualified} GROUP BY ${cols} HAVING count(*) > 1) d`);
  return r.rows[0].n;
}

/**
 * Staging (_ts_stg_), load (_ts_load_) and key (_ts_keys_) tables in the database; with
 * `tables`, only those whose name carries one of these table names (so a
 * test checks its own tables, whatever another test left behind).
 */
export async function leftoverTables(pool: Pool, tables?: string[]): Promise<string[]> {
  const r = await pool.query(
    `SELECT n.nspname || '.' || c.relname AS t, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname LIKE '\\_ts\\_stg\\_%' OR c.relname LIKE '\\_ts\\_load\\_%' OR c.relname LIKE '\\_ts\\_keys\\_%' ORDER BY 1`,
  );
  return r.rows
    .filter((x) => !tables || tables.some((t) => x.name.includes(t.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 30))))
    .map((x) => x.t);
}

export interface StateRow {
  table_name: string;
  partition_index: number;
  sync_status: string;
  retry_count: number;
  rows_copied: number;
  rows_inserted: number;
  rows_updated: number;
  rows_unchanged: number;
  error_message: string | null;
}

/** The _migration_state rows of one sync, ordered by table and partition, counts as numbers. */
export async function stateRows(pool: Pool, workflowId: string, stateSchema = 'public'): Promise<StateRow[]> {
  const r = await pool.query(
    `SELECT table_name, partition_index, sync_status, retry_count, rows_copied::int, rows_inserted::int,
            rows_updated::int, rows_unchanged::int, error_message
       FROM ${quoteIdent(stateSchema)}._migration_state WHERE workflow_id = $1 ORDER BY table_name, partition_index`,
    [workflowId],
  );
  return r.rows;
}

/**
 * A transaction holding a table lock until release(). ACCESS EXCLUSIVE (the
 * default) makes anything reading the table wait; SHARE lets readers through
 * and makes writers wait; ACCESS SHARE lets both through and makes DDL wait.
 */
export async function lockPgTable(
  pool: Pool,
  qualified: string,
  mode: 'ACCESS EXCLUSIVE' | 'SHARE' | 'ACCESS SHARE' = 'ACCESS EXCLUSIVE',
): Promise<{ release(): Promise<void> }> {
  const client: PoolClient = await pool.connect();
  await client.query('BEGIN');
  await client.query(`LOCK TABLE ${qualified} IN ${mode} MODE`);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await client.query('COMMIT').catch(() => undefined);
      client.release();
    },
  };
}

export interface Backend {
  pid: number;
  query: string;
  waiting: boolean;
}

/** Backends of a database whose current query matches a LIKE pattern. */
export async function pgBackends(pool: Pool, database: string, like: string): Promise<Backend[]> {
  const r = await pool.query(
    `SELECT pid, query, wait_event_type = 'Lock' AS waiting FROM pg_stat_activity
      WHERE datname = $1 AND query LIKE $2 AND pid <> pg_backend_pid() AND state <> 'idle'`,
    [database, like],
  );
  return r.rows;
}

/**
 * Waits until a backend of the database whose query matches `like` is
 * blocked on a lock, terminates it, and returns how many were terminated
 * (0 if none showed up within the timeout).
 */
export async function terminateWaiting(pool: Pool, database: string, like: string, timeoutMs = 30_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const r = await pool.query(
      `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
        WHERE datname = $1 AND query LIKE $2 AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
      [database, like],
    );
    const killed = r.rows.filter((x) => x.killed).length;
    if (killed) return killed;
    await sleep(20);
  }
  return 0;
}

/**
 * Kills the chunk a sync has in flight once `committed` chunks of its (one)
 * partition committed: the partition's state row is held, so the chunk waits
 * at its final UPDATE, where its backend is terminated. Returns how many
 * backends were terminated (1 when the fault landed).
 */
export async function killChunkInFlight(pool: Pool, database: string, workflowId: string, committed = 2): Promise<number> {
  const locker = await pool.connect();
  try {
    let row: { id: string } | undefined;
    for (let i = 0; i < 2000 && !row; i++) {
      const r = await pool.query(`SELECT id FROM _migration_state WHERE workflow_id = $1 AND chunks_done >= $2`, [workflowId, committed]);
      row = r.rows[0];
      if (!row) await sleep(5);
    }
    if (!row) throw new Error(`${workflowId}: ${committed} chunks never committed`);
    await locker.query('BEGIN');
    await locker.query('SELECT 1 FROM _migration_state WHERE id = $1 FOR UPDATE', [row.id]);
    return await terminateWaiting(pool, database, 'UPDATE%_migration_state%');
  } finally {
    await locker.query('COMMIT').catch(() => undefined);
    locker.release();
  }
}

const GATE_KEY = 726_354_001;

/**
 * Holds partitions of compare-mode syncs on this target at their door: an
 * event trigger makes the DDL that creates a staging table (_ts_stg_…, the
 * first statement of a partition's transaction) take a shared advisory lock
 * that the gate holds exclusively. Planning, which reads the source tables
 * (row estimates, key min/max), has finished by then and is never held, so a
 * test can set up a fault (e.g. lock a source table) exactly between
 * planning and copying, then open the gate with release().
 */
export async function closeStagingGate(dst: Pool): Promise<{ release(): Promise<void> }> {
  await dst.query(`CREATE OR REPLACE FUNCTION public.tablesync_it_gate() RETURNS event_trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF current_query() LIKE '%\\_ts\\_stg\\_%' THEN PERFORM pg_advisory_xact_lock_shared(${GATE_KEY}); END IF;
    END $$`);
  await dst.query('DROP EVENT TRIGGER IF EXISTS tablesync_it_gate');
  await dst.query(
    `CREATE EVENT TRIGGER tablesync_it_gate ON ddl_command_start WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS')
       EXECUTE FUNCTION public.tablesync_it_gate()`,
  );
  const client = await dst.connect();
  await client.query('SELECT pg_advisory_lock($1)', [GATE_KEY]);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await client.query('SELECT pg_advisory_unlock($1)', [GATE_KEY]).catch(() => undefined);
      client.release();
    },
  };
}

/** Partitions of `table` waiting at the staging gate. */
export async function waitingAtGate(dst: Pool, database: string, table: string): Promise<number> {
  const like = `CREATE %${`_ts_stg_${table}`.replace(/_/g, '\\_')}%`;
  return (await pgBackends(dst, database, like)).filter((b) => b.waiting).length;
}
