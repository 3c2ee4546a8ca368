import type { ModeTraits } from '../traits';

export const cursorTraits: ModeTraits = {
  name: 'cursor',
  steps: 'apply-in-place',
  options: ['cursor', 'write', 'lookback', 'columns'],
  deletes: ['ignore', 'hard', 'soft'],
  onePartition: true,
  savesPosition: true,
  runKind: 'incremental',
  unreadChange: ' with a cursor the next run does not read',
  changedBelow: 'changed without moving the cursor',
  // Append keeps every version read and matches none; upsert keeps the latest version per key.
  needsKey: (write) => (write === 'append' ? null : 'write: upsert keeps the latest version per key (write: append needs none)'),
  settable: true,
};
