// What a mode is, as plain data: the part every layer may read, workflows
// included (no I/O, no drivers). Each mode folder's traits.ts fills one in;
// names.ts lists them. Code outside lib/modes asks these instead of testing a
// mode's name.

/** How a table is synced in a run, once planned. */
export type SyncModeName = 'full' | 'compare' | 'cursor' | 'changelog' | 'cdc';

/**
 * The table workflow's sequence for a mode:
 * - load-and-swap: create a load table, fill it partition by partition, key it and swap it in (or drop it);
 * - apply-in-place: each partition applies its rows to the existing table as it goes.
 */
export type TableSteps = 'load-and-swap' | 'apply-in-place';

/** A table entry's option a mode may take (the config field of the same name). */
export type ModeOption = 'cursor' | 'write' | 'lookback' | 'changelog' | 'columns' | 'where';

export interface ModeTraits {
  readonly name: SyncModeName;
  readonly steps: TableSteps;
  /** The options this mode takes besides `mode` and `deletes`; any other one given is refused, naming the field. */
  readonly options: readonly ModeOption[];
  /** Delete rules this mode carries out ('ignore': none). */
  readonly deletes: readonly ('ignore' | 'hard' | 'soft')[];
  /** The delete rule when neither the table nor the config names one other than 'ignore'. */
  readonly defaultDeletes?: 'soft' | 'hard';
  /** The table runs as one partition, its chunks in order, so that its last chunk can save the table's position. */
  readonly onePartition: boolean;
  /** It keeps a position in the table state (a cursor, a log position) that the last chunk saves. */
  readonly savesPosition: boolean;
  /** How a summary names a run of it: a full load, or an incremental sync. */
  readonly runKind: 'full load' | 'incremental';
  /**
   * verify: rows that differ below the saved position are ones the next run
   * will not bring; this says why, after "rows changed" (empty: the mode has
   * no position, every difference is one).
   */
  readonly unreadChange: string;
  /** verify: what a row that differs below the saved position is called (absent: "changed"). */
  readonly changedBelow?: string;
  /**
   * Why this mode cannot sync a table that has no primary key (and no
   * `primaryKey:` naming one), given the table's write setting; null: it can.
   */
  readonly needsKey: (write: 'upsert' | 'append') => string | null;
  /** set-mode may switch a table to this mode. */
  readonly settable: boolean;
  /** reset-state forgets the saved position of a table of this mode (not a cursor's rules); what that means, said to the user. */
  readonly resetState?: string;
}
