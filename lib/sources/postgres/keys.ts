import type { PartitionRange, TablePlan, TableRef } from '../../types';
import { keyTypes, rangePredicate, type KeyDialect } from '../base';
import { placeholder, qualifyPg, quotePg } from './sql';

// Key types whose text (pinned session settings) reads back as the same value; others run as one range.
const PG_KEY_SPLITS =
  /^(smallint|integer|bigint|numeric(\(\d+(,\d+)?\))?|uuid|text|bytea|date|character varying(\(\d+\))?|character(\(\d+\))?|(timestamp|time)(\(\d\))? with(out)? time zone)$/;

export const pgKey: KeyDialect = {
  splits: (type) => PG_KEY_SPLITS.test(type),
  text: (q) => `${q}::text`,
  param: (p, type) => `${p}::${type}`,
  rowValues: true,
};

/** What a key range's WHERE needs of this dialect. */
export const PG_RANGES = { quoteIdent: quotePg, placeholder, key: pgKey };

/** The collation a key column sorts in (no row: its type has none). */
export const pgKeyCollationSql = `SELECT n.nspname AS schema, c.collname AS name FROM pg_attribute a
  JOIN pg_collation c ON c.oid = a.attcollation JOIN pg_namespace n ON n.oid = c.collnamespace
  WHERE a.attrelid = to_regclass($1) AND a.attname = $2`;

/** A one-column key's histogram bounds ($1 schema, $2 table, $3 column) as the key's text, sorted in its collation. */
export function pgHistogramSql(type: string, collation: TableRef | null): string {
  const collate = collation ? ` COLLATE ${qualifyPg(collation)}` : '';
  // A partitioned or inheritance parent is read with its children: their histogram (inherited) when there is one.
  return `SELECT b::text AS k0 FROM (SELECT DISTINCT b${collate} AS b
      FROM (SELECT histogram_bounds FROM pg_stats WHERE schemaname = $1 AND tablename = $2 AND attname = $3
             ORDER BY inherited DESC LIMIT 1) s, unnest(s.histogram_bounds::text::${type}[]) AS b) h
    ORDER BY b`;
}

/**
 * Cut points from a page sample of the key columns: the sample sorted by the
 * key (each column in its own collation), every (n / pieces)-th row kept.
 * $1 the sample percentage, $2 the pieces. Sampled rows are distinct keys.
 */
export function pgSampleSql(
  plan: TablePlan,
  pieces: number,
  percent: number,
  /** The table's where (its rowFilter), values from $3: the sample's rows are the ones the table syncs. */
  only: { sql: string; params: string[] } = { sql: '', params: [] },
): { text: string; values: string[] } {
  const quoted = plan.primaryKey.map(quotePg);
  const texts = quoted.map((q, i) => `${pgKey.text(q, keyTypes(plan)[i])} AS k${i}`);
  return {
    text: `SELECT ${quoted.map((_, i) => `k${i}`).join(', ')} FROM (
  SELECT ${texts.join(', ')}, row_number() OVER (ORDER BY ${quoted.join(', ')}) AS rn, count(*) OVER () AS n
    FROM ${qualifyPg(plan.source)} TABLESAMPLE SYSTEM ($1::float8)${only.sql ? ` WHERE ${only.sql}` : ''}) s
  WHERE rn < n AND (rn * $2::bigint) / n > ((rn - 1) * $2::bigint) / n
  ORDER BY rn`,
    values: [String(percent), String(pieces), ...only.params],
  };
}

/** WHERE of one key range on the source, bounds bound as the key columns' own types, numbered from `first`. */
export function pgRangeWhere(plan: TablePlan, range: PartitionRange, first = 1): { sql: string; params: string[] } {
  const types = keyTypes(plan);
  return rangePredicate(PG_RANGES, plan.primaryKey, range, first, (p, i) => pgKey.param(p, types[i]));
}
