/**
 * What a sync did to rows: one type for a partition, a table and a whole run.
 * unchanged = rowsCopied + rowsSkipped − inserted − updated: rows that needed no write.
 */
export interface Counts {
  /** Rows copied from the source into the target (staging or load table): what a network carries. */
  rowsCopied: number;
  /** compare: rows of key ranges whose digests matched on both sides, so not copied (absent: none). */
  rowsSkipped?: number;
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
}

export const NO_COUNTS: Counts = { rowsCopied: 0, inserted: 0, updated: 0, unchanged: 0, deleted: 0 };

export function addCounts(a: Counts, b: Counts): Counts {
  const skipped = (a.rowsSkipped ?? 0) + (b.rowsSkipped ?? 0);
  return {
    rowsCopied: a.rowsCopied + b.rowsCopied,
    ...(skipped ? { rowsSkipped: skipped } : {}),
    inserted: a.inserted + b.inserted,
    updated: a.updated + b.updated,
    unchanged: a.unchanged + b.unchanged,
    deleted: a.deleted + b.deleted,
  };
}

/** The counts of a list of results, summed. */
export function sumCounts(parts: Counts[]): Counts {
  return parts.reduce<Counts>((acc, p) => addCounts(acc, pickCounts(p)), NO_COUNTS);
}

export function pickCounts(c: Counts): Counts {
  return { rowsCopied: c.rowsCopied, ...(c.rowsSkipped ? { rowsSkipped: c.rowsSkipped } : {}), inserted: c.inserted, updated: c.updated, unchanged: c.unchanged, deleted: c.deleted };
}
