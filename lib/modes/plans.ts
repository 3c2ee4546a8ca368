import type { TablePlan } from '../types';

// Questions about a planned table that workflows ask too: pure, no I/O.

/** An append table: its rows are versions (many per key), compared through its `<table>_latest` view. */
export function keepsVersions(table: TablePlan): boolean {
  return table.cursor?.write === 'append';
}

/**
 * The table as compare mode syncs it: every row of a key range, whatever the
 * cursor or log says. Verify cuts it into ranges like that, and repair
 * re-syncs a range like that (soft deletes kept), leaving the saved cursor or
 * position alone: the next run reads on from it and finds those rows equal.
 */
export function asCompare(table: TablePlan): TablePlan {
  const { cursor: _cursor, changelog: _changelog, ...rest } = table;
  return { ...rest, mode: 'compare' };
}
