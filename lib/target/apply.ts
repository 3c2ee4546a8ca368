import { rangePredicate } from '../sources/base';
import { qualifyPg, quotePg, targetRanges } from './sql';
import type { ColumnPlan, PartitionRange, TablePlan, TableRef } from '../types';
import { columnList, targetKey } from './columns';
import { DELETED_AT_COLUMN } from './soft-deletes';

// How rows in a staging table are applied to the target table.

// Types whose `=` holds only for identical stored values: the plain (indexable,
// fast) comparison is exact for them. Strings are compared under "C", whose
// equality is byte equality whatever the column's collation.
const IDENTITY_TYPES =
  /^(smallint|integer|bigint|boolean|uuid|bytea|date|oid|(timestamp|time)(\(\d\))? without time zone|timestamp(\(\d\))? with time zone|timestamptz(\(\d\))?|bit( varying)?(\(\d+\))?)(\[\])?$/;
const STRING_TYPES = /^(text|character varying(\(\d+\))?|character(\(\d+\))?|varchar(\(\d+\))?)(\[\])?$/;
const NUMERIC = /^(numeric|decimal)(\(\d+(,\s*-?\d+)?\))?$/;

/**
 * True when the target value differs from the incoming one in its stored
 * form. Numeric by value and scale (1.0 = 1.00 but scales differ); every
 * other type not known to be identity-equal (interval '1 day' = '24 hours', jsonb, ranges, citext, domains, user types,
 * json without `=` at all, ...) is compared by its text form, which the pinned
 * session settings make canonical; floats by their bits (0 = -0).
 */
export function distinctSql(left: string, right: string, targetType: string): string {
  const t = targetType.toLowerCase();
  if (IDENTITY_TYPES.test(t)) return `${left} IS DISTINCT FROM ${right}`;
  if (STRING_TYPES.test(t)) return `${left} COLLATE "C" IS DISTINCT FROM ${right} COLLATE "C"`;
  if (t === 'double precision') return `float8send(${left}) IS DISTINCT FROM float8send(${right})`;
  if (t === 'real') return `float4send(${left}) IS DISTINCT FROM float4send(${right})`;
  // Value and display scale are all a numeric's text holds (1.0 vs 1.00; NaN and
  // ±Infinity have no scale), and comparing them skips numeric_out, the
  // costliest step of telling an unchanged row.
  if (NUMERIC.test(t)) return `(${left} IS DISTINCT FROM ${right} OR scale(${left}) IS DISTINCT FROM scale(${right}))`;
  return `${left}::text IS DISTINCT FROM ${right}::text`;
}

/**
 * Upsert from staging that writes only rows that differ, and counts inserts
 * and updates (xmax = 0 marks a row this statement inserted). Rows whose
 * target row is equal (same comparison as the upsert's WHERE) are dropped
 * before the INSERT: ON CONFLICT would lock, and so dirty and WAL-log, every
 * conflicting row before its WHERE skips it. The pre-filter only drops rows
 * the WHERE would skip; the WHERE stays the rule (counts unchanged). `range`
 * (the chunk's key range, bound; see targetRange) lets the filter read only
 * that part of the target. With a soft-delete flag, a row that comes back is written
 * (unmarked) even when its values are unchanged, so it counts as updated;
 * rows written are live.
 */
export function upsertSql(
  target: TableRef,
  staging: TableRef,
  columns: ColumnPlan[],
  primaryKey: string[],
  softDeleteColumn?: string,
  /** What to read instead of the whole staging table (e.g. the latest version per key). */
  rows: string = qualifyPg(staging),
  range?: PartitionRange,
): { text: string; values: string[] } {
  const keys = new Set(primaryKey);
  const keyColumns = targetKey(columns, primaryKey);
  const nonKey = columns.filter((c) => !keys.has(c.name));
  const sets = nonKey.map((c) => `${quotePg(c.targetName)} = EXCLUDED.${quotePg(c.targetName)}`);
  const differs = nonKey.map((c) => distinctSql(`t.${quotePg(c.targetName)}`, `EXCLUDED.${quotePg(c.targetName)}`, c.targetType));
  const same = [
    ...keyColumns.map((k) => `cur.${quotePg(k)} = s.${quotePg(k)}`),
    ...nonKey.map((c) => `NOT (${distinctSql(`cur.${quotePg(c.targetName)}`, `s.${quotePg(c.targetName)}`, c.targetType)})`),
  ];
  let insertColumns = columnList(columns);
  let selected = columns.map((c) => `s.${quotePg(c.targetName)}`).join(', ');
  if (softDeleteColumn) {
    const flag = quotePg(softDeleteColumn);
    insertColumns += `, ${flag}`;
    selected += ', false';
    sets.push(`${flag} = false`, `${quotePg(DELETED_AT_COLUMN)} = NULL`);
    differs.push(`t.${flag} IS TRUE`);
    same.push(`cur.${flag} IS NOT TRUE`);
  }
  const onCur = { ...targetRanges, quoteIdent: (name: string) => `cur.${quotePg(name)}` };
  const where = range ? rangePredicate(onCur, keyColumns, range) : { sql: '', params: [] };
  const onConflict = sets.length ? `DO UPDATE SET ${sets.join(', ')}\n    WHERE ${differs.join('\n       OR ')}` : 'DO NOTHING';
  return {
    text: `WITH applied AS (
  INSERT INTO ${qualifyPg(target)} AS t (${insertColumns})
  SELECT ${selected} FROM (SELECT ${columnList(columns)} FROM ${rows}) AS s
  WHERE NOT EXISTS (SELECT 1 FROM ${qualifyPg(target)} AS cur${where.sql}${where.sql ? '\n      AND ' : ' WHERE '}${same.join('\n      AND ')})
  ON CONFLICT (${keyColumns.map(quotePg).join(', ')}) ${onConflict}
  RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted)::bigint AS inserted, count(*) FILTER (WHERE NOT inserted)::bigint AS updated FROM applied`,
    values: where.params,
  };
}

/**
 * A chunk's key range where the target may evaluate it: only when the target
 * orders the key exactly as the source (integer keys; see sameOrderOnTarget).
 * Otherwise (lo, hi] would hold other rows in the target than in the source:
 * a text key under another collation, PAD SPACE, a MySQL char(36) uuid.
 */
export function targetRange(table: TablePlan, range: PartitionRange): PartitionRange | undefined {
  return (table.rangesOnTarget ?? table.integerKey) ? range : undefined;
}

/** The one range of a table synced as a whole: nothing to evaluate, on either side. */
export function isWholeTable(range: PartitionRange): boolean {
  return range.count === 1 && range.lo === null && range.hi === null;
}

/**
 * Deletes for one key range: target rows in the range that the source (now
 * in staging) no longer has. With a soft-delete flag they are marked instead
 * (flag true, deletion time now), and a row marked before is left as it is,
 * so it is neither re-marked nor counted again. Range bounds are bound
 * parameters.
 */
export function deleteMissingSql(
  target: TableRef,
  staging: TableRef,
  columns: ColumnPlan[],
  primaryKey: string[],
  range: PartitionRange,
  softDeleteColumn?: string,
  /** Only the target rows this condition (on `t`) holds: those staging stands for (compare's differing digest buckets). */
  only?: (alias: string) => string,
): { text: string; values: string[] } {
  const keys = targetKey(columns, primaryKey);
  const onTarget = { ...targetRanges, quoteIdent: (name: string) => `t.${quotePg(name)}` };
  const where = rangePredicate(onTarget, keys, range);
  if (only) where.sql += `${where.sql ? ' AND' : ' WHERE'} ${only('t')}`;
  const match = keys.map((k) => `s.${quotePg(k)} = t.${quotePg(k)}`).join(' AND ');
  const missing = `${where.sql}${where.sql ? ' AND' : ' WHERE'} NOT EXISTS (SELECT 1 FROM ${qualifyPg(staging)} AS s WHERE ${match})`;
  if (softDeleteColumn) {
    const flag = quotePg(softDeleteColumn);
    return {
      text: `UPDATE ${qualifyPg(target)} AS t SET ${flag} = true, ${quotePg(DELETED_AT_COLUMN)} = now()${missing} AND t.${flag} IS NOT TRUE`,
      values: where.params,
    };
  }
  return { text: `DELETE FROM ${qualifyPg(target)} AS t${missing}`, values: where.params };
}

// Deletes on a key the target orders otherwise than the source (see
// targetRange): each chunk keeps the keys it staged in its partition's key
// table, in the chunk's own transaction; once every partition of the table
// has committed, one pass deletes the target rows no partition saw.

/** The partition's key table, typed like the target's key columns (so `=` is the target key's own equality). */
export function createKeysTableSql(keys: TableRef, target: TableRef, columns: ColumnPlan[], primaryKey: string[], unlogged: boolean): string {
  const list = targetKey(columns, primaryKey).map(quotePg).join(', ');
  return `CREATE ${unlogged ? 'UNLOGGED ' : ''}TABLE IF NOT EXISTS ${qualifyPg(keys)} AS SELECT ${list} FROM ${qualifyPg(target)} WITH NO DATA`;
}

export function saveStagedKeysSql(keys: TableRef, staging: TableRef, columns: ColumnPlan[], primaryKey: string[]): string {
  const list = targetKey(columns, primaryKey).map(quotePg).join(', ');
  return `INSERT INTO ${qualifyPg(keys)} (${list}) SELECT ${list} FROM ${qualifyPg(staging)}`;
}

/**
 * Target rows whose key none of the key tables holds: deleted, or with a
 * soft-delete flag marked (a row marked before is left as it is).
 */
export function deleteUnseenSql(target: TableRef, keyTables: TableRef[], columns: ColumnPlan[], primaryKey: string[], softDeleteColumn?: string): string {
  const keys = targetKey(columns, primaryKey);
  const list = keys.map(quotePg).join(', ');
  const seen = keyTables.map((k) => `SELECT ${list} FROM ${qualifyPg(k)}`).join(' UNION ALL ');
  const match = keys.map((k) => `s.${quotePg(k)} = t.${quotePg(k)}`).join(' AND ');
  const unseen = ` WHERE NOT EXISTS (SELECT 1 FROM (${seen}) AS s WHERE ${match})`;
  if (softDeleteColumn) {
    const flag = quotePg(softDeleteColumn);
    return `UPDATE ${qualifyPg(target)} AS t SET ${flag} = true, ${quotePg(DELETED_AT_COLUMN)} = now()${unseen} AND t.${flag} IS NOT TRUE`;
  }
  return `DELETE FROM ${qualifyPg(target)} AS t${unseen}`;
}

/** Key tables in `schema` whose names start with `prefix` (those of a table's earlier, unfinished runs). */
export const keyTablesLikeSql = `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1 AND c.relkind = 'r' AND starts_with(c.relname, $2)`;
