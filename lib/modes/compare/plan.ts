import { applySchemaChanges } from '../../schema-evolution';
import { displayName } from '../../tables';
import { planSoftDeletes, softDeleteColumns } from '../../target';
import type { TablePlan } from '../../types';
import { keyRangePlan } from '../full/plan';
import { columnsNotes, evolveColumns, pairColumns, tableConfig, withUserTypes, type TargetSide } from '../plan-steps';
import type { PlanContext, PlanOutcome } from '../types';

/**
 * compare: rows applied in place to a target that exists and has rows (a
 * first load is full's); skipped with why when it cannot take them.
 */
export async function planCompare(ctx: PlanContext, side: TargetSide): Promise<PlanOutcome> {
  const { source, target, config, described, settings } = ctx;
  if (!side.table) return { skip: `target table ${displayName(side.ref)} does not exist (run a full migration first)` };
  if (!side.hasRows) return { skip: `target table ${displayName(side.ref)} is empty (run a full migration first)` };
  const softColumns = settings.deletes === 'soft' ? softDeleteColumns(config.softDeleteColumn) : [];
  const existing = { ...side, table: side.table };
  const { compared, mismatch } = pairColumns(ctx, existing, softColumns);
  if (mismatch) return { skip: mismatch };
  // Added columns are filled by the run itself (it reads every row), so no backfill.
  const changes = evolveColumns(ctx, existing, compared, { synced: null, types: null }, softColumns);
  const plan: TablePlan = {
    ...keyRangePlan(ctx, side),
    mode: 'compare',
    columns: changes.columns,
    notes: [...side.notes, ...columnsNotes(ctx, changes.columns), ...changes.notes],
  };
  // Last: they change the target, so only once nothing else can refuse the table.
  const planned = await planSoftDeletes(target, tableConfig(ctx), await withUserTypes(ctx, plan), described, side.table, ctx.write);
  await applySchemaChanges(target, changes);
  return { plan: planned };
}
