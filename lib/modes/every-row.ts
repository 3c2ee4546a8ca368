import type { SyncMode } from './types';

/**
 * The reads of a mode that takes every row of each key range (full,
 * compare): no window, no filter, no backfill (a run that reads every row
 * fills added columns itself), and nothing pending for verify.
 */
export const everyRow: Pick<SyncMode, 'readWindow' | 'readFilter' | 'incremental' | 'backfillColumns' | 'backfillRead' | 'pending'> = {
  readWindow: async (_source, table) => table,
  readFilter: () => ({ sql: '', params: [] }),
  incremental: () => false,
  backfillColumns: () => [],
  backfillRead: (table) => table,
  pending: () => ({ kind: 'none' }),
};
