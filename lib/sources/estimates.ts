import type { TableRef } from '../types';

// How sources size a plan: row estimates with a count as the last resort, one
// table or many at once. Shared by every dialect's catalog.

/**
 * A row count that sizes the plan: a non-negative integer, or null when the
 * figure is missing, negative (PostgreSQL's -1 for "never analyzed") or not a number.
 */
export function knownCount(value: unknown): number | null {
  if (value === null || value === undefined || value === '') return null;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : null;
}

/**
 * An estimate only sizes the plan, so it never stops a sync: each way of
 * estimating is tried in turn, and any error (a missing view on a stand-in
 * server, no privilege, a timeout) or an unknown figure moves on to the next;
 * the last step counts the rows, and only its error is reported.
 */
export async function estimateOrCount(estimates: (() => Promise<unknown>)[], count: () => Promise<unknown>): Promise<number> {
  for (const estimate of estimates) {
    try {
      const n = knownCount(await estimate());
      if (n !== null) return n;
    } catch {
      // Next way of estimating.
    }
  }
  return knownCount(await count()) ?? 0;
}

/** A table's key in the maps of the batched catalog reads (describeTables, estimateRowsMany). */
export function refKey(ref: TableRef): string {
  return JSON.stringify([ref.schema, ref.name]);
}

export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Tables per statement of batched counts: each is a scan, of a table whose statistics say nothing (mostly small). */
export const COUNT_CHUNK = 100;

/**
 * estimateOrCount for many tables at once: each way of estimating asks every
 * table still unknown in one call (an error moves them all on to the next
 * way, as it moves one table on), then those still unknown are counted a
 * group (COUNT_CHUNK) a call. A group whose count fails is left out of the
 * map, as is any table the calls gave no figure: the per-table estimate
 * then runs for it and reports its own error.
 */
export async function estimateOrCountMany(
  refs: TableRef[],
  estimates: ((part: TableRef[]) => Promise<unknown[]>)[],
  count: (part: TableRef[]) => Promise<unknown[]>,
): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  let unknown = refs;
  for (const estimate of estimates) {
    if (!unknown.length) break;
    try {
      const values = await estimate(unknown);
      const next: TableRef[] = [];
      unknown.forEach((ref, i) => {
        const n = knownCount(values[i]);
        if (n === null) next.push(ref);
        else found.set(refKey(ref), n);
      });
      unknown = next;
    } catch {
      // Next way of estimating, for all of them.
    }
  }
  for (const part of chunks(unknown, COUNT_CHUNK)) {
    try {
      const values = await count(part);
      part.forEach((ref, i) => {
        const n = knownCount(values[i]);
        if (n !== null) found.set(refKey(ref), n);
      });
    } catch {
      // Counted one by one by the per-table estimate, which reports the error.
    }
  }
  return found;
}
