import type { ModeTraits } from '../traits';

export const compareTraits: ModeTraits = {
  name: 'compare',
  steps: 'apply-in-place',
  options: ['columns'],
  deletes: ['ignore', 'hard', 'soft'],
  onePartition: false,
  savesPosition: false,
  runKind: 'incremental',
  unreadChange: '',
  needsKey: () => 'it matches source and target rows by key',
  settable: true,
};
