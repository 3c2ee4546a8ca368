import type { TableRef } from '../../types';

/** A change-log table: where its log is, how to read it, and the saved position. */
export interface ChangelogPlan {
  /** The log table, in the source database. */
  table: TableRef;
  /** Log columns: the changed row's key (as text or the key's type), the action, the increasing position. */
  key: string;
  action: string;
  position: string;
  positionType: string;
  positionDataType: string;
  /**
   * The position is the log's one-column primary key, so no two log rows
   * share one: a run reads past the saved position. Otherwise (a timestamp)
   * rows at the saved position are read again, as later ones may tie with it.
   * Absent in plans made before this was known: read past it.
   */
  positionUnique?: boolean;
  /** The table key's type, which log keys are cast to. */
  keyType: string;
  keyDataType: string;
  /**
   * How the source compares the key (its collation), where that is not
   * exactly: case-insensitively, ignoring trailing spaces. Logged keys of
   * rows the source no longer has are matched in the target that way.
   */
  keyFold?: KeyFold;
  /** Log values → what to do. */
  actions: Record<string, 'insert' | 'update' | 'delete'>;
  /** Equality filters on log columns: column, value as text (bound, never spliced), the column's type and base type. */
  where: [string, string, string, string][];
  /** The saved position (exact source text); null with `started` when the log was empty then. */
  saved: string | null;
  /** Whether a run completed before: if not, this run reads the whole table. */
  started: boolean;
  /** A first run over a target that has rows: target rows the source does not have are deleted (or marked), as compare mode does. */
  reconcile?: boolean;
  /**
   * Set by createSyncTasks: log positions (from, to] this run takes (from
   * null: from the log's start; [from, to] when the position may tie).
   * `settled` false: a transaction writing when `to` was read was still open
   * when the run read, so the run saves `from` again (absent: true).
   */
  window?: { from: string | null; to: string | null; started: boolean; settled?: boolean };
  /** As CursorPlan.backfill: columns this run first copies (key and these) for every row, whatever the log says. */
  backfill?: string[];
  /** As CursorPlan.phase: set on the backfill's own reads. */
  phase?: 'backfill';
}

/** A source key comparison that is not exact: `lower` case-insensitive, `rtrim` trailing spaces ignored (PAD SPACE). */
export interface KeyFold {
  lower: boolean;
  rtrim: boolean;
}
