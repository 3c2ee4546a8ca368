import type { ColumnPlan, PartitionRange, TablePlan } from '../../types';
import { andWhere, EVERY_ROW, type ReadFilter } from '../base';
import { mysqlDialect } from './dialect';
import { mysqlRangeWhere } from './keys';
import { qualifyMysql, quote } from './sql';

/**
 * What the source query selects for a column. The text protocol prints FLOAT
 * with 6 significant digits (123456.789 as 123457): widened to DOUBLE on the
 * server it prints the float's exact value, which PostgreSQL's real parses
 * back to the same 32-bit value.
 */
export function mysqlSelectExpr(column: ColumnPlan): string {
  const q = quote(column.name);
  return /^float\b/i.test(column.sourceType) ? `CAST(${q} AS DOUBLE)` : q;
}

export function mysqlSelectSql(plan: TablePlan, range: PartitionRange, filter: ReadFilter = EVERY_ROW): { sql: string; params: string[] } {
  const where = andWhere(mysqlRangeWhere(plan, range), filter(mysqlDialect, () => '?'));
  const cols = plan.columns.map((c) => mysqlSelectExpr(c)).join(', ');
  return { sql: `SELECT ${cols} FROM ${qualifyMysql(plan.source)}${where.sql}`, params: where.params };
}
