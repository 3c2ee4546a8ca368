import { log } from '@temporalio/activity';
import { displayName } from '../../tables';
import { planSoftDeletes } from '../../target';
import type { TablePlan } from '../../types';
import { columnsNotes, fullColumns, integerKey, tableConfig, withUserTypes, type TargetSide } from '../plan-steps';
import type { PlanContext } from '../types';

/** The fields every key-range table's plan has (full and compare). */
export function keyRangePlan(ctx: PlanContext, side: TargetSide): Pick<TablePlan, 'source' | 'target' | 'primaryKey' | 'integerKey' | 'deletes'> {
  const { described, settings, config } = ctx;
  return {
    source: described.ref,
    target: side.ref,
    primaryKey: described.primaryKey,
    integerKey: integerKey(ctx),
    ...(settings.deletes !== config.deletes && { deletes: settings.deletes }),
  };
}

/** A full load: every source column, into a new table swapped in at the end. */
export async function planFull(ctx: PlanContext, side: TargetSide, reason = 'mode: full'): Promise<TablePlan> {
  const { source, target, config, described } = ctx;
  const columns = fullColumns(ctx);
  const why = !side.table ? 'target table is missing' : !side.hasRows ? 'target table is empty' : reason;
  log.info(`${displayName(described.ref)}: full load into ${displayName(side.ref)} (${why})`);
  const plan: TablePlan = { ...keyRangePlan(ctx, side), mode: 'full', columns, notes: [...side.notes, ...columnsNotes(ctx, columns)] };
  const planned = await planSoftDeletes(target, tableConfig(ctx), plan, described, side.table, ctx.write);
  return withUserTypes(ctx, planned);
}
