import type { CursorKind } from '../../sources/cursor';
import type { CursorWindow } from './window';

/** A cursor table's column, how versions are written, and its saved state. */
export interface CursorPlan {
  /** Source name of the cursor column. */
  column: string;
  targetColumn: string;
  /** The column's source type and base type, for typed comparisons on the source. */
  sourceType: string;
  dataType: string;
  kind: CursorKind;
  /** upsert: latest version per key; append: every version, with sync metadata. */
  write: 'upsert' | 'append';
  lookback?: string;
  nullable: boolean;
  /** The saved cursor when the run was planned (exact source text), or null: never synced. */
  saved: string | null;
  /** Which version of the table's saved state planning read (null: none yet); the run saves only over that one. */
  stateVersion?: string | null;
  /** Set by createSyncTasks: what this run reads. */
  window?: CursorWindow;
  /** Rows whose cursor is NULL when the run was planned (warned on every run). */
  nullRows?: number;
  /**
   * Columns added since the state's last sync (schema evolution): this run
   * first copies the key and these columns of every row, whatever the cursor,
   * and updates the target rows that differ; then it reads past the cursor.
   */
  backfill?: string[];
  /** Synced columns the source dropped (kept in the target): the saved state keeps listing them, so every run warns. */
  dropped?: string[];
  /** Set on the backfill's own reads (see chunkReads): key and new columns, no cursor window, UPDATE only. */
  phase?: 'backfill';
}
