import { createStagingSql, deleteMissingSql, dropTableSql, truncateTableSql, upsertSql } from '../target';
import type { SyncMode } from './types';

/**
 * compare: every row of each key range is copied into a staging table and
 * only rows that differ are written (inserted or updated); with deletes: hard
 * (or verify --repair), target rows of the range the source lacks are deleted;
 * with deletes: soft (the plan's softDeleteColumn), they are marked instead,
 * repair included, and a marked row the source has again is unmarked.
 */
export const compareMode: SyncMode = {
  name: 'compare',
  reads: 'key-range',
  lands: 'staging',
  saves: 'partition-progress',
  createsTarget: false,
  steps: 'apply-in-place',
  destination: (_table, { staging }) => staging,

  async prepareChunk(db, { config, dest, table }) {
    await db.query(createStagingSql(dest, table.target, table.columns, config.useUnloggedStaging));
    await db.query(truncateTableSql(dest));
  },

  async applyChunk(db, { config, dest, table, chunk, deleteMissing }) {
    const soft = table.softDeleteColumn;
    const applied = await db.query(upsertSql(table.target, dest, table.columns, table.primaryKey, soft, undefined, chunk));
    let deleted = 0;
    if (soft || (table.deletes ?? config.deletes) === 'hard' || deleteMissing) {
      const gone = await db.query(deleteMissingSql(table.target, dest, table.columns, table.primaryKey, chunk, soft));
      deleted = gone.rowCount ?? 0;
    }
    await db.query(dropTableSql(dest));
    return { inserted: Number(applied.rows[0].inserted), updated: Number(applied.rows[0].updated), deleted };
  },
};
