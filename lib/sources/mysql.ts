import { createPool, type Pool, type PoolConnection } from 'mysql2';
import type { ColumnPlan, CursorPlan, PartitionRange, TablePlan, TableRef } from '../types';
import type { CursorDialect } from './cursor';
import { MysqlCopyEncoder, streamCopy } from './mysql-copy';
import {
  andWhere,
  cursorBoundsSql,
  encodeKey,
  keyTypes,
  planFilter,
  type CatalogEntry,
  type CopyStream,
  type Dialect,
  type KeyDialect,
  type NameRule,
  type RangeSum,
  caseInsensitiveNames,
  EXACT_NAMES,
  type SourceColumn,
  type SourceConnection,
  type SourceTable,
  estimateOrCount,
  qualify,
  rangePredicate,
  rejectNul,
  unsupportedType,
} from './base';

const INTEGER = /^(tinyint|smallint|mediumint|int|integer|bigint)\b/i;

const MYSQL_TIME = new Set(['date', 'datetime', 'timestamp']);
const MYSQL_NUMBER = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric']);

/**
 * Values bound as text and cast to the column's kind on the server: MySQL
 * would otherwise compare a DECIMAL with a string as doubles. The session
 * runs in UTC, so TIMESTAMP text is the instant.
 */
export const mysqlCursor: CursorDialect = {
  kind: (c) => (MYSQL_TIME.has(c.dataType) ? 'time' : MYSQL_NUMBER.has(c.dataType) && !/\(1\)$/.test(c.type) ? 'number' : null),
  text: (q) => `CAST(${q} AS CHAR)`,
  param: (p, c) => {
    if (c.dataType === 'date') return `CAST(${p} AS DATE)`;
    if (MYSQL_TIME.has(c.dataType)) return `CAST(${p} AS DATETIME(6))`;
    if (c.dataType === 'decimal' || c.dataType === 'numeric') return `CAST(${p} AS DECIMAL(65,30))`;
    return /unsigned/i.test(c.type) ? `CAST(${p} AS UNSIGNED)` : `CAST(${p} AS SIGNED)`;
  },
  minus: (e, lb) => ('seconds' in lb ? `(${e} - INTERVAL ${lb.seconds} SECOND)` : `(${e} - ${lb.amount})`),
};

const MYSQL_BINARY = /^(binary|varbinary)\b/i;
const MYSQL_KEY_SPLITS = /^(tinyint|smallint|mediumint|int|integer|bigint|decimal|numeric|char|varchar|binary|varbinary|date|datetime|timestamp)\b/i;

/**
 * Key bounds: strings bound as they are, so the column's collation compares
 * them (the column's derivation beats a literal's: PAD SPACE, _ci and all);
 * numbers and times cast as for cursors; bytes as hex.
 */
export const mysqlKey: KeyDialect = {
  splits: (type) => MYSQL_KEY_SPLITS.test(type) && !/^(tinyint|bit)\(1\)/i.test(type),
  text: (q, type) => (MYSQL_BINARY.test(type) ? `HEX(${q})` : `CAST(${q} AS CHAR)`),
  param: (p, type) => {
    if (MYSQL_BINARY.test(type)) return `UNHEX(${p})`;
    if (/^(char|varchar)\b/i.test(type)) return p;
    const dataType = /^\w+/.exec(type)![0].toLowerCase();
    return mysqlCursor.param(p, { type, dataType });
  },
  // MariaDB 10.11 reads all of the table for (a, b) > (x, y) (EXPLAIN: type ALL); the expanded form is a range on the key.
  rowValues: false,
};

export const mysqlDialect: Dialect = {
  name: 'mysql',
  // The database named in the URL; MysqlSource fills it in.
  defaultSchema: '',
  quoteIdent: (name) => `\`${rejectNul(name).replace(/`/g, '``')}\``,
  placeholder: () => '?',
  isIntegerType: (type) => INTEGER.test(type),
  mapType: mapMysqlType,
  canonicalText: mysqlCanonical,
  digest: {
    row: (columns) => mysqlFields(columns.map((c) => mysqlCanonical(c)!)),
    md5: (text) => `MD5(${text})`,
    sum32: (hex) => `CAST(COALESCE(SUM(CAST(CONV(LEFT(${hex}, 8), 16, 10) AS UNSIGNED)), 0) AS CHAR)`,
    rangeWhere: (plan, range) => mysqlRangeWhere(plan, range),
  },
  cursor: mysqlCursor,
  key: mysqlKey,
};

/** Canonical texts as one length-prefixed text: the same fields as pgChecksumSql. */
export function mysqlFields(canonical: string[]): string {
  return `CONCAT(${canonical.map((e) => `COALESCE(CONCAT(CHAR_LENGTH(${e}), ':', ${e}), 'N')`).join(', ')})`;
}

/** MySQL expression giving the text pgCanonical gives for the same value in the target type. */
export function mysqlCanonical(column: ColumnPlan): string | null {
  const c = `\`${column.name.replace(/`/g, '``')}\``;
  const t = column.targetType.toLowerCase();
  // Zero dates were loaded as NULL; compare them as NULL. MySQL has no BC dates.
  if (t.startsWith('timestamp')) return `NULLIF(DATE_FORMAT(${c}, '%Y-%m-%d %H:%i:%s.%f AD'), '0000-00-00 00:00:00.000000 AD')`;
  if (t === 'date') return `NULLIF(DATE_FORMAT(${c}, '%Y-%m-%d AD'), '0000-00-00 AD')`;
  if (t.startsWith('time')) return `TIME_FORMAT(${c}, '%H:%i:%s.%f')`;
  if (t.startsWith('interval')) {
    // A TIME (up to ±838 h) as pgCanonical's "months days microseconds".
    const us = `((HOUR(${c}) * 3600 + MINUTE(${c}) * 60 + SECOND(${c})) * 1000000 + MICROSECOND(${c}))`;
    return `CONCAT('0 0 ', IF(${c} < TIME'00:00:00', -1, 1) * ${us})`;
  }
  if (t === 'bytea') return `LOWER(HEX(${c}))`;
  if (t === 'boolean') return `CASE WHEN ${c} IS NULL THEN NULL WHEN ${c} <> 0 THEN 't' ELSE 'f' END`;
  if (t.startsWith('bit')) return `LPAD(BIN(${c}), ${Number(/\((\d+)\)/.exec(t)?.[1] ?? 1)}, '0')`;
  if (t === 'real' || t === 'double precision') {
    // A FLOAT is compared as the real it was read into; a DOUBLE (or a FLOAT
    // widened) as a double; any other pairing has no exact rule.
    const single = /^float\b/i.test(column.sourceType);
    if (t === 'real' ? !single : !single && !/^(double|real)\b/i.test(column.sourceType)) return null;
    return mysqlFloatBits(`CAST(${c} AS DOUBLE)`, t === 'real');
  }
  if (t === 'inet') return null;
  // ZEROFILL pads the text form only: + 0 gives the number itself (decimals keep their scale).
  if (/\bzerofill\b/i.test(column.sourceType)) return `CAST(${c} + 0 AS CHAR)`;
  return `CAST(${c} AS CHAR)`;
}

/**
 * The IEEE bits of a finite double x, as lowercase hex: what float8send (or,
 * for a value that is a float32, float4send) gives. MySQL has no function for
 * them, so they are computed with exact arithmetic only: POW(2, integer) and
 * dividing by it are exact in binary64, and so are the comparisons. LOG2 only
 * guesses the exponent (it is log()/ln 2, off by one near powers of two, and
 * 1024 for the largest double); clamped to the normal range and corrected by
 * one either way, e is the exponent with 2^e <= |x| < 2^(e+1), or the least
 * normal one for a subnormal. Then m = |x| / 2^(e - mantissa bits) is an
 * exact integer (< 2^53, or 2^24), and (e + bias - 1) * 2^bits + m is the
 * value's exponent and fraction fields for normals and subnormals alike. The
 * sign is that of ATAN2(x, -1), which -0 also has (though MariaDB stores -0
 * as 0). MariaDB cannot store NaN or ±Infinity, so they need no rule.
 */
export function mysqlFloatBits(x: string, single: boolean): string {
  const [bits, bias] = single ? [23, 127] : [52, 1023];
  const a = `ABS(${x})`;
  const guess = `LEAST(${bias}, GREATEST(${1 - bias}, FLOOR(LOG2(${a}))))`;
  const p = `POW(2, ${guess})`;
  // |x| - 2^g is exact wherever it decides (Sterbenz), and never overflows as 2^(g+1) would.
  const e = `(${guess} - (${guess} > ${1 - bias} AND ${a} < ${p}) + (${a} - ${p} >= ${p}))`;
  const fields = `CAST(${e} + ${bias - 1} AS UNSIGNED) * ${2 ** bits} + CAST(${a} / POW(2, ${e} - ${bits}) AS UNSIGNED)`;
  const sign = `(ATAN2(${x}, -1) < 0) << ${bits === 23 ? 31 : 63}`;
  return `LPAD(LOWER(HEX(${sign} | CASE WHEN ${x} = 0 THEN 0 ELSE ${fields} END)), ${single ? 8 : 16}, '0')`;
}

/** MySQL/MariaDB column → PostgreSQL type. Exact or refused, never lossy. */
export function mapMysqlType(c: SourceColumn, table: TableRef): string {
  const type = c.type.toLowerCase();
  const unsigned = /\bunsigned\b/.test(type);
  const frac = c.scale ?? 0;
  switch (c.dataType.toLowerCase()) {
    case 'tinyint':
      // MySQL's BOOLEAN is tinyint(1); a value other than 0/1 fails the load
      // with the column named instead of silently becoming true.
      return /^tinyint\(1\)$/.test(type) ? 'boolean' : 'smallint';
    case 'smallint':
      return unsigned ? 'integer' : 'smallint';
    case 'mediumint':
      return 'integer';
    case 'int':
    case 'integer':
      return unsigned ? 'bigint' : 'integer';
    case 'bigint':
      return unsigned ? 'numeric(20,0)' : 'bigint';
    case 'decimal':
    case 'numeric':
      return `numeric(${c.precision},${c.scale ?? 0})`;
    case 'float':
      return 'real';
    case 'double':
    case 'real':
      return 'double precision';
    case 'bit':
      return `bit(${c.precision ?? 1})`;
    case 'date':
      return 'date';
    case 'datetime':
      return `timestamp(${frac})`;
    case 'timestamp':
      // Read with the session time zone pinned to UTC: an instant.
      return `timestamptz(${frac})`;
    case 'time':
      return `time(${frac})`;
    case 'year':
      return 'smallint';
    case 'char':
    case 'varchar':
      // MySQL returns CHAR values without trailing pad; varchar keeps them as returned.
      return `varchar(${c.length})`;
    case 'tinytext':
    case 'text':
    case 'mediumtext':
    case 'longtext':
    case 'enum':
    case 'set':
      return 'text';
    case 'json':
      return 'json';
    case 'binary':
    case 'varbinary':
    case 'tinyblob':
    case 'blob':
    case 'mediumblob':
    case 'longblob':
      return 'bytea';
    case 'uuid':
      return 'uuid';
    case 'inet4':
    case 'inet6':
      return 'inet';
    default:
      throw unsupportedType(table, c, SPATIAL.test(c.dataType)
        ? { type: 'bytea', why: "MySQL's own SRID + WKB bytes, byte for byte" }
        : { type: 'text', why: 'the text MySQL returns for it' });
  }
}

const SPATIAL = /^(geometry|point|linestring|polygon|multipoint|multilinestring|multipolygon|geometrycollection|geomcollection)$/i;

export const mysqlCatalog = {
  // MariaDB lists system-versioned tables as 'SYSTEM VERSIONED': tables all the same.
  listTablesSql: `SELECT TABLE_SCHEMA AS \`schema\`, TABLE_NAME AS name,
      CASE WHEN TABLE_TYPE = 'VIEW' THEN 'view' ELSE 'table' END AS kind
    FROM information_schema.TABLES
    WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'VIEW') AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
    ORDER BY 1, 2`,
  // Every column, generated ones included (EXTRA tells them apart, see isGeneratedExtra).
  columnsSql: `SELECT COLUMN_NAME AS name, DATA_TYPE AS data_type, COLUMN_TYPE AS column_type, IS_NULLABLE AS nullable,
      CHARACTER_MAXIMUM_LENGTH AS length, NUMERIC_PRECISION AS \`precision\`,
      COALESCE(NUMERIC_SCALE, DATETIME_PRECISION) AS scale, EXTRA AS extra
    FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
    ORDER BY ORDINAL_POSITION`,
  // MariaDB's JSON is longtext with a json_valid() check; map those columns to json.
  jsonChecksSql: `SELECT CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS
    WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`,
  primaryKeySql: `SELECT COLUMN_NAME AS name FROM information_schema.STATISTICS
    WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`,
  estimateSql: `SELECT TABLE_ROWS AS estimate FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
};

export interface MysqlColumnRow {
  name: string;
  data_type: string;
  column_type: string;
  nullable: string;
  length: number | string | null;
  precision: number | string | null;
  scale: number | string | null;
  /** information_schema.COLUMNS.EXTRA: "VIRTUAL GENERATED", "DEFAULT_GENERATED on update CURRENT_TIMESTAMP", … */
  extra?: string | null;
}

/**
 * A generated column as EXTRA spells it: MySQL and MariaDB 10.2+ say
 * "VIRTUAL GENERATED" / "STORED GENERATED", older MariaDB "VIRTUAL" /
 * "PERSISTENT". MySQL 8's "DEFAULT_GENERATED" marks an ordinary column with an
 * expression default (DEFAULT CURRENT_TIMESTAMP), which is not one.
 */
export function isGeneratedExtra(extra: string | null | undefined): boolean {
  return /(^|\s)(VIRTUAL|STORED|PERSISTENT)(\s+GENERATED)?(\s|$)/i.test(extra ?? '');
}

const num = (v: number | string | null): number | null => (v === null || v === undefined ? null : Number(v));

export function columnsFromCatalog(rows: MysqlColumnRow[], jsonColumns: Set<string>): SourceColumn[] {
  return rows.map((r) => {
    const json = jsonColumns.has(r.name) && /text$/i.test(r.data_type);
    return {
      name: r.name,
      type: json ? 'json' : r.column_type,
      dataType: json ? 'json' : r.data_type.toLowerCase(),
      nullable: r.nullable === 'YES',
      length: num(r.length),
      precision: num(r.precision),
      scale: num(r.scale),
      unsigned: /\bunsigned\b/i.test(r.column_type),
      ...(isGeneratedExtra(r.extra) && { generated: true }),
    };
  });
}

/** WHERE of one key range; integer keys are compared as integers, not as doubles. */
export function mysqlRangeWhere(plan: TablePlan, range: PartitionRange): { sql: string; params: string[] } {
  const types = keyTypes(plan);
  return rangePredicate(mysqlDialect, plan.primaryKey, range, 1, (p, i) => mysqlKey.param(p, types[i]));
}

/**
 * The next cut point of a key walk: the row `step` rows past `after` in key
 * order, read along the primary key (InnoDB: the clustered index), its key
 * columns as text. MariaDB has no TABLESAMPLE, and its statistics hold no
 * key values unless ANALYZE … PERSISTENT ran.
 */
export function mysqlKeyWalkSql(plan: TablePlan, after: string | null, step: number): { sql: string; params: (string | number)[] } {
  const types = keyTypes(plan);
  const quoted = plan.primaryKey.map((k) => mysqlDialect.quoteIdent(k));
  const where = mysqlRangeWhere(plan, { index: 0, count: 1, lo: after, hi: null });
  return {
    sql: `SELECT ${quoted.map((q, i) => `${mysqlKey.text(q, types[i])} AS k${i}`).join(', ')} FROM ${qualify(mysqlDialect, plan.source)}${where.sql} ORDER BY ${quoted.join(', ')} LIMIT 1 OFFSET ?`,
    params: [...where.params, step - 1],
  };
}

/**
 * What the source query selects for a column. The text protocol prints FLOAT
 * with 6 significant digits (123456.789 as 123457): widened to DOUBLE on the
 * server it prints the float's exact value, which PostgreSQL's real parses
 * back to the same 32-bit value.
 */
export function mysqlSelectExpr(column: ColumnPlan): string {
  const q = mysqlDialect.quoteIdent(column.name);
  return /^float\b/i.test(column.sourceType) ? `CAST(${q} AS DOUBLE)` : q;
}

export function mysqlSelectSql(plan: TablePlan, range: PartitionRange): { sql: string; params: string[] } {
  const where = andWhere(mysqlRangeWhere(plan, range), planFilter(mysqlDialect, plan, () => '?'));
  const cols = plan.columns.map((c) => mysqlSelectExpr(c)).join(', ');
  return { sql: `SELECT ${cols} FROM ${qualify(mysqlDialect, plan.source)}${where.sql}`, params: where.params };
}

/**
 * lower_case_table_names: 0 compares database and table names as stored, case
 * included; 1 stores them lower-cased and 2 compares them lower-cased, so
 * `Genre` and `genre` are one table.
 */
export function mysqlNameRule(lowerCaseTableNames: number): NameRule {
  return lowerCaseTableNames === 0 ? EXACT_NAMES : caseInsensitiveNames(`lower_case_table_names=${lowerCaseTableNames}`);
}

/** One statement, so a new session is pinned in one round trip. */
export const MYSQL_SESSION_SQL = "SET time_zone = '+00:00', NAMES utf8mb4, sql_mode = 'NO_ENGINE_SUBSTITUTION'";

function parseMysqlUrl(url: string): { uri: string; database: string } {
  const u = new URL(url.replace(/^mariadb:/i, 'mysql:'));
  return { uri: u.toString(), database: decodeURIComponent(u.pathname.replace(/^\//, '')) };
}

export class MysqlSource implements SourceConnection {
  readonly dialect: Dialect;
  private readonly pool: Pool;

  constructor(url: string, poolSize = 10) {
    const { uri, database } = parseMysqlUrl(url);
    this.dialect = { ...mysqlDialect, defaultSchema: database };
    this.pool = createPool({
      uri,
      connectionLimit: poolSize,
      charset: 'utf8mb4',
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      decimalNumbers: false,
    });
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
    const json = new Set<string>();
    for (const { clause } of checks) {
      const m = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(clause.trim());
      if (m) json.add(m[1].replace(/``/g, '`'));
    }
    const pk = await this.query<{ name: string }>(mysqlCatalog.primaryKeySql, [ref.schema, ref.name]);
    return { ref, columns: columnsFromCatalog(rows, json), primaryKey: pk.map((r) => r.name) };
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
      async () => (await this.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${qualify(mysqlDialect, ref)}`))[0]?.n,
    );
  }

  queryRows(sql: string, params: string[]): Promise<Record<string, unknown>[]> {
    return this.query(sql, params);
  }

  async cursorBounds(ref: TableRef, cursor: CursorPlan): Promise<{ max: string | null; nulls: number }> {
    const rows = await this.query<{ max_value: string | null; null_rows: string }>(cursorBoundsSql(mysqlDialect, ref, cursor));
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
      const { sql, params } = mysqlKeyWalkSql(plan, cuts[cuts.length - 1] ?? null, step);
      const [row] = await this.query<Record<string, string>>(sql, params);
      if (!row) break;
      cuts.push(encodeKey(plan.primaryKey.map((_, i) => row[`k${i}`])));
    }
    return cuts;
  }

  async keyBounds(ref: TableRef, column: string): Promise<{ min: string | null; max: string | null }> {
    const q = mysqlDialect.quoteIdent(column);
    const rows = await this.query<{ min: string | null; max: string | null }>(
      `SELECT CAST(MIN(${q}) AS CHAR) AS min, CAST(MAX(${q}) AS CHAR) AS max FROM ${qualify(mysqlDialect, ref)}`,
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

  async openCopy(plan: TablePlan, range: PartitionRange, preferBinary: boolean): Promise<CopyStream> {
    const conn = await new Promise<PoolConnection>((resolve, reject) =>
      this.pool.getConnection((err, c) => (err ? reject(err) : resolve(c))),
    );
    const run = (sql: string) => new Promise<void>((resolve, reject) => conn.query(sql, (err) => (err ? reject(err) : resolve())));
    try {
      await run('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    } catch (err) {
      conn.destroy();
      throw err;
    }
    const counts = new Map<string, number>();
    const warn = (column: string, what: string) => {
      const key = `column "${column}": ${what}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    };
    // Row packets straight into COPY data (binary when every column has a binary form), values as the
    // server's own text bytes, never JS numbers or Dates; see mysql-copy.ts.
    const encoder = new MysqlCopyEncoder(plan.columns, preferBinary, warn);
    const { sql, params } = mysqlSelectSql(plan, range);
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
    const where = mysqlRangeWhere(plan, range);
    const digest = mysqlDialect.digest!;
    const rows = await this.query<{ rows: string; sum: string }>(
      `SELECT COUNT(*) AS \`rows\`, ${digest.sum32(digest.md5(digest.row(columns)))} AS sum
         FROM ${qualify(mysqlDialect, plan.source)}${where.sql}`,
      where.params,
    );
    return { rows: Number(rows[0].rows), sum: rows[0].sum };
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.pool.end(() => resolve()));
  }
}
