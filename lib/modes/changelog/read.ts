import { qualify, type Dialect } from '../../sources/base';
import type { ChangelogPlan, PartitionRange, TablePlan } from '../../types';

// Change-log reads: a log table in the source names the changed rows (key,
// action, a strictly increasing position). A run takes the log rows past the
// saved position up to the log's largest position when the run was planned,
// keeps per key the last action, and reads the current source rows of the
// keys whose last action is not a delete, in one query per key chunk (a
// semi-join on the source, never one query per key). All values are bound.

/** A text value (a bound parameter, a log column) as the type of a column; as is when the type has no cast rule. */
function asType(dialect: Dialect, expr: string, column: { type: string; dataType: string }): string {
  const cursor = dialect.cursor;
  return cursor.kind(column as never) ? cursor.param(expr, column) : expr;
}

/**
 * The log reduced to one row per key, its last action: `k` the key as the
 * table key's type, `a` the action. Values numbered by `next`.
 */
function lastActionsSql(dialect: Dialect, log: ChangelogPlan, next: (value: string) => string): string {
  const q = dialect.quoteIdent;
  const window = log.window!;
  const position = { type: log.positionType, dataType: log.positionDataType };
  const where: string[] = [];
  if (window.from !== null) where.push(`l.${q(log.position)} > ${asType(dialect, next(window.from), position)}`);
  if (window.to !== null) where.push(`l.${q(log.position)} <= ${asType(dialect, next(window.to), position)}`);
  for (const [column, value, type, dataType] of log.where) where.push(`l.${q(column)} = ${asType(dialect, next(value), { type, dataType })}`);
  const key = asType(dialect, `l.${q(log.key)}`, { type: log.keyType, dataType: log.keyDataType });
  return `SELECT ${key} AS k, l.${q(log.action)} AS a, ROW_NUMBER() OVER (PARTITION BY l.${q(log.key)} ORDER BY l.${q(log.position)} DESC) AS rn
    FROM ${qualify(dialect, log.table)} l${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
}

function deleteValues(log: ChangelogPlan): string[] {
  return Object.entries(log.actions)
    .filter(([, op]) => op === 'delete')
    .map(([value]) => value);
}

/**
 * The read filter of a change-log run (without WHERE): rows whose key the
 * log names with a last action that is not a delete. Empty on a first run
 * (no saved position): the whole table is read.
 */
export function changelogFilter(dialect: Dialect, plan: TablePlan, placeholder: (i: number) => string): { sql: string; params: string[] } {
  const log = plan.changelog;
  if (!log?.window || !log.window.started) return { sql: '', params: [] };
  const params: string[] = [];
  const next = (value: string) => {
    params.push(value);
    return placeholder(params.length);
  };
  const inner = lastActionsSql(dialect, log, next);
  const deletes = deleteValues(log);
  const notDeleted = deletes.length ? ` AND (x.a IS NULL OR x.a NOT IN (${deletes.map(next).join(', ')}))` : '';
  return {
    sql: `${dialect.quoteIdent(plan.primaryKey[0])} IN (SELECT x.k FROM (${inner}) x WHERE x.rn = 1${notDeleted})`,
    params,
  };
}

/**
 * The keys of one key range to delete from the target: the log's last action
 * is a delete, or the source row is gone (`logged_delete` false: a change
 * whose row no longer exists, treated as a delete and warned about). Keys as
 * text, in the dialect's placeholders numbered from 1.
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
  const key = { type: log.keyType, dataType: log.keyDataType };
  const text = dialect.cursor.text('x.k', key);
  const head = `SELECT ${text} AS k, CASE WHEN ${isDelete()} THEN 1 ELSE 0 END AS logged_delete`;
  const inner = lastActionsSql(dialect, log, next);
  const bounds: string[] = [];
  if (range.lo !== null) bounds.push(`x.k > ${asType(dialect, next(range.lo), key)}`);
  if (range.hi !== null) bounds.push(`x.k <= ${asType(dialect, next(range.hi), key)}`);
  const gone = `NOT EXISTS (SELECT 1 FROM ${qualify(dialect, plan.source)} t WHERE t.${dialect.quoteIdent(plan.primaryKey[0])} = x.k)`;
  return {
    sql: `${head} FROM (${inner}) x
      WHERE x.rn = 1${bounds.length ? ` AND ${bounds.join(' AND ')}` : ''} AND (${isDelete()} OR ${gone})`,
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
  const where: string[] = [];
  if (position !== null) where.push(`l.${q(log.position)} > ${asType(dialect, next(position), { type: log.positionType, dataType: log.positionDataType })}`);
  for (const [column, value, type, dataType] of log.where) where.push(`l.${q(column)} = ${asType(dialect, next(value), { type, dataType })}`);
  const key = asType(dialect, `l.${q(log.key)}`, { type: log.keyType, dataType: log.keyDataType });
  return {
    sql: `SELECT ${key} AS ${q(plan.primaryKey[0])} FROM ${qualify(dialect, log.table)} l${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`,
    params,
  };
}
