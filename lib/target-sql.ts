import { createHash } from 'node:crypto';
import { qualifyPg, quotePg } from './sources/postgres';
import type { ColumnPlan, TableRef } from './types';

export const STATE_TABLE = '_migration_state';
export const STAGING_PREFIX = '_ts_stg_';

export function stateTableSql(stateSchema: string): string {
  const t = qualifyPg({ schema: stateSchema, name: STATE_TABLE });
  return `CREATE TABLE IF NOT EXISTS ${t} (
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
)`;
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

export function markCompletedSql(
  k: StateKey,
  counts: { inserted: number; updated: number; unchanged: number; rowsCopied: number },
): { text: string; values: unknown[] } {
  const t = qualifyPg({ schema: k.stateSchema, name: STATE_TABLE });
  return {
    text: `UPDATE ${t} SET sync_status = 'completed', last_sync_end = clock_timestamp(), error_message = NULL,
        rows_inserted = $6, rows_updated = $7, rows_unchanged = $8, rows_copied = $9
      WHERE ${stateKeyWhere}`,
    values: [...stateKeyParams(k), counts.inserted, counts.updated, counts.unchanged, counts.rowsCopied],
  };
}

export function markFailedSql(k: StateKey, message: string): { text: string; values: unknown[] } {
  const t = qualifyPg({ schema: k.stateSchema, name: STATE_TABLE });
  return {
    text: `UPDATE ${t} SET sync_status = 'failed', last_sync_end = clock_timestamp(), error_message = $6
      WHERE ${stateKeyWhere}`,
    values: [...stateKeyParams(k), message],
  };
}

/**
 * Staging table name, fixed for (workflow run, table, partition) so a retried
 * attempt finds and reuses its own table. Readable prefix, hashed suffix,
 * within PostgreSQL's 63-byte identifier limit.
 */
export function stagingName(runKey: string, table: TableRef, partitionIndex: number): string {
  const hash = createHash('sha256')
    .update(`${runKey}\u0000${table.schema}\u0000${table.name}\u0000${partitionIndex}`)
    .digest('hex')
    .slice(0, 12);
  const readable = table.name.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 30);
  return `${STAGING_PREFIX}${readable}_p${partitionIndex}_${hash}`;
}

const columnList = (columns: ColumnPlan[]): string => columns.map((c) => quotePg(c.name)).join(', ');

/** Staging takes the target's exact column types, so binary COPY lines up. No indexes: faster COPY. */
export function createStagingSql(staging: TableRef, target: TableRef, columns: ColumnPlan[], unlogged: boolean): string {
  return (
    `CREATE ${unlogged ? 'UNLOGGED ' : ''}TABLE IF NOT EXISTS ${qualifyPg(staging)} AS ` +
    `SELECT ${columnList(columns)} FROM ${qualifyPg(target)} WITH NO DATA`
  );
}

export function copyIntoStagingSql(staging: TableRef, columns: ColumnPlan[], format: 'binary' | 'text'): string {
  return `COPY ${qualifyPg(staging)} (${columnList(columns)}) FROM STDIN (FORMAT ${format})`;
}

// Types without an equality operator: compare their text form instead.
const NO_EQUALITY = /^(json|xml|point|line|lseg|box|path|polygon|circle)(\[\])?$/;

function distinct(column: ColumnPlan): string {
  const q = quotePg(column.name);
  return NO_EQUALITY.test(column.targetType)
    ? `t.${q}::text IS DISTINCT FROM EXCLUDED.${q}::text`
    : `t.${q} IS DISTINCT FROM EXCLUDED.${q}`;
}

/**
 * Upsert from staging that writes only rows that differ, and counts inserts
 * and updates (xmax = 0 marks a row this statement inserted).
 */
export function upsertSql(target: TableRef, staging: TableRef, columns: ColumnPlan[], primaryKey: string[]): string {
  const keys = new Set(primaryKey);
  const nonKey = columns.filter((c) => !keys.has(c.name));
  const onConflict = nonKey.length
    ? `DO UPDATE SET ${nonKey.map((c) => `${quotePg(c.name)} = EXCLUDED.${quotePg(c.name)}`).join(', ')}\n    WHERE ${nonKey
        .map(distinct)
        .join('\n       OR ')}`
    : 'DO NOTHING';
  return `WITH applied AS (
  INSERT INTO ${qualifyPg(target)} AS t (${columnList(columns)})
  SELECT ${columnList(columns)} FROM ${qualifyPg(staging)}
  ON CONFLICT (${primaryKey.map(quotePg).join(', ')}) ${onConflict}
  RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted)::bigint AS inserted, count(*) FILTER (WHERE NOT inserted)::bigint AS updated FROM applied`;
}

export function truncateStagingSql(staging: TableRef): string {
  return `TRUNCATE ${qualifyPg(staging)}`;
}

export function dropStagingSql(staging: TableRef): string {
  return `DROP TABLE IF EXISTS ${qualifyPg(staging)}`;
}
