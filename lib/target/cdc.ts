import { DELETED_AT_COLUMN } from './soft-deletes';
import { qualifyPg, quotePg } from './sql';
import type { ColumnPlan, TableRef } from '../types';

// cdc: the statements that apply a batch of changes from the source's log,
// values bound as the source's text (each parameter takes its column's type
// from where it stands): many rows' upserts or deletes in one statement, or
// one change's update. Columns a change does not carry (an unchanged TOAST
// value) are left out, so the target keeps its value.

type Bound = { text: string; values: ((string | null) | (string | null)[])[] };

const keyWhere = (key: ColumnPlan[], first: number) => key.map((c, i) => `${quotePg(c.targetName)} = $${first + i}`).join(' AND ');

/** What an upsert writes: the columns (and the soft-delete flag, false: live), and what a key already there gets. */
function upsertParts(columns: ColumnPlan[], key: ColumnPlan[], softDeleteColumn?: string): { names: string[]; conflict: string } {
  const keys = new Set(key.map((c) => c.targetName));
  const names = columns.map((c) => quotePg(c.targetName));
  const sets = columns.filter((c) => !keys.has(c.targetName)).map((c) => `${quotePg(c.targetName)} = EXCLUDED.${quotePg(c.targetName)}`);
  if (softDeleteColumn) {
    names.push(quotePg(softDeleteColumn));
    sets.push(`${quotePg(softDeleteColumn)} = false`, `${quotePg(DELETED_AT_COLUMN)} = NULL`);
  }
  const conflict = `ON CONFLICT (${key.map((c) => quotePg(c.targetName)).join(', ')}) ${sets.length ? `DO UPDATE SET ${sets.join(', ')}` : 'DO NOTHING'}`;
  return { names, conflict };
}

/** Inserts rows (distinct keys), or overwrites the rows of their keys (a change applied again, a key that came back): they are live. */
export function cdcUpsertSql(target: TableRef, columns: ColumnPlan[], key: ColumnPlan[], rows: (string | null)[][], softDeleteColumn?: string): Bound {
  const { names, conflict } = upsertParts(columns, key, softDeleteColumn);
  const lists = rows.map((_, r) => `(${[...columns.map((_c, i) => `$${r * columns.length + i + 1}`), ...(softDeleteColumn ? ['false'] : [])].join(', ')})`);
  return { text: `INSERT INTO ${qualifyPg(target)} (${names.join(', ')}) VALUES ${lists.join(', ')} ${conflict}`, values: rows.flat() };
}

/** cdcUpsertSql from rows COPYed into `staging` (cdcCopyLine): many rows are read and planned faster so than bound as parameters. */
export function cdcUpsertFromSql(target: TableRef, staging: TableRef, columns: ColumnPlan[], key: ColumnPlan[], softDeleteColumn?: string): string {
  const { names, conflict } = upsertParts(columns, key, softDeleteColumn);
  const selected = [...columns.map((c) => quotePg(c.targetName)), ...(softDeleteColumn ? ['false'] : [])];
  return `INSERT INTO ${qualifyPg(target)} (${names.join(', ')}) SELECT ${selected.join(', ')} FROM ${qualifyPg(staging)} ${conflict}`;
}

/** The temporary table cdcUpsertFromSql reads: the columns as the target types them, made once per session, emptied by each commit. */
export function cdcStagingSql(staging: TableRef, target: TableRef, columns: ColumnPlan[]): string {
  const list = columns.map((c) => quotePg(c.targetName)).join(', ');
  return `CREATE TEMPORARY TABLE IF NOT EXISTS ${quotePg(staging.name)} ON COMMIT DELETE ROWS AS SELECT ${list} FROM ${qualifyPg(target)} WITH NO DATA`;
}

const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

const NEEDS_ESCAPE = /[\\\t\n\r]/;

/** One row as a line of COPY text: each value the source's exact text (read by its type's input, as a parameter is), null as \N. */
export function cdcCopyLine(values: (string | null)[]): string {
  // A loop, and a test before any replace: this runs for every row of every batch, and most values need no escape.
  let line = '';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) line += '\t';
    line += v === null ? '\\N' : NEEDS_ESCAPE.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]) : v;
  }
  return `${line}\n`;
}

/** Updates the row that had `oldKey` to the carried columns (the key among them when it changed). */
export function cdcUpdateSql(target: TableRef, columns: ColumnPlan[], values: (string | null)[], key: ColumnPlan[], oldKey: (string | null)[], softDeleteColumn?: string): Bound {
  const sets = columns.map((c, i) => `${quotePg(c.targetName)} = $${i + 1}`);
  if (softDeleteColumn) sets.push(`${quotePg(softDeleteColumn)} = false`, `${quotePg(DELETED_AT_COLUMN)} = NULL`);
  return { text: `UPDATE ${qualifyPg(target)} SET ${sets.join(', ')} WHERE ${keyWhere(key, columns.length + 1)}`, values: [...values, ...oldKey] };
}

/**
 * Deletes (or marks deleted) the rows of many keys in one statement, each
 * key's values in `keys` (distinct keys). A one-column key goes as one array
 * parameter, `k = ANY($1)` (its element type the column's): parsed, bound
 * and planned about twice as fast as a list of 10,000 values. Several
 * columns: `(k1, k2) IN (($1, $2), ...)` gives each parameter its key
 * column's type.
 */
export function cdcDeleteKeysSql(target: TableRef, key: ColumnPlan[], keys: (string | null)[][], softDeleteColumn?: string): Bound {
  const names = key.map((c) => quotePg(c.targetName));
  const one = key.length === 1;
  const lists = one ? [] : keys.map((_, r) => `(${key.map((_c, i) => `$${r * key.length + i + 1}`).join(', ')})`);
  const where = one ? `${names[0]} = ANY($1)` : `(${names.join(', ')}) IN (${lists.join(', ')})`;
  const values = one ? [keys.map((k) => k[0])] : keys.flat();
  if (!softDeleteColumn) return { text: `DELETE FROM ${qualifyPg(target)} WHERE ${where}`, values };
  const flag = quotePg(softDeleteColumn);
  return {
    text: `UPDATE ${qualifyPg(target)} SET ${flag} = true, ${quotePg(DELETED_AT_COLUMN)} = clock_timestamp() WHERE ${where} AND ${flag} IS NOT TRUE`,
    values,
  };
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
