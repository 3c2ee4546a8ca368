import { DELETED_AT_COLUMN } from './soft-deletes';
import { qualifyPg, quotePg } from './sql';
import type { ColumnPlan, TableRef } from '../types';

// cdc: one statement per change from the source's log, values bound as the
// source's text (each parameter takes its column's type from where it
// stands). Columns a change does not carry (an unchanged TOAST value) are
// left out, so the target keeps its value.

type Bound = { text: string; values: (string | null)[] };

const keyWhere = (key: ColumnPlan[], first: number) => key.map((c, i) => `${quotePg(c.targetName)} = $${first + i}`).join(' AND ');

/** Inserts rows (distinct keys), or overwrites the rows of their keys (a change applied again, a key that came back): they are live. */
export function cdcUpsertSql(target: TableRef, columns: ColumnPlan[], key: ColumnPlan[], rows: (string | null)[][], softDeleteColumn?: string): Bound {
  const keys = new Set(key.map((c) => c.targetName));
  const names = columns.map((c) => quotePg(c.targetName));
  const sets = columns.filter((c) => !keys.has(c.targetName)).map((c) => `${quotePg(c.targetName)} = EXCLUDED.${quotePg(c.targetName)}`);
  if (softDeleteColumn) {
    names.push(quotePg(softDeleteColumn));
    sets.push(`${quotePg(softDeleteColumn)} = false`, `${quotePg(DELETED_AT_COLUMN)} = NULL`);
  }
  const lists = rows.map((_, r) => `(${[...columns.map((_c, i) => `$${r * columns.length + i + 1}`), ...(softDeleteColumn ? ['false'] : [])].join(', ')})`);
  const conflict = sets.length ? `DO UPDATE SET ${sets.join(', ')}` : 'DO NOTHING';
  return {
    text: `INSERT INTO ${qualifyPg(target)} (${names.join(', ')}) VALUES ${lists.join(', ')} ON CONFLICT (${key.map((c) => quotePg(c.targetName)).join(', ')}) ${conflict}`,
    values: rows.flat(),
  };
}

/** Updates the row that had `oldKey` to the carried columns (the key among them when it changed). */
export function cdcUpdateSql(target: TableRef, columns: ColumnPlan[], values: (string | null)[], key: ColumnPlan[], oldKey: (string | null)[], softDeleteColumn?: string): Bound {
  const sets = columns.map((c, i) => `${quotePg(c.targetName)} = $${i + 1}`);
  if (softDeleteColumn) sets.push(`${quotePg(softDeleteColumn)} = false`, `${quotePg(DELETED_AT_COLUMN)} = NULL`);
  return { text: `UPDATE ${qualifyPg(target)} SET ${sets.join(', ')} WHERE ${keyWhere(key, columns.length + 1)}`, values: [...values, ...oldKey] };
}

/** Deletes (or marks deleted) the row of a key; `oldKey` null: every row (a TRUNCATE). */
export function cdcDeleteSql(target: TableRef, key: ColumnPlan[], oldKey: (string | null)[] | null, softDeleteColumn?: string): Bound {
  const where = oldKey ? ` WHERE ${keyWhere(key, 1)}` : '';
  if (!softDeleteColumn) return { text: `DELETE FROM ${qualifyPg(target)}${where}`, values: oldKey ?? [] };
  const flag = quotePg(softDeleteColumn);
  return {
    text: `UPDATE ${qualifyPg(target)} SET ${flag} = true, ${quotePg(DELETED_AT_COLUMN)} = clock_timestamp()${where ? `${where} AND` : ' WHERE'} ${flag} IS NOT TRUE`,
    values: oldKey ?? [],
  };
}
