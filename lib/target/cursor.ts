import { qualifyPg, quotePg } from './sql';
import { pgIdentifier } from '../table-plan';
import type { ColumnPlan, TableRef } from '../types';
import { distinctSql } from './apply';
import { columnList, targetKey } from './columns';
import { createTableSql } from './ddl';
import { pkeyName } from './names';

// Target SQL of cursor tables: the latest version per key (write: upsert) or
// every version, each once (write: append), with sync metadata.

/** Columns every append table has besides the source's. */
export const SYNCED_AT_COLUMN = '_tablesync_synced_at';
export const RUN_ID_COLUMN = '_tablesync_run_id';
export const APPEND_COLUMNS = [SYNCED_AT_COLUMN, RUN_ID_COLUMN];

/**
 * The staging rows, one per key: the largest cursor wins, ties broken by the
 * row's text so two runs pick the same. A staging table holding one key
 * twice therefore never fails ON CONFLICT.
 */
export function latestPerKeySql(staging: TableRef, columns: ColumnPlan[], primaryKey: string[], cursorColumn: string): string {
  const keys = targetKey(columns, primaryKey).map((k) => `s.${quotePg(k)}`).join(', ');
  return `(SELECT DISTINCT ON (${keys}) ${columns.map((c) => `s.${quotePg(c.targetName)}`).join(', ')}
    FROM ${qualifyPg(staging)} AS s ORDER BY ${keys}, s.${quotePg(cursorColumn)} DESC NULLS LAST, s::text DESC) AS latest`;
}

/**
 * The latest version of a key is the one read last: by sync order (run, then
 * chunk: the later sync time), then by cursor within one read. Not the
 * largest cursor: a row that goes A → B → A under one cursor value, or whose
 * cursor moves backwards (clock skew, inside the lookback), is read last in
 * its newest state. `<table>_latest`, an append → upsert rewrite and the
 * append's "already latest" test all order by this.
 */
function latestFirst(alias: string, cursorColumn: string): string[] {
  return [`${alias}${quotePg(SYNCED_AT_COLUMN)} DESC`, `${alias}${quotePg(cursorColumn)} DESC NULLS LAST`];
}

/** The view's comment that says it orders by the latest-read rule (an older view is replaced by the next plan). */
export const LATEST_VIEW_RULE = 'tablesync: latest version = last read (sync time, then cursor)';

/**
 * Appends each staged version unless it equals its key's latest version (a
 * version is the same when every column is, stored form, as the upsert
 * compares): re-reading a boundary, a lookback or a reset window adds
 * nothing, while a row back in an earlier state (A → B → A) is a new version.
 * Every version of one statement gets the same sync time, taken once.
 */
export function appendVersionsSql(
  target: TableRef,
  staging: TableRef,
  columns: ColumnPlan[],
  primaryKey: string[],
  cursorColumn: string,
  runId: string,
): { text: string; values: string[] } {
  const same = columns.map((c) => `NOT (${distinctSql(`t.${quotePg(c.targetName)}`, `s.${quotePg(c.targetName)}`, c.targetType)})`);
  const keyMatch = targetKey(columns, primaryKey).map((k) => `v.${quotePg(k)} = s.${quotePg(k)}`);
  // A table without a key has no latest version of a row: a version is new when no version equals it.
  const held = keyMatch.length
    ? `(SELECT * FROM ${qualifyPg(target)} AS v WHERE ${keyMatch.join(' AND ')}
      ORDER BY ${latestFirst('v.', cursorColumn).join(', ')} LIMIT 1)`
    : qualifyPg(target);
  return {
    text: `WITH appended AS (
  INSERT INTO ${qualifyPg(target)} (${columnList(columns)}, ${quotePg(SYNCED_AT_COLUMN)}, ${quotePg(RUN_ID_COLUMN)})
  SELECT ${columns.map((c) => `s.${quotePg(c.targetName)}`).join(', ')}, (SELECT clock_timestamp()), $1
  FROM (SELECT DISTINCT * FROM ${qualifyPg(staging)}) AS s
  WHERE NOT EXISTS (SELECT 1 FROM ${held} AS t WHERE ${same.join(' AND ')})
  RETURNING 1
)
SELECT count(*)::bigint AS inserted FROM appended`,
    values: [runId],
  };
}

/** The view beside an append table that shows the latest version per key. */
export function latestViewName(table: TableRef): TableRef {
  return { schema: table.schema, name: pgIdentifier(`${table.name}_latest`) };
}

/**
 * An append table: the source's columns, no key (a key has many versions),
 * the metadata columns, an index on key and cursor for the version lookup,
 * and the `<table>_latest` view.
 */
export function createAppendTableSql(table: TableRef, columns: ColumnPlan[], primaryKey: string[], cursorColumn: string): string[] {
  return [
    createTableSql(table, columns).replace(/\)$/, `, ${quotePg(SYNCED_AT_COLUMN)} timestamptz NOT NULL, ${quotePg(RUN_ID_COLUMN)} text NOT NULL)`),
    ...appendIndexAndViewSql(table, columns.map((c) => c.targetName), targetKey(columns, primaryKey), cursorColumn),
  ];
}

const versionsIndexName = (table: TableRef) => pgIdentifier(`${table.name}_versions`);

/** The version index and the `<table>_latest` view of an append table (target column names). */
function appendIndexAndViewSql(table: TableRef, columns: string[], keys: string[], cursorColumn: string): string[] {
  const k = keys.map(quotePg);
  return [
    `CREATE INDEX ${quotePg(versionsIndexName(table))} ON ${qualifyPg(table)} (${[...k, quotePg(cursorColumn)].join(', ')})`,
    ...viewSql(table, columns.map(quotePg).join(', '), k, cursorColumn),
  ];
}

/** How many rows and keys a table holds: the versions an append → upsert rewrite would remove are rows − keys. */
export function versionCountSql(table: TableRef, keys: string[]): string {
  return `SELECT count(*)::bigint AS rows, count(DISTINCT (${keys.map(quotePg).join(', ')}))::bigint AS keys FROM ${qualifyPg(table)}`;
}

/**
 * Rewrites an append table into an upsert table, in place (grants and
 * dependants stay): the latest version per key is kept (the last read, then
 * the row's text, as `<table>_latest` picks it), the view,
 * the version index and the metadata columns go, and the key is added. The
 * first statement returns how many versions were removed.
 */
export function appendToUpsertSql(table: TableRef, keys: string[], cursorColumn: string): string[] {
  const t = qualifyPg(table);
  const k = keys.map(quotePg).join(', ');
  return [
    `DROP VIEW IF EXISTS ${qualifyPg(latestViewName(table))}`,
    `WITH removed AS (
  DELETE FROM ${t} WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM (SELECT s.ctid, row_number() OVER (PARTITION BY ${keys.map((c) => `s.${quotePg(c)}`).join(', ')}
      ORDER BY ${latestFirst('s.', cursorColumn).join(', ')}, s::text DESC) AS n FROM ${t} AS s) AS v
    WHERE n > 1))
  RETURNING 1
)
SELECT count(*)::bigint AS removed FROM removed`,
    `DROP INDEX IF EXISTS ${qualifyPg({ schema: table.schema, name: versionsIndexName(table) })}`,
    `ALTER TABLE ${t} DROP COLUMN ${quotePg(SYNCED_AT_COLUMN)}, DROP COLUMN ${quotePg(RUN_ID_COLUMN)}`,
    `ALTER TABLE ${t} ADD CONSTRAINT ${quotePg(pkeyName(table.name))} PRIMARY KEY (${k})`,
  ];
}

/** The name of a table's primary key constraint, if it has one. */
export function primaryKeyConstraintSql(table: TableRef): { text: string; values: string[] } {
  return {
    text: `SELECT c.conname AS name FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
      WHERE n.nspname = $1 AND r.relname = $2 AND c.contype = 'p'`,
    values: [table.schema, table.name],
  };
}

/**
 * Turns an upsert (or compare) table into an append table: every existing
 * row becomes a version synced now by `changedBy`, the key goes (a key will
 * have many versions), the version index and the view come.
 */
export function upsertToAppendSql(
  table: TableRef,
  columns: string[],
  keys: string[],
  cursorColumn: string,
  primaryKeyName: string | null,
  changedBy: string,
): (string | { text: string; values: string[] })[] {
  const t = qualifyPg(table);
  const synced = quotePg(SYNCED_AT_COLUMN);
  const run = quotePg(RUN_ID_COLUMN);
  return [
    `ALTER TABLE ${t} ADD COLUMN ${synced} timestamptz, ADD COLUMN ${run} text`,
    { text: `UPDATE ${t} SET ${synced} = clock_timestamp(), ${run} = $1`, values: [changedBy] },
    `ALTER TABLE ${t} ALTER COLUMN ${synced} SET NOT NULL, ALTER COLUMN ${run} SET NOT NULL`,
    ...(primaryKeyName ? [`ALTER TABLE ${t} DROP CONSTRAINT ${quotePg(primaryKeyName)}`] : []),
    ...appendIndexAndViewSql(table, columns, keys, cursorColumn),
  ];
}

/**
 * The `<table>_latest` view of an append table over these columns, with its
 * rule comment (schema evolution re-creates it; a plan replaces a view
 * without the comment, made by an earlier version that ordered by cursor).
 */
export function latestViewSql(table: TableRef, columns: ColumnPlan[], primaryKey: string[], cursorColumn: string): string[] {
  return viewSql(table, columnList(columns), targetKey(columns, primaryKey).map(quotePg), cursorColumn);
}

function viewSql(table: TableRef, columns: string, keys: string[], cursorColumn: string): string[] {
  // A table without a key has no "latest version of a row": its versions are all there is.
  if (!keys.length) return [];
  const view = qualifyPg(latestViewName(table));
  return [
    `CREATE OR REPLACE VIEW ${view} AS SELECT DISTINCT ON (${keys.join(', ')}) ${columns}, ${quotePg(SYNCED_AT_COLUMN)}, ${quotePg(RUN_ID_COLUMN)}
      FROM ${qualifyPg(table)} ORDER BY ${[...keys, ...latestFirst('', cursorColumn)].join(', ')}`,
    `COMMENT ON VIEW ${view} IS '${LATEST_VIEW_RULE}'`,
  ];
}

/** The comment of an append table's `<table>_latest` view (null: none, or no view). */
export function latestViewCommentSql(table: TableRef): { text: string; values: string[] } {
  return { text: `SELECT obj_description(to_regclass($1), 'pg_class') AS comment`, values: [qualifyPg(latestViewName(table))] };
}

/** The largest cursor among a staging table's rows, as text (NULL: no rows); the session's pinned settings make it the source's text. */
export function largestCursorSql(staging: TableRef, cursorColumn: string): string {
  return `SELECT max(${quotePg(cursorColumn)})::text AS position FROM ${qualifyPg(staging)}`;
}
