import type { SourceColumn } from './base';

// What a dialect says about cursor columns (ordered columns compared on the
// source in their own type, their values as exact text). Which rows a run
// reads is cursor mode's (lib/modes/cursor/window.ts).

/** time: dates and timestamps; number: integers and decimals; binary: SQL Server rowversion. */
export type CursorKind = 'time' | 'number' | 'binary';

/** What a dialect says about cursor columns; pure SQL text. */
export interface CursorDialect {
  kind(column: SourceColumn): CursorKind | null;
  /** The column's exact text (for MAX, saved as the cursor). */
  text(quoted: string, column: SourceColumn | { type: string; dataType: string }): string;
  /** A bound text value as the column's type. */
  param(placeholder: string, column: SourceColumn | { type: string; dataType: string }): string;
  /**
   * `expr` minus a lookback (seconds for time cursors, an amount for number
   * cursors), never below the smallest value of the column's type: a saved
   * value closer to it than the lookback reads from that minimum instead of
   * failing the read on an out-of-range subtraction.
   */
  minus(expr: string, lookback: Lookback, kind: CursorKind, column: { type: string; dataType: string }): string;
  /**
   * A column's text here is PostgreSQL's own `::text` under tablesync's pinned session settings: the target
   * gives the same text for the same value in a column of the same type (so a run can take its new saved
   * cursor from the rows it copied instead of a MAX over the source).
   */
  textOnTarget?: boolean;
  /**
   * `expr` (a bound, made of the placeholders) evaluated once per statement rather than once per row. Set only
   * where the placeholders are expressions the server evaluates per row (PostgreSQL's COPY reads its bounds
   * back from settings: see pgRangeCopySql); each comparison is then written twice, once as is, which the
   * planner estimates from the value, and once through this, which the scan evaluates first.
   */
  once?: (expr: string) => string;
}

export type Lookback = { seconds: number } | { amount: string };

