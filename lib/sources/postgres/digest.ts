import { pgCanonical, pgFields, pgMd5, pgSum32 } from '../../canonical';
import type { ColumnPlan, PartitionRange, TableRef } from '../../types';
import { andWhere, rangePredicate, type DigestDialect } from '../base';
import { PG_RANGES, pgKey, pgRangeWhere } from './keys';
import { qualifyPg, quotePg } from './sql';

/**
 * Row count and the sum of the first 32 bits of md5 over each row's canonical
 * text: order-free, so PostgreSQL and MySQL compute the same figure without
 * agreeing on collation. Each field is length-prefixed ("<chars>:<text>", NULL
 * as "N"), so no value can pass for two fields, a NULL, or another split.
 */
/** `live`: a condition rows must meet to be counted (a soft-delete target's unmarked rows). */
export function pgChecksumSql(
  table: TableRef,
  canonical: string[],
  keyColumns: string | string[],
  range: PartitionRange,
  live?: string,
  /** The key columns' types, to bind bounds as (on the source); untyped: inferred from the columns. */
  types?: string[],
  /** The source table's where (its rowFilter), values numbered by the placeholder given. */
  filter?: (placeholder: (i: number) => string) => { sql: string; params: string[] },
): { text: string; values: string[] } {
  const byKey = rangePredicate(PG_RANGES, keyColumns, range, 1, types ? (p, i) => pgKey.param(p, types[i]) : undefined);
  const where = filter ? andWhere(byKey, filter((i) => `$${byKey.params.length + i}`)) : byKey;
  if (live) where.sql += `${where.sql ? ' AND' : ' WHERE'} ${live}`;
  return {
    text: `SELECT count(*)::bigint AS rows, ${pgSum32(pgMd5(pgFields(canonical)))} AS sum FROM ${qualifyPg(table)}${where.sql}`,
    values: where.params,
  };
}

/** A column's canonical text on the source, as the target's column type gives it. */
export function pgCanonicalText(column: ColumnPlan): string {
  const q = quotePg(column.name);
  // A user type's target name means nothing in the source: compare its text as it is.
  const same = column.sourceType === column.targetType || column.userType;
  return pgCanonical(same ? q : `${q}::${column.targetType}`, column.targetType);
}

export const pgDigest: DigestDialect = {
  row: (columns) => pgFields(columns.map(pgCanonicalText)),
  md5: pgMd5,
  sum32: pgSum32,
  rangeWhere: (plan, range, first) => pgRangeWhere(plan, range, first),
};
