import type { TableState } from '../../state';

// What a cdc table's saved state says: which stream follows it (the state's
// cursor column holds the stream's name) and the last log position applied.

/** The position this stream applied last to the table (null: none, or the state is another stream's or another mode's). */
export function streamPosition(state: TableState | undefined, stream: string): string | null {
  return state?.mode === 'cdc' && state.cursorColumn === stream ? state.cursorValue : null;
}

/** Another stream that follows the table, with the position it saved, if any. */
export function otherStream(state: TableState | undefined, stream: string): { stream: string; position: string } | null {
  if (state?.mode !== 'cdc' || !state.cursorColumn || state.cursorColumn === stream || !state.cursorValue) return null;
  return { stream: state.cursorColumn, position: state.cursorValue };
}

/** The stream that follows the table, by its saved state, and the position it saved (null: no cdc stream follows it). */
export function followingStream(state: TableState | undefined): { stream: string; position: string | null } | null {
  return state?.mode === 'cdc' && state.cursorColumn ? { stream: state.cursorColumn, position: state.cursorValue } : null;
}
