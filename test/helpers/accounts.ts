import { createConnection } from 'mysql2/promise';
import { Client } from 'pg';
import { MYSQL_BASE } from './mysql';
import { PG_BASE, pgUrl } from './pg';

/**
 * Database accounts with narrow rights. Roles and users are server-wide, so
 * each suite uses its own names (tablesync_it_<suite>_…) and recreates them.
 */

/** Recreates a PostgreSQL login role; call after the databases it had grants in were recreated. */
export async function recreatePgRole(name: string, password?: string): Promise<void> {
  const admin = new Client({ connectionString: pgUrl('postgres') });
  await admin.connect();
  try {
    // Grants left in databases of earlier runs (another checkout, an aborted
    // run) would block DROP ROLE: revoke them where they are.
    const held = await admin.query(
      `SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
        WHERE s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
      [name],
    );
    for (const { datname } of held.rows) {
      const db = new Client({ connectionString: pgUrl(datname) });
      await db.connect();
      try {
        await db.query(`DROP OWNED BY "${name}"`);
      } finally {
        await db.end();
      }
    }
    await admin.query(`DROP ROLE IF EXISTS "${name}"`);
    await admin.query(`CREATE ROLE "${name}" LOGIN${password ? ` PASSWORD '${password}'` : ''}`);
  } finally {
    await admin.end();
  }
}

/** postgres://user[:password]@host:port/database on the test server. */
export function pgUrlAs(user: string, database: string, password?: string): string {
  const u = new URL(`${PG_BASE}/${database}`);
  u.username = user;
  u.password = encodeURIComponent(password ?? '');
  return u.toString();
}

/** Recreates a MariaDB user that logs in with a password from any host, and runs the given GRANTs. */
export async function recreateMysqlUser(name: string, password: string, grants: string[]): Promise<void> {
  const conn = await createConnection({ uri: MYSQL_BASE });
  try {
    await conn.query(`DROP USER IF EXISTS '${name}'@'%'`);
    await conn.query(`CREATE USER '${name}'@'%' IDENTIFIED BY '${password}'`);
    for (const g of grants) await conn.query(g.replace(/\$USER/g, `'${name}'@'%'`));
  } finally {
    await conn.end();
  }
}

/** mysql://user:password@host:port/database on the test server (password URL-encoded). */
export function mysqlUrlAs(user: string, password: string, database: string): string {
  const u = new URL(`${MYSQL_BASE}/${database}`);
  u.username = user;
  u.password = encodeURIComponent(password);
  return u.toString();
}
