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
  /**
   * No upper bound was read (`to` is null): the run reads every row from `from` in one read, and its new saved
   * cursor is the largest it copied, taken from the staging table (see readWindow).
   */
  open?: boolean;
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

/**
 * The later of the saved cursor and the source's largest value now, as the
 * run's upper bound and next saved cursor: when the rows at the top were
 * deleted the maximum falls below the saved cursor, which must not move back
 * (only reset-state moves it back). Compared as the source's exact text:
 * numbers by value; times, and rowversion hex, as text when both are written
 * alike (ISO dates, the same zone suffix), which orders them; otherwise
 * (unlike forms) the source's maximum, as before.
 */
export function laterCursor(kind: CursorKind, saved: string | null, max: string | null): string | null {
  if (saved === null || max === null) return max ?? saved;
  return compareCursorText(kind, saved, max) > 0 ? saved : max;
}

/** Sign of a − b for two cursor texts of one kind; 0 when they cannot be told apart as text. */
export function compareCursorText(kind: CursorKind, a: string, b: string): number {
  if (kind === 'number') return compareDecimals(a.trim(), b.trim());
  if (kind === 'binary') {
    const [x, y] = [a.toLowerCase().replace(/^0x/, ''), b.toLowerCase().replace(/^0x/, '')];
    return x.length === y.length ? (x < y ? -1 : x > y ? 1 : 0) : 0;
  }
  const zone = (t: string) => /([+-]\d\d(:?\d\d)?|Z)$/.exec(t)?.[0] ?? '';
  const iso = /^\d{4}-\d\d-\d\d/;
  if (!iso.test(a) || !iso.test(b) || zone(a) !== zone(b)) return 0;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sign of a − b for decimal texts ("-12.50", "3"); 0 for anything else. */
function compareDecimals(a: string, b: string): number {
  const shape = /^([+-]?)(\d*)(?:\.(\d*))?$/;
  const [ma, mb] = [shape.exec(a), shape.exec(b)];
  if (!ma || !mb) return 0;
  const parts = (m: RegExpExecArray) => ({ neg: m[1] === '-', int: m[2].replace(/^0+/, ''), frac: (m[3] ?? '').replace(/0+$/, '') });
  const [x, y] = [parts(ma), parts(mb)];
  const zero = (p: typeof x) => !p.int && !p.frac;
  const sx = zero(x) ? 0 : x.neg ? -1 : 1;
  const sy = zero(y) ? 0 : y.neg ? -1 : 1;
  if (sx !== sy) return Math.sign(sx - sy);
  if (sx === 0) return 0;
  let mag = x.int.length - y.int.length;
  if (mag === 0) mag = x.int < y.int ? -1 : x.int > y.int ? 1 : 0;
  if (mag === 0) {
    const width = Math.max(x.frac.length, y.frac.length);
    const [fx, fy] = [x.frac.padEnd(width, '0'), y.frac.padEnd(width, '0')];
    mag = fx < fy ? -1 : fx > fy ? 1 : 0;
  }
  return Math.sign(mag) * sx;
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
  // With `once`: the comparison as is (the planner estimates it, so an index on the cursor is still chosen) and
  // against the bound computed once (cheaper, so a sequential scan tests it first and parses no bound per row).
  const compare = (op: string, bound: string) => `${quoted} ${op} ${bound}` + (cursor.once ? ` AND ${quoted} ${op} ${cursor.once(bound)}` : '');
  if (window.from !== null) {
    const lookback = window.lookback ? parseLookback(window.lookback, kind) : null;
    const from = next(window.from);
    parts.push(compare('>=', lookback ? cursor.minus(from, lookback, kind, column) : from));
  }
  if (window.to !== null) parts.push(compare('<=', next(window.to)));
  if (!parts.length) return { sql: '', params };
  const bounded = parts.join(' AND ');
  return { sql: window.includeNull ? `(${bounded} OR ${quoted} IS NULL)` : `(${bounded})`, params };
}
