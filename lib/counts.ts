/**
 * What a sync did to rows: one type for a partition, a table and a whole run.
 * unchanged = rowsCopied − inserted − updated: rows read that needed no write.
 */
export interface Counts {
  rowsCopied: number;
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
}

export const NO_COUNTS: Counts = { rowsCopied: 0, inserted: 0, updated: 0, unchanged: 0, deleted: 0 };

export function addCounts(a: Counts, b: Counts): Counts {
  return {
    rowsCopied: a.rowsCopied + b.rowsCopied,
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
  return { rowsCopied: c.rowsCopied, inserted: c.inserted, updated: c.updated, unchanged: c.unchanged, deleted: c.deleted };
}
