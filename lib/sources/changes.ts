import type { CopyStream } from './base';
import type { PartitionRange, TablePlan, TableRef } from '../types';

// Change capture from a source's own log (cdc mode): what a dialect that can
// stream its changes offers (PostgreSQL logical replication, the MariaDB/MySQL
// binary log), as plain change records the mode applies without knowing the
// dialect. A position is the dialect's own text (an LSN, a binlog file and
// offset): the mode only stores it and orders positions with `compare`.

/**
 * A column's value as the source's exact text; null is SQL NULL; undefined:
 * the log did not carry it (PostgreSQL's unchanged TOAST value), so the
 * target's value stays.
 */
export type ChangeValue = string | null | undefined;

/**
 * The columns of a table as the log describes them where a row change was
 * logged (PostgreSQL relation messages): name and type as the source spells
 * it (the catalog's spelling). One array per shape: changes of the same
 * shape share it. A change's row names no column its shape does not (the
 * apply relies on it: a row of a shape matched to the plan is not checked
 * again).
 */
export type ChangeShape = { name: string; type: string }[];

export type RowChange =
  /** shape: the table's columns at this change, when the log says (schema changes are found by it). */
  | { kind: 'insert'; table: TableRef; row: Record<string, ChangeValue>; shape?: ChangeShape }
  /** oldKey: the key before the update when the update changed it (else null). */
  | { kind: 'update'; table: TableRef; oldKey: Record<string, string | null> | null; row: Record<string, ChangeValue>; shape?: ChangeShape }
  | { kind: 'delete'; table: TableRef; oldKey: Record<string, string | null> }
  | { kind: 'truncate'; tables: TableRef[] };

/**
 * One source transaction: its changes in order, and its position (where its
 * commit ends). A transaction larger than the read's `pieceChanges` comes in
 * pieces (see ReadLimits): each piece but the last is `partial`, and its
 * position names the transaction's commit and how many of its changes are
 * then applied (piecePosition in lib/modes/cdc/apply.ts).
 */
export interface ChangeTransaction {
  position: string;
  changes: RowChange[];
  /** Where the transaction's commit starts (a position the source orders like the others): names its pieces. */
  commit?: string;
  /** When it committed at the source (ISO 8601), when the log says: lag in seconds is measured from it. */
  commitTime?: string;
  /** The index in the whole transaction of this piece's first change (0, or absent, for a whole transaction). */
  first?: number;
  /** A piece with more of its transaction still to come: it is not acknowledged to the source. */
  partial?: boolean;
}

/** What bounds one read besides its size in changes. */
export interface ReadLimits {
  /**
   * A transaction with more changes than this is returned in pieces of this
   * many, each alone in its batch (so the worker never holds more of it);
   * without it, a transaction is returned whole however large.
   */
  pieceChanges?: number;
  /** The transaction committed at `commit` has its first `applied` changes applied by earlier pieces: they are not returned again. */
  resume?: { commit: string; applied: number };
  /** Called as the read goes on (an activity's heartbeat): a large transaction takes a while to read. */
  beat?: () => void;
  /**
   * For a source that keeps no stream of its own (the binlog): the latest
   * position the target saved for the stream, read from (or from a later
   * idle position acknowledged in this process), and the stream's tables.
   */
  applied?: string | null;
  tables?: TablePlan[];
}

export interface ChangeBatch {
  /** Whole source transactions, in commit order. */
  transactions: ChangeTransaction[];
  /**
   * With no transactions: a position up to which every commit was read and
   * had nothing for these tables, so the stream may be acknowledged up to it.
   */
  idleTo: string | null;
  /** The read stopped at its size (or at a piece): more changes may wait in the log. */
  more?: boolean;
}

/** What a source says about a stream (a PostgreSQL slot; the binlog past the applied position): null when it does not exist. */
export interface StreamPosition {
  /** What the source was last told is applied (confirmed_flush_lsn). */
  confirmed: string | null;
  /** The log the stream holds back on the source (bytes of WAL past the restart point), and past the confirmed position. */
  retainedBytes: number;
  lagBytes: number;
  /** A reader is attached right now. */
  active: boolean;
}

/**
 * Reads one table's rows as of the stream's starting snapshot: all of them,
 * or with `range` the rows of a block range (only a capture that says so in
 * start's SnapshotOptions takes ranges).
 */
export type SnapshotRead = (plan: TablePlan, range?: PartitionRange) => Promise<CopyStream>;

/** What a capture's snapshot allows besides one whole-table read after another. */
export interface SnapshotOptions {
  /** Reads take block ranges and may run at once, each in its own session under the one snapshot. */
  ranges?: boolean;
}

/**
 * A source's change capture. `stream` names both the slot and the
 * publication (one per cdc workflow); a binlog keeps nothing per reader, so
 * there it names the reader (its server id) only.
 */
export interface ChangeCapture {
  /** Refuses a server or tables that cannot stream changes, naming the setting (TablesyncError 'CdcSetup'). */
  check(tables: TableRef[]): Promise<void>;
  /**
   * `applied`: the last position the target saved for the stream (the
   * latest of its tables'); a source that keeps no stream of its own (the
   * binlog) judges by it, and throws 'CdcGap' when the log after it is gone.
   */
  position(stream: string, applied?: string | null): Promise<StreamPosition | null>;
  /** The source keeps its log for the stream until acknowledged (a slot), so a stream left behind fills its disk. */
  readonly holdsLog: boolean;
  /** The source sends generated columns' values with each row (else a cdc table with one is refused). */
  readonly carriesGenerated: boolean;
  /**
   * Creates the stream and, while its starting snapshot is held, calls `load`
   * with a reader of that snapshot and the stream's starting position (the
   * snapshot holds every transaction committed before it, the stream every one after).
   */
  start(stream: string, tables: TableRef[], load: (read: SnapshotRead, position: string, options?: SnapshotOptions) => Promise<void>): Promise<string>;
  /** How the state names this source's positions (a column type: pg_lsn). */
  readonly positionType: string;
  /** Whole transactions past the acknowledged position, about `maxChanges` changes (a transaction is split only past `limits.pieceChanges`). */
  read(stream: string, maxChanges: number, limits?: ReadLimits): Promise<ChangeBatch>;
  /**
   * Tells the source everything up to `position` is applied: it may free
   * that log. Called after every batch; a piece's position (a transaction
   * applied in part) frees nothing, it only says the batch is done.
   */
  acknowledge(stream: string, position: string): Promise<void>;
  /** Ends what this worker holds open for the stream (a replication connection), so another reader or a drop may have it. */
  close?(stream: string): Promise<void>;
  /** Removes the stream (slot and publication); false when there was none. */
  drop(stream: string): Promise<boolean>;
  /** Orders two positions (negative: a before b). */
  compare(a: string, b: string): number;
}

/** A piece's position: the first `applied` changes of the transaction whose commit is at `commit` are applied. */
export function piecePosition(commit: string, applied: number): string {
  return `${commit}#${applied}`;
}

/** A saved position: a source position, or a piece's (its commit and the changes applied). */
export function splitPosition(position: string): { at: string; applied: number | null } {
  const hash = position.lastIndexOf('#');
  return hash < 0 ? { at: position, applied: null } : { at: position.slice(0, hash), applied: Number(position.slice(hash + 1)) };
}
