import { qualifyPg, quotePg } from './sql';
import type { ColumnPlan, TableRef } from '../types';
import { distinctSql } from './apply';
import { targetKey } from './columns';
import { DELETED_AT_COLUMN } from './soft-deletes';

/**
 * Writes staged new-column values into the target rows whose value differs
 * (append tables: every version of the key); rows the target lacks are left
 * to the cursor read.
 */
export function backfillUpdateSql(target: TableRef, staging: TableRef, columns: ColumnPlan[], primaryKey: string[], marks?: string): string {
  const keys = targetKey(columns, primaryKey).map(quotePg);
  const values = columns.filter((c) => !primaryKey.includes(c.name));
  const sets = values.map((c) => `${quotePg(c.targetName)} = s.${quotePg(c.targetName)}`);
  const differs = values.map((c) => distinctSql(`t.${quotePg(c.targetName)}`, `s.${quotePg(c.targetName)}`, c.targetType));
  if (marks) {
    // The backfill read every source row: a marked row among them is back in the source.
    sets.push(`${quotePg(marks)} = false`, `${quotePg(DELETED_AT_COLUMN)} = NULL`);
    differs.push(`t.${quotePg(marks)} IS TRUE`);
  }
  return `WITH applied AS (
  UPDATE ${qualifyPg(target)} AS t SET ${sets.join(', ')}
  FROM ${qualifyPg(staging)} AS s
  WHERE ${keys.map((k) => `t.${k} = s.${k}`).join(' AND ')} AND (${differs.join(' OR ')})
  RETURNING 1
)
SELECT count(*)::bigint AS updated FROM applied`;
}
