import { BigInt as SqlBigInt, Int, NVarChar, SmallInt, TinyInt, type ISqlType, type ISqlTypeFactoryWithNoParams } from 'mssql';
import type { PartitionRange, TablePlan, TableRef } from '../../types';
import { keyTypes, rangePredicate, type KeyDialect } from '../base';
import { MSSQL_TIME, mssqlCursorParam, mssqlCursorText } from './cursor';
import { placeholder, qualifyMssql, quote } from './sql';

const MSSQL_KEY_SPLITS =
  /^(tinyint|smallint|int|bigint|decimal|numeric|char|varchar|nchar|nvarchar|binary|varbinary|uniqueidentifier|date|datetime|datetime2|smalldatetime|datetimeoffset)\b/;
export const baseType = (type: string) => type.replace(/\(.*$/, '').trim().toLowerCase();

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

const MSSQL_RANGES = { quoteIdent: quote, placeholder, key: mssqlKey };

/** Bounds of an integer key, as text so bigint stays exact. */
export function mssqlKeyBoundsSql(ref: TableRef, column: string): string {
  const q = quote(column);
  return `SELECT CAST(MIN(${q}) AS varchar(20)) AS [min], CAST(MAX(${q}) AS varchar(20)) AS [max] FROM ${qualifyMssql(ref)}`;
}

/**
 * WHERE of one key range: an integer key's bounds are bound with its own type
 * (keyParamType); any other key's as nvarchar, converted in the SQL.
 */
export function mssqlRangeWhere(plan: TablePlan, range: PartitionRange, first = 1): { sql: string; params: string[] } {
  const types = keyTypes(plan);
  return rangePredicate(MSSQL_RANGES, plan.primaryKey, range, first, plan.integerKey ? undefined : (p, i) => mssqlKey.param(p, types[i]));
}

/**
 * Cut points from a page sample (TABLESAMPLE SYSTEM) of the key columns,
 * sorted by SQL Server in the key's own order and collation, every
 * (n / pieces)-th row kept; @p1 the pieces. The percentage is a number this
 * code computed, written into the SQL: TABLESAMPLE takes a constant.
 */
export function mssqlSampleSql(
  plan: TablePlan,
  pieces: number,
  percent: number,
  /** The table's where (its rowFilter), values from @p2: the sample's rows are the ones the table syncs. */
  only: { sql: string; params: string[] } = { sql: '', params: [] },
): { sql: string; params: string[] } {
  if (!Number.isFinite(percent) || percent <= 0) throw new Error(`sample percentage ${percent} is not a positive number`);
  const types = keyTypes(plan);
  const quoted = plan.primaryKey.map(quote);
  const texts = quoted.map((q, i) => `${mssqlKey.text(q, types[i])} AS k${i}`);
  return {
    sql:
      `SELECT ${quoted.map((_, i) => `k${i}`).join(', ')} FROM (SELECT ${texts.join(', ')}, ` +
      `ROW_NUMBER() OVER (ORDER BY ${quoted.join(', ')}) AS rn, COUNT_BIG(*) OVER () AS n ` +
      `FROM ${qualifyMssql(plan.source)} TABLESAMPLE SYSTEM (${Math.min(100, percent).toFixed(6)} PERCENT)${only.sql ? ` WHERE ${only.sql}` : ''}) AS s ` +
      `WHERE rn < n AND (rn * CONVERT(bigint, @p1)) / n > ((rn - 1) * CONVERT(bigint, @p1)) / n ORDER BY rn`,
    params: [String(pieces), ...only.params],
  };
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
export function keyParamType(plan: TablePlan): ISqlTypeFactoryWithNoParams | ISqlType {
  if (!plan.integerKey) return NVarChar(4000);
  const keyType = plan.columns.find((c) => c.name === plan.primaryKey[0])?.sourceType ?? '';
  const type = KEY_PARAM_TYPES[keyType];
  if (!type) throw new Error(`key ranges need an integer key; ${plan.source.schema}.${plan.source.name} has ${keyType || 'none'}`);
  return type;
}
