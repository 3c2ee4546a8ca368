import { TablesyncError } from '../../errors';
import { readTableStateSql, saveTableStateSql, tableStateLockSql, type TableState } from '../../state';
import { runState } from '../staging';
import { laterCursor } from './window';
import type { Applied, ChunkContext, Db } from '../types';

/**
 * In the last chunk's transaction: the new saved cursor (the window's
 * high-water mark) with the run's columns and counts, unless a reset-state or
 * set-mode changed the state since this run was planned: then the chunk
 * rolls back (StateChanged) and the next run starts from the new state.
 */
export async function saveCursorState(db: Db, { config, table, run }: ChunkContext, totals: Applied & { rowsCopied: number }): Promise<void> {
  const cursor = table.cursor!;
  const window = cursor.window;
  // Everything up to the high-water mark is now applied; with nothing to read, the saved cursor stays.
  // An open window's mark is the largest cursor the run copied (never below the saved one: a lookback re-reads older rows).
  const value = window?.open ? laterCursor(cursor.kind, cursor.saved, totals.position ?? null) : (window?.to ?? cursor.saved);
  // A reset-state or set-mode since this run was planned wins: saving over it would undo it.
  await db.query(tableStateLockSql(table.target));
  const now = (await db.query(readTableStateSql(config.target.stateSchema, table.target, true))).rows[0] as TableState | undefined;
  const changed =
    cursor.stateVersion !== undefined
      ? (now?.stateVersion ?? null) !== cursor.stateVersion
      : // Planned before plans carried the version: compare what it planned with.
        now !== undefined && (now.mode !== 'cursor' || now.cursorColumn !== cursor.column || now.write !== cursor.write || now.cursorValue !== cursor.saved);
  if (changed && now) {
    throw new TablesyncError(
      'StateChanged',
      `the saved state changed while this run went (now ${now.mode}${now.write ? `/${now.write}` : ''}, cursor ${now.cursorColumn ?? '(none)'} = ${now.cursorValue ?? '(none)'}; ` +
        `planned with ${cursor.write}, cursor ${cursor.column} = ${cursor.saved ?? '(none)'}): this run's last chunk is rolled back, the next run starts from the new state`,
    );
  }
  const state = runState(
    table,
    run,
    totals,
    { mode: 'cursor', write: cursor.write, cursorColumn: cursor.column, cursorValue: value, cursorType: cursor.sourceType },
    cursor.dropped,
  );
  await db.query(saveTableStateSql(config.target.stateSchema, table.target, state, 'run', run.workflowId));
}
