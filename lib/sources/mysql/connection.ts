import { createPool, type ConnectionOptions, type Pool, type PoolConnection } from 'mysql2';
import type { ColumnPlan, CursorPlan, PartitionRange, TablePlan, TableRef } from '../../types';
import {
  andWhere,
  cursorBoundsSql,
  encodeKey,
  estimateOrCount,
  type CatalogEntry,
  type CopyStream,
  type Dialect,
  type NameRule,
  type RangeSum,
  type SourceConnection,
  type SourceTable,
  EVERY_ROW,
  type ReadFilter,
  uniqueKeysOf,
  chunks,
  estimateOrCountMany,
  refKey,
} from '../base';
import { MysqlChangeCapture } from './cdc';
import { columnsFromCatalog, jsonColumnsOf, mysqlCatalog, mysqlCatalogMany, mysqlNameRule, type MysqlColumnRow } from './catalog';
import { MysqlCopyEncoder, streamCopy } from './copy';
import { mysqlCursor } from './cursor';
import { mysqlDialect } from './dialect';
import { mysqlDigest } from './digest';
import { mysqlKeyWalkSql, mysqlRangeWhere } from './keys';
import { mysqlSelectSql } from './read';
import { placeholder, qualifyMysql, quote } from './sql';
import { filterWhere, rowFilterOf } from '../row-filter';

/** Tables per batched catalog query (two bound values each at most). */
const CATALOG_CHUNK = 500;

/** Table names grouped by schema, in the order first seen. */
function bySchema(refs: TableRef[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of refs) {
    const names = out.get(r.schema);
    if (names) names.push(r.name);
    else out.set(r.schema, [r.name]);
  }
  return out;
}

/** One statement, so a new session is pinned in one round trip. */
export const MYSQL_SESSION_SQL = "SET time_zone = '+00:00', NAMES utf8mb4, sql_mode = 'NO_ENGINE_SUBSTITUTION'";

function parseMysqlUrl(url: string): { uri: string; database: string } {
  const u = new URL(url.replace(/^mariadb:/i, 'mysql:'));
  return { uri: u.toString(), database: decodeURIComponent(u.pathname.replace(/^\//, '')) };
}

/**
 * Where a connection of this URL goes, as mysql2 reads the URL (its own
 * ConnectionConfig, as the pool does): host and port, or a socketPath given
 * in the query string, which then wins; the database and user.
 */
export function mysqlEndpoint(url: string): Record<string, string> {
  // Exported by mysql2, not declared by its typings.
  const { ConnectionConfig } = require('mysql2') as {
    ConnectionConfig: new (options: { uri: string }) => { host: string; port: number; socketPath?: string; user?: string; database?: string };
  };
  const c = new ConnectionConfig({ uri: parseMysqlUrl(url).uri });
  const route: Record<string, string> = c.socketPath ? { socketPath: String(c.socketPath) } : { host: String(c.host).toLowerCase(), port: String(c.port) };
  return { ...route, database: String(c.database ?? ''), user: String(c.user ?? '') };
}

export class MysqlSource implements SourceConnection {
  /** cdc: the binary log (lib/sources/mysql/cdc.ts). */
  readonly changeCapture: MysqlChangeCapture = new MysqlChangeCapture(this);
  readonly dialect: Dialect;
  private readonly pool: Pool;
  /** How this source's sessions connect: the binlog reader connects the same way, its values read the same way. */
  readonly connectionOptions: ConnectionOptions;

  constructor(url: string, poolSize = 10) {
    const { uri, database } = parseMysqlUrl(url);
    this.dialect = { ...mysqlDialect, defaultSchema: database };
    this.connectionOptions = {
      uri,
      charset: 'utf8mb4',
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      decimalNumbers: false,
    };
    this.pool = createPool({ ...this.connectionOptions, connectionLimit: poolSize });
    // Every session pinned, whatever the server's defaults: TIMESTAMP values
    // read as UTC instants; text in utf8mb4 both ways; a sql_mode without
    // PAD_CHAR_TO_FULL_LENGTH (CHAR values would come padded), ANSI_QUOTES or
    // NO_BACKSLASH_ESCAPES (the driver escapes bound values with backslashes).
    this.pool.on('connection', (conn) => {
      // A session that could not be pinned is not used: its next query fails and is retried.
      conn.query(MYSQL_SESSION_SQL, (err) => err && conn.destroy());
    });
  }

  private query<T = Record<string, unknown>>(sql: string, values: unknown[] = []): Promise<T[]> {
    return new Promise((resolve, reject) =>
      this.pool.query({ sql, values }, (err, rows) => (err ? reject(err) : resolve(rows as T[]))),
    );
  }

  async listTables(): Promise<CatalogEntry[]> {
    const rows = await this.query<CatalogEntry>(mysqlCatalog.listTablesSql);
    return rows.map((r) => ({ schema: r.schema, name: r.name, kind: r.kind }));
  }

  private names: Promise<NameRule> | null = null;

  nameRule(): Promise<NameRule> {
    this.names ??= this.query<{ l: string | number }>('SELECT @@lower_case_table_names AS l')
      .then((rows) => mysqlNameRule(Number(rows[0]?.l ?? 0)))
      .catch((err) => {
        this.names = null;
        throw err;
      });
    return this.names;
  }

  async describeTable(ref: TableRef): Promise<SourceTable | null> {
    const rows = await this.query<MysqlColumnRow>(mysqlCatalog.columnsSql, [ref.schema, ref.name]);
    if (rows.length === 0) return null;
    const checks = await this.query<{ clause: string }>(mysqlCatalog.jsonChecksSql, [ref.schema, ref.name]).catch(
      () => [] as { clause: string }[],
    );
    const json = jsonColumnsOf(checks.map((c) => c.clause));
    const pk = await this.query<{ name: string }>(mysqlCatalog.primaryKeySql, [ref.schema, ref.name]);
    return { ref, columns: columnsFromCatalog(rows, json), primaryKey: pk.map((r) => r.name) };
  }

  /**
   * describeTable, a schema's tables CATALOG_CHUNK a query. Rows are matched
   * to the tables asked by their name as stored: a table asked under another
   * spelling (lower_case_table_names) is left out, for describeTable.
   */
  async describeTables(refs: TableRef[]): Promise<Map<string, SourceTable>> {
    const found = new Map<string, SourceTable>();
    for (const [schema, names] of bySchema(refs)) {
      for (const part of chunks(names, CATALOG_CHUNK)) {
        const sql = mysqlCatalogMany(part.length);
        const params = [schema, ...part];
        const wanted = new Set(part);
        const cols = new Map<string, MysqlColumnRow[]>();
        for (const r of await this.query<MysqlColumnRow & { tbl: string }>(sql.columnsSql, params)) {
          if (!wanted.has(r.tbl)) continue;
          const list = cols.get(r.tbl);
          if (list) list.push(r);
          else cols.set(r.tbl, [r]);
        }
        // As describeTable: a server without CHECK_CONSTRAINTS has no JSON checks to read.
        const checks = new Map<string, string[]>();
        const checkRows = await this.query<{ tbl: string; clause: string }>(sql.jsonChecksSql, params).catch(() => [] as { tbl: string; clause: string }[]);
        for (const r of checkRows) checks.set(r.tbl, [...(checks.get(r.tbl) ?? []), r.clause]); // a table has few
        const keys = new Map<string, string[]>();
        for (const r of await this.query<{ tbl: string; name: string }>(sql.primaryKeySql, params)) keys.set(r.tbl, [...(keys.get(r.tbl) ?? []), r.name]); // a key has few columns
        for (const [name, rows] of cols) {
          const json = jsonColumnsOf(checks.get(name) ?? []);
          const ref = { schema, name };
          found.set(refKey(ref), { ref, columns: columnsFromCatalog(rows, json), primaryKey: keys.get(name) ?? [] });
        }
      }
    }
    return found;
  }

  estimateRowsMany(refs: TableRef[]): Promise<Map<string, number>> {
    return estimateOrCountMany(
      refs,
      [
        async (part) => {
          const estimates = new Map<string, unknown>();
          for (const [schema, names] of bySchema(part)) {
            for (const chunk of chunks(names, CATALOG_CHUNK)) {
              const rows = await this.query<{ tbl: string; estimate: string | null }>(mysqlCatalogMany(chunk.length).estimateSql, [schema, ...chunk]);
              // As estimateRows: InnoDB reports 0 for tables it has not sampled yet: unknown, not empty.
              for (const r of rows) estimates.set(refKey({ schema, name: r.tbl }), Number(r.estimate) > 0 ? r.estimate : null);
            }
          }
          return part.map((ref) => estimates.get(refKey(ref)));
        },
      ],
      async (part) => {
        const rows = await this.query<{ i: number | string; n: string }>(part.map((ref, i) => `SELECT ${i} AS i, COUNT(*) AS n FROM ${qualifyMysql(ref)}`).join(' UNION ALL '));
        const counts = new Map(rows.map((r) => [Number(r.i), r.n]));
        return part.map((_, i) => counts.get(i));
      },
    );
  }

  estimateRows(ref: TableRef): Promise<number> {
    return estimateOrCount(
      [
        async () => {
          const estimate = (await this.query<{ estimate: string | null }>(mysqlCatalog.estimateSql, [ref.schema, ref.name]))[0]?.estimate;
          // InnoDB reports 0 for tables it has not sampled yet: unknown, not empty.
          return Number(estimate) > 0 ? estimate : null;
        },
      ],
      async () => (await this.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${qualifyMysql(ref)}`))[0]?.n,
    );
  }

  uniqueKeys(ref: TableRef): Promise<string[][]> {
    return uniqueKeysOf(this, mysqlCatalog.uniqueKeysSql, ref);
  }

  queryRows(sql: string, params: string[]): Promise<Record<string, unknown>[]> {
    return this.query(sql, params);
  }

  async cursorBounds(ref: TableRef, cursor: CursorPlan, filter: ReadFilter = EVERY_ROW): Promise<{ max: string | null; nulls: number }> {
    const { sql, params } = cursorBoundsSql(mysqlDialect, ref, cursor, filter);
    const rows = await this.query<{ max_value: string | null; null_rows: string }>(sql, params);
    return { max: rows[0].max_value, nulls: Number(rows[0].null_rows) };
  }

  /**
   * Walks the key in steps of estimatedRows / pieces rows: reads every key
   * once inside the server (not over the wire), about what COUNT(*) costs.
   */
  async sampleKeys(plan: TablePlan, pieces: number, estimatedRows: number): Promise<string[]> {
    const step = Math.max(1, Math.ceil(estimatedRows / pieces));
    const cuts: string[] = [];
    for (let k = 1; k < pieces; k++) {
      const { sql, params } = mysqlKeyWalkSql(plan, cuts[cuts.length - 1] ?? null, step, rowFilterOf(plan)(mysqlDialect, placeholder));
      const [row] = await this.query<Record<string, string>>(sql, params);
      if (!row) break;
      cuts.push(encodeKey(plan.primaryKey.map((_, i) => row[`k${i}`])));
    }
    return cuts;
  }

  async keyBounds(ref: TableRef, column: string, filter: ReadFilter = EVERY_ROW): Promise<{ min: string | null; max: string | null }> {
    const q = quote(column);
    const where = filterWhere(mysqlDialect, filter);
    const rows = await this.query<{ min: string | null; max: string | null }>(
      `SELECT CAST(MIN(${q}) AS CHAR) AS min, CAST(MAX(${q}) AS CHAR) AS max FROM ${qualifyMysql(ref)}${where.sql}`,
      where.params,
    );
    return { min: rows[0].min, max: rows[0].max };
  }

  async cursorValueText(column: { type: string; dataType: string }, value: string): Promise<string | null> {
    // CAST gives NULL for garbage and a warning (not an error) for text with
    // junk after a value ('2025-12-17x'): both refuse it. Warnings belong to
    // the connection, so both statements run on the same one.
    const conn = await new Promise<PoolConnection>((resolve, reject) => this.pool.getConnection((err, c) => (err ? reject(err) : resolve(c))));
    const run = <T>(sql: string, values: unknown[] = []) =>
      new Promise<T[]>((resolve, reject) => conn.query({ sql, values }, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
    try {
      const [row] = await run<{ v: string | null }>(`SELECT ${mysqlCursor.text(mysqlCursor.param('?', column), column)} AS v`, [value]);
      const [warned] = await run<{ n: number | string }>('SELECT @@warning_count AS n');
      return Number(warned.n) > 0 ? null : row.v;
    } finally {
      conn.release();
    }
  }

  /** A pinned session of the pool, for the caller to release (cdc's snapshot holds one). */
  connection(): Promise<PoolConnection> {
    return new Promise<PoolConnection>((resolve, reject) => this.pool.getConnection((err, c) => (err ? reject(err) : resolve(c))));
  }

  /**
   * Streams a range as COPY data. `snapshot`: a session already inside the
   * transaction to read under (cdc's snapshot, consistent with a binlog
   * position); its owner ends that transaction and releases it.
   */
  openCopy(plan: TablePlan, range: PartitionRange, preferBinary: boolean, filter: ReadFilter = EVERY_ROW): Promise<CopyStream> {
    return this.openCopyOn(plan, range, preferBinary, filter);
  }

  async openCopyOn(plan: TablePlan, range: PartitionRange, preferBinary: boolean, filter: ReadFilter = EVERY_ROW, snapshot?: PoolConnection): Promise<CopyStream> {
    const conn = snapshot ?? (await this.connection());
    const run = (sql: string) => new Promise<void>((resolve, reject) => conn.query(sql, (err) => (err ? reject(err) : resolve())));
    if (!snapshot) {
      try {
        await run('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
      } catch (err) {
        conn.destroy();
        throw err;
      }
    }
    const counts = new Map<string, number>();
    const warn = (column: string, what: string) => {
      const key = `column "${column}": ${what}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    };
    // Row packets straight into COPY data (binary when every column has a binary form), values as the
    // server's own text bytes, never JS numbers or Dates; see copy.ts.
    const encoder = new MysqlCopyEncoder(plan.columns, preferBinary, warn);
    const { sql, params } = mysqlSelectSql(plan, range, filter);
    const stream = streamCopy(conn, sql, params, encoder);
    // A connection lost mid-query (KILL, server gone) is reported on the connection
    // only: the query would wait forever, heartbeating, for rows that never come.
    const lost = (err: Error) => stream.destroy(err);
    conn.on('error', lost);
    let done = false;
    return {
      stream,
      format: encoder.format,
      rows: () => encoder.rows,
      warnings: () => Object.fromEntries(counts),
      finish: async (error?: unknown) => {
        if (done) return;
        done = true;
        conn.removeListener('error', lost);
        if (error) {
          conn.destroy();
          return;
        }
        if (snapshot) return;
        try {
          await run('COMMIT');
          conn.release();
        } catch (err) {
          conn.destroy();
          throw err;
        }
      },
    };
  }

  async checksumRange(plan: TablePlan, columns: ColumnPlan[], range: PartitionRange): Promise<RangeSum> {
    const where = andWhere(mysqlRangeWhere(plan, range), rowFilterOf(plan)(mysqlDialect, placeholder));
    const digest = mysqlDigest;
    const rows = await this.query<{ rows: string; sum: string }>(
      `SELECT COUNT(*) AS \`rows\`, ${digest.sum32(digest.md5(digest.row(columns)))} AS sum
         FROM ${qualifyMysql(plan.source)}${where.sql}`,
      where.params,
    );
    return { rows: Number(rows[0].rows), sum: rows[0].sum };
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.pool.end(() => resolve()));
  }
}

