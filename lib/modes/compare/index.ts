import { otherPartitionsCompletedSql } from '../../state';
import { displayName } from '../../tables';
import {
  advisoryXactLockSql,
  createKeysTableSql,
  createStagingSql,
  deleteMissingSql,
  deleteUnseenSql,
  dropTableSql,
  isWholeTable,
  keysTableName,
  keysTablePrefix,
  keyTablesLikeSql,
  saveStagedKeysSql,
  targetRange,
  truncateTableSql,
  upsertSql,
} from '../../target';
import type { TableRef } from '../../types';
import { everyRow } from '../every-row';
import { describeTarget } from '../plan-steps';
import type { ChunkContext, Db, SyncMode } from '../types';
import { narrowChunk } from './digests';
import { planCompare } from './plan';
import { compareTraits } from './traits';

/**
 * compare: each chunk's key range is first digested on both sides (see
 * digests.ts); its equal buckets are skipped, and the rows of the others
 * (or, where digests cannot be used, every row of the range) are copied into a staging table and
 * only rows that differ are written (inserted or updated); with deletes: hard
 * (or verify --repair), target rows of the range the source lacks are deleted;
 * with deletes: soft (the plan's softDeleteColumn), they are marked instead,
 * repair included, and a marked row the source has again is unmarked. On a
 * key the target orders otherwise than the source (targetRange), ranges mean
 * nothing in the target: the keys each chunk staged are kept, and the table's
 * last partition to commit deletes what no partition saw (deleteUnseen).
 */
export const compareMode: SyncMode = {
  ...compareTraits,
  ...everyRow,
  plan: async (ctx) => planCompare(ctx, await describeTarget(ctx)),
  createsTarget: false,
  destination: (_table, { staging }) => staging,

  async narrowChunk(db, { config, table, chunk, source, sizing, deleteMissing }) {
    const soft = table.softDeleteColumn;
    const narrowed = await narrowChunk(db, {
      table,
      chunk,
      source,
      // Chunks hold about a batch of rows (planChunks); a smaller table is one chunk.
      rows: Math.max(1, Math.min(config.batchSize, sizing?.estimatedRows || config.batchSize)),
      min: sizing?.min ?? null,
      max: sizing?.max ?? null,
      hardDeletes: !soft && ((table.deletes ?? config.deletes) === 'hard' || deleteMissing),
    });
    if (!narrowed) return null;
    if (narrowed.kind === 'whole') return { whole: true };
    if (narrowed.kind === 'equal') return { skipped: narrowed.sourceRows };
    return { skipped: narrowed.sourceRows - narrowed.differingRows, filter: narrowed.filter, only: narrowed.onTarget };
  },

  async prepareChunk(db, { config, dest, table }) {
    await db.query(createStagingSql(dest, table.target, table.columns, config.useUnloggedStaging));
    await db.query(truncateTableSql(dest));
  },

  async applyChunk(db, ctx) {
    const { config, dest, table, chunk, deleteMissing } = ctx;
    const soft = table.softDeleteColumn;
    const range = targetRange(table, chunk);
    const applied = await db.query(upsertSql(table.target, dest, table.columns, table.primaryKey, table.marks ?? soft, undefined, range));
    let deleted = 0;
    if (soft || (table.deletes ?? config.deletes) === 'hard' || deleteMissing) {
      if (range || isWholeTable(chunk)) {
        const gone = await db.query(deleteMissingSql(table.target, dest, table.columns, table.primaryKey, chunk, soft, ctx.only));
        deleted = gone.rowCount ?? 0;
      } else deleted = await deleteUnseen(db, ctx);
    }
    await db.query(dropTableSql(dest));
    return { inserted: Number(applied.rows[0].inserted), updated: Number(applied.rows[0].updated), deleted };
  },
};

/**
 * Keeps the chunk's staged keys; in the partition's last chunk, if every
 * other partition of the run has committed, deletes the target rows whose key
 * no partition staged and drops the key tables. The table-wide lock makes the
 * last two partitions to finish take turns, so exactly one sees all others
 * committed; a chunk that rolls back takes its keys with it.
 */
export async function deleteUnseen(db: Db, { config, dest, table, chunk, last, run }: ChunkContext): Promise<number> {
  const runKey = `${run.workflowId}/${run.runId}`;
  const keysOf = (index: number): TableRef => ({ schema: table.target.schema, name: keysTableName(runKey, table.target, index) });
  const mine = keysOf(chunk.index);
  await db.query(createKeysTableSql(mine, table.target, table.columns, table.primaryKey, config.useUnloggedStaging));
  await db.query(saveStagedKeysSql(mine, dest, table.columns, table.primaryKey));
  if (!last) return 0;
  await db.query(advisoryXactLockSql(`tablesync.keys:${runKey}:${displayName(table.source)}`));
  const key = {
    stateSchema: config.target.stateSchema,
    workflowId: run.workflowId,
    runId: run.runId,
    source: table.source,
    target: table.target,
    partitionIndex: chunk.index,
    partitionCount: chunk.count,
    lo: chunk.lo,
    hi: chunk.hi,
    mode: table.mode,
  };
  const others = Number((await db.query(otherPartitionsCompletedSql(key))).rows[0].n);
  if (others < chunk.count - 1) return 0;
  const all = Array.from({ length: chunk.count }, (_, i) => keysOf(i));
  const gone = await db.query(deleteUnseenSql(table.target, all, table.columns, table.primaryKey, table.softDeleteColumn));
  // This run's key tables, and any an unfinished earlier run of the table left behind.
  const found = await db.query(keyTablesLikeSql, [table.target.schema, keysTablePrefix(table.target)]);
  for (const { name } of found.rows as { name: string }[]) await db.query(dropTableSql({ schema: table.target.schema, name }));
  return gone.rowCount ?? 0;
}
