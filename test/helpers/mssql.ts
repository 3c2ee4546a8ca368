import { ConnectionPool } from 'mssql';
import { parseMssqlUrl } from '../../lib/sources/mssql';
import { chinookScript } from './chinook';

/**
 * SQL Server suites run against the server MSSQL_URL names: in CI, Babelfish
 * (../shared/tools/babelfish/start.sh, started by .ci/run). Without it they
 * are pending, with this reason.
 */
export const MSSQL_URL = process.env.MSSQL_URL;
export const NO_MSSQL = 'MSSQL_URL is not set: start a TDS server with eval "$(bash ../shared/tools/babelfish/start.sh --env)"';

/** The first hook of a suite that needs SQL Server: without one, every test shows as pending. */
export function requireMssql(): void {
  before(function () {
    if (!MSSQL_URL) {
      console.log(`    skipped: ${NO_MSSQL}`);
      this.skip();
    }
  });
}

/** MSSQL_URL with another database in its path. */
export function mssqlUrl(database: string): string {
  const u = new URL(MSSQL_URL ?? 'mssql://unset/');
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** Connects with the login MSSQL_URL names to `database` (master when omitted). */
export function mssqlPool(database = 'master'): Promise<ConnectionPool> {
  return new ConnectionPool(parseMssqlUrl(mssqlUrl(database))).connect();
}

/** Drops and recreates a database on the SQL Server (name from testDb(), so helpers never share one). */
export async function freshMssqlDatabase(database: string): Promise<ConnectionPool> {
  if (!/^\w+$/.test(database)) throw new Error(`test database name ${database} must be a plain word`);
  const master = await mssqlPool('master');
  try {
    await master.request().batch(`DROP DATABASE IF EXISTS [${database}]`);
    await master.request().batch(`CREATE DATABASE [${database}]`);
  } finally {
    await master.close();
  }
  return mssqlPool(database);
}

/** Babelfish answers @@VERSION with its own name; Microsoft SQL Server never does. */
export async function isBabelfish(pool: ConnectionPool): Promise<boolean> {
  const r = await pool.request().query(`SELECT @@VERSION AS v`);
  return /babelfish/i.test(String(r.recordset[0]?.v));
}

/**
 * Loads Chinook from the project's shared copy of its SQL Server script into
 * the database `pool` is connected to: its batches (split at GO) without the
 * ones that drop, create and switch databases.
 */
export async function loadChinook(pool: ConnectionPool): Promise<void> {
  const script = chinookScript('Chinook_SqlServer.sql').replace(/^\uFEFF/, '');
  const batches = script
    .split(/^\s*GO\s*$/im)
    .map((b) => b.trim())
    .filter((b) => b && !/^(\/\*[\s\S]*?\*\/\s*)*(IF EXISTS \(SELECT name FROM master|CREATE DATABASE|USE )/i.test(b));
  for (const batch of batches) await pool.request().batch(batch);
}
