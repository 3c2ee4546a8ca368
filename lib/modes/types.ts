import type { Pool, PoolClient } from 'pg';
import type { SyncConfig, TableEntry } from '../config';
import type { Dialect, ReadFilter, SourceConnection, SourceTable } from '../sources/base';
import type { PartitionRange, TablePlan, TableRef } from '../types';
import type { ConfigModeName, ModeTraits } from './names';
import type { PlanCatalog } from './plan-catalog';

/** What a chunk's statements run on: the chunk's own transaction. */
export type Db = Pick<PoolClient, 'query'>;

/** One chunk of one partition, inside its transaction. */
export interface ChunkContext {
  config: SyncConfig;
  table: TablePlan;
  /** The chunk's key range. */
  chunk: PartitionRange;
  /** Where the chunk's rows land (see SyncMode.destination). */
  dest: TableRef;
  /** verify --repair: delete target rows of the range the source no longer has. */
  deleteMissing: boolean;
  /** A one-chunk full load done in this one transaction: create, copy, key and swap. */
  whole: boolean;
  /** The partition's last chunk: its transaction also saves the table's state. */
  last: boolean;
  /** The sync run this chunk belongs to. */
  run: { workflowId: string; runId: string };
  /** The source, for modes that ask it more than the chunk's rows (change logs: the keys to delete). */
  source: SourceConnection;
  /** The table's size when planned: rows, and an integer key's ends (sizes compare's digest buckets). */
  sizing?: { estimatedRows: number; min: string | null; max: string | null };
  /** Set by narrowChunk: only the target rows this condition (on the target table as `alias`) holds were compared. */
  only?: (alias: string) => string;
}

/** Which rows of a chunk need copying (see SyncMode.narrowChunk). */
export type ChunkNarrowing =
  /** None: its rows (`skipped` of them in the source) are equal on both sides. */
  | { skipped: number; filter?: undefined }
  /** Those `filter` keeps; `skipped` source rows are left out as equal; `only` says which target rows the copy stands for. */
  | { skipped: number; filter: ReadFilter; only: (alias: string) => string }
  /** Every row: most of them differ (and likely in the chunks after it too, which then skip the digests). */
  | { whole: true };

/** What readWindow may know of the run. */
export interface WindowRun {
  /** verifyAfterSync: the run's window needs its upper bound known when planned (verify's pending rows start there). */
  verifyAfter: boolean;
}

/** What applying a chunk changed in the target. */
export interface Applied {
  inserted: number;
  updated: number;
  deleted: number;
  /** A position the chunk's rows give (cursor mode's open window: the largest cursor copied), for saveState. */
  position?: string | null;
  /** Things done as documented but worth saying, and how often. */
  warnings?: Record<string, number>;
}

/** A table's own settings: its `tables` entry's, else the config's. */
export interface TableSettings {
  /** The config field of a setting, as an error names it (`tables[2].cursor`). */
  field(name: string): string;
  mode: ConfigModeName;
  deletes: 'ignore' | 'hard' | 'soft';
  changelog?: TableEntry['changelog'];
  cursor?: string;
  write: 'upsert' | 'append';
  lookback?: string;
  columns?: string[];
  /** The rows the table syncs (tables[].where); absent: all. */
  where?: TableEntry['where'];
  /** A key named in the config for a table the source gives none. */
  primaryKey?: string[];
  keyless: 'fail' | 'skip';
}

/** What planning one table has at hand. */
export interface PlanContext {
  source: SourceConnection;
  target: Pool;
  /** The config as given (the table's own delete rule is `settings.deletes`). */
  config: SyncConfig;
  /** The source table, its columns those the table syncs. */
  described: SourceTable;
  settings: TableSettings;
  /** The plan may change the target (add columns): false for a dry run and for verify without repair. */
  write: boolean;
  /** Planned for verify (a table it cannot check is left out with why), not for a sync (where that fails the table). */
  verify?: boolean;
  /** What was read of the catalogs for many tables at once (see plan-catalog.ts); absent: ask per table. */
  catalog?: PlanCatalog;
}

/** A table planned, or left out of the run with why (nothing to compare, no key…). */
export type PlanOutcome = { plan: TablePlan } | { skip: string };

/** A bound SQL fragment: text with the dialect's placeholders, and their values. */
export interface BoundSql {
  sql: string;
  params: string[];
}

/**
 * Which rows verify may find different because the next run brings them
 * anyway: none (every difference counts), all (no position saved yet: the next
 * run reads every row), the source rows a predicate selects (a cursor's next
 * window; a row only the target has is never pending then), or the keys a
 * source query names (a log's entries past the saved position; `SELECT key AS
 * <the key's name>`), compared as the source compares them.
 */
export type PendingRule =
  | { kind: 'none' }
  | { kind: 'all' }
  | { kind: 'rows'; where: (dialect: Dialect, placeholder: (i: number) => string) => BoundSql }
  | {
      kind: 'keys';
      keys: (dialect: Dialect, placeholder: (i: number) => string) => BoundSql;
      /** Keys (canonical text) the source compares equal fold to one text (a case-insensitive key); absent: exact. */
      fold?: (key: string) => string;
    };

/**
 * A sync mode: how it plans a table, what it reads, where rows land, how a
 * chunk is applied, what state it saves and what verify may call pending.
 * syncPartition keeps the chunk loop, resume, heartbeats and the transaction
 * and asks the mode for the rest; the table workflow takes its sequence from
 * `steps`. A new mode is a new folder here and a line in names.ts and index.ts.
 */
export interface SyncMode extends ModeTraits {
  /** Plans one table (its settings say this mode). Throws what fails this table alone. */
  plan(ctx: PlanContext): Promise<PlanOutcome>;
  /** At task creation: what this run reads (a cursor or log window read from the source now). */
  readWindow(source: SourceConnection, table: TablePlan, run?: WindowRun): Promise<TablePlan>;
  /** The WHERE part (without WHERE) a read adds to its key range; empty: every row of the range. */
  readFilter(dialect: Dialect, table: TablePlan, placeholder: (i: number) => string): BoundSql;
  /** A run past the table's first: it reads few rows, in one chunk (not one per key chunk). */
  incremental(table: TablePlan): boolean;
  /** Source names of the columns this run backfills for every row before its own read (none: no backfill). */
  backfillColumns(table: TablePlan): string[];
  /** The plan of a backfill's own reads: the key and the backfilled columns, no read window. */
  backfillRead(table: TablePlan): TablePlan;
  /** verify: which differing rows are pending (see PendingRule). */
  pending(table: TablePlan): PendingRule;
  /** Creates the target table itself when it is missing (its schema and user types made ready first). */
  readonly createsTarget: boolean;
  /** The table a partition's rows are copied into. */
  destination(table: TablePlan, names: { load: TableRef; staging: TableRef }): TableRef;
  /**
   * Which of a chunk's rows need copying at all (compare: range digests).
   * Absent, or null: every row. It only reads, and runs on pooled connections
   * outside the chunk's transaction, possibly while the chunk before it is
   * copied and applied.
   */
  narrowChunk?(db: Db, ctx: ChunkContext): Promise<ChunkNarrowing | null>;
  /** In the chunk's transaction, before its COPY. */
  prepareChunk(db: Db, ctx: ChunkContext): Promise<void>;
  /** In the chunk's transaction, after its COPY of `rowsCopied` rows: applies them. */
  applyChunk(db: Db, ctx: ChunkContext, rowsCopied: number): Promise<Applied>;
  /** In the last chunk's transaction, after its state row: what the table's state becomes (modes that save a position). */
  saveState?(db: Db, ctx: ChunkContext, totals: Applied & { rowsCopied: number }): Promise<void>;
}
