import type { TableState } from '../state';
import {
  addPrimaryKeySql,
  backfillUpdateSql,
  addSoftDeleteColumnsSql,
  createAppendTableSql,
  createStagingSql,
  createTableSql,
  dropTableSql,
  tableExistsSql,
  truncateTableSql,
} from '../target';
import type { ColumnPlan, TablePlan, TableRef } from '../types';
import type { ChunkContext, Db } from './types';

// What the modes that apply rows in place through a staging table per chunk
// and keep a position (cursor, change log) share: making the target when it
// is missing, the staging table, a backfill's apply, the state a run leaves.

/**
 * The table state a completed run leaves: what it synced and saved, who ran
 * it, its counts. Its columns are the synced ones and those the source
 * dropped (kept in the target, so every run warns); a plan from before types
 * were kept saves them as unknown.
 */
export function runState(
  table: TablePlan,
  run: { workflowId: string; runId: string },
  totals: { rowsCopied: number; inserted: number; updated: number; deleted: number },
  saved: Pick<TableState, 'mode' | 'write' | 'cursorColumn' | 'cursorValue' | 'cursorType'>,
  /** Synced columns the source dropped that the plan knows of besides columnTypes' (a cursor plan's `dropped`). */
  droppedColumns: string[] = [],
): TableState {
  const { rowsCopied, inserted, updated, deleted } = totals;
  const types = table.columnTypes ?? null;
  const dropped = [...droppedColumns, ...Object.keys(types ?? {}).filter((n) => types![n].dropped)];
  return {
    sourceSchema: table.source.schema,
    sourceTable: table.source.name,
    ...saved,
    columns: [...new Set([...table.columns.map((c: ColumnPlan) => c.name), ...dropped])],
    columnTypes: types,
    lastWorkflowId: run.workflowId,
    lastRunId: run.runId,
    lastCounts: { rowsCopied, inserted, updated, unchanged: rowsCopied - inserted - updated, deleted },
  };
}

/** A backfill read's apply: the target rows whose backfilled columns differ are updated, nothing else. */
export async function backfill(db: Db, staging: TableRef, table: TablePlan): Promise<number> {
  const r = await db.query(backfillUpdateSql(table.target, staging, table.columns, table.primaryKey, table.marks));
  await db.query(dropTableSql(staging));
  return Number(r.rows[0].updated);
}

/**
 * Makes the target when it is missing (keyed, or with `appendBy`, the version
 * column, an append table with its metadata, index and view; with the soft-delete columns when the table has
 * them), then this chunk's empty staging table, which holds the source's
 * columns only.
 */
export async function prepareStaging(db: Db, { config, dest, table }: ChunkContext, appendBy: string | null): Promise<void> {
  const exists = await db.query(tableExistsSql(table.target));
  if (!exists.rows[0].present) {
    if (appendBy !== null) {
      for (const sql of createAppendTableSql(table.target, table.columns, table.primaryKey, appendBy)) await db.query(sql);
    } else {
      await db.query(createTableSql(table.target, table.columns));
      await db.query(addPrimaryKeySql(table.target, table.columns, table.primaryKey));
    }
    if (table.softDeleteColumn) await db.query(addSoftDeleteColumnsSql(table.target, table.softDeleteColumn));
  }
  await db.query(createStagingSql(dest, table.target, table.columns, config.useUnloggedStaging));
  await db.query(truncateTableSql(dest));
}
