// Mode names, the one spelling used everywhere (config, plan, state, summary).
// Pure and dependency-free: workflows import it to choose their steps.

/** How a table is synced in a run, once planned. */
export type SyncModeName = 'full' | 'compare' | 'cursor' | 'changelog';

/** What a config may ask for: a mode, or auto (full when the target is missing or empty, compare otherwise). */
export type ConfigModeName = 'auto' | SyncModeName;

/** Older spellings still accepted in config and workflow input (saved histories, existing configs). */
export const MODE_ALIASES: Record<string, ConfigModeName> = { incremental: 'compare' };

export function normalizeMode(mode: string): ConfigModeName {
  return (MODE_ALIASES[mode] ?? mode) as ConfigModeName;
}

/**
 * The table workflow's sequence for a mode:
 * - load-and-swap: create a load table, fill it partition by partition, key it and swap it in (or drop it);
 * - apply-in-place: each partition applies its rows to the existing table as it goes.
 */
export type TableSteps = 'load-and-swap' | 'apply-in-place';

const STEPS: Record<SyncModeName, TableSteps> = { full: 'load-and-swap', compare: 'apply-in-place', cursor: 'apply-in-place', changelog: 'apply-in-place' };

export function tableSteps(mode: SyncModeName): TableSteps {
  return STEPS[mode];
}
