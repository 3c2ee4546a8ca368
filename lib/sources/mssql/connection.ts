import { ConnectionPool, NVarChar, Request, type config as MssqlConfig } from 'mssql';
import { TablesyncError } from '../../errors';
import type { ColumnPlan, CursorPlan, PartitionRange, TablePlan, TableRef } from '../../types';
import {
  cursorBoundsSql,
  encodeKey,
  samplePercent,
  type CatalogEntry,
  type Dialect,
  type CopyStream,
  type NameRule,
  type RangeSum,
  type SourceConnection,
  type SourceTable,
  EVERY_ROW,
  type ReadFilter,
  uniqueKeysOf,
  chunks,
  refKey,
} from '../base';
import {
  columnsFromCatalog,
  MSSQL_CATALOG_CHUNK,
  mssqlCatalog,
  mssqlCatalogMany,
  mssqlEstimateRows,
  mssqlEstimateRowsMany,
  mssqlNameRule,
  mssqlWantedNames,
  type MssqlColumnRow,
} from './catalog';
import { babelfishDialect, isBabelfishVersion } from './babelfish';
import { mssqlCursorValueText } from './cursor';
import { mssqlDialect } from './dialect';
import { MSSQL_UTF8_COLLATION, mssqlChecksumSql } from './digest';
import { keyParamType, mssqlKeyBoundsSql, mssqlSampleSql } from './keys';
import { first32, hashRow, mssqlHashedSelectSql, type Bound, type HashedRow } from './hashed';
import { mssqlSelectSql, streamRows } from './read';
import { filterWhere, rowFilterOf } from '../row-filter';

const BOOLEAN_PARAMS: Record<string, boolean> = { true: true, false: false, yes: true, no: false, '1': true, '0': false };
const URL_SHAPE = 'mssql://user:password@host:port/database?encrypt=false&trustServerCertificate=true';

/**
 * mssql config from `mssql://user:password@host[:port]/database?options`
 * (user and password percent-encoded). Options: encrypt (default true),
 * trustServerCertificate (default false), instanceName, connectTimeout and
 * requestTimeout (ms). Errors never repeat the URL, which holds the password.
 */
export function parseMssqlUrl(url: string, poolSize = 10): MssqlConfig {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TablesyncError('InvalidConfig', `SQL Server URL is not a valid URL; expected ${URL_SHAPE}, with reserved characters in the password percent-encoded`);
  }
  if (u.protocol !== 'mssql:' && u.protocol !== 'sqlserver:') {
    throw new TablesyncError('InvalidConfig', `SQL Server URL must start with mssql:// or sqlserver://`);
  }
  if (!u.hostname) throw new TablesyncError('InvalidConfig', `SQL Server URL names no host; expected ${URL_SHAPE}`);
  const known = new Set(['encrypt', 'trustServerCertificate', 'instanceName', 'connectTimeout', 'requestTimeout']);
  for (const key of u.searchParams.keys()) {
    if (!known.has(key)) {
      throw new TablesyncError('InvalidConfig', `SQL Server URL option "${key}" is unknown; known: ${[...known].join(', ')}`);
    }
  }
  const flag = (key: string, fallback: boolean): boolean => {
    const value = u.searchParams.get(key);
    if (value === null) return fallback;
    const parsed = BOOLEAN_PARAMS[value.toLowerCase()];
    if (parsed === undefined) throw new TablesyncError('InvalidConfig', `SQL Server URL option ${key} must be true or false`);
    return parsed;
  };
  const millis = (key: string, fallback: number): number => {
    const value = u.searchParams.get(key);
    if (value === null) return fallback;
    if (!/^\d+$/.test(value)) throw new TablesyncError('InvalidConfig', `SQL Server URL option ${key} must be milliseconds`);
    return Number(value);
  };
  const decode = (part: string, what: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new TablesyncError('InvalidConfig', `SQL Server URL: the ${what} has a malformed %-escape`);
    }
  };
  const instanceName = u.searchParams.get('instanceName') ?? undefined;
  const database = decode(u.pathname.replace(/^\//, ''), 'database');
  return {
    server: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    // With a named instance the port comes from the SQL Browser service.
    port: u.port && !instanceName ? Number(u.port) : undefined,
    user: decode(u.username, 'user') || undefined,
    password: decode(u.password, 'password') || undefined,
    database: database || undefined,
    connectionTimeout: millis('connectTimeout', 15_000),
    // tedious stops this timer at the first response packet, so it bounds the
    // wait for a first row (blocking locks, a slow plan), not a whole copy.
    requestTimeout: millis('requestTimeout', 300_000),
    options: {
      encrypt: flag('encrypt', true),
      trustServerCertificate: flag('trustServerCertificate', false),
      instanceName,
      appName: 'tablesync',
    },
    pool: { max: poolSize, min: 0, idleTimeoutMillis: 30_000 },
  };
}

export class MssqlSource implements SourceConnection {
  /** cdc: not done for this source (SQL Server Change Tracking: the TDS server at hand lacks it). */
  readonly changeCapture = null;
  /** SQL Server's; Babelfish's variant once the first connection says the server is Babelfish (see babelfish.ts). */
  dialect: Dialect = mssqlDialect;
  private readonly config: MssqlConfig;
  private pool: Promise<ConnectionPool> | null = null;

  /** Parses the URL at once (a bad URL fails at registration); connects on first use. */
  constructor(url: string, poolSize = 10) {
    this.config = parseMssqlUrl(url, poolSize);
  }

  private connect(): Promise<ConnectionPool> {
    if (!this.pool) {
      const pool = new ConnectionPool(this.config);
      // The failing request or connect() reports the error too; the pool's
      // own 'error' event would otherwise crash the worker.
      pool.on('error', () => undefined);
      this.pool = pool
        .connect()
        .then(async (connected) => {
          const [row] = (await connected.request().query<{ v: string }>('SELECT @@VERSION AS v')).recordset;
          if (isBabelfishVersion(row?.v)) this.dialect = babelfishDialect(mssqlDialect);
          return connected;
        })
        .catch((err) => {
          this.pool = null;
          throw err;
        });
    }
    return this.pool;
  }

  protected async query<T>(sql: string, names: string[] = []): Promise<T[]> {
    const request = (await this.connect()).request();
    names.forEach((name, i) => request.input(`p${i + 1}`, NVarChar(128), name));
    return (await request.query<T>(sql)).recordset;
  }

  /** Values bound as @p1… (nvarchar): the SQL converts them to the types it compares with. */
  uniqueKeys(ref: TableRef): Promise<string[][]> {
    return uniqueKeysOf(this, mssqlCatalog.uniqueKeysSql, ref);
  }

  async queryRows(sql: string, params: string[]): Promise<Record<string, unknown>[]> {
    const request = (await this.connect()).request();
    params.forEach((value, i) => request.input(`p${i + 1}`, NVarChar(4000), value));
    return (await request.query(sql)).recordset;
  }

  cursorValueText(column: { type: string; dataType: string }, value: string): Promise<string | null> {
    return mssqlCursorValueText((sql, names) => this.query(sql, names), column, value);
  }

  async cursorBounds(ref: TableRef, cursor: CursorPlan, filter: ReadFilter = EVERY_ROW): Promise<{ max: string | null; nulls: number }> {
    const { sql, params } = cursorBoundsSql(mssqlDialect, ref, cursor, filter);
    const [row] = (await this.queryRows(sql, params)) as { max_value: string | null; null_rows: number }[];
    return { max: row.max_value, nulls: Number(row.null_rows) };
  }

  async listTables(): Promise<CatalogEntry[]> {
    const rows = await this.query<TableRef>(mssqlCatalog.listTablesSql);
    return rows.map((r) => ({ schema: r.schema, name: r.name, kind: 'table' }));
  }

  private names: Promise<NameRule> | null = null;

  nameRule(): Promise<NameRule> {
    this.names ??= this.query<{ collation: string | null }>(mssqlCatalog.collationSql)
      .then((rows) => mssqlNameRule(rows[0]?.collation ?? null))
      .catch((err) => {
        this.names = null;
        throw err;
      });
    return this.names;
  }

  async describeTable(ref: TableRef): Promise<SourceTable | null> {
    const rows = await this.query<MssqlColumnRow>(mssqlCatalog.columnsSql, [ref.schema, ref.name]);
    if (rows.length === 0) return null;
    const pk = await this.query<{ name: string }>(mssqlCatalog.primaryKeySql, [ref.schema, ref.name]);
    return { ref, columns: columnsFromCatalog(rows), primaryKey: pk.map((r) => r.name) };
  }

  async describeTables(refs: TableRef[]): Promise<Map<string, SourceTable>> {
    const found = new Map<string, SourceTable>();
    for (const part of chunks(refs, MSSQL_CATALOG_CHUNK)) {
      const sql = mssqlCatalogMany(part.length);
      const names = mssqlWantedNames(part);
      const cols = new Map<number, MssqlColumnRow[]>();
      for (const r of await this.query<MssqlColumnRow & { i: number }>(sql.columnsSql, names)) {
        const list = cols.get(r.i);
        if (list) list.push(r);
        else cols.set(r.i, [r]);
      }
      const keys = new Map<number, string[]>();
      for (const r of await this.query<{ i: number; name: string }>(sql.primaryKeySql, names)) keys.set(r.i, [...(keys.get(r.i) ?? []), r.name]);
      for (const [i, rows] of cols) {
        const ref = part[i - 1];
        found.set(refKey(ref), { ref, columns: columnsFromCatalog(rows), primaryKey: keys.get(i) ?? [] });
      }
    }
    return found;
  }

  estimateRows(ref: TableRef): Promise<number> {
    return mssqlEstimateRows((sql, names) => this.query(sql, names), ref);
  }

  estimateRowsMany(refs: TableRef[]): Promise<Map<string, number>> {
    return mssqlEstimateRowsMany((sql, names) => this.query(sql, names), refs);
  }

  async sampleKeys(plan: TablePlan, pieces: number, estimatedRows: number): Promise<string[]> {
    const { sql, params } = mssqlSampleSql(plan, pieces, samplePercent(pieces, estimatedRows), rowFilterOf(plan)(this.dialect, (i) => `@p${1 + i}`));
    const rows = (await this.queryRows(sql, params)) as Record<string, string>[];
    return rows.map((r) => encodeKey(plan.primaryKey.map((_, i) => r[`k${i}`])));
  }

  async keyBounds(ref: TableRef, column: string, filter: ReadFilter = EVERY_ROW): Promise<{ min: string | null; max: string | null }> {
    const where = filterWhere(this.dialect, filter);
    const [row] = (await this.queryRows(mssqlKeyBoundsSql(ref, column) + where.sql, where.params)) as { min: string | null; max: string | null }[];
    return { min: row.min, max: row.max };
  }

  /**
   * Text COPY only: SQL Server rows are decoded by the driver and re-encoded,
   * so PostgreSQL's binary format would gain nothing. One SELECT per range,
   * at the database's own isolation level (READ COMMITTED unless configured).
   */
  async openCopy(plan: TablePlan, range: PartitionRange, _preferBinary = false, filter: ReadFilter = EVERY_ROW): Promise<CopyStream> {
    const { sql, params, keyParams } = mssqlSelectSql(plan, range, filter);
    const request = new Request(await this.connect());
    request.stream = true;
    request.arrayRowMode = true;
    params.forEach((value, i) =>
      // A where value may be long: a sized nvarchar would cut it.
      request.input(`p${i + 1}`, i < keyParams ? keyParamType(plan) : NVarChar(4000), value),
    );
    return streamRows(request, sql, plan.columns);
  }

  private utf8: Promise<boolean> | null = null;

  /**
   * Whether the server can hash verify's texts itself: it needs a UTF-8
   * collation (SQL Server 2019+, Azure SQL). Without one (2016, 2017,
   * Babelfish) the worker hashes the rows the server sends (see hashed.ts).
   */
  hashesOnServer(): Promise<boolean> {
    this.utf8 ??= this.query<{ cp: number | null }>(`SELECT COLLATIONPROPERTY(@p1, 'CodePage') AS cp`, [MSSQL_UTF8_COLLATION])
      .then(([row]) => Number(row?.cp) === 65001)
      .catch((err) => {
        this.utf8 = null;
        throw err;
      });
    return this.utf8;
  }

  async checksumRange(plan: TablePlan, columns: ColumnPlan[], range: PartitionRange): Promise<RangeSum> {
    if (!(await this.hashesOnServer())) {
      let rows = 0;
      let sum = 0n;
      for await (const row of this.hashedRows(plan, columns, range)) {
        rows++;
        sum += first32(row.h);
      }
      return { rows, sum: String(sum) };
    }
    const { sql, params, keyParams } = mssqlChecksumSql(plan, columns, range, (p) => rowFilterOf(plan)(this.dialect, p));
    const request = (await this.connect()).request();
    params.forEach((value, i) => request.input(`p${i + 1}`, i < keyParams ? keyParamType(plan) : NVarChar(4000), value));
    const [row] = (await request.query<{ rows: string | number; sum: string }>(sql)).recordset;
    return { rows: Number(row.rows), sum: row.sum };
  }

  /** Rows of a range hashed by the worker, or null where the server hashes them itself (rowDigestsSql). */
  async rowHashes(
    plan: TablePlan,
    columns: ColumnPlan[],
    range: PartitionRange,
    options: { flag?: Bound; from?: Bound } = {},
  ): Promise<AsyncIterable<HashedRow> | null> {
    return (await this.hashesOnServer()) ? null : this.hashedRows(plan, columns, range, options);
  }

  private async *hashedRows(
    plan: TablePlan,
    columns: ColumnPlan[],
    range: PartitionRange,
    options: { flag?: Bound; from?: Bound } = {},
  ): AsyncIterable<HashedRow> {
    const { sql, params, keyParams, reads } = mssqlHashedSelectSql(plan, columns, range, { ...options, filter: (p) => rowFilterOf(plan)(this.dialect, p) });
    const request = new Request(await this.connect());
    request.arrayRowMode = true;
    params.forEach((value, i) => request.input(`p${i + 1}`, keyParams.has(i) ? keyParamType(plan) : NVarChar(4000), value));
    const stream = request.toReadableStream();
    void request.query(sql).catch(() => undefined); // its error reaches the stream
    for await (const row of stream) yield hashRow(row as unknown[], reads, Boolean(options.flag));
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    if (pool) await (await pool.catch(() => null))?.close();
  }
}

