import { saveTableStateSql } from '../../state';
import { displayName } from '../../tables';
import { deleteKeysSql, deleteMissingSql, dropTableSql, isWholeTable, targetKey, targetRange, upsertSql } from '../../target';
import type { TablePlan } from '../../types';
import { deleteUnseen } from '../compare';
import { backfill, prepareStaging, runState } from '../staging';
import type { ChunkContext, Db, SyncMode } from '../types';
import { planChangelog } from './plan';
import { changelogDeletesSql, changelogFilter, changelogMaxSql, loggedKeysSql } from './read';
import { changelogTraits } from './traits';
import { writersSettled } from './transactions';
import type { KeyFold } from './types';

/** A key's canonical text as verify compares it ("<chars>:<text>"), folded as the source compares keys. */
function foldCanonical(fold: KeyFold): (k: string) => string {
  return (k) => {
    const m = /^(\d+):([\s\S]*)$/.exec(k);
    if (!m) return k;
    let text = m[2];
    if (fold.rtrim) text = text.replace(/ +$/, '');
    if (fold.lower) text = text.toLowerCase();
    return text;
  };
}

/**
 * A first run over a target that has rows: the chunk's key range loses the
 * target rows its staging (every source row of the range) lacks, as compare
 * mode's deletes do; on a key the target orders otherwise, once the last chunk has seen every key.
 */
async function reconcile(db: Db, ctx: ChunkContext): Promise<number> {
  const { dest, table, chunk } = ctx;
  const range = targetRange(table, chunk);
  if (range || isWholeTable(chunk)) {
    const gone = await db.query(deleteMissingSql(table.target, dest, table.columns, table.primaryKey, chunk, table.softDeleteColumn));
    return gone.rowCount ?? 0;
  }
  return deleteUnseen(db, ctx);
}

/**
 * changelog: a log table in the source names the changed keys. A run takes
 * the log rows past the saved position up to the log's largest position when
 * the run was planned, reads the current rows of the keys they name (one
 * semi-join per key chunk, on the source), upserts them, and deletes (soft by
 * default) the keys whose row the source no longer has. A first run (no saved
 * position) reads the whole table; its position is the log's maximum read
 * before the load, so changes logged during the load are applied again by the
 * next run, never lost. The new position is saved in the transaction of the
 * table's last chunk: the largest position read, once no transaction that
 * was writing when it was read is still open (see transactions.ts).
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
    const settled = await writersSettled(source, log.table, displayName(table.source));
    return { ...table, changelog: { ...log, window: { from: log.saved, to, started: log.started, settled } } };
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
    const keys = (dialect: Parameters<typeof loggedKeysSql>[0], placeholder: (i: number) => string) => loggedKeysSql(dialect, table, position, placeholder);
    return { kind: 'keys', keys, ...(log.keyFold && { fold: foldCanonical(log.keyFold) }) };
  },

  createsTarget: true,
  destination: (_table, { staging }) => staging,

  // Like an upsert cursor table: the target is made when missing, rows go through staging.
  prepareChunk: (db, ctx) => prepareStaging(db, ctx, null),

  async applyChunk(db, ctx) {
    const { dest, table, chunk, source } = ctx;
    // The log is read (and its position saved) by the reads after the backfill's.
    if (table.changelog!.phase === 'backfill') return { inserted: 0, updated: await backfill(db, dest, table), deleted: 0 };
    const applied = await db.query(upsertSql(table.target, dest, table.columns, table.primaryKey, table.marks ?? table.softDeleteColumn, undefined, targetRange(table, chunk)));
    let deleted = 0;
    const warnings: Record<string, number> = {};
    const log = table.changelog!;
    if (log.window?.started) {
      const { sql, params } = changelogDeletesSql(source.dialect, table, chunk);
      const logged = await source.queryRows(sql, params);
      const gone = logged.filter((r) => Number(r.gone) === 1);
      if (gone.length) {
        const key = targetKey(table.columns, table.primaryKey)[0];
        const keyType = table.columns.find((c) => c.name === table.primaryKey[0])!.targetType;
        const r = await db.query(deleteKeysSql(table.target, key, keyType, gone.map((r) => String(r.k)), table.softDeleteColumn, log.keyFold));
        deleted = r.rowCount ?? 0;
      }
      const unlogged = gone.filter((r) => Number(r.logged_delete) === 0).length;
      // With a where, a row that stopped matching it is gone as far as the table is concerned.
      const goneWhy = table.rowFilter ? "logged change of a row the source no longer has, or that no longer matches the table's where (treated as a delete)" : 'logged change of a row the source no longer has (treated as a delete)';
      if (unlogged) warnings[goneWhy] = unlogged;
      const kept = logged.length - gone.length;
      if (kept) warnings['logged delete of a row the source still has (kept, its current values applied)'] = kept;
    } else if (log.reconcile && (table.softDeleteColumn || table.deletes === 'hard')) {
      deleted = await reconcile(db, ctx);
    }
    if (ctx.last && log.window?.settled === false) {
      warnings['a transaction writing when the log was read was still open: the position stays where this run started, and the next run reads again from there'] = 1;
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
      // A writer that was open when `to` was read may still commit below it: the next run reads again from where this one started.
      cursorValue: log.window?.settled === false ? log.window.from : (log.window?.to ?? log.saved),
      cursorType: log.positionType,
    });
    await db.query(saveTableStateSql(config.target.stateSchema, table.target, state, 'run', run.workflowId));
  },
};
