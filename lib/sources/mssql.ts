import {
  BigInt as SqlBigInt,
  ConnectionPool,
  Int,
  NVarChar,
  Request,
  SmallInt,
  TinyInt,
  type config as MssqlConfig,
  type ISqlType,
  type ISqlTypeFactoryWithNoParams,
} from 'mssql';
import { asBoolean, asBytea, asText, RowCopyEncoder, type ValueEncoder } from '../copy-text';
import { TablesyncError } from '../errors';
import type { ColumnPlan, CursorPlan, PartitionRange, TablePlan, TableRef } from '../types';
import type { CursorKind } from './cursor';
import { isTimestamptz } from './postgres';
import {
  andWhere,
  cursorBoundsSql,
  planFilter,
  type CatalogEntry,
  type CopyStream,
  type Dialect,
  type NameRule,
  type RangeSum,
  type SourceColumn,
  caseInsensitiveNames,
  EXACT_NAMES,
  type SourceConnection,
  type SourceTable,
  estimateOrCount,
  qualify,
  rangePredicate,
  encodeKey,
  keyTypes,
  samplePercent,
  type KeyDialect,
  rejectNul,
  unsupportedType,
} from './base';

const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'int', 'bigint']);

const MSSQL_KEY_SPLITS =
  /^(tinyint|smallint|int|bigint|decimal|numeric|char|varchar|nchar|nvarchar|binary|varbinary|uniqueidentifier|date|datetime|datetime2|smalldatetime|datetimeoffset)\b/;
const baseType = (type: string) => type.replace(/\(.*$/, '').trim().toLowerCase();

/**
 * Key bounds bound as nvarchar and converted to the column's own type in the
 * SQL, so the column's collation (and uniqueidentifier's byte-group order)
 * compares them; times and bytes in the styles their text was printed in.
 */
export const mssqlKey: KeyDialect = {
  splits: (type) => MSSQL_KEY_SPLITS.test(type.toLowerCase()) && !/\(max\)/i.test(type),
  text: (q, type) => {
    const t = baseType(type);
    if (MSSQL_TIME.has(t)) return mssqlCursorText(q, t);
    if (t === 'binary' || t === 'varbinary') return `CONVERT(varchar(max), ${q}, 2)`;
    if (t === 'uniqueidentifier') return `CONVERT(char(36), ${q})`;
    return /char/.test(t) ? `CONVERT(nvarchar(4000), ${q})` : `CONVERT(varchar(50), ${q})`;
  },
  param: (p, type) => {
    const t = baseType(type);
    if (MSSQL_TIME.has(t)) return mssqlCursorParam(p, type, t);
    if (t === 'binary' || t === 'varbinary') return `CONVERT(varbinary(max), ${p}, 2)`;
    return `CONVERT(${type}, ${p})`;
  },
  // SQL Server has no row-value comparison.
  rowValues: false,
};

export const mssqlDialect: Dialect = {
  name: 'mssql',
  defaultSchema: 'dbo',
  quoteIdent: (name) => `[${rejectNul(name).replace(/]/g, ']]')}]`,
  placeholder: (i) => `@p${i}`,
  isIntegerType: (type) => INTEGER_TYPES.has(type),
  mapType: mapMssqlType,
  cursor: {
    kind: (c) => mssqlCursorKind(c.dataType),
    text: (q, c) => mssqlCursorText(q, c.dataType),
    param: (p, c) => mssqlCursorParam(p, c.type, c.dataType),
    minus: (e, lb) => ('seconds' in lb ? `DATEADD(second, -${lb.seconds}, ${e})` : `(${e} - ${lb.amount})`),
  },
  canonicalText: (column) => mssqlCanonical(column),
  digest: {
    row: (columns) => mssqlRow(columns),
    md5: (text) => `LOWER(CONVERT(varchar(32), HASHBYTES('MD5', ${text}), 2))`,
    sum32: (hex) => `CONVERT(varchar(40), COALESCE(SUM(CONVERT(decimal(38, 0), CONVERT(bigint, 0x00000000 + CONVERT(varbinary(4), LEFT(${hex}, 8), 2)))), 0))`,
    rangeWhere: (plan, range, first) => mssqlRangeWhere(plan, range, first),
  },
  key: mssqlKey,
};

const MSSQL_TIME = new Set(['date', 'datetime', 'datetime2', 'smalldatetime', 'datetimeoffset']);
const MSSQL_NUMBER = new Set(['tinyint', 'smallint', 'int', 'bigint', 'decimal', 'numeric']);

function mssqlCursorKind(dataType: string): CursorKind | null {
  if (MSSQL_TIME.has(dataType)) return 'time';
  if (MSSQL_NUMBER.has(dataType)) return 'number';
  if (dataType === 'rowversion' || dataType === 'timestamp') return 'binary';
  return null;
}

/**
 * A cursor value's exact text: every fractional digit SQL Server keeps (style
 * 121 for datetime2(7): 7 digits; 127 with the offset for datetimeoffset),
 * numbers as printed, rowversion as 0x-prefixed hex (style 1).
 */
function mssqlCursorText(q: string, dataType: string): string {
  switch (dataType) {
    case 'date':
      return `CONVERT(varchar(10), ${q}, 23)`;
    case 'datetime':
    case 'smalldatetime':
    case 'datetime2':
      return `CONVERT(varchar(27), ${q}, 121)`;
    case 'datetimeoffset':
      return `CONVERT(varchar(34), ${q}, 121)`;
    case 'rowversion':
    case 'timestamp':
      return `CONVERT(varchar(18), CONVERT(binary(8), ${q}), 1)`;
    default:
      return `CONVERT(varchar(50), ${q})`;
  }
}

/** A bound nvarchar parameter as the cursor column's type, parsed with the style its text was printed in. */
function mssqlCursorParam(p: string, type: string, dataType: string): string {
  switch (dataType) {
    case 'date':
      return `CONVERT(date, ${p}, 23)`;
    case 'datetime':
    case 'smalldatetime':
    case 'datetime2':
      return `CONVERT(datetime2(7), ${p}, 121)`;
    case 'datetimeoffset':
      return `CONVERT(datetimeoffset(7), ${p}, 121)`;
    case 'rowversion':
    case 'timestamp':
      return `CONVERT(binary(8), ${p}, 1)`;
    default:
      return `CONVERT(${type}, ${p})`;
  }
}

/**
 * A text as the cursor column's type, back as SQL Server's own text of it
 * (all 7 digits of datetime2(7), rowversion hex), or null when it is not a
 * value of the type: TRY_CONVERT, with the style a saved cursor is read in.
 */
export async function mssqlCursorValueText(query: MssqlQuery, column: { type: string; dataType: string }, value: string): Promise<string | null> {
  const parsed = `TRY_${mssqlCursorParam('@p1', column.type, column.dataType)}`;
  const [row] = await query(`SELECT ${mssqlCursorText(parsed, column.dataType)} AS v`, [value]);
  return (row?.v as string | null | undefined) ?? null;
}

const quote = mssqlDialect.quoteIdent;

/**
 * SQL Server column → PostgreSQL type, exact or refused. Fractional seconds
 * beyond PostgreSQL's 6 digits are truncated on the way (see readColumn).
 */
export function mapMssqlType(c: SourceColumn, table: TableRef): string {
  const fraction = Math.min(c.scale ?? 7, 6);
  switch (c.dataType) {
    case 'bit':
      return 'boolean';
    case 'tinyint': // 0..255: PostgreSQL has no unsigned or 1-byte integer
    case 'smallint':
      return 'smallint';
    case 'int':
      return 'integer';
    case 'bigint':
      return 'bigint';
    case 'decimal':
    case 'numeric':
      return `numeric(${c.precision},${c.scale})`;
    case 'money':
      return 'numeric(19,4)';
    case 'smallmoney':
      return 'numeric(10,4)';
    case 'float':
      return (c.precision ?? 53) <= 24 ? 'real' : 'double precision';
    case 'real':
      return 'real';
    case 'date':
      return 'date';
    case 'time':
      return `time(${fraction})`;
    case 'datetime':
      return 'timestamp(3)';
    case 'smalldatetime':
      return 'timestamp(0)';
    case 'datetime2':
      return `timestamp(${fraction})`;
    case 'datetimeoffset':
      return `timestamptz(${fraction})`;
    // SQL Server counts bytes (varchar) or UTF-16 units (nvarchar, a 4-byte
    // character takes 2); either is at least the number of characters, which
    // is what PostgreSQL's varchar(n) counts, so every value fits.
    case 'char':
    case 'varchar':
    case 'nchar':
    case 'nvarchar':
      return c.length === -1 ? 'text' : `varchar(${c.length})`;
    case 'sysname': // the system alias of nvarchar(128), used in catalog-like tables
      return 'varchar(128)';
    case 'text':
    case 'ntext':
      return 'text';
    case 'uniqueidentifier':
      return 'uuid';
    case 'binary':
    case 'varbinary':
    case 'image':
    case 'rowversion':
    case 'timestamp': // SQL Server's timestamp is rowversion, not a date
      return 'bytea';
    case 'xml':
      return 'xml';
    default:
      throw unsupportedType(table, c, mssqlSuggestion(c.dataType));
  }
}

/** One row of mssqlCatalog.columnsSql: sys.columns as SQL Server reports it. */
export interface MssqlColumnRow {
  name: string;
  type_schema: string;
  type_name: string;
  is_user_defined: boolean;
  /** Bytes: nchar/nvarchar take 2 per character; -1 for (max). */
  max_length: number;
  precision: number;
  scale: number;
  is_nullable: boolean;
  /** A computed column (absent in recordings made before they were read). */
  is_computed?: boolean;
}

/** Columns as describeTable reports them, from the rows of mssqlCatalog.columnsSql. */
export function columnsFromCatalog(rows: MssqlColumnRow[]): SourceColumn[] {
  return rows.map((r) => {
    if (r.is_user_defined) {
      // Alias and CLR user types are named with their schema, so one called
      // like a system type ("dbo.int") can never be mapped as that type.
      const type = `${r.type_schema}.${r.type_name}`;
      return { name: r.name, type, dataType: type.toLowerCase(), nullable: r.is_nullable, ...(r.is_computed && { generated: true }) };
    }
    const dataType = r.type_name.toLowerCase();
    const column: SourceColumn = { name: r.name, type: dataType, dataType, nullable: r.is_nullable, ...(r.is_computed && { generated: true }) };
    switch (dataType) {
      case 'decimal':
      case 'numeric':
        column.precision = r.precision;
        column.scale = r.scale;
        column.type = `${dataType}(${r.precision},${r.scale})`;
        break;
      case 'float':
        column.precision = r.precision;
        if (r.precision !== 53) column.type = `float(${r.precision})`;
        break;
      case 'time':
      case 'datetime2':
      case 'datetimeoffset':
        column.scale = r.scale;
        column.type = `${dataType}(${r.scale})`;
        break;
      case 'char':
      case 'varchar':
      case 'binary':
      case 'varbinary':
        column.length = r.max_length;
        column.type = `${dataType}(${r.max_length === -1 ? 'max' : r.max_length})`;
        break;
      case 'nchar':
      case 'nvarchar':
        column.length = r.max_length === -1 ? -1 : r.max_length / 2;
        column.type = `${dataType}(${r.max_length === -1 ? 'max' : column.length})`;
        break;
    }
    return column;
  });
}

// Catalog queries. Names are always bound as @p1 (schema) and @p2 (table).
export const mssqlCatalog = {
  listTablesSql: `SELECT s.name AS [schema], t.name AS name
    FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id
    WHERE t.is_ms_shipped = 0
    ORDER BY s.name, t.name`,
  // Computed columns too, marked: their values are copied like any column's
  // (sys.columns gives the type of the computed result).
  columnsSql: `SELECT c.name AS name, SCHEMA_NAME(ty.schema_id) AS type_schema, ty.name AS type_name,
      ty.is_user_defined AS is_user_defined, c.max_length AS max_length, c.precision AS precision,
      c.scale AS scale, c.is_nullable AS is_nullable, c.is_computed AS is_computed
    FROM sys.columns c
    JOIN sys.tables t ON t.object_id = c.object_id
    JOIN sys.schemas s ON s.schema_id = t.schema_id
    JOIN sys.types ty ON ty.user_type_id = c.user_type_id
    WHERE s.name = @p1 AND t.name = @p2
    ORDER BY c.column_id`,
  primaryKeySql: `SELECT c.name AS name
    FROM sys.indexes i
    JOIN sys.tables t ON t.object_id = i.object_id
    JOIN sys.schemas s ON s.schema_id = t.schema_id
    JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
    JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
    WHERE s.name = @p1 AND t.name = @p2 AND i.is_primary_key = 1 AND ic.key_ordinal > 0
    ORDER BY ic.key_ordinal`,
  // Heap (0) or clustered index (1): each row counted once. Maintained by the
  // engine, so no statistics need to exist, but it needs VIEW DATABASE STATE.
  estimateSql: `SELECT SUM(ps.row_count) AS estimate
    FROM sys.dm_db_partition_stats ps
    JOIN sys.tables t ON t.object_id = ps.object_id
    JOIN sys.schemas s ON s.schema_id = t.schema_id
    WHERE s.name = @p1 AND t.name = @p2 AND ps.index_id IN (0, 1)`,
  // Identifiers of objects in the database compare under its collation.
  collationSql: `SELECT CONVERT(nvarchar(128), DATABASEPROPERTYEX(DB_NAME(), 'Collation')) AS collation`,
  // The same count from metadata any reader of the table may see.
  estimateFallbackSql: `SELECT SUM(p.rows) AS estimate
    FROM sys.partitions p
    JOIN sys.tables t ON t.object_id = p.object_id
    JOIN sys.schemas s ON s.schema_id = t.schema_id
    WHERE s.name = @p1 AND t.name = @p2 AND p.index_id IN (0, 1)`,
};

/**
 * Schema and table names compare under the database's collation:
 * Latin1_General_CI_AS (the default) ignores case, *_CI_AI also accents;
 * *_CS_* and binary collations compare them as stored.
 */
export function mssqlNameRule(collation: string | null): NameRule {
  const c = (collation ?? '').toUpperCase();
  if (!c || /_BIN2?(_|$)/.test(c) || !/_CI(_|$)/.test(c)) return EXACT_NAMES;
  return caseInsensitiveNames(`collation ${collation}`, !/_AI(_|$)/.test(c));
}

/** Bounds of an integer key, as text so bigint stays exact. */
export function mssqlKeyBoundsSql(ref: TableRef, column: string): string {
  const q = quote(column);
  return `SELECT CAST(MIN(${q}) AS varchar(20)) AS [min], CAST(MAX(${q}) AS varchar(20)) AS [max] FROM ${qualify(mssqlDialect, ref)}`;
}

/** A catalog query with its names bound as @p1, @p2, …: what MssqlSource runs, or a recording in tests. */
export type MssqlQuery = (sql: string, names: string[]) => Promise<Record<string, unknown>[]>;

/**
 * sys.dm_db_partition_stats (needs VIEW DATABASE STATE), then sys.partitions,
 * then COUNT_BIG(*): whatever the error (Babelfish and other stand-ins lack
 * the DMV and raise their own numbers), and for a missing or negative figure.
 */
export function mssqlEstimateRows(query: MssqlQuery, ref: TableRef): Promise<number> {
  const names = [ref.schema, ref.name];
  return estimateOrCount(
    [
      async () => (await query(mssqlCatalog.estimateSql, names))[0]?.estimate,
      async () => (await query(mssqlCatalog.estimateFallbackSql, names))[0]?.estimate,
    ],
    async () => (await query(`SELECT COUNT_BIG(*) AS n FROM ${qualify(mssqlDialect, ref)}`, []))[0]?.n,
  );
}

/** The float text that parses back to the same IEEE value; String() alone loses the sign of -0. */
const asFloat: ValueEncoder = (v) => (typeof v === 'number' && Object.is(v, -0) ? '-0' : asText(v));

/**
 * Types no rule below knows (user types mapped with typeMap) are read as the
 * driver returns them; only scalars have an unambiguous text form.
 */
function asScalarText(sourceType: string): ValueEncoder {
  return (v) => {
    if (typeof v === 'object' && v !== null) {
      throw new Error(`source type ${sourceType} arrives as ${Buffer.isBuffer(v) ? 'bytes' : 'an object'}, which has no exact text form`);
    }
    return asText(v);
  };
}

/**
 * How one column is read: the expression selected on SQL Server and the COPY
 * text encoder for what the driver returns for it.
 *
 * Values the driver would turn into lossy JS values are converted to exact
 * text on the server: decimal/numeric/money (JS numbers), bigint, and every
 * date/time type (JS Date holds milliseconds, and time zone handling in
 * between would be one more thing to get wrong).
 *
 * Fractional seconds: datetime2(7), time(7) and datetimeoffset(7) keep 100 ns;
 * PostgreSQL keeps microseconds. The 7th digit is TRUNCATED, never rounded:
 * the value is widened to datetime2(7) (exact, 7 digits always), printed in
 * style 121 and the text cut after the 6th digit, on the server. Rounding
 * (CAST to datetime2(6), or letting PostgreSQL round a 7-digit literal, which
 * it does) could carry into the next second, day or year, and fails outright
 * on 9999-12-31 23:59:59.9999999. Offsets are whole minutes, so cutting the
 * local time cuts the instant the same way.
 */
export function readColumn(column: Pick<ColumnPlan, 'name' | 'sourceType'>): { expression: string; encode: ValueEncoder } {
  const q = quote(column.name);
  const base = column.sourceType.replace(/\(.*\)$/, '').toLowerCase();
  const text = (expression: string) => ({ expression, encode: asText });
  const widened = `CONVERT(varchar(27), CONVERT(datetime2(7), ${q}), 121)`; // yyyy-mm-dd hh:mi:ss.fffffff
  switch (base) {
    case 'bit':
      return { expression: q, encode: asBoolean };
    case 'tinyint':
    case 'smallint':
    case 'int':
      return text(q);
    case 'bigint':
      return text(`CONVERT(varchar(20), ${q})`);
    case 'decimal':
    case 'numeric':
      return text(`CONVERT(varchar(50), ${q})`);
    case 'money':
    case 'smallmoney':
      // Style 2: all four decimals (the default style prints two).
      return text(`CONVERT(varchar(50), ${q}, 2)`);
    case 'float':
    case 'real':
      // The driver's double is the stored value exactly (a real widens
      // exactly), and its shortest text parses back to it.
      return { expression: q, encode: asFloat };
    case 'date':
      return text(`CONVERT(char(10), ${q}, 23)`);
    case 'datetime':
      // Its 1/300 s ticks as SQL Server itself prints them (.000/.003/.007).
      return text(`CONVERT(varchar(23), ${q}, 121)`);
    case 'smalldatetime':
      return text(`CONVERT(varchar(19), ${q}, 120)`);
    case 'datetime2':
      return text(`LEFT(${widened}, 26)`);
    case 'time':
      return text(`SUBSTRING(${widened}, 12, 15)`);
    case 'datetimeoffset':
      // Local time and its offset ("+05:30"): PostgreSQL stores the instant.
      // NULL stays NULL because tedious sessions run with CONCAT_NULL_YIELDS_NULL on.
      return text(`LEFT(${widened}, 26) + DATENAME(tzoffset, ${q})`);
    case 'uniqueidentifier':
      // SQL Server's own text, whose byte order differs from the stored bytes.
      return text(`CONVERT(char(36), ${q})`);
    case 'char':
    case 'varchar':
    case 'nchar':
    case 'nvarchar':
    case 'sysname':
    case 'text':
    case 'ntext':
    case 'xml':
      return text(q);
    case 'binary':
    case 'varbinary':
    case 'image':
    case 'rowversion':
    case 'timestamp':
      return { expression: q, encode: asBytea };
    default:
      return { expression: q, encode: asScalarText(column.sourceType) };
  }
}

/** Types SQL Server can print as text on the server when typeMap maps them to text. */
const MSSQL_AS_TEXT: Record<string, { expression: (q: string) => string; why: string }> = {
  geography: { expression: (q) => `${q}.ToString()`, why: 'its WKT text, as ToString() prints it' },
  geometry: { expression: (q) => `${q}.ToString()`, why: 'its WKT text, as ToString() prints it' },
  hierarchyid: { expression: (q) => `${q}.ToString()`, why: 'its path text, e.g. /1/2/' },
  sql_variant: { expression: (q) => `CONVERT(nvarchar(4000), ${q})`, why: 'each value converted to text on the server' },
};

/** A typeMap target that really reads this type (see readMappedColumn), or none. */
function mssqlSuggestion(dataType: string): { type: string; why: string } | null {
  const known = MSSQL_AS_TEXT[dataType.toLowerCase()];
  if (known) return { type: 'text', why: known.why };
  // Alias types (schema-qualified) arrive as the value of their base type.
  if (dataType.includes('.')) return { type: 'text', why: "for an alias type, its base type's value" };
  return null;
}

/** The read of a column whose source type has no mapping of its own but a typeMap to text. */
export function readMappedColumn(column: Pick<ColumnPlan, 'name' | 'sourceType' | 'targetType'>): { expression: string; encode: ValueEncoder } | null {
  const asText = MSSQL_AS_TEXT[column.sourceType.replace(/\(.*\)$/, '').toLowerCase()];
  if (!asText || !/^(text|character varying|varchar)/i.test(column.targetType)) return null;
  return { expression: asText.expression(quote(column.name)), encode: asScalarText(column.sourceType) };
}

/** The source-side SELECT for one key range, its bounds as @p1/@p2. */
export function mssqlSelectSql(plan: TablePlan, range: PartitionRange): { sql: string; params: string[]; keyParams: number } {
  const byKey = mssqlRangeWhere(plan, range);
  // Cursor values follow the key bounds, bound as text and converted in the SQL.
  const where = andWhere(byKey, planFilter(mssqlDialect, plan, (i) => `@p${byKey.params.length + i}`));
  const columns = plan.columns.map((c) => (readMappedColumn(c) ?? readColumn(c)).expression).join(', ');
  return { sql: `SELECT ${columns} FROM ${qualify(mssqlDialect, plan.source)}${where.sql}`, params: where.params, keyParams: byKey.params.length };
}

/**
 * The collation verification hashes under: its varchar is UTF-8 (the bytes
 * PostgreSQL's md5 hashes) and, being supplementary-character aware, LEN
 * counts a 4-byte character once, as char_length does. SQL Server 2019 (15.x)
 * or later, Azure SQL Database and Managed Instance have it.
 */
export const MSSQL_UTF8_COLLATION = 'Latin1_General_100_CS_AS_SC_UTF8';

const INTEGER_TARGETS = /^(smallint|integer|bigint|int[248]?)$/;
const TEXT_TARGETS = /^(text|character varying|varchar)(\s*\(\d+\))?$/;
const BYTE_SOURCES = new Set(['binary', 'varbinary', 'image', 'rowversion', 'timestamp']);
const STRING_SOURCES = new Set(['char', 'varchar', 'nchar', 'nvarchar', 'sysname', 'text', 'ntext']);

/** Scale of a numeric(p,s) spelling; undefined for a bare numeric (which keeps each value's scale). */
function numericScale(type: string): number | undefined | null {
  const m = /^(?:numeric|decimal)\s*(?:\(\s*\d+\s*(?:,\s*(\d+)\s*)?\))?$/.exec(type);
  if (!m) return null;
  return type.includes('(') ? Number(m[1] ?? 0) : undefined;
}

/**
 * SQL Server expression giving the text pgCanonical gives for the same value
 * in the target column (see postgres.ts), computed from the value as the read
 * path (readColumn) sends it: datetime2/time/datetimeoffset truncated to 6
 * fractional digits exactly as read, datetime as its 1/300 s ticks print
 * (.997), datetimeoffset in UTC, money with its 4 decimals, uniqueidentifier
 * as its text, binary as lowercase hex, bit as t/f, floats by their IEEE bits
 * (big-endian, as float8send/float4send give them). NULL for NULL.
 *
 * null: no exact rule for this pairing of source and target type (a typeMap
 * or an existing target column of another type): the column is left out of
 * the checksum and listed as such, never compared by a form that might differ.
 */
export function mssqlCanonical(column: Pick<ColumnPlan, 'name' | 'sourceType' | 'targetType'>): string | null {
  const q = quote(column.name);
  const source = column.sourceType.replace(/\(.*\)$/, '').toLowerCase();
  const t = column.targetType.toLowerCase().replace(/\s+/g, ' ').trim();
  const widened = `CONVERT(varchar(27), CONVERT(datetime2(7), ${q}), 121)`;
  const hex = (bytes: string) => `LOWER(CONVERT(varchar(max), ${bytes}, 2))`;
  const single = source === 'real' || (source === 'float' && Number(/\((\d+)\)/.exec(column.sourceType)?.[1] ?? 53) <= 24);
  // "yyyy-mm-dd hh:mi:ss.ffffff" as the read path sends it, per source type.
  const timestamp = (): string | null => {
    switch (source) {
      case 'datetime2':
        return `LEFT(${widened}, 26)`;
      case 'datetime':
        return `CONVERT(varchar(23), ${q}, 121) + '000'`;
      case 'smalldatetime':
        return `CONVERT(varchar(19), ${q}, 120) + '.000000'`;
      case 'date':
        return `CONVERT(char(10), ${q}, 23) + ' 00:00:00.000000'`;
      default:
        return null;
    }
  };
  if (t === 'boolean') return source === 'bit' ? `CASE WHEN ${q} = 1 THEN 't' WHEN ${q} = 0 THEN 'f' END` : null;
  if (INTEGER_TYPES.has(source) && (INTEGER_TARGETS.test(t) || numericScale(t) === 0 || numericScale(t) === undefined)) {
    return `CONVERT(varchar(20), ${q})`;
  }
  const scale = numericScale(t);
  if (scale !== null) {
    if (source === 'decimal' || source === 'numeric') {
      const own = Number(/,\s*(\d+)\s*\)$/.exec(column.sourceType)?.[1] ?? 0);
      return scale === undefined || scale === own ? `CONVERT(varchar(50), ${q})` : null;
    }
    if (source === 'money' || source === 'smallmoney') return scale === undefined || scale === 4 ? `CONVERT(varchar(50), ${q}, 2)` : null;
    return null;
  }
  if (t === 'double precision' || t === 'float8') {
    return source === 'float' || source === 'real' ? hex(`CONVERT(varbinary(8), CONVERT(float, ${q}))`) : null;
  }
  if (t === 'real' || t === 'float4') return single ? hex(`CONVERT(varbinary(4), CONVERT(real, ${q}))`) : null;
  if (t === 'date') return source === 'date' ? `CONVERT(char(10), ${q}, 23) + ' AD'` : null;
  if (isTimestamptz(t)) {
    if (source === 'datetimeoffset') return `LEFT(CONVERT(varchar(27), CONVERT(datetime2(7), SWITCHOFFSET(${q}, '+00:00')), 121), 26) + ' AD'`;
    // Read without an offset into a session pinned to UTC.
    const local = timestamp();
    return local && `${local} + ' AD'`;
  }
  if (t.startsWith('timestamp')) {
    // PostgreSQL's timestamp input ignores the offset the read sends: the local time.
    const local = source === 'datetimeoffset' ? `LEFT(${widened}, 26)` : timestamp();
    return local && `${local} + ' AD'`;
  }
  if (/^time(\s*\(\d\))?( without time zone)?$/.test(t)) return source === 'time' ? `SUBSTRING(${widened}, 12, 15)` : null;
  if (t === 'uuid') return source === 'uniqueidentifier' ? `LOWER(CONVERT(char(36), ${q}))` : null;
  if (t === 'bytea') return BYTE_SOURCES.has(source) ? hex(`CONVERT(varbinary(max), ${q})`) : null;
  if (t === 'xml') return source === 'xml' ? `CONVERT(nvarchar(max), ${q})` : null;
  if (TEXT_TARGETS.test(t)) {
    if (STRING_SOURCES.has(source) || source === 'xml') return `CONVERT(nvarchar(max), ${q})`;
    const mapped = readMappedColumn(column);
    return mapped && `CONVERT(nvarchar(max), ${mapped.expression})`;
  }
  return null;
}

/**
 * WHERE of one key range: an integer key's bounds are bound with its own type
 * (keyParamType); any other key's as nvarchar, converted in the SQL.
 */
export function mssqlRangeWhere(plan: TablePlan, range: PartitionRange, first = 1): { sql: string; params: string[] } {
  const types = keyTypes(plan);
  return rangePredicate(mssqlDialect, plan.primaryKey, range, first, plan.integerKey ? undefined : (p, i) => mssqlKey.param(p, types[i]));
}

/**
 * Cut points from a page sample (TABLESAMPLE SYSTEM) of the key columns,
 * sorted by SQL Server in the key's own order and collation, every
 * (n / pieces)-th row kept; @p1 the pieces. The percentage is a number this
 * code computed, written into the SQL: TABLESAMPLE takes a constant.
 */
export function mssqlSampleSql(plan: TablePlan, pieces: number, percent: number): { sql: string; params: string[] } {
  if (!Number.isFinite(percent) || percent <= 0) throw new Error(`sample percentage ${percent} is not a positive number`);
  const types = keyTypes(plan);
  const quoted = plan.primaryKey.map(quote);
  const texts = quoted.map((q, i) => `${mssqlKey.text(q, types[i])} AS k${i}`);
  return {
    sql:
      `SELECT ${quoted.map((_, i) => `k${i}`).join(', ')} FROM (SELECT ${texts.join(', ')}, ` +
      `ROW_NUMBER() OVER (ORDER BY ${quoted.join(', ')}) AS rn, COUNT_BIG(*) OVER () AS n ` +
      `FROM ${qualify(mssqlDialect, plan.source)} TABLESAMPLE SYSTEM (${Math.min(100, percent).toFixed(6)} PERCENT)) AS s ` +
      `WHERE rn < n AND (rn * CONVERT(bigint, @p1)) / n > ((rn - 1) * CONVERT(bigint, @p1)) / n ORDER BY rn`,
    params: [String(pieces)],
  };
}

/**
 * Row count and checksum of one key range, computed on SQL Server exactly as
 * pgChecksumSql computes them on PostgreSQL: each row's fields as
 * "<characters>:<text>" (NULL as "N"), concatenated, hashed as UTF-8 with MD5,
 * the first 32 bits summed. The text is built as nvarchar and converted to
 * varchar under MSSQL_UTF8_COLLATION, so the bytes hashed are UTF-8 whatever
 * the columns' own collations or code pages (varchar and nvarchar alike);
 * LEN(x + '.') - 1 counts trailing spaces, which LEN alone ignores.
 * HASHBYTES takes more than 8000 bytes since SQL Server 2016.
 */
export function mssqlChecksumSql(plan: TablePlan, columns: ColumnPlan[], range: PartitionRange): { sql: string; params: string[] } {
  const where = mssqlRangeWhere(plan, range);
  const first32 = `CONVERT(bigint, 0x00000000 + SUBSTRING(HASHBYTES('MD5', ${mssqlRow(columns)}), 1, 4))`;
  return {
    sql:
      `SELECT COUNT_BIG(*) AS [rows], CONVERT(varchar(40), COALESCE(SUM(CONVERT(decimal(38, 0), ${first32})), 0)) AS [sum] ` +
      `FROM ${qualify(mssqlDialect, plan.source)}${where.sql}`,
    params: where.params,
  };
}

/** A row's canonical fields as one UTF-8 varchar, as mssqlChecksumSql hashes it. */
function mssqlRow(columns: ColumnPlan[]): string {
  const fields = columns.map((c) => {
    const text = mssqlCanonical(c);
    if (text === null) throw new Error(`column ${c.name} (${c.sourceType} → ${c.targetType}) has no canonical text on SQL Server`);
    const n = `CONVERT(nvarchar(max), ${text}) COLLATE ${MSSQL_UTF8_COLLATION}`;
    return `CASE WHEN ${quote(c.name)} IS NULL THEN N'N' ELSE CONVERT(nvarchar(20), LEN(${n} + N'.') - 1) + N':' + ${n} END`;
  });
  return `CONVERT(varchar(max), (${fields.join(' + ')}) COLLATE ${MSSQL_UTF8_COLLATION})`;
}

const KEY_PARAM_TYPES: Record<string, ISqlTypeFactoryWithNoParams> = {
  tinyint: TinyInt,
  smallint: SmallInt,
  int: Int,
  bigint: SqlBigInt,
};

/**
 * Range bounds are bound with the key's own type: comparing the key with a
 * wider type would make SQL Server convert the column instead of seeking.
 */
function keyParamType(plan: TablePlan): ISqlTypeFactoryWithNoParams | ISqlType {
  if (!plan.integerKey) return NVarChar(4000);
  const keyType = plan.columns.find((c) => c.name === plan.primaryKey[0])?.sourceType ?? '';
  const type = KEY_PARAM_TYPES[keyType];
  if (!type) throw new Error(`key ranges need an integer key; ${plan.source.schema}.${plan.source.name} has ${keyType || 'none'}`);
  return type;
}

/** The events and controls of mssql's Request that a streamed read uses. */
export interface StreamingRequest {
  on(event: 'recordset' | 'row' | 'error' | 'done', listener: (...args: any[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  cancel(): unknown;
  query(sql: string): Promise<unknown>;
}

/**
 * Runs `sql` on a request in stream + array-row mode and turns its rows into
 * COPY text. Resolves once SQL Server has sent the result's column metadata,
 * so compile, permission and missing-object errors reject here.
 */
export async function streamRows(request: StreamingRequest, sql: string, columns: ColumnPlan[]): Promise<CopyStream> {
  const reads = columns.map((c) => readMappedColumn(c) ?? readColumn(c));
  const encoder = new RowCopyEncoder(
    reads.map((r) => r.encode),
    columns.map((c) => c.name),
  );
  let opened = false;
  let failure: Error | undefined;
  let finished = false;
  let markDone!: () => void;
  const done = new Promise<void>((resolve) => (markDone = resolve));
  const ready = new Promise<void>((resolve, reject) => {
    request.on('recordset', () => {
      opened = true;
      resolve();
    });
    request.on('error', (err: Error) => {
      failure ??= err;
      // Before the caller has the stream, nobody listens to it: reject instead.
      if (opened) encoder.destroy(failure);
      else reject(failure);
    });
    request.on('done', () => {
      finished = true;
      if (!opened) reject(failure ?? new Error('SQL Server returned no result set'));
      else if (!failure) encoder.end();
      markDone();
    });
  });
  request.on('row', (row: unknown[]) => {
    if (encoder.destroyed) return;
    if (!encoder.write(row)) request.pause();
  });
  encoder.on('drain', () => request.resume());
  // The first rows can arrive in the same tick as the column metadata, before
  // the caller consumes the stream. An error then (a value it cannot encode,
  // a cancel) stays in the stream's errored state for pipeline() or for-await
  // to report; without a listener it would be thrown and end the process.
  encoder.on('error', () => undefined);
  // In stream mode the promise never rejects: errors arrive as 'error' events.
  void request.query(sql);
  await ready;
  return {
    stream: encoder,
    format: 'text',
    rows: () => encoder.rows,
    warnings: () => ({}),
    finish: async (error?: unknown) => {
      if (error) {
        // Rows still arriving are dropped instead of buffered.
        encoder.destroy();
        // Cancelling sends an attention to the server; tedious resumes a paused
        // request to read up to its acknowledgement, then frees the connection.
        if (!finished) request.cancel();
      }
      await done;
      if (!error && failure) throw failure;
    },
  };
}

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
  readonly dialect = mssqlDialect;
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
      this.pool = pool.connect().catch((err) => {
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
  async queryRows(sql: string, params: string[]): Promise<Record<string, unknown>[]> {
    const request = (await this.connect()).request();
    params.forEach((value, i) => request.input(`p${i + 1}`, NVarChar(4000), value));
    return (await request.query(sql)).recordset;
  }

  cursorValueText(column: { type: string; dataType: string }, value: string): Promise<string | null> {
    return mssqlCursorValueText((sql, names) => this.query(sql, names), column, value);
  }

  async cursorBounds(ref: TableRef, cursor: CursorPlan): Promise<{ max: string | null; nulls: number }> {
    const [row] = await this.query<{ max_value: string | null; null_rows: number }>(cursorBoundsSql(mssqlDialect, ref, cursor));
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

  estimateRows(ref: TableRef): Promise<number> {
    return mssqlEstimateRows((sql, names) => this.query(sql, names), ref);
  }

  async sampleKeys(plan: TablePlan, pieces: number, estimatedRows: number): Promise<string[]> {
    const { sql, params } = mssqlSampleSql(plan, pieces, samplePercent(pieces, estimatedRows));
    const rows = await this.query<Record<string, string>>(sql, params);
    return rows.map((r) => encodeKey(plan.primaryKey.map((_, i) => r[`k${i}`])));
  }

  async keyBounds(ref: TableRef, column: string): Promise<{ min: string | null; max: string | null }> {
    const [row] = await this.query<{ min: string | null; max: string | null }>(mssqlKeyBoundsSql(ref, column));
    return { min: row.min, max: row.max };
  }

  /**
   * Text COPY only: SQL Server rows are decoded by the driver and re-encoded,
   * so PostgreSQL's binary format would gain nothing. One SELECT per range,
   * at the database's own isolation level (READ COMMITTED unless configured).
   */
  async openCopy(plan: TablePlan, range: PartitionRange): Promise<CopyStream> {
    const { sql, params, keyParams } = mssqlSelectSql(plan, range);
    const request = new Request(await this.connect());
    request.stream = true;
    request.arrayRowMode = true;
    params.forEach((value, i) =>
      request.input(`p${i + 1}`, i < keyParams ? keyParamType(plan) : NVarChar(50), value),
    );
    return streamRows(request, sql, plan.columns);
  }

  private utf8: Promise<void> | null = null;

  /** Verification needs a UTF-8 collation (SQL Server 2019+, Azure SQL): said plainly where there is none. */
  private checkUtf8(): Promise<void> {
    this.utf8 ??= this.query<{ cp: number | null; version: string | null }>(
      `SELECT COLLATIONPROPERTY(@p1, 'CodePage') AS cp, CONVERT(nvarchar(128), SERVERPROPERTY('ProductVersion')) AS version`,
      [MSSQL_UTF8_COLLATION],
    )
      .then(([row]) => {
        if (Number(row?.cp) !== 65001) {
          throw new TablesyncError(
            'UnsupportedSource',
            `verify: this SQL Server (version ${row?.version ?? 'unknown'}) has no UTF-8 collation ${MSSQL_UTF8_COLLATION}; ` +
              'checksums need SQL Server 2019 (15.x) or later, Azure SQL Database or Managed Instance',
          );
        }
      })
      .catch((err) => {
        this.utf8 = null;
        throw err;
      });
    return this.utf8;
  }

  async checksumRange(plan: TablePlan, columns: ColumnPlan[], range: PartitionRange): Promise<RangeSum> {
    await this.checkUtf8();
    const { sql, params } = mssqlChecksumSql(plan, columns, range);
    const request = (await this.connect()).request();
    if (params.length) {
      const type = keyParamType(plan);
      params.forEach((value, i) => request.input(`p${i + 1}`, type, value));
    }
    const [row] = (await request.query<{ rows: string | number; sum: string }>(sql)).recordset;
    return { rows: Number(row.rows), sum: row.sum };
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    if (pool) await (await pool.catch(() => null))?.close();
  }
}
