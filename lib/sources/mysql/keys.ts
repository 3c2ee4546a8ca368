import type { PartitionRange, TablePlan } from '../../types';
import { andWhere, keyTypes, rangePredicate, type KeyDialect } from '../base';
import { mysqlCursor } from './cursor';
import { placeholder, qualifyMysql, quote } from './sql';

const MYSQL_BINARY = /^(binary|varbinary)\b/i;
const MYSQL_KEY_SPLITS = /^(tinyint|smallint|mediumint|int|integer|bigint|decimal|numeric|char|varchar|binary|varbinary|date|datetime|timestamp)\b/i;

/**
 * Key bounds: strings bound as they are, so the column's collation compares
 * them (the column's derivation beats a literal's: PAD SPACE, _ci and all);
 * numbers and times cast as for cursors; bytes as hex.
 */
export const mysqlKey: KeyDialect = {
  splits: (type) => MYSQL_KEY_SPLITS.test(type) && !/^(tinyint|bit)\(1\)/i.test(type),
  text: (q, type) => (MYSQL_BINARY.test(type) ? `HEX(${q})` : `CAST(${q} AS CHAR)`),
  param: (p, type) => {
    if (MYSQL_BINARY.test(type)) return `UNHEX(${p})`;
    if (/^(char|varchar)\b/i.test(type)) return p;
    const dataType = /^\w+/.exec(type)![0].toLowerCase();
    return mysqlCursor.param(p, { type, dataType });
  },
  // MariaDB 10.11 reads all of the table for (a, b) > (x, y) (EXPLAIN: type ALL); the expanded form is a range on the key.
  rowValues: false,
};

const MYSQL_RANGES = { quoteIdent: quote, placeholder, key: mysqlKey };

/** WHERE of one key range; integer keys are compared as integers, not as doubles. */
export function mysqlRangeWhere(plan: TablePlan, range: PartitionRange): { sql: string; params: string[] } {
  const types = keyTypes(plan);
  return rangePredicate(MYSQL_RANGES, plan.primaryKey, range, 1, (p, i) => mysqlKey.param(p, types[i]));
}

/**
 * The next cut point of a key walk: the row `step` rows past `after` in key
 * order, read along the primary key (InnoDB: the clustered index), its key
 * columns as text. MariaDB has no TABLESAMPLE, and its statistics hold no
 * key values unless ANALYZE … PERSISTENT ran.
 */
export function mysqlKeyWalkSql(
  plan: TablePlan,
  after: string | null,
  step: number,
  /** The table's where (its rowFilter): only the rows the table syncs count as steps. */
  only: { sql: string; params: string[] } = { sql: '', params: [] },
): { sql: string; params: (string | number)[] } {
  const types = keyTypes(plan);
  const quoted = plan.primaryKey.map((k) => quote(k));
  const where = andWhere(mysqlRangeWhere(plan, { index: 0, count: 1, lo: after, hi: null }), only);
  return {
    sql: `SELECT ${quoted.map((q, i) => `${mysqlKey.text(q, types[i])} AS k${i}`).join(', ')} FROM ${qualifyMysql(plan.source)}${where.sql} ORDER BY ${quoted.join(', ')} LIMIT 1 OFFSET ?`,
    params: [...where.params, step - 1],
  };
}
