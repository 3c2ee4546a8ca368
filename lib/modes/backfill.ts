import type { TablePlan } from '../types';
import { modeOf } from './index';

// A backfill (schema evolution, modes that keep a position): columns added
// since the state's last sync hold no values for rows the position has passed,
// so the run first copies the key and those columns of every row, whatever
// the position, and updates the target rows that differ.

/** The columns a table backfills this run (none: no backfill). */
export function backfillColumns(table: TablePlan): string[] {
  return modeOf(table.mode).backfillColumns(table);
}

/** What a backfill reads: the key and the backfilled columns of every row (no read window), applied as an UPDATE. */
export function backfillTable(table: TablePlan): TablePlan {
  const wanted = new Set([...table.primaryKey, ...backfillColumns(table)]);
  return { ...modeOf(table.mode).backfillRead(table), columns: table.columns.filter((c) => wanted.has(c.name)) };
}

/**
 * A partition's reads in order: for a table with a backfill, every chunk's
 * backfill first, then the normal read, so the last read (which saves the
 * cursor or log position and the synced columns) runs only once the backfill
 * is complete. A run past its first read reads its changes in one chunk (its
 * read is small), a first run in the same chunks as the backfill. Chunk
 * indexes stay fixed: resume works as for any partition.
 */
export function chunkReads<C extends { lo: string | null; hi: string | null }>(table: TablePlan, chunks: C[]): { table: TablePlan; chunk: C }[] {
  const normal = chunks.map((chunk) => ({ table, chunk }));
  if (!backfillColumns(table).length) return normal;
  const backfill = chunks.map((chunk) => ({ table: backfillTable(table), chunk }));
  if (!modeOf(table.mode).incremental(table) || chunks.length < 2) return [...backfill, ...normal];
  return [...backfill, { table, chunk: { ...chunks[0], lo: chunks[0].lo, hi: chunks[chunks.length - 1].hi } }];
}
