import {
  addPrimaryKeySql,
  addSoftDeleteColumnsSql,
  analyzeSql,
  createTableSql,
  dropTableSql,
  swapTableSql,
  tableExistsSql,
} from '../../target';
import { everyRow } from '../every-row';
import { describeTarget } from '../plan-steps';
import type { SyncMode } from '../types';
import { planFull } from './plan';
import { fullTraits } from './traits';

/**
 * full: every row of each key range is copied into the run's load table;
 * the table workflow keys it and swaps it in once all partitions are loaded.
 * A one-chunk table does all of that in its one transaction.
 */
export const fullMode: SyncMode = {
  ...fullTraits,
  ...everyRow,
  plan: async (ctx) => ({ plan: await planFull(ctx, await describeTarget(ctx)) }),
  createsTarget: false,
  destination: (_table, { load }) => load,

  async prepareChunk(db, { whole, dest, table }) {
    if (!whole) return; // createLoadTable made it
    await db.query(dropTableSql(dest));
    await db.query(createTableSql(dest, table.columns));
    if (table.softDeleteColumn) await db.query(addSoftDeleteColumnsSql(dest, table.softDeleteColumn));
  },

  async applyChunk(db, { whole, dest, table }, rowsCopied) {
    if (whole) {
      if (table.primaryKey.length) await db.query(addPrimaryKeySql(dest, table.columns, table.primaryKey));
      await db.query(analyzeSql(dest));
      const exists = await db.query(tableExistsSql(table.target));
      for (const sql of swapTableSql(dest, table.target, exists.rows[0].present, table.primaryKey.length > 0)) await db.query(sql);
    }
    return { inserted: rowsCopied, updated: 0, deleted: 0 };
  },
};
