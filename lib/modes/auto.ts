import { displayName } from '../tables';
import { APPEND_COLUMNS } from '../target';
import { planCompare } from './compare/plan';
import { planFull } from './full/plan';
import { describeTarget, invalid } from './plan-steps';
import type { PlanContext, PlanOutcome } from './types';

/**
 * auto, the default: a full load when the target is missing or empty, compare
 * otherwise; and a full load again for a target without a primary key when
 * the table now has one (the source's, or primaryKey: added to the config):
 * auto reloaded it whole while it had none, and compare needs the key on the
 * target. The reload builds it; later runs compare in place.
 */
export async function planAuto(ctx: PlanContext): Promise<PlanOutcome> {
  const side = await describeTarget(ctx);
  if (!side.table || !side.hasRows) return { plan: await planFull(ctx, side) };
  const key = ctx.described.primaryKey;
  if (side.table.primaryKey.length === 0 && key.length > 0) {
    const name = displayName(side.ref);
    if (ctx.verify) return { skip: `target table ${name} has no primary key yet: the next run reloads it keyed by (${key.join(', ')})` };
    // An append table keeps every version read: a reload would drop its history.
    if (APPEND_COLUMNS.every((m) => side.table!.columns.some((c) => c.name === m))) {
      throw invalid(ctx, `target table ${name} is an append table (it keeps every version read, with no key); mode auto would reload it and lose them: keep its mode (cursor, write: append), or change it with tablesync set-mode`);
    }
    side.notes.push(`target table ${name} has no primary key: reloaded in full keyed by (${key.join(', ')}); later runs compare in place`);
    return { plan: await planFull(ctx, side, 'target has no primary key') };
  }
  return planCompare(ctx, side);
}
