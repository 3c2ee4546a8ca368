import { createHash } from 'node:crypto';
import { rangePredicate } from './sources/base';
import { postgresDialect, qualifyPg, quotePg } from './sources/postgres';
import { pgIdentifier } from './table-plan';
import type { ColumnPlan, PartitionRange, TableRef } from './types';

export const STATE_TABLE = '_migration_state';
export const STAGING_PREFIX = '_ts_stg_';

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

function shortHash(...parts: (string | number)[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 12);
}

/**
 * Staging table name, fixed for (workflow run, table, partition) so a retried
 * attempt finds and reuses its own table. Readable prefix, hashed suffix,
 * within PostgreSQL's 63-byte identifier limit.
 */
export function stagingName(runKey: string, table: TableRef, partitionIndex: number): string {
  const readable = table.name.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 30);
  return `${STAGING_PREFIX}${readable}_p${partitionIndex}_${shortHash(runKey, table.schema, table.name, partitionIndex)}`;
}

export const LOAD_PREFIX = '_ts_load_';

/** The table a full load fills before it is swapped in; fixed per run and table. */
export function loadTableName(runKey: string, target: TableRef): string {
  const readable = target.name.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 30);
  return `${LOAD_PREFIX}${readable}_${shortHash(runKey, target.schema, target.name)}`;
}

/** A new table with the mapped types and NOT NULLs; the key is added after the load. */
export function createTableSql(table: TableRef, columns: ColumnPlan[]): string {
  const defs = columns.map((c) => `${quotePg(c.targetName)} ${c.targetType}${c.nullable ? '' : ' NOT NULL'}`);
  return `CREATE TABLE ${qualifyPg(table)} (${defs.join(', ')})`;
}

export function addPrimaryKeySql(table: TableRef, columns: ColumnPlan[], primaryKey: string[]): string {
  return `ALTER TABLE ${qualifyPg(table)} ADD CONSTRAINT ${quotePg(pkeyName(table.name))} PRIMARY KEY (${targetKey(columns, primaryKey)
    .map(quotePg)
    .join(', ')})`;
}

/**
 * PostgreSQL's own naming for a table's key; shortened with a hash when too
 * long, so two long table names of one schema never share a key (index) name.
 */
export function pkeyName(table: string): string {
  return pgIdentifier(`${table}_pkey`);
}

/**
 * Statements that replace `target` with the loaded table inside one
 * transaction: readers see the old rows until COMMIT, then the new ones.
 */
export function swapTableSql(load: TableRef, target: TableRef, targetExists: boolean): string[] {
  const steps: string[] = [];
  if (targetExists) {
    steps.push(`LOCK TABLE ${qualifyPg(target)} IN ACCESS EXCLUSIVE MODE`, `DROP TABLE ${qualifyPg(target)}`);
  }
  steps.push(
    `ALTER TABLE ${qualifyPg(load)} RENAME TO ${quotePg(target.name)}`,
    `ALTER TABLE ${qualifyPg(target)} RENAME CONSTRAINT ${quotePg(pkeyName(load.name))} TO ${quotePg(pkeyName(target.name))}`,
  );
  return steps;
}

const columnList = (columns: ColumnPlan[]): string => columns.map((c) => quotePg(c.targetName)).join(', ');

/** Target-side names of the key columns, in key order. */
export function targetKey(columns: ColumnPlan[], primaryKey: string[]): string[] {
  return primaryKey.map((k) => columns.find((c) => c.name === k)?.targetName ?? k);
}

/** Staging takes the target's exact column types, so binary COPY lines up. No indexes: faster COPY. */
export function createStagingSql(staging: TableRef, target: TableRef, columns: ColumnPlan[], unlogged: boolean): string {
  return (
    `CREATE ${unlogged ? 'UNLOGGED ' : ''}TABLE IF NOT EXISTS ${qualifyPg(staging)} AS ` +
    `SELECT ${columnList(columns)} FROM ${qualifyPg(target)} WITH NO DATA`
  );
}

export function copyIntoSql(staging: TableRef, columns: ColumnPlan[], format: 'binary' | 'text'): string {
  return `COPY ${qualifyPg(staging)} (${columnList(columns)}) FROM STDIN (FORMAT ${format})`;
}

// Types whose `=` holds only for identical stored values: the plain (indexable,
// fast) comparison is exact for them. Strings are compared under "C", whose
// equality is byte equality whatever the column's collation.
const IDENTITY_TYPES =
  /^(smallint|integer|bigint|boolean|uuid|bytea|date|oid|(timestamp|time)(\(\d\))? without time zone|timestamp(\(\d\))? with time zone|timestamptz(\(\d\))?|bit( varying)?(\(\d+\))?)(\[\])?$/;
const STRING_TYPES = /^(text|character varying(\(\d+\))?|character(\(\d+\))?|varchar(\(\d+\))?)(\[\])?$/;

/**
 * True when the target value differs from the incoming one in its stored
 * form. Every type not known to be identity-equal (numeric 1.0 = 1.00,
 * interval '1 day' = '24 hours', jsonb, ranges, citext, domains, user types,
 * json without `=` at all, ...) is compared by its text form, which the pinned
 * session settings make canonical; floats by their bits (0 = -0).
 */
function distinctSql(left: string, right: string, targetType: string): string {
  const t = targetType.toLowerCase();
  if (IDENTITY_TYPES.test(t)) return `${left} IS DISTINCT FROM ${right}`;
  if (STRING_TYPES.test(t)) return `${left} COLLATE "C" IS DISTINCT FROM ${right} COLLATE "C"`;
  if (t === 'double precision') return `float8send(${left}) IS DISTINCT FROM float8send(${right})`;
  if (t === 'real') return `float4send(${left}) IS DISTINCT FROM float4send(${right})`;
  return `${left}::text IS DISTINCT FROM ${right}::text`;
}

function distinct(column: ColumnPlan): string {
  const q = quotePg(column.targetName);
  return distinctSql(`t.${q}`, `EXCLUDED.${q}`, column.targetType);
}

/**
 * Upsert from staging that writes only rows that differ, and counts inserts
 * and updates (xmax = 0 marks a row this statement inserted).
 */
export function upsertSql(target: TableRef, staging: TableRef, columns: ColumnPlan[], primaryKey: string[]): string {
  const keys = new Set(primaryKey);
  const nonKey = columns.filter((c) => !keys.has(c.name));
  const onConflict = nonKey.length
    ? `DO UPDATE SET ${nonKey.map((c) => `${quotePg(c.targetName)} = EXCLUDED.${quotePg(c.targetName)}`).join(', ')}\n    WHERE ${nonKey
        .map(distinct)
        .join('\n       OR ')}`
    : 'DO NOTHING';
  return `WITH applied AS (
  INSERT INTO ${qualifyPg(target)} AS t (${columnList(columns)})
  SELECT ${columnList(columns)} FROM ${qualifyPg(staging)}
  ON CONFLICT (${targetKey(columns, primaryKey).map(quotePg).join(', ')}) ${onConflict}
  RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted)::bigint AS inserted, count(*) FILTER (WHERE NOT inserted)::bigint AS updated FROM applied`;
}

/**
 * Hard deletes for one key range: target rows in the range that the source
 * (now in staging) no longer has. Range bounds are bound parameters.
 */
export function deleteMissingSql(
  target: TableRef,
  staging: TableRef,
  columns: ColumnPlan[],
  primaryKey: string[],
  range: PartitionRange,
): { text: string; values: string[] } {
  const keys = targetKey(columns, primaryKey);
  const onTarget = { ...postgresDialect, quoteIdent: (name: string) => `t.${quotePg(name)}` };
  const where = rangePredicate(onTarget, keys[0], range);
  const match = keys.map((k) => `s.${quotePg(k)} = t.${quotePg(k)}`).join(' AND ');
  return {
    text:
      `DELETE FROM ${qualifyPg(target)} AS t${where.sql}${where.sql ? ' AND' : ' WHERE'} ` +
      `NOT EXISTS (SELECT 1 FROM ${qualifyPg(staging)} AS s WHERE ${match})`,
    values: where.params,
  };
}

export function truncateTableSql(staging: TableRef): string {
  return `TRUNCATE ${qualifyPg(staging)}`;
}

export function dropTableSql(staging: TableRef): string {
  return `DROP TABLE IF EXISTS ${qualifyPg(staging)}`;
}
