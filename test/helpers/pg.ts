import { Client, Pool } from 'pg';

export const PG_BASE = process.env.TABLESYNC_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';

/**
 * A test database name, with TABLESYNC_TEST_DB_SUFFIX appended so that two
 * test runs on one machine (two checkouts, say) never share a database.
 */
export function testDb(name: string): string {
  return `${name}${process.env.TABLESYNC_TEST_DB_SUFFIX ?? ''}`;
}

export function pgUrl(database: string): string {
  return `${PG_BASE}/${database}`;
}

/** Drops and recreates a database, so every suite starts from nothing. */
export async function freshDatabase(name: string): Promise<Pool> {
  const admin = new Client({ connectionString: pgUrl('postgres') });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const pool = new Pool({ connectionString: pgUrl(name), max: 4 });
  // An idle client terminated from the server side (a later freshDatabase of
  // the same name, a fault test's pg_terminate_backend) must not crash the
  // test process as an uncaught 'error': the pool replaces it on next use.
  pool.on('error', () => undefined);
  return pool;
}

/** Rows of a table ordered by key, as text, for whole-table equality checks. */
export async function tableRows(pool: Pool, table: string, orderBy = 1): Promise<string[]> {
  const r = await pool.query(`SELECT t::text AS row FROM ${table} t ORDER BY ${orderBy}`);
  return r.rows.map((x) => x.row);
}

export async function stagingTables(pool: Pool): Promise<string[]> {
  const r = await pool.query(`SELECT relname FROM pg_class WHERE relname LIKE '\\_ts\\_stg\\_%'`);
  return r.rows.map((x) => x.relname);
}

/** The PostgreSQL with wal_level=logical (scripts/services.sh starts it) that cdc tests read from. */
export const PG_CDC_BASE = process.env.TABLESYNC_TEST_PG_CDC ?? 'postgres://postgres@127.0.0.1:5434';

/** A fresh database on the cdc server; the replication slots of an older one are dropped first (they would block DROP DATABASE). */
export async function freshCdcDatabase(name: string): Promise<Pool> {
  // A statement that waits (on a lock, a walsender still exiting) fails the test naming it instead of hanging it.
  const admin = new Client({ connectionString: `${PG_CDC_BASE}/postgres`, statement_timeout: 60_000 });
  await admin.connect();
  try {
    // A terminated walsender leaves its slot active until it has exited: dropped once it is free.
    for (let tries = 0; ; tries++) {
      await admin.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active`, [name]);
      // A slot taken again meanwhile (a worker's stream reconnecting) refuses the drop: tried again.
      await admin.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active`, [name]).catch((err: { code?: string }) => {
        if (err.code !== '55006') throw err;
      });
      const held = await admin.query(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE database = $1`, [name]);
      if (held.rows[0].n === 0) break;
      if (tries >= 100) throw new Error(`freshCdcDatabase ${name}: replication slots still held after 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const pool = new Pool({ connectionString: `${PG_CDC_BASE}/${name}`, max: 4 });
  pool.on('error', () => undefined);
  return pool;
}
