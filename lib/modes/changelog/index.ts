import { saveTableStateSql } from '../../state';
import { deleteKeysSql, dropTableSql, targetKey, targetRange, upsertSql } from '../../target';
import type { TablePlan } from '../../types';
import { backfill, prepareStaging, runState } from '../staging';
import type { SyncMode } from '../types';
import { planChangelog } from './plan';
import { changelogDeletesSql, changelogFilter, changelogMaxSql, loggedKeysSql } from './read';
import { changelogTraits } from './traits';

/**
 * changelog: a log table in the source names the changed keys. A run takes
 * the log rows past the saved position up to the log's largest position when
 * the run was planned, reads the current rows of the keys whose last action
 * is not a delete (one semi-join per key chunk, on the source), upserts them,
 * and deletes (soft by default) the keys whose last action is a delete or
 * whose row is gone. A first run (no saved position) reads the whole table;
 * its position is the log's maximum read before the load, so changes logged
 * during the load are applied again by the next run, never lost. The new
 * position is saved in the transaction of the table's last chunk.
 */
export const changelogMode: SyncMode = {
  ...changelogTraits,
  plan: planChangelog,

  /** Log positions past the saved one, up to the log's largest now. */
  async readWindow(source, table) {
    const log = table.changelog!;
    const { sql, params } = changelogMaxSql(source.dialect, log);
    const [row] = await source.queryRows(sql, params);
    const to = (row?.max_value ?? null) as string | null;
    return { ...table, changelog: { ...log, window: { from: log.saved, to, started: log.started } } };
  },

  readFilter: changelogFilter,
  incremental: (table) => table.changelog?.window?.started === true,
  backfillColumns: (table) => table.changelog?.backfill ?? [],
  backfillRead(table): TablePlan {
    const { window: _w, ...log } = table.changelog!;
    return { ...table, changelog: { ...log, phase: 'backfill' } };
  },

  /** The keys with a log entry past the saved position; all rows while no position is saved. */
  pending(table) {
    const log = table.changelog!;
    const position = log.window ? (log.window.to ?? log.window.from) : log.started ? log.saved : undefined;
    if (position === undefined) return { kind: 'all' };
    return { kind: 'keys', keys: (dialect, placeholder) => loggedKeysSql(dialect, table, position, placeholder) };
  },

  createsTarget: true,
  destination: (_table, { staging }) => staging,

  // Like an upsert cursor table: the target is made when missing, rows go through staging.
  prepareChunk: (db, ctx) => prepareStaging(db, ctx, null),

  async applyChunk(db, { dest, table, chunk, source }) {
    // The log is read (and its position saved) by the reads after the backfill's.
    if (table.changelog!.phase === 'backfill') return { inserted: 0, updated: await backfill(db, dest, table), deleted: 0 };
    const applied = await db.query(upsertSql(table.target, dest, table.columns, table.primaryKey, table.marks ?? table.softDeleteColumn, undefined, targetRange(table, chunk)));
    let deleted = 0;
    const warnings: Record<string, number> = {};
    const log = table.changelog!;
    if (log.window?.started) {
      const { sql, params } = changelogDeletesSql(source.dialect, table, chunk);
      const gone = await source.queryRows(sql, params);
      if (gone.length) {
        const key = targetKey(table.columns, table.primaryKey)[0];
        const keyType = table.columns.find((c) => c.name === table.primaryKey[0])!.targetType;
        const keys = gone.map((r) => String(r.k));
        const r = await db.query(deleteKeysSql(table.target, key, keyType, keys, table.softDeleteColumn));
        deleted = r.rowCount ?? 0;
        const unlogged = gone.filter((r) => Number(r.logged_delete) === 0).length;
        if (unlogged) warnings['logged change of a row the source no longer has (treated as a delete)'] = unlogged;
      }
    }
    await db.query(dropTableSql(dest));
    return { inserted: Number(applied.rows[0].inserted), updated: Number(applied.rows[0].updated), deleted, warnings };
  },

  async saveState(db, { config, table, run }, totals) {
    const log = table.changelog!;
    const state = runState(table, run, totals, {
      mode: 'changelog',
      write: null,
      cursorColumn: log.position,
      cursorValue: log.window?.to ?? log.saved,
      cursorType: log.positionType,
    });
    await db.query(saveTableStateSql(config.target.stateSchema, table.target, state, 'run', run.workflowId));
  },
};
