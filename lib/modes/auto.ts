import { planCompare } from './compare/plan';
import { planFull } from './full/plan';
import { describeTarget } from './plan-steps';
import type { PlanContext, PlanOutcome } from './types';

/** auto, the default: a full load when the target is missing or empty, compare otherwise. */
export async function planAuto(ctx: PlanContext): Promise<PlanOutcome> {
  const side = await describeTarget(ctx);
  return side.hasRows ? planCompare(ctx, side) : { plan: await planFull(ctx, side) };
}
