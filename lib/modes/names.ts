// The modes' names and traits, the one spelling used everywhere (config,
// plan, state, summary). Pure and dependency-free: workflows import it.
// A new mode is a folder beside these and one line here and in index.ts.
import { changelogTraits } from './changelog/traits';
import { compareTraits } from './compare/traits';
import { cursorTraits } from './cursor/traits';
import { fullTraits } from './full/traits';
import type { ModeTraits, SyncModeName, TableSteps } from './traits';

export type { ModeOption, ModeTraits, SyncModeName, TableSteps } from './traits';

const TRAITS: Record<SyncModeName, ModeTraits> = { full: fullTraits, compare: compareTraits, cursor: cursorTraits, changelog: changelogTraits };

export const SYNC_MODES = Object.keys(TRAITS) as SyncModeName[];

/** What a config may ask for: a mode, or auto (full when the target is missing or empty, compare otherwise). */
export type ConfigModeName = 'auto' | SyncModeName;

/** auto plans as full or compare, so it takes what both take. */
export const AUTO_MODES: SyncModeName[] = ['full', 'compare'];

/** Older spellings still accepted in config and workflow input (saved histories, existing configs). */
export const MODE_ALIASES: Record<string, ConfigModeName> = { incremental: 'compare' };

export function normalizeMode(mode: string): ConfigModeName {
  return (MODE_ALIASES[mode] ?? mode) as ConfigModeName;
}

/** The traits of a planned table's mode. */
export function traitsOf(mode: SyncModeName | string): ModeTraits {
  const traits = TRAITS[mode as SyncModeName];
  if (!traits) throw new Error(`unknown sync mode "${mode}"`);
  return traits;
}

/** The traits a config mode is held to: a mode's, or for auto those of every mode it may become. */
export function configTraits(mode: ConfigModeName): ModeTraits[] {
  return mode === 'auto' ? AUTO_MODES.map(traitsOf) : [traitsOf(mode)];
}

/**
 * verify: a config entry's mode (any spelling, or none) whose saved position
 * decides which differences are pending, so the table keeps its settings;
 * every other table is compared like compare mode.
 */
export function verifyKeepsMode(mode: unknown): boolean {
  return typeof mode === 'string' && mode in TRAITS && TRAITS[mode as SyncModeName].savesPosition;
}

export function tableSteps(mode: SyncModeName): TableSteps {
  return traitsOf(mode).steps;
}
