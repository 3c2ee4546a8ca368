import { qualifyPg } from '../target/sql';
import type { ColumnTypes, TableRef } from '../types';

export type { ColumnTypes };

// Per-table state: how each target table is synced and, for cursor tables,
// the saved cursor (the source's exact text, never a JS Date or float).
// Every change (a run, a reset, a mode change) also leaves a history row
// saying what changed it, when, and the state before and after.

export const TABLES_TABLE = '_tablesync_tables';
export const TABLE_HISTORY_TABLE = '_tablesync_table_history';

export interface TableState {
  sourceSchema: string;
  sourceTable: string;
  mode: string;
  write: string | null;
  cursorColumn: string | null;
  /** The saved cursor: the source's exact text of the largest cursor value a completed run read. */
  cursorValue: string | null;
  cursorType: string | null;
  columns: string[];
  /**
   * Per synced column (source name), the types it was synced with; null or a
   * missing column in states saved before types were kept: unknown, nothing
   * is checked. Undefined when saving: keep what the state has (operations).
   */
  columnTypes?: Record<string, ColumnTypes> | null;
  lastWorkflowId: string | null;
  lastRunId: string | null;
  lastCounts: Record<string, number> | null;
  /** Read only: changes with every save (microseconds of updated_at, as text). */
  stateVersion?: string;
}

/** Added after the first version of _tablesync_tables; present once the upgrade statement ran. */
export const TABLE_STATE_UPGRADE_COLUMNS = ['column_types'];

export function tableStateTablesSql(stateSchema: string): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${qualifyPg({ schema: stateSchema, name: TABLES_TABLE })} (
  target_schema text NOT NULL,
  target_table text NOT NULL,
  source_schema text NOT NULL,
  source_table text NOT NULL,
  mode text NOT NULL,
  write text,
  cursor_column text,
  cursor_value text,
  cursor_type text,
  columns jsonb NOT NULL DEFAULT '[]',
  column_types jsonb,
  last_workflow_id text,
  last_run_id text,
  last_run_at timestamptz,
  last_counts jsonb,
  schema_version integer NOT NULL DEFAULT 1,
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (target_schema, target_table)
)`,
    `CREATE TABLE IF NOT EXISTS ${qualifyPg({ schema: stateSchema, name: TABLE_HISTORY_TABLE })} (
  id bigserial PRIMARY KEY,
  target_schema text NOT NULL,
  target_table text NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  changed_by text NOT NULL,
  action text NOT NULL,
  before jsonb,
  after jsonb
)`,
  ];
}

/** Brings a _tablesync_tables made by an older version up to date (ALTER needs ownership: run it only when needed). */
export function tableStateUpgradeSql(stateSchema: string): string {
  return `ALTER TABLE ${qualifyPg({ schema: stateSchema, name: TABLES_TABLE })} ADD COLUMN IF NOT EXISTS column_types jsonb`;
}

// column_types through to_jsonb: a table an older version made (a dry run upgrades nothing) reads as unknown types.
const COLUMNS = `source_schema AS "sourceSchema", source_table AS "sourceTable", mode, write, cursor_column AS "cursorColumn",
  cursor_value AS "cursorValue", cursor_type AS "cursorType", columns, to_jsonb(s) -> 'column_types' AS "columnTypes", last_workflow_id AS "lastWorkflowId",
  last_run_id AS "lastRunId", last_counts AS "lastCounts", last_run_at AS "lastRunAt", updated_at AS "updatedAt",
  (extract(epoch FROM updated_at) * 1000000)::bigint::text AS "stateVersion"`;

/** One table's state (FOR UPDATE inside a transaction that changes it). */
export function readTableStateSql(stateSchema: string, target: TableRef, forUpdate = false): { text: string; values: string[] } {
  return {
    text: `SELECT ${COLUMNS} FROM ${qualifyPg({ schema: stateSchema, name: TABLES_TABLE })} s
      WHERE target_schema = $1 AND target_table = $2${forUpdate ? ' FOR UPDATE' : ''}`,
    values: [target.schema, target.name],
  };
}

/**
 * Serializes everything that writes one table's state (a run's last chunk,
 * reset-state, set-mode), also while the table has no state row to lock yet.
 */
export function tableStateLockSql(target: TableRef): { text: string; values: string[] } {
  return { text: 'SELECT pg_advisory_xact_lock(hashtext($1))', values: [`tablesync.table-state.${target.schema}.${target.name}`] };
}

/**
 * The column types a table's state holds now and held before its last save
 * (from its history row), each with the mode and source table it was saved
 * for: the plans a worker itself ran for the table (see activities/plan-check.ts).
 */
export function savedColumnTypesSql(stateSchema: string, target: TableRef): { text: string; values: string[] } {
  const t = qualifyPg({ schema: stateSchema, name: TABLES_TABLE });
  const h = qualifyPg({ schema: stateSchema, name: TABLE_HISTORY_TABLE });
  const fields = (j: string) => `jsonb_build_object('mode', ${j} ->> 'mode', 'schema', ${j} ->> 'source_schema', 'name', ${j} ->> 'source_table', 'types', ${j} -> 'column_types')`;
  return {
    text: `SELECT ${fields('to_jsonb(s)')} AS now,
      (SELECT ${fields('x.before')} FROM ${h} x WHERE x.target_schema = $1 AND x.target_table = $2 ORDER BY x.id DESC LIMIT 1) AS before
    FROM ${t} s WHERE target_schema = $1 AND target_table = $2`,
    values: [target.schema, target.name],
  };
}

/** Every table's state, for status. */
export function listTableStatesSql(stateSchema: string): string {
  return `SELECT target_schema AS "targetSchema", target_table AS "targetTable", ${COLUMNS}
    FROM ${qualifyPg({ schema: stateSchema, name: TABLES_TABLE })} s ORDER BY target_schema, target_table`;
}

/**
 * Writes a table's state and its history row in one statement: `action`
 * says what changed it (run, reset-state, set-mode), `changedBy` who (the
 * workflow id of the run or operation). A state without `columnTypes`
 * (reset-state, set-mode) keeps the types saved.
 */
export function saveTableStateSql(
  stateSchema: string,
  target: TableRef,
  state: TableState,
  action: string,
  changedBy: string,
): { text: string; values: unknown[] } {
  const t = qualifyPg({ schema: stateSchema, name: TABLES_TABLE });
  const h = qualifyPg({ schema: stateSchema, name: TABLE_HISTORY_TABLE });
  return {
    text: `WITH before AS (
  SELECT to_jsonb(s) - 'updated_at' AS j FROM ${t} s WHERE target_schema = $1 AND target_table = $2
), saved AS (
  INSERT INTO ${t} AS s (target_schema, target_table, source_schema, source_table, mode, write, cursor_column,
      cursor_value, cursor_type, columns, column_types, last_workflow_id, last_run_id, last_run_at, last_counts, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $16, $11, $12, CASE WHEN $11::text IS NULL THEN NULL ELSE clock_timestamp() END, $13, clock_timestamp())
  ON CONFLICT (target_schema, target_table) DO UPDATE SET
    source_schema = EXCLUDED.source_schema, source_table = EXCLUDED.source_table, mode = EXCLUDED.mode,
    write = EXCLUDED.write, cursor_column = EXCLUDED.cursor_column, cursor_value = EXCLUDED.cursor_value,
    cursor_type = EXCLUDED.cursor_type, columns = EXCLUDED.columns,
    column_types = CASE WHEN $17::boolean THEN s.column_types ELSE EXCLUDED.column_types END,
    last_workflow_id = COALESCE(EXCLUDED.last_workflow_id, s.last_workflow_id),
    last_run_id = COALESCE(EXCLUDED.last_run_id, s.last_run_id),
    last_run_at = COALESCE(EXCLUDED.last_run_at, s.last_run_at),
    last_counts = COALESCE(EXCLUDED.last_counts, s.last_counts), updated_at = clock_timestamp()
  RETURNING to_jsonb(s) - 'updated_at' AS j
)
INSERT INTO ${h} (target_schema, target_table, changed_by, action, before, after)
SELECT $1, $2, $14, $15, (SELECT j FROM before), (SELECT j FROM saved)`,
    values: [
      target.schema,
      target.name,
      state.sourceSchema,
      state.sourceTable,
      state.mode,
      state.write,
      state.cursorColumn,
      state.cursorValue,
      state.cursorType,
      JSON.stringify(state.columns),
      state.lastWorkflowId,
      state.lastRunId,
      state.lastCounts === null ? null : JSON.stringify(state.lastCounts),
      changedBy,
      action,
      state.columnTypes == null ? null : JSON.stringify(state.columnTypes),
      state.columnTypes === undefined,
    ],
  };
}

/**
 * A target table's last run from _migration_state: its partitions summed,
 * the worst status among them, their errors.
 */
export function lastRunSql(stateSchema: string, target: TableRef): { text: string; values: string[] } {
  return {
    text: `SELECT workflow_id AS "workflowId", run_id AS "runId", min(last_sync_start) AS "startedAt", max(last_sync_end) AS "endedAt",
    CASE WHEN bool_or(sync_status = 'failed') THEN 'failed' WHEN bool_or(sync_status = 'running') THEN 'running'
      WHEN bool_or(sync_status = 'cancelled') THEN 'cancelled' ELSE 'completed' END AS status,
    sum(rows_copied)::bigint AS "rowsCopied", sum(rows_inserted)::bigint AS inserted, sum(rows_updated)::bigint AS updated,
    sum(rows_unchanged)::bigint AS unchanged, sum(rows_deleted)::bigint AS deleted,
    string_agg(DISTINCT error_message, '; ') AS error
  FROM ${qualifyPg({ schema: stateSchema, name: '_migration_state' })}
  WHERE target_schema = $1 AND target_table = $2
  GROUP BY workflow_id, run_id ORDER BY min(last_sync_start) DESC NULLS LAST LIMIT 1`,
    values: [target.schema, target.name],
  };
}
