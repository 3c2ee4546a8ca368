import type { TableRef } from '../../types';

/** A change-log table: where its log is, how to read it, and the saved position. */
export interface ChangelogPlan {
  /** The log table, in the source database. */
  table: TableRef;
  /** Log columns: the changed row's key (text or integer), the action, the strictly increasing position. */
  key: string;
  action: string;
  position: string;
  positionType: string;
  positionDataType: string;
  /** The table key's type, which log keys are cast to. */
  keyType: string;
  keyDataType: string;
  /** Log values → what to do. */
  actions: Record<string, 'insert' | 'update' | 'delete'>;
  /** Equality filters on log columns: column, value as text (bound, never spliced), the column's type and base type. */
  where: [string, string, string, string][];
  /** The saved position (exact source text); null with `started` when the log was empty then. */
  saved: string | null;
  /** Whether a run completed before: if not, this run reads the whole table. */
  started: boolean;
  /** Set by createSyncTasks: log positions (from, to] this run takes (from null: from the log's start). */
  window?: { from: string | null; to: string | null; started: boolean };
  /** As CursorPlan.backfill: columns this run first copies (key and these) for every row, whatever the log says. */
  backfill?: string[];
  /** As CursorPlan.phase: set on the backfill's own reads. */
  phase?: 'backfill';
}
