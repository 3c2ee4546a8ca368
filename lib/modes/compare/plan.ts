import { applySchemaChanges } from '../../schema-evolution';
import { displayName } from '../../tables';
import { planSoftDeletes, softDeleteColumns } from '../../target';
import type { TablePlan } from '../../types';
import { keyRangePlan } from '../full/plan';
import { columnsNotes, evolveColumns, invalid, pairColumns, tableConfig, withUserTypes, type TargetSide } from '../plan-steps';
import type { PlanContext, PlanOutcome } from '../types';
import { rangeDigestsFor } from './digests';

/** The plan note of a compare table without range digests. */
export const COPIES_EVERY_ROW = 'every row is copied each run (no range digests)';

/**
 * compare: rows applied in place to a target that exists and has rows (a
 * first load is full's); a target it cannot apply rows to fails the table (verify leaves it out, saying why).
 */
export async function planCompare(ctx: PlanContext, side: TargetSide): Promise<PlanOutcome> {
  const { source, target, config, described, settings } = ctx;
  if (!side.table) return { skip: `target table ${displayName(side.ref)} does not exist (run a full migration first)` };
  if (!side.hasRows) return { skip: `target table ${displayName(side.ref)} is empty (run a full migration first)` };
  const softColumns = settings.deletes === 'soft' ? softDeleteColumns(config.softDeleteColumn) : [];
  const existing = { ...side, table: side.table };
  const { compared, mismatch } = pairColumns(ctx, existing, softColumns);
  if (mismatch) {
    // verify leaves the table out, saying why; a sync that was asked to sync it fails it (exit 1), never skips it quietly.
    if (ctx.verify) return { skip: mismatch };
    const keyless = side.table.primaryKey.length === 0 && !compared.missingKeys.length;
    throw invalid(
      ctx,
      keyless
        ? `${mismatch}: compare updates rows by key, and the target has none. Run it once with mode: full (or auto), which reloads it with the key, then compare`
        : `${mismatch}: compare cannot apply rows to it. Run it once with mode: full to reload it, or make the target's key match`,
    );
  }
  // Added columns are filled by the run itself (it reads every row), so no backfill.
  const changes = evolveColumns(ctx, existing, compared, { synced: null, types: null }, softColumns);
  const base = { ...keyRangePlan(ctx, side), columns: changes.columns };
  // Equal key ranges are found by digests on both sides and not copied; where they cannot be, the plan says why.
  const rangeDigests = rangeDigestsFor(source.dialect, base);
  const plan: TablePlan = {
    ...base,
    mode: 'compare',
    rangeDigests,
    notes: [
      ...side.notes,
      ...columnsNotes(ctx, changes.columns),
      ...changes.notes,
      ...('fallback' in rangeDigests ? [`${COPIES_EVERY_ROW}: ${rangeDigests.fallback}`] : []),
      ...('wholeOnly' in rangeDigests ? [`${COPIES_EVERY_ROW} when the table is split into key ranges: ${rangeDigests.wholeOnly}`] : []),
    ],
  };
  // Last: they change the target, so only once nothing else can refuse the table.
  const planned = await planSoftDeletes(target, tableConfig(ctx), await withUserTypes(ctx, plan), described, side.table, ctx.write);
  await applySchemaChanges(target, changes);
  return { plan: planned };
}
