import { qualify, type Dialect } from '../../sources/base';
import { rowFilterOf } from '../../sources/row-filter';
import type { ChangelogPlan, PartitionRange, TablePlan, TableRef } from '../../types';

// Change-log reads: a log table in the source names the changed rows (key,
// action, an increasing position). A run takes the log rows past the saved
// position up to the log's largest position when the run was planned, and
// reads the current source rows of every key they name, in one query per key
// chunk (a semi-join on the source, never one query per key); keys whose row
// the source no longer has are deleted. The source compares the keys (its
// types, its collation): the log's text is cast to the key's type first, so
// '07' and '7' name one integer key. All values are bound.

/** A text value (a bound parameter, a log column) as the type of a column; as is when the type has no cast rule. */
function asType(dialect: Dialect, expr: string, column: { type: string; dataType: string }): string {
  const cursor = dialect.cursor;
  return cursor.kind(column as never) ? cursor.param(expr, column) : expr;
}

/** A logged key (text, or already the key's type) as the table key's type, so the source compares key values, not spellings. */
function asKey(dialect: Dialect, expr: string, log: ChangelogPlan): string {
  return dialect.key.splits(log.keyType) ? dialect.key.param(expr, log.keyType) : asType(dialect, expr, { type: log.keyType, dataType: log.keyDataType });
}

/** The log rows of the window's positions (and the entry's filters), as a WHERE (or ''). */
function windowWhere(dialect: Dialect, log: ChangelogPlan, from: string | null, to: string | null, next: (value: string) => string): string {
  const q = dialect.quoteIdent;
  const position = { type: log.positionType, dataType: log.positionDataType };
  const where: string[] = [];
  // A position that may tie is read from the saved one inclusive: rows logged at it after the run read it are not lost.
  if (from !== null) where.push(`l.${q(log.position)} ${log.positionUnique === false ? '>=' : '>'} ${asType(dialect, next(from), position)}`);
  if (to !== null) where.push(`l.${q(log.position)} <= ${asType(dialect, next(to), position)}`);
  for (const [column, value, type, dataType] of log.where) where.push(`l.${q(column)} = ${asType(dialect, next(value), { type, dataType })}`);
  return where.length ? ` WHERE ${where.join(' AND ')}` : '';
}

/**
 * The log reduced to one row per key value, its last action: `k` the key as
 * the table key's type, `a` the action. Values numbered by `next`.
 */
function lastActionsSql(dialect: Dialect, log: ChangelogPlan, next: (value: string) => string): string {
  const q = dialect.quoteIdent;
  const window = log.window!;
  const key = asKey(dialect, `l.${q(log.key)}`, log);
  return `SELECT ${key} AS k, l.${q(log.action)} AS a, ROW_NUMBER() OVER (PARTITION BY ${key} ORDER BY l.${q(log.position)} DESC) AS rn
    FROM ${qualify(dialect, log.table)} l${windowWhere(dialect, log, window.from, window.to, next)}`;
}

function deleteValues(log: ChangelogPlan): string[] {
  return Object.entries(log.actions)
    .filter(([, op]) => op === 'delete')
    .map(([value]) => value);
}

/**
 * The read filter of a change-log run (without WHERE): rows whose key the
 * log names, whatever its last action (the source row, if it has one, is the
 * truth). Empty on a first run (no saved position): the whole table is read.
 */
export function changelogFilter(dialect: Dialect, plan: TablePlan, placeholder: (i: number) => string): { sql: string; params: string[] } {
  const log = plan.changelog;
  if (!log?.window || !log.window.started) return { sql: '', params: [] };
  const params: string[] = [];
  const next = (value: string) => {
    params.push(value);
    return placeholder(params.length);
  };
  const q = dialect.quoteIdent;
  const key = asKey(dialect, `l.${q(log.key)}`, log);
  return {
    sql: `${q(plan.primaryKey[0])} IN (SELECT ${key} FROM ${qualify(dialect, log.table)} l${windowWhere(dialect, log, log.window.from, log.window.to, next)})`,
    params,
  };
}

/** A key of the table's type as exact text (what the target casts back). */
function keyText(dialect: Dialect, expr: string, log: ChangelogPlan): string {
  return dialect.key.splits(log.keyType) ? dialect.key.text(expr, log.keyType) : dialect.cursor.text(expr, { type: log.keyType, dataType: log.keyDataType });
}

/**
 * The logged keys of one key range whose row the source no longer has (to
 * delete from the target), or whose last action is a delete: `k` as text,
 * `gone` 1 when the source has no row of that key (compared by the source, in
 * the key's type and collation), `logged_delete` 1 when the last action is a
 * delete. A gone row not logged as deleted, and a logged delete of a row the
 * source still has (kept), are warned about. Values in the dialect's
 * placeholders numbered from 1.
 */
export function changelogDeletesSql(dialect: Dialect, plan: TablePlan, range: PartitionRange): { sql: string; params: string[] } {
  const log = plan.changelog!;
  const params: string[] = [];
  const next = (value: string) => {
    params.push(value);
    return dialect.placeholder(params.length);
  };
  // Values are numbered in the order they appear in the text (MySQL's ? are positional).
  const deletes = deleteValues(log);
  const isDelete = () => (deletes.length ? `x.a IN (${deletes.map(next).join(', ')})` : '1 = 0');
  // Gone: no row of that key among the rows the table syncs (its where), so a row that stops matching is deleted like a deleted one.
  const only = rowFilterOf(plan);
  const gone = () => {
    const f = only(dialect, (i) => dialect.placeholder(params.length + i));
    params.push(...f.params);
    return `NOT EXISTS (SELECT 1 FROM ${qualify(dialect, plan.source)} t WHERE t.${dialect.quoteIdent(plan.primaryKey[0])} = x.k${f.sql ? ` AND ${f.sql}` : ''})`;
  };
  const head = `SELECT ${keyText(dialect, 'x.k', log)} AS k, CASE WHEN ${isDelete()} THEN 1 ELSE 0 END AS logged_delete, CASE WHEN ${gone()} THEN 1 ELSE 0 END AS gone`;
  const inner = lastActionsSql(dialect, log, next);
  const bounds: string[] = [];
  if (range.lo !== null) bounds.push(`x.k > ${asKey(dialect, next(range.lo), log)}`);
  if (range.hi !== null) bounds.push(`x.k <= ${asKey(dialect, next(range.hi), log)}`);
  return {
    sql: `${head} FROM (${inner}) x
      WHERE x.rn = 1${bounds.length ? ` AND ${bounds.join(' AND ')}` : ''} AND (${isDelete()} OR ${gone()})`,
    params,
  };
}

/** The log's largest position (with the entry's filters), exact text; values numbered from 1. */
export function changelogMaxSql(dialect: Dialect, log: ChangelogPlan): { sql: string; params: string[] } {
  const q = dialect.quoteIdent;
  const params: string[] = [];
  const where = log.where.map(([column, value, type, dataType]) => {
    params.push(value);
    return `${q(column)} = ${asType(dialect, dialect.placeholder(params.length), { type, dataType })}`;
  });
  const max = dialect.cursor.text(`MAX(${q(log.position)})`, { type: log.positionType, dataType: log.positionDataType });
  return { sql: `SELECT ${max} AS max_value FROM ${qualify(dialect, log.table)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`, params };
}

/**
 * The log's keys past `position` (null: all of them), with the entry's
 * filters, as the table key's type under the key column's own name, for
 * verify: a row that differs while its key is here is pending (the next run
 * applies it). Values numbered by `placeholder` from 1.
 */
export function loggedKeysSql(
  dialect: Dialect,
  plan: TablePlan,
  position: string | null,
  placeholder: (i: number) => string,
): { sql: string; params: string[] } {
  const log = plan.changelog!;
  const q = dialect.quoteIdent;
  const params: string[] = [];
  const next = (value: string) => {
    params.push(value);
    return placeholder(params.length);
  };
  const where = windowWhere(dialect, log, position, null, next);
  const key = asKey(dialect, `l.${q(log.key)}`, log);
  return {
    sql: `SELECT ${key} AS ${q(plan.primaryKey[0])} FROM ${qualify(dialect, log.table)} l${where}`,
    params,
  };
}

/**
 * How the source compares values of a text key, asked of the source in the
 * key column's own collation (a UNION with the column gives the bound value
 * its collation): `fold_case` 1 when 'a' equals 'A', `fold_spaces` 1 when 'a' equals 'a '.
 */
export function keyFoldSql(dialect: Dialect, source: TableRef, key: { name: string; type: string }): { sql: string; params: string[] } {
  const p = (i: number) => (dialect.key.splits(key.type) ? dialect.key.param(dialect.placeholder(i), key.type) : dialect.placeholder(i));
  return {
    sql: `SELECT CASE WHEN u.k = ${p(1)} THEN 1 ELSE 0 END AS fold_case, CASE WHEN u.k = ${p(2)} THEN 1 ELSE 0 END AS fold_spaces
      FROM (SELECT t.${dialect.quoteIdent(key.name)} AS k FROM ${qualify(dialect, source)} t WHERE 1 = 0 UNION ALL SELECT ${p(3)}) u`,
    params: ['A', 'a ', 'a'],
  };
}
