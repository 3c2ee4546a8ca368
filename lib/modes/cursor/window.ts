import type { CursorDialect, CursorKind, Lookback } from '../../sources/cursor';

// Cursor reads: rows whose cursor column is at or past the saved value, up to
// the high-water mark the run read at its start. The values travel as the
// source's own exact text (all 7 digits of datetime2(7), microseconds,
// numerics digit for digit, rowversion as hex), never as a JS Date or number,
// and are compared on the source in the column's own type.

/** What one run reads of a cursor table. */
export interface CursorWindow {
  /** The saved cursor (inclusive), or null on a first run: everything up to `to`. */
  from: string | null;
  /** The source's largest cursor value when the run started (inclusive); null: the table had none. */
  to: string | null;
  /** Re-read this much before `from`: "5 minutes" for time cursors, a number for number cursors. */
  lookback?: string;
  /** First run: rows whose cursor is NULL are read too (later runs can never pick them up). */
  includeNull: boolean;
}

const UNITS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86400, week: 604800 };

/** "5 minutes", "1 hour", "90 seconds" (time cursors) or "100" (number cursors); null when it does not parse. */
export function parseLookback(text: string, kind: CursorKind): Lookback | null {
  const t = text.trim().toLowerCase();
  if (kind === 'number') return /^\d+(\.\d+)?$/.test(t) ? { amount: t } : null;
  if (kind !== 'time') return null;
  const m = /^(\d+)\s*(second|minute|hour|day|week)s?$/.exec(t);
  return m ? { seconds: Number(m[1]) * UNITS[m[2]] } : null;
}

export const LOOKBACK_SHAPE = /^\s*\d+(\.\d+)?(\s*(second|minute|hour|day|week)s?)?\s*$/i;

/**
 * The predicate of a cursor window on the source, without WHERE, with its
 * bound values; `placeholder(i)` numbers them from the caller's next one.
 */
export function cursorPredicate(
  cursor: CursorDialect,
  quoted: string,
  column: { type: string; dataType: string },
  kind: CursorKind,
  window: CursorWindow,
  placeholder: (i: number) => string,
): { sql: string; params: string[] } {
  const params: string[] = [];
  const next = (value: string) => {
    params.push(value);
    return cursor.param(placeholder(params.length), column);
  };
  const parts: string[] = [];
  if (window.from !== null) {
    const lookback = window.lookback ? parseLookback(window.lookback, kind) : null;
    const from = next(window.from);
    parts.push(`${quoted} >= ${lookback ? cursor.minus(from, lookback, kind, column) : from}`);
  }
  if (window.to !== null) parts.push(`${quoted} <= ${next(window.to)}`);
  if (!parts.length) return { sql: '', params };
  const bounded = parts.join(' AND ');
  return { sql: window.includeNull ? `(${bounded} OR ${quoted} IS NULL)` : `(${bounded})`, params };
}
