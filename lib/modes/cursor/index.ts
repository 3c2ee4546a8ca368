import { TablesyncError } from '../../errors';
import { displayName } from '../../tables';
import { appendVersionsSql, dropTableSql, isWholeTable, largestCursorSql, latestPerKeySql, upsertSql } from '../../target';
import type { TablePlan } from '../../types';
import { backfill, prepareStaging } from '../staging';
import type { SyncMode } from '../types';
import { planCursor } from './plan';
import { saveCursorState } from './state';
import { cursorTraits } from './traits';
import { cursorPredicate, laterCursor } from './window';
import { rowFilterOf } from '../../sources/row-filter';

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
  ...cursorTraits,
  plan: planCursor,

  /**
   * From the saved cursor (minus the lookback) up to the source's largest
   * cursor value now. Rows changed while the run goes get a larger value and
   * are read by the next run; the upper bound is what keeps one chunk's late
   * read from moving the saved cursor past rows another chunk read earlier.
   * It never falls below the saved cursor (see laterCursor).
   */
  async readWindow(source, table, run) {
    const cursor = table.cursor!;
    // A run past the first reads every row from the saved cursor in one read (one partition, one chunk: see
    // createSyncTasks). Where the target gives the source's own text of the column (same type, see textOnTarget)
    // and no NULL cursor needs counting, the new saved cursor is the largest the read copied: no MAX over the
    // source first, which without an index on the cursor is a second pass over the whole table. It is what the
    // read saw under its own snapshot, as exact as a MAX read before it.
    const column = table.columns.find((c) => c.name === cursor.column);
    const open =
      cursor.saved !== null &&
      !cursor.nullable &&
      !cursor.backfill?.length &&
      !run?.verifyAfter &&
      source.dialect.cursor.textOnTarget === true &&
      column !== undefined &&
      column.sourceType === column.targetType;
    if (open) return { ...table, cursor: { ...cursor, window: { from: cursor.saved, to: null, includeNull: false, open: true, ...(cursor.lookback && { lookback: cursor.lookback }) }, nullRows: 0 } };
    // Among the rows the table syncs (its where): the window's top, and the NULL cursors the run warns about.
    const { max, nulls } = await source.cursorBounds(table.source, cursor, rowFilterOf(table));
    const window = { from: cursor.saved, to: laterCursor(cursor.kind, cursor.saved, max), includeNull: cursor.saved === null, ...(cursor.lookback && { lookback: cursor.lookback }) };
    return { ...table, cursor: { ...cursor, window, nullRows: nulls } };
  },

  readFilter(dialect, table, placeholder) {
    const c = table.cursor!;
    if (!c.window) return { sql: '', params: [] };
    return cursorPredicate(dialect.cursor, dialect.quoteIdent(c.column), { type: c.sourceType, dataType: c.dataType }, c.kind, c.window, placeholder);
  },

  incremental: (table) => table.cursor?.window?.from != null,
  backfillColumns: (table) => table.cursor?.backfill ?? [],
  backfillRead(table): TablePlan {
    const { window: _w, nullRows: _n, ...rest } = table.cursor!;
    return { ...table, cursor: { ...rest, phase: 'backfill' } };
  },

  /**
   * Rows the next window reads (cursor at or past the saved one minus the
   * lookback; a NULL cursor is never read again); all of them while no
   * cursor is saved. After a run (verifyAfterSync) the saved value is the
   * run's high-water mark.
   */
  pending(table) {
    const cursor = table.cursor!;
    const from = cursor.window ? (cursor.window.to ?? cursor.saved) : cursor.saved;
    if (from === null) return { kind: 'all' };
    const window = { from, to: null, includeNull: false, ...(cursor.lookback && { lookback: cursor.lookback }) };
    return {
      kind: 'rows',
      where: (dialect, placeholder) =>
        cursorPredicate(dialect.cursor, dialect.quoteIdent(cursor.column), { type: cursor.sourceType, dataType: cursor.dataType }, cursor.kind, window, placeholder),
    };
  },

  createsTarget: true,
  destination: (_table, { staging }) => staging,

  prepareChunk: (db, ctx) => prepareStaging(db, ctx, ctx.table.cursor!.write === 'append' ? ctx.table.cursor!.targetColumn : null),

  async applyChunk(db, { dest, table, run, last, chunk }) {
    const cursor = table.cursor!;
    if (cursor.phase === 'backfill') return { inserted: 0, updated: await backfill(db, dest, table), deleted: 0 };
    // Said once per run, with its last chunk: rows no later run will read.
    const warnings = last && cursor.nullRows ? { [`row with a NULL cursor "${cursor.column}" (cursor mode never picks up its changes)`]: cursor.nullRows } : {};
    let inserted = 0;
    let updated = 0;
    let position: string | null | undefined;
    if (cursor.window?.open) {
      // The largest cursor among the rows of the run's one read (see readWindow); more chunks would each read later.
      if (!last || !isWholeTable(chunk)) throw new TablesyncError('InvalidInput', `${displayName(table.source)}: a cursor window without an upper bound is read in one chunk`);
      position = (await db.query(largestCursorSql(dest, cursor.targetColumn))).rows[0].position as string | null;
    }
    if (cursor.write === 'append') {
      const r = await db.query(appendVersionsSql(table.target, dest, table.columns, table.primaryKey, cursor.targetColumn, run.runId));
      inserted = Number(r.rows[0].inserted);
    } else {
      const latest = latestPerKeySql(dest, table.columns, table.primaryKey, cursor.targetColumn);
      const r = await db.query(upsertSql(table.target, dest, table.columns, table.primaryKey, table.marks, latest));
      inserted = Number(r.rows[0].inserted);
      updated = Number(r.rows[0].updated);
    }
    await db.query(dropTableSql(dest));
    return { inserted, updated, deleted: 0, warnings, ...(position !== undefined && { position }) };
  },

  saveState: saveCursorState,
};
