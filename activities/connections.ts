import { createHash } from 'node:crypto';
import { Pool } from 'pg';
import type { ConnectionRole, ConnectionSpec } from '../lib/config';
import type { DialectName, SourceConnection } from '../lib/sources/base';
import { TablesyncError } from '../lib/errors';
import { PostgresSource } from '../lib/sources/postgres';
import { pgEndpoint } from '../lib/sources/postgres/connection';
import { nonRetryable } from './errors';

export function dialectOfUrl(url: string): DialectName | null {
  const scheme = /^([a-z0-9+]+):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return 'postgres';
  if (scheme === 'mysql' || scheme === 'mariadb') return 'mysql';
  if (scheme === 'mssql' || scheme === 'sqlserver') return 'mssql';
  return null;
}

/** TABLESYNC_CONNECTION_<NAME>=url, the name upper-cased with non-alphanumerics as _. */
export function envConnectionName(name: string): string {
  return `TABLESYNC_CONNECTION_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** TABLESYNC_ROLE_<NAME>=source|target|both: the role of a connection given in the environment. */
export function envRoleName(name: string): string {
  return `TABLESYNC_ROLE_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * Settings every PostgreSQL session tablesync opens (source and target) runs
 * with, sent as startup options so they beat postgresql.conf and ALTER
 * DATABASE/ROLE SET: text COPY and casts then print dates, intervals and
 * floats in one exact, canonical form, text without an offset means UTC, and
 * a role under row-level security gets an error instead of a filtered read.
 */
export const PG_SESSION_SETTINGS: Record<string, string> = {
  DateStyle: 'ISO,MDY',
  IntervalStyle: 'postgres',
  extra_float_digits: '3',
  TimeZone: 'UTC',
  client_encoding: 'UTF8',
  bytea_output: 'hex',
  // money prints and parses by lc_monetary; xmloption document would refuse XML fragments.
  lc_monetary: 'C',
  xmloption: 'content',
  row_security: 'off',
};
const PG_SESSION_OPTIONS = Object.entries(PG_SESSION_SETTINGS)
  .map(([name, value]) => `-c ${name}=${value}`)
  .join(' ');

/**
 * The URL without its own `options` parameter, and those options followed by
 * ours (pg lets the URL's options replace the pool's; with both in one
 * string the later -c wins).
 */
export function pinnedPgConnection(url: string): { connectionString: string; options: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { connectionString: url, options: PG_SESSION_OPTIONS };
  }
  const own = parsed.searchParams.get('options');
  if (own === null) return { connectionString: url, options: PG_SESSION_OPTIONS };
  parsed.searchParams.delete('options');
  return { connectionString: parsed.toString(), options: `${own} ${PG_SESSION_OPTIONS}` };
}

/** Where a connection of this URL goes, by its dialect's driver (the drivers for MariaDB and SQL Server load on first use). */
function endpointOf(dialect: DialectName, url: string): Record<string, string> {
  if (dialect === 'postgres') return pgEndpoint(pinnedPgConnection(url));
  if (dialect === 'mysql') return (require('../lib/sources/mysql/connection') as typeof import('../lib/sources/mysql/connection')).mysqlEndpoint(url);
  const { parseMssqlUrl } = require('../lib/sources/mssql/connection') as typeof import('../lib/sources/mssql/connection');
  const c = parseMssqlUrl(url);
  // A named instance's port comes from the SQL Browser service; otherwise tedious's default.
  const instance = c.options?.instanceName?.toLowerCase();
  const route: Record<string, string> = instance ? { instance } : { port: String(c.port ?? 1433) };
  return { host: c.server.toLowerCase(), ...route, database: c.database ?? '', user: c.user ?? '' };
}

/**
 * Named connections as the worker knows them, opened lazily and reused by
 * every activity on this worker. Nothing here ever leaves the worker.
 */
export class ConnectionRegistry {
  private readonly pools = new Map<string, Pool>();
  private readonly sources = new Map<string, SourceConnection>();

  constructor(
    private readonly specs: Record<string, ConnectionSpec>,
    private readonly env: Record<string, string | undefined> = process.env,
    private readonly poolSize = 10,
  ) {}

  private spec(name: string): ConnectionSpec {
    const fromEnv = this.env[envConnectionName(name)];
    const spec = fromEnv ? { url: fromEnv } : this.specs[name];
    if (!spec) {
      throw nonRetryable(
        'UnknownConnection',
        `Connection "${name}" is not configured on this worker: set ${envConnectionName(name)} or add it under connections: in the worker's config`,
      );
    }
    return spec;
  }

  /** What a sync may do with the connection: its declared role (environment first), else both. */
  role(name: string): ConnectionRole {
    this.spec(name);
    const fromEnv = this.env[envRoleName(name)];
    if (fromEnv) {
      if (fromEnv === 'source' || fromEnv === 'target' || fromEnv === 'both') return fromEnv;
      throw nonRetryable('InvalidConfig', `${envRoleName(name)} must be source, target or both (it is "${fromEnv}")`);
    }
    return this.specs[name]?.role ?? 'both';
  }

  dialect(name: string): DialectName {
    const dialect = dialectOfUrl(this.spec(name).url);
    if (!dialect) {
      throw nonRetryable('InvalidConfig', `Connection "${name}": URL scheme must be postgres://, mysql:// or mssql://`);
    }
    return dialect;
  }

  /**
   * What a connection name means on this worker, without its secret: a hash of
   * where the driver would connect (host or socket, port, database, user; never
   * the password), read by the driver's own URL parsing, so a host or port given
   * in the query string (PostgreSQL's ?host= and ?port=, MariaDB's ?socketPath=)
   * counts like one in the authority. Two workers that agree on it reach the
   * same database as the same user.
   */
  fingerprint(name: string): string {
    const dialect = this.dialect(name);
    const url = this.spec(name).url;
    let endpoint: Record<string, string>;
    try {
      endpoint = endpointOf(dialect, url);
    } catch {
      throw nonRetryable('InvalidConfig', `Connection "${name}": the URL does not parse`);
    }
    const parts = [dialect, ...Object.keys(endpoint).sort().map((k) => `${k}=${endpoint[k]}`)];
    return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 16);
  }

  pg(name: string): Pool {
    let pool = this.pools.get(name);
    if (!pool) {
      if (this.dialect(name) !== 'postgres') {
        throw nonRetryable('InvalidConfig', `Connection "${name}" must be a PostgreSQL connection to be used as a target`);
      }
      pool = new Pool({
        ...pinnedPgConnection(this.spec(name).url),
        max: this.poolSize,
        application_name: `tablesync:${name}`,
        idleTimeoutMillis: 30_000,
      });
      // A pooled client killed while idle must not crash the worker.
      pool.on('error', () => undefined);
      this.pools.set(name, pool);
    }
    return pool;
  }

  source(name: string): SourceConnection {
    let source = this.sources.get(name);
    if (!source) {
      const dialect = this.dialect(name);
      try {
        // The MariaDB and SQL Server drivers load on first use: mssql alone costs a cold start ~0.2 s.
        if (dialect === 'postgres') source = new PostgresSource(this.pg(name));
        else if (dialect === 'mysql') {
          const { MysqlSource } = require('../lib/sources/mysql') as typeof import('../lib/sources/mysql');
          source = new MysqlSource(this.spec(name).url, this.poolSize);
        } else {
          const { MssqlSource } = require('../lib/sources/mssql') as typeof import('../lib/sources/mssql');
          source = new MssqlSource(this.spec(name).url, this.poolSize);
        }
      } catch (err) {
        // Bad URLs are reported by the source; the message never carries the password.
        if (err instanceof TablesyncError) throw nonRetryable(err.type, `Connection "${name}": ${err.message}`);
        throw err;
      }
      this.sources.set(name, source);
    }
    return source;
  }

  async close(): Promise<void> {
    await Promise.all([...this.sources.values()].map((s) => s.close()));
    await Promise.all([...this.pools.values()].map((p) => p.end()));
    this.sources.clear();
    this.pools.clear();
  }
}
