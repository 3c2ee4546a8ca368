import { qualifyPg, quotePg } from '../sources/postgres';
import { pgIdentifier } from '../table-plan';
import type { ColumnPlan, TableRef } from '../types';
import { distinctSql } from './apply';
import { columnList, targetKey } from './columns';
import { createTableSql } from './ddl';

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
 * Appends the staged versions the target does not hold yet: a version is
 * the same when key, cursor and every other column are (stored form, as the
 * upsert compares), so re-reading a boundary or a reset window adds nothing.
 */
export function appendVersionsSql(target: TableRef, staging: TableRef, columns: ColumnPlan[], runId: string): { text: string; values: string[] } {
  const same = columns.map((c) => `NOT (${distinctSql(`t.${quotePg(c.targetName)}`, `s.${quotePg(c.targetName)}`, c.targetType)})`);
  return {
    text: `WITH appended AS (
  INSERT INTO ${qualifyPg(target)} (${columnList(columns)}, ${quotePg(SYNCED_AT_COLUMN)}, ${quotePg(RUN_ID_COLUMN)})
  SELECT ${columns.map((c) => `s.${quotePg(c.targetName)}`).join(', ')}, clock_timestamp(), $1
  FROM (SELECT DISTINCT * FROM ${qualifyPg(staging)}) AS s
  WHERE NOT EXISTS (SELECT 1 FROM ${qualifyPg(target)} AS t WHERE ${same.join(' AND ')})
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
  const keys = targetKey(columns, primaryKey).map(quotePg);
  return [
    createTableSql(table, columns).replace(/\)$/, `, ${quotePg(SYNCED_AT_COLUMN)} timestamptz NOT NULL, ${quotePg(RUN_ID_COLUMN)} text NOT NULL)`),
    `CREATE INDEX ${quotePg(pgIdentifier(`${table.name}_versions`))} ON ${qualifyPg(table)} (${[...keys, quotePg(cursorColumn)].join(', ')})`,
    latestViewSql(table, columns, primaryKey, cursorColumn),
  ];
}

/** The `<table>_latest` view of an append table over these columns (schema evolution re-creates it). */
export function latestViewSql(table: TableRef, columns: ColumnPlan[], primaryKey: string[], cursorColumn: string): string {
  const keys = targetKey(columns, primaryKey).map(quotePg);
  const ordered = [...keys, `${quotePg(cursorColumn)} DESC NULLS LAST`, `${quotePg(SYNCED_AT_COLUMN)} DESC`];
  return `CREATE OR REPLACE VIEW ${qualifyPg(latestViewName(table))} AS SELECT DISTINCT ON (${keys.join(', ')}) ${columnList(columns)}, ${quotePg(SYNCED_AT_COLUMN)}, ${quotePg(RUN_ID_COLUMN)}
      FROM ${qualifyPg(table)} ORDER BY ${ordered.join(', ')}`;
}
