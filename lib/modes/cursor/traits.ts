import type { ModeTraits } from '../traits';

export const cursorTraits: ModeTraits = {
  name: 'cursor',
  steps: 'apply-in-place',
  // where: ANDed with the cursor window. A row that stops matching is not read again, like a deleted
  // row: its last version stays in the target (deletes stay refused; compare or changelog see it).
  options: ['cursor', 'write', 'lookback', 'columns', 'where'],
  // A cursor read sees only rows changed past the cursor, never a deleted row: deletes would need a
  // separate pass over every source key, which this mode does not make (use compare or changelog).
  deletes: ['ignore'],
  onePartition: true,
  savesPosition: true,
  runKind: 'incremental',
  unreadChange: ' with a cursor the next run does not read',
  changedBelow: 'changed without moving the cursor',
  // Append keeps every version read and matches none; upsert keeps the latest version per key.
  needsKey: (write) => (write === 'append' ? null : 'write: upsert keeps the latest version per key (write: append needs none)'),
  settable: true,
};
