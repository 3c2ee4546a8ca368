import { TablesyncError } from '../errors';
import { boundText, type RowFilterPlan, type WhereSetting } from '../row-filter';
import type { TableRef } from '../types';
import { EVERY_ROW, qualify, type Dialect, type ReadFilter, type SourceConnection, type SourceTable } from './base';

// tables[].where on the source: the SQL every read of a filtered table adds
// (copies, backfills, key bounds and samples, cursor bounds, change-log
// deletes, verify's checksums and row digests), so all of them see one set
// of rows. See lib/row-filter.ts for the two forms and why they are safe.

/**
 * PostgreSQL: a bound text (a parameter, or a COPY's session setting) as the
 * column's type without its modifiers, so a longer value is never cut to fit
 * (varchar(3) would turn 'EUROPE' into 'EUR'): character → bpchar, bit → varbit.
 */
function pgUnboundedType(type: string): string {
  const base = type.replace(/\(\s*\d+\s*(,\s*\d+\s*)?\)/g, '').replace(/\s+/g, ' ').trim();
  return base.replace(/^character(?=(\[\])*$)/, 'bpchar').replace(/^bit(?=(\[\])*$)/, 'varbit');
}

/** A bound value as the column's type, so the source compares values in its own types and collations. */
function valueAs(dialect: Dialect, placeholder: string, column: { type: string; dataType: string }): string {
  if (dialect.name === 'postgres') return `${placeholder}::${pgUnboundedType(column.type)}`;
  // Text stays text: the column's collation compares (and no CONVERT to a sized type cuts it short).
  if (/char|text|clob/i.test(column.dataType)) return placeholder;
  if (dialect.key.splits(column.type)) return dialect.key.param(placeholder, column.type);
  if (dialect.cursor.kind(column as never)) return dialect.cursor.param(placeholder, column);
  return placeholder;
}

/** The filter as a bare predicate (in parentheses), values numbered by `placeholder` from 1. */
export function rowFilterSql(dialect: Dialect, filter: RowFilterPlan, placeholder: (i: number) => string): { sql: string; params: string[] } {
  if ('sql' in filter) return { sql: `(${filter.sql})`, params: [] };
  const params: string[] = [];
  const parts = filter.equals.map(([column, value, type, dataType]) => {
    const q = dialect.quoteIdent(column);
    if (value === null) return `${q} IS NULL`;
    params.push(value);
    return `${q} = ${valueAs(dialect, placeholder(params.length), { type, dataType })}`;
  });
  return { sql: `(${parts.join(' AND ')})`, params };
}

/** The read filter of a plan's row filter (every row when it has none). */
export function rowFilterOf(plan: { rowFilter?: RowFilterPlan }): ReadFilter {
  const filter = plan.rowFilter;
  return filter ? (dialect, placeholder) => rowFilterSql(dialect, filter, placeholder) : EVERY_ROW;
}

/** Two read filters as one (ANDed, each in parentheses so an OR in either stays inside; values of `a` first). */
export function bothFilters(a: ReadFilter, b: ReadFilter): ReadFilter {
  return (dialect, placeholder) => {
    const first = a(dialect, placeholder);
    const second = b(dialect, (i) => placeholder(first.params.length + i));
    if (!first.sql) return second;
    if (!second.sql) return first;
    return { sql: `(${first.sql}) AND (${second.sql})`, params: [...first.params, ...second.params] };
  };
}

/** " WHERE …" of a filter (or ''), values numbered by the dialect's placeholders from `first`. */
export function filterWhere(dialect: Dialect, filter: ReadFilter, first = 1): { sql: string; params: string[] } {
  const f = filter(dialect, (i) => dialect.placeholder(first + i - 1));
  return { sql: f.sql ? ` WHERE ${f.sql}` : '', params: f.params };
}

const NUMERIC = /^(tinyint|smallint|mediumint|int|integer|bigint|decimal|numeric|float|double|real|money|smallmoney|double precision)$/i;

/**
 * The row filter of a table's where setting, its columns checked against the
 * source table (every column, synced or not: a filter may name one the table
 * does not sync). Throws InvalidConfig naming table, field and column.
 */
export function rowFilterPlan(dialect: Dialect, table: SourceTable, where: WhereSetting, field: string, name: string): RowFilterPlan {
  if (typeof where === 'string') return { sql: where };
  const columns = new Map(table.columns.map((c) => [c.name, c]));
  const equals = Object.entries(where).map(([column, value]): [string, string | null, string, string] => {
    const c = columns.get(column);
    if (!c) throw new TablesyncError('InvalidConfig', `${name}: ${field} names column "${column}", which the table does not have`);
    const text = boundText(value);
    const bound = dialect.name === 'postgres' ? text[0] : text[text.length - 1];
    // MySQL would read 'abc' as 0 and match those rows: a number column takes numbers only.
    if (bound !== null && NUMERIC.test(c.dataType) && !/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(bound.trim())) {
      throw new TablesyncError('InvalidConfig', `${name}: ${field}.${column}: ${JSON.stringify(value)} is not a number, and column "${column}" is ${c.type}`);
    }
    return [column, bound, c.type, c.dataType];
  });
  return { equals };
}

/**
 * An error of the statement itself (syntax, unknown name, type, data), which
 * running it again repeats, as each driver reports it; anything else (a lost
 * connection, a timeout) is not the filter's fault and is retried as usual.
 */
function statementError(err: unknown): boolean {
  const e = err as { code?: unknown; errno?: unknown; severity?: unknown; name?: unknown; number?: unknown; class?: unknown };
  if (typeof e?.code === 'string' && typeof e.severity === 'string') return /^(22|42|0A|21|2F|38|39|P0)/.test(e.code);
  if (typeof e?.code === 'string' && e.code.startsWith('ER_') && typeof e.errno === 'number') {
    return ![1205, 1213, 1317, 1927, 2006, 2013, 1040, 1053].includes(e.errno);
  }
  if (e?.name === 'RequestError' && typeof e.number === 'number') return typeof e.class !== 'number' || e.class < 17;
  return false;
}

/**
 * Runs the filter once on the source, reading no row (`LIMIT 0` / `TOP 0`),
 * so a predicate the source refuses (syntax, unknown column, a value its
 * column's type cannot take) fails its table at planning, with the source's
 * own words, before any row moves; the other tables still sync.
 */
export async function probeRowFilter(source: SourceConnection, ref: TableRef, filter: RowFilterPlan, field: string, name: string): Promise<void> {
  const d = source.dialect;
  const where = rowFilterSql(d, filter, d.placeholder);
  const from = `${qualify(d, ref)} WHERE ${where.sql}`;
  const sql = d.name === 'mssql' ? `SELECT TOP 0 1 AS x FROM ${from}` : `SELECT 1 AS x FROM ${from} LIMIT 0`;
  try {
    await source.queryRows(sql, where.params);
  } catch (err) {
    if (!statementError(err)) throw err;
    const what = typeof filter === 'object' && 'sql' in filter ? 'the predicate' : 'the filter';
    throw new TablesyncError('InvalidFilter', `${name}: ${field}: the source refused ${what}: ${(err as Error).message}`);
  }
}
