import { qualifyPg } from '../target/sql';
import type { TableRef } from '../types';
import { GENERATIONS_TABLE } from './generations';
import { TABLE_HISTORY_TABLE, TABLE_STATE_UPGRADE_COLUMNS, TABLES_TABLE } from './tables';

// _migration_state: the seed's run and partition history, one row per
// (workflow run, table, partition), written in the same transactions as the
// rows it describes.

export const STATE_TABLE = '_migration_state';
/** Columns added after the first version; present when the upgrade statement has run. */
export const STATE_UPGRADE_COLUMNS = ['rows_deleted', 'chunks_done', 'warnings'];

/** Creates _migration_state, and brings one made by an older version up to date. */
export function stateTableSql(stateSchema: string): string[] {
  const t = qualifyPg({ schema: stateSchema, name: STATE_TABLE });
  return [`CREATE TABLE IF NOT EXISTS ${t} (
  id bigserial PRIMARY KEY,
  table_name varchar(255) NOT NULL,
  source_schema varchar(128) NOT NULL,
  target_schema varchar(128) NOT NULL,
  target_table varchar(255) NOT NULL,
  sync_status varchar(20) NOT NULL,
  last_sync_start timestamptz,
  last_sync_end timestamptz,
  rows_inserted bigint NOT NULL DEFAULT 0,
  rows_updated bigint NOT NULL DEFAULT 0,
  rows_unchanged bigint NOT NULL DEFAULT 0,
  rows_copied bigint NOT NULL DEFAULT 0,
  rows_deleted bigint NOT NULL DEFAULT 0,
  chunks_done integer NOT NULL DEFAULT 0,
  warnings jsonb NOT NULL DEFAULT '{}',
  error_message text,
  retry_count integer NOT NULL DEFAULT 0,
  workflow_id text NOT NULL,
  run_id text NOT NULL,
  partition_index integer NOT NULL DEFAULT 0,
  partition_count integer NOT NULL DEFAULT 1,
  pk_range_lo text,
  pk_range_hi text,
  mode varchar(20) NOT NULL DEFAULT 'compare',
  UNIQUE (workflow_id, run_id, source_schema, table_name, partition_index)
)`,
    `ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS rows_deleted bigint NOT NULL DEFAULT 0,
      ADD COLUMN IF NOT EXISTS chunks_done integer NOT NULL DEFAULT 0,
      ADD COLUMN IF NOT EXISTS warnings jsonb NOT NULL DEFAULT '{}'`,
  ];
}

export interface StateKey {
  stateSchema: string;
  workflowId: string;
  runId: string;
  source: TableRef;
  target: TableRef;
  partitionIndex: number;
  partitionCount: number;
  lo: string | null;
  hi: string | null;
  mode: string;
}

const stateKeyWhere = `workflow_id = $1 AND run_id = $2 AND source_schema = $3 AND table_name = $4 AND partition_index = $5`;
const stateKeyParams = (k: StateKey): unknown[] => [k.workflowId, k.runId, k.source.schema, k.source.name, k.partitionIndex];

export function markRunningSql(k: StateKey, retryCount: number): { text: string; values: unknown[] } {
  const t = qualifyPg({ schema: k.stateSchema, name: STATE_TABLE });
  return {
    text: `INSERT INTO ${t} AS s (workflow_id, run_id, source_schema, table_name, partition_index, target_schema, target_table,
        partition_count, pk_range_lo, pk_range_hi, mode, sync_status, last_sync_start, retry_count)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'running', clock_timestamp(), $12)
      ON CONFLICT (workflow_id, run_id, source_schema, table_name, partition_index) DO UPDATE
      SET sync_status = 'running', last_sync_start = clock_timestamp(), last_sync_end = NULL,
          error_message = NULL, retry_count = EXCLUDED.retry_count`,
    values: [
      ...stateKeyParams(k),
      k.target.schema,
      k.target.name,
      k.partitionCount,
      k.lo,
      k.hi,
      k.mode,
      retryCount,
    ],
  };
}

type StateCounts = {
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
  rowsCopied: number;
  /** Chunks committed so far: where a retried attempt resumes. */
  chunksDone: number;
  warnings: Record<string, number>;
};

export function markCompletedSql(k: StateKey, counts: StateCounts): { text: string; values: unknown[] } {
  return stateCountsSql(k, counts, true);
}

/** Counts so far of a partition that commits in chunks; it stays running. */
export function markProgressSql(k: StateKey, counts: StateCounts): { text: string; values: unknown[] } {
  return stateCountsSql(k, counts, false);
}

function stateCountsSql(k: StateKey, counts: StateCounts, done: boolean): { text: string; values: unknown[] } {
  const t = qualifyPg({ schema: k.stateSchema, name: STATE_TABLE });
  const status = done ? `sync_status = 'completed', last_sync_end = clock_timestamp(), ` : '';
  return {
    text: `UPDATE ${t} SET ${status}error_message = NULL,
        rows_inserted = $6, rows_updated = $7, rows_unchanged = $8, rows_copied = $9, rows_deleted = $10,
        chunks_done = $11, warnings = $12
      WHERE ${stateKeyWhere}`,
    values: [
      ...stateKeyParams(k),
      counts.inserted,
      counts.updated,
      counts.unchanged,
      counts.rowsCopied,
      counts.deleted,
      counts.chunksDone,
      JSON.stringify(counts.warnings),
    ],
  };
}

export function stateRowSql(k: StateKey): { text: string; values: unknown[] } {
  const t = qualifyPg({ schema: k.stateSchema, name: STATE_TABLE });
  return {
    text: `SELECT sync_status, rows_copied, rows_inserted, rows_updated, rows_unchanged, rows_deleted, chunks_done, warnings
      FROM ${t} WHERE ${stateKeyWhere}`,
    values: stateKeyParams(k),
  };
}

/** An attempt that ended without completing: failed, or cancelled (its sync was cancelled). */
export function markFailedSql(k: StateKey, message: string, status: 'failed' | 'cancelled' = 'failed'): { text: string; values: unknown[] } {
  const t = qualifyPg({ schema: k.stateSchema, name: STATE_TABLE });
  return {
    text: `UPDATE ${t} SET sync_status = $7, last_sync_end = clock_timestamp(), error_message = $6
      WHERE ${stateKeyWhere}`,
    values: [...stateKeyParams(k), message, status],
  };
}

/**
 * A full load whose load table was dropped instead of swapped in: its
 * partitions' rows said "completed" for rows that never reached the target.
 * They now say what happened to the run (cancelled or failed), counts kept
 * as what was loaded and thrown away.
 */
export function markNotSwappedSql(
  k: Pick<StateKey, 'stateSchema' | 'workflowId' | 'runId' | 'source'>,
  status: 'cancelled' | 'failed',
  message: string,
): { text: string; values: unknown[] } {
  const t = qualifyPg({ schema: k.stateSchema, name: STATE_TABLE });
  return {
    text: `UPDATE ${t} SET sync_status = $5, error_message = $6, last_sync_end = clock_timestamp()
      WHERE workflow_id = $1 AND run_id = $2 AND source_schema = $3 AND table_name = $4 AND sync_status IN ('completed', 'running')`,
    values: [k.workflowId, k.runId, k.source.schema, k.source.name, status, message],
  };
}

/**
 * A table its run refused before any partition (at planning: TypeChange,
 * SchemaChange, LossyColumn, a name collision ...): one row, partition 0 of
 * none, so the run's outcome is in the table's state like any other run's.
 * Idempotent: a retried planning step writes the same row.
 */
export function markPlanFailedSql(
  k: Pick<StateKey, 'stateSchema' | 'workflowId' | 'runId' | 'source' | 'target' | 'mode'>,
  message: string,
): { text: string; values: unknown[] } {
  const t = qualifyPg({ schema: k.stateSchema, name: STATE_TABLE });
  return {
    text: `INSERT INTO ${t} AS s (workflow_id, run_id, source_schema, table_name, partition_index, target_schema, target_table,
        partition_count, mode, sync_status, last_sync_start, last_sync_end, error_message)
      VALUES ($1, $2, $3, $4, 0, $5, $6, 0, $7, 'failed', clock_timestamp(), clock_timestamp(), $8)
      ON CONFLICT (workflow_id, run_id, source_schema, table_name, partition_index) DO UPDATE
      SET sync_status = 'failed', last_sync_end = clock_timestamp(), error_message = EXCLUDED.error_message`,
    values: [k.workflowId, k.runId, k.source.schema, k.source.name, k.target.schema, k.target.name, k.mode, message],
  };
}

/**
 * Whether the state tables are current, in one query: `columns` counts the
 * upgrade columns _migration_state has and `table_columns` those of
 * _tablesync_tables (ALTER needs ownership: run it only when needed), `others` says the other state tables exist and this role
 * may write every state table (a role that may not fails at once, in the
 * DDL, as it did before this check, instead of in each table's first write).
 */
export function stateCheckSql(stateSchema: string): { text: string; values: unknown[] } {
  const q = (name: string) => qualifyPg({ schema: stateSchema, name });
  const writable = (p: string) => `COALESCE(has_table_privilege(to_regclass(${p}), 'INSERT') AND has_table_privilege(to_regclass(${p}), 'UPDATE'), false)`;
  return {
    text: `SELECT (SELECT count(*)::int FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = ANY($2) AND NOT attisdropped) AS columns,
      (SELECT count(*)::int FROM pg_attribute WHERE attrelid = to_regclass($4) AND attname = ANY($6) AND NOT attisdropped) AS table_columns,
      (${['$1', '$3', '$4', '$5'].map(writable).join(' AND ')}) AS others`,
    values: [q(STATE_TABLE), STATE_UPGRADE_COLUMNS, q(GENERATIONS_TABLE), q(TABLES_TABLE), q(TABLE_HISTORY_TABLE), TABLE_STATE_UPGRADE_COLUMNS],
  };
}

/** How many other partitions of the table's run (of `partitionCount`) have completed. */
export function otherPartitionsCompletedSql(k: StateKey): { text: string; values: unknown[] } {
  const t = qualifyPg({ schema: k.stateSchema, name: STATE_TABLE });
  return {
    text: `SELECT count(*)::int AS n FROM ${t}
      WHERE workflow_id = $1 AND run_id = $2 AND source_schema = $3 AND table_name = $4 AND partition_index <> $5
        AND partition_count = $6 AND sync_status = 'completed'`,
    values: [...stateKeyParams(k), k.partitionCount],
  };
}

/** stateCheckSql's row: nothing to create or upgrade. */
export const stateIsCurrent = (row: { columns: number; table_columns: number; others: boolean }): boolean => row.columns === STATE_UPGRADE_COLUMNS.length && row.table_columns === TABLE_STATE_UPGRADE_COLUMNS.length && row.others;

// Many one-chunk partitions of one run at once (syncSmallTables' group
// transaction): one statement each instead of one per table.

/** Keys of one run's partitions, as arrays for unnest: source schema, table name, partition index. */
function manyKeyParams(keys: StateKey[]): unknown[] {
  return [keys.map((k) => k.source.schema), keys.map((k) => k.source.name), keys.map((k) => k.partitionIndex)];
}

function sameRun(keys: StateKey[]): StateKey {
  const [k] = keys;
  if (!k || keys.some((x) => x.workflowId !== k.workflowId || x.runId !== k.runId || x.stateSchema !== k.stateSchema)) {
    throw new Error('state rows of many partitions: the keys must be of one run, and at least one');
  }
  return k;
}

/**
 * Each key's row found through the unique key's index, one lookup per key
 * (a LATERAL subquery): a join the planner is free to choose hashes every row
 * of the run (10,000 in a run of 10,000 tables, the run's statistics not yet
 * gathered), which made each lookup of 25 keys cost as much as reading them all.
 */
function rowsOfKeys(t: string, columns: string, keys = 'unnest($3::text[], $4::text[], $5::int[]) AS w(s, n, p)'): string {
  return `${keys} CROSS JOIN LATERAL (
      SELECT ${columns} FROM ${t} x
      WHERE x.workflow_id = $1 AND x.run_id = $2 AND x.source_schema = w.s AND x.table_name = w.n AND x.partition_index = w.p
      LIMIT 1) s`;
}

/** stateRowSql of many partitions of one run: rows also name source_schema, table_name, partition_index. */
export function stateRowsSql(keys: StateKey[]): { text: string; values: unknown[] } {
  const k = sameRun(keys);
  const t = qualifyPg({ schema: k.stateSchema, name: STATE_TABLE });
  const columns = 'sync_status, rows_copied, rows_inserted, rows_updated, rows_unchanged, rows_deleted, chunks_done, warnings';
  return {
    text: `SELECT w.s AS source_schema, w.n AS table_name, w.p AS partition_index, s.* FROM ${rowsOfKeys(t, columns)}`,
    values: [k.workflowId, k.runId, ...manyKeyParams(keys)],
  };
}

/** markRunningSql of many partitions of one run, all at one retry count. */
export function markManyRunningSql(keys: StateKey[], retryCount: number): { text: string; values: unknown[] } {
  const k = sameRun(keys);
  const t = qualifyPg({ schema: k.stateSchema, name: STATE_TABLE });
  return {
    text: `INSERT INTO ${t} AS s (workflow_id, run_id, source_schema, table_name, partition_index, target_schema, target_table,
        partition_count, pk_range_lo, pk_range_hi, mode, sync_status, last_sync_start, retry_count)
      SELECT $1, $2, w.s, w.n, w.p, w.ts, w.tn, w.pc, w.lo, w.hi, w.m, 'running', clock_timestamp(), $12::int
      FROM unnest($3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::int[], $9::text[], $10::text[], $11::text[])
        AS w(s, n, p, ts, tn, pc, lo, hi, m)
      ORDER BY w.s, w.n, w.p
      ON CONFLICT (workflow_id, run_id, source_schema, table_name, partition_index) DO UPDATE
      SET sync_status = 'running', last_sync_start = clock_timestamp(), last_sync_end = NULL,
          error_message = NULL, retry_count = EXCLUDED.retry_count`,
    values: [
      k.workflowId,
      k.runId,
      ...manyKeyParams(keys),
      keys.map((x) => x.target.schema),
      keys.map((x) => x.target.name),
      keys.map((x) => x.partitionCount),
      keys.map((x) => x.lo),
      keys.map((x) => x.hi),
      keys.map((x) => x.mode),
      retryCount,
    ],
  };
}

/** markCompletedSql of many partitions of one run that each committed in one chunk. */
export function markManyCompletedSql(keys: StateKey[], counts: StateCounts[]): { text: string; values: unknown[] } {
  const k = sameRun(keys);
  const t = qualifyPg({ schema: k.stateSchema, name: STATE_TABLE });
  const col = <K extends keyof StateCounts>(name: K) => counts.map((c) => c[name]);
  return {
    text: `WITH v AS MATERIALIZED (
        SELECT s.id, w.* FROM ${rowsOfKeys(t, 'x.id', `unnest($3::text[], $4::text[], $5::int[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[],
          $10::bigint[], $11::int[], $12::jsonb[]) AS w(s, n, p, ins, upd, unch, copied, del, chunks, warn)`)})
      UPDATE ${t} AS s SET sync_status = 'completed', last_sync_end = clock_timestamp(), error_message = NULL,
        rows_inserted = v.ins, rows_updated = v.upd, rows_unchanged = v.unch, rows_copied = v.copied, rows_deleted = v.del,
        chunks_done = v.chunks, warnings = v.warn
      FROM v WHERE s.id = v.id`,
    values: [
      k.workflowId,
      k.runId,
      ...manyKeyParams(keys),
      col('inserted'),
      col('updated'),
      col('unchanged'),
      col('rowsCopied'),
      col('deleted'),
      col('chunksDone'),
      counts.map((c) => JSON.stringify(c.warnings)),
    ],
  };
}
