import { TablesyncError } from '../errors';
import { readTableStateSql, saveTableStateSql, tableStateLockSql, type TableState } from '../state';
import { backfillUpdateSql } from '../schema-evolution';
import {
  addPrimaryKeySql,
  addSoftDeleteColumnsSql,
  appendVersionsSql,
  createAppendTableSql,
  createStagingSql,
  createTableSql,
  dropTableSql,
  latestPerKeySql,
  tableExistsSql,
  truncateTableSql,
  upsertSql,
} from '../target';
import type { ColumnPlan, TablePlan, TableRef } from '../types';
import type { ChunkContext, Db, SyncMode } from './types';

/**
 * cursor: reads only the rows of a key range whose cursor is at or past the
 * saved value (minus the lookback), up to the high-water mark the run read
 * when it was planned. write: upsert keeps the latest version per key;
 * write: append keeps every version once, with sync metadata, and a
 * `<table>_latest` view. The last chunk's transaction saves the new cursor
 * (the high-water mark, exact source text) with the rows it covers, so a
 * crash between the two can neither skip nor repeat rows.
 */
export const cursorMode: SyncMode = {
  name: 'cursor',
  reads: 'past-cursor',
  lands: 'staging',
  saves: 'cursor',
  steps: 'apply-in-place',
  createsTarget: true,
  destination: (_table, { staging }) => staging,

  prepareChunk: (db, ctx) => prepareStaging(db, ctx, ctx.table.cursor!.write === 'append'),

  async applyChunk(db, { dest, table, run }) {
    const cursor = table.cursor!;
    if (cursor.phase === 'backfill') return { inserted: 0, updated: await backfill(db, dest, table), deleted: 0 };
    let inserted = 0;
    let updated = 0;
    if (cursor.write === 'append') {
      const r = await db.query(appendVersionsSql(table.target, dest, table.columns, run.runId));
      inserted = Number(r.rows[0].inserted);
    } else {
      const latest = latestPerKeySql(dest, table.columns, table.primaryKey, cursor.targetColumn);
      const r = await db.query(upsertSql(table.target, dest, table.columns, table.primaryKey, undefined, latest));
      inserted = Number(r.rows[0].inserted);
      updated = Number(r.rows[0].updated);
    }
    await db.query(dropTableSql(dest));
    return { inserted, updated, deleted: 0 };
  },

  async saveState(db, { config, table, run }, totals) {
    const cursor = table.cursor!;
    const window = cursor.window;
    // Everything up to the high-water mark is now applied; with nothing to read, the saved cursor stays.
    const value = window?.to ?? cursor.saved;
    // A reset-state or set-mode since this run was planned wins: saving over it would undo it.
    await db.query(tableStateLockSql(table.target));
    const now = (await db.query(readTableStateSql(config.target.stateSchema, table.target, true))).rows[0] as TableState | undefined;
    const changed =
      cursor.stateVersion !== undefined
        ? (now?.stateVersion ?? null) !== cursor.stateVersion
        : // Planned before plans carried the version: compare what it planned with.
          now !== undefined && (now.mode !== 'cursor' || now.cursorColumn !== cursor.column || now.write !== cursor.write || now.cursorValue !== cursor.saved);
    if (changed && now) {
      throw new TablesyncError(
        'StateChanged',
        `the saved state changed while this run went (now ${now.mode}${now.write ? `/${now.write}` : ''}, cursor ${now.cursorColumn ?? '(none)'} = ${now.cursorValue ?? '(none)'}; ` +
          `planned with ${cursor.write}, cursor ${cursor.column} = ${cursor.saved ?? '(none)'}): this run's last chunk is rolled back, the next run starts from the new state`,
      );
    }
    const state = runState(table, run, totals, {
      mode: 'cursor',
      write: cursor.write,
      cursorColumn: cursor.column,
      cursorValue: value,
      cursorType: cursor.sourceType,
    });
    await db.query(saveTableStateSql(config.target.stateSchema, table.target, state, 'run', run.workflowId));
  },
};

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
): TableState {
  const { rowsCopied, inserted, updated, deleted } = totals;
  const types = table.columnTypes ?? null;
  const dropped = [...(table.cursor?.dropped ?? []), ...Object.keys(types ?? {}).filter((n) => types![n].dropped)];
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
  const r = await db.query(backfillUpdateSql(table.target, staging, table.columns, table.primaryKey));
  await db.query(dropTableSql(staging));
  return Number(r.rows[0].updated);
}

/**
 * Makes the target when it is missing (keyed, or an append table with its
 * metadata, index and view; with the soft-delete columns when the table has
 * them), then this chunk's empty staging table, which holds the source's
 * columns only.
 */
export async function prepareStaging(db: Db, { config, dest, table }: ChunkContext, append: boolean): Promise<void> {
  const exists = await db.query(tableExistsSql(table.target));
  if (!exists.rows[0].present) {
    if (append) {
      for (const sql of createAppendTableSql(table.target, table.columns, table.primaryKey, table.cursor!.targetColumn)) await db.query(sql);
    } else {
      await db.query(createTableSql(table.target, table.columns));
      await db.query(addPrimaryKeySql(table.target, table.columns, table.primaryKey));
    }
    if (table.softDeleteColumn) await db.query(addSoftDeleteColumnsSql(table.target, table.softDeleteColumn));
  }
  await db.query(createStagingSql(dest, table.target, table.columns, config.useUnloggedStaging));
  await db.query(truncateTableSql(dest));
}
