import type { ModeTraits } from '../traits';

export const compareTraits: ModeTraits = {
  name: 'compare',
  steps: 'apply-in-place',
  // where: each key range's staging holds the rows the filter keeps, so a target row the range's
  // staging lacks (deleted, or no longer matching) is deleted or marked per deletes:, and no other.
  options: ['columns', 'where'],
  deletes: ['ignore', 'hard', 'soft'],
  onePartition: false,
  savesPosition: false,
  runKind: 'incremental',
  unreadChange: '',
  needsKey: () => 'it matches source and target rows by key',
  settable: true,
};
