import type { PoolClient } from 'pg';
import type { SyncConfig } from '../config';
import type { SourceConnection } from '../sources/base';
import type { PartitionRange, TablePlan, TableRef } from '../types';
import type { SyncModeName, TableSteps } from './names';

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
}

/** What applying a chunk changed in the target. */
export interface Applied {
  inserted: number;
  updated: number;
  deleted: number;
  /** Things done as documented but worth saying, and how often. */
  warnings?: Record<string, number>;
}

/**
 * A sync mode: what it reads, where rows land, how they are applied and what
 * state it saves. syncPartition keeps the chunk loop, resume, heartbeats and
 * the transaction, and asks the mode for the rest; the table workflow takes
 * its sequence from `steps`. A new mode is a new file here.
 */
export interface SyncMode {
  readonly name: SyncModeName;
  /** What is read from the source: every row of a key range, or the rows of a key range past the saved cursor. */
  readonly reads: 'key-range' | 'past-cursor' | 'logged-keys';
  /** Where rows land: the run's load table (swapped in at the end) or a staging table per chunk. */
  readonly lands: 'load-table' | 'staging';
  /** What state it saves: per partition, chunks done and counts (_migration_state); cursor modes also the table's cursor. */
  readonly saves: 'partition-progress' | 'cursor';
  readonly steps: TableSteps;
  /** Creates the target table itself when it is missing (its schema and user types made ready first). */
  readonly createsTarget: boolean;
  /** The table a partition's rows are copied into. */
  destination(table: TablePlan, names: { load: TableRef; staging: TableRef }): TableRef;
  /** In the chunk's transaction, before its COPY. */
  prepareChunk(db: Db, ctx: ChunkContext): Promise<void>;
  /** In the chunk's transaction, after its COPY of `rowsCopied` rows: applies them. */
  applyChunk(db: Db, ctx: ChunkContext, rowsCopied: number): Promise<Applied>;
  /** In the last chunk's transaction, after its state row: what the table's state becomes (cursor modes). */
  saveState?(db: Db, ctx: ChunkContext, totals: Applied & { rowsCopied: number }): Promise<void>;
}
