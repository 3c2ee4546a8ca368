import type { ColumnPlan, PartitionRange, TablePlan } from '../../types';
import { andWhere, type DigestDialect } from '../base';
import { isTimestamptz } from '../../canonical';
import { mssqlRangeWhere } from './keys';
import { qualifyMssql, quote } from './sql';
import { mssqlMoneyText } from './read';
import { INTEGER_TYPES, readMappedColumn } from './types';

/**
 * The collation verification hashes under: its varchar is UTF-8 (the bytes
 * PostgreSQL's md5 hashes) and, being supplementary-character aware, LEN
 * counts a 4-byte character once, as char_length does. SQL Server 2019 (15.x)
 * or later, Azure SQL Database and Managed Instance have it.
 */
export const MSSQL_UTF8_COLLATION = 'Latin1_General_100_CS_AS_SC_UTF8';

const INTEGER_TARGETS = /^(smallint|integer|bigint|int[248]?)$/;
export const TEXT_TARGETS = /^(text|character varying|varchar)(\s*\(\d+\))?$/;
const BYTE_SOURCES = new Set(['binary', 'varbinary', 'image', 'rowversion', 'timestamp']);
export const STRING_SOURCES = new Set(['char', 'varchar', 'nchar', 'nvarchar', 'sysname', 'text', 'ntext']);

/** Scale of a numeric(p,s) spelling; undefined for a bare numeric (which keeps each value's scale). */
function numericScale(type: string): number | undefined | null {
  const m = /^(?:numeric|decimal)\s*(?:\(\s*\d+\s*(?:,\s*(\d+)\s*)?\))?$/.exec(type);
  if (!m) return null;
  return type.includes('(') ? Number(m[1] ?? 0) : undefined;
}

/**
 * SQL Server expression giving the text pgCanonical gives for the same value
 * in the target column (see ../postgres/digest.ts), computed from the value as the read
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
    if (source === 'money' || source === 'smallmoney') return scale === undefined || scale === 4 ? mssqlMoneyText(q, source) : null;
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
 * Row count and checksum of one key range, computed on SQL Server exactly as
 * pgChecksumSql computes them on PostgreSQL: each row's fields as
 * "<characters>:<text>" (NULL as "N"), concatenated, hashed as UTF-8 with MD5,
 * the first 32 bits summed. The text is built as nvarchar and converted to
 * varchar under MSSQL_UTF8_COLLATION, so the bytes hashed are UTF-8 whatever
 * the columns' own collations or code pages (varchar and nvarchar alike);
 * LEN(x + '.') - 1 counts trailing spaces, which LEN alone ignores.
 * HASHBYTES takes more than 8000 bytes since SQL Server 2016.
 */
export function mssqlChecksumSql(
  plan: TablePlan,
  columns: ColumnPlan[],
  range: PartitionRange,
  /** The table's where (its rowFilter), values numbered by the placeholder given (after the key bounds'). */
  filter?: (placeholder: (i: number) => string) => { sql: string; params: string[] },
): { sql: string; params: string[]; keyParams: number } {
  const byKey = mssqlRangeWhere(plan, range);
  const where = filter ? andWhere(byKey, filter((i) => `@p${byKey.params.length + i}`)) : byKey;
  const first32 = `CONVERT(bigint, 0x00000000 + SUBSTRING(HASHBYTES('MD5', ${mssqlRow(columns)}), 1, 4))`;
  return {
    sql:
      `SELECT COUNT_BIG(*) AS [rows], CONVERT(varchar(40), COALESCE(SUM(CONVERT(decimal(38, 0), ${first32})), 0)) AS [sum] ` +
      `FROM ${qualifyMssql(plan.source)}${where.sql}`,
    params: where.params,
    keyParams: byKey.params.length,
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

/** Row digests for verify's row-by-row comparison, in the text mssqlChecksumSql hashes. */
export const mssqlDigest: DigestDialect = {
  row: (columns) => mssqlRow(columns),
  md5: (text) => `LOWER(CONVERT(varchar(32), HASHBYTES('MD5', ${text}), 2))`,
  sum32: (hex) => `CONVERT(varchar(40), COALESCE(SUM(CONVERT(decimal(38, 0), CONVERT(bigint, 0x00000000 + CONVERT(varbinary(4), LEFT(${hex}, 8), 2)))), 0))`,
  rangeWhere: (plan, range, first) => mssqlRangeWhere(plan, range, first),
};
