import { changelogMode } from './changelog';
import { compareMode } from './compare';
import { cursorMode } from './cursor';
import { fullMode } from './full';
import type { SyncModeName } from './names';
import type { SyncMode } from './types';

export * from './names';
export type { Applied, ChunkContext, SyncMode } from './types';

const MODES: Record<SyncModeName, SyncMode> = { full: fullMode, compare: compareMode, cursor: cursorMode, changelog: changelogMode };

/** The module of a planned table's mode. */
export function modeOf(name: SyncModeName | string): SyncMode {
  const mode = MODES[name as SyncModeName];
  if (!mode) throw new Error(`unknown sync mode "${name}"`);
  return mode;
}
