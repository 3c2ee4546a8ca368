import type { ModeTraits } from '../traits';

export const changelogTraits: ModeTraits = {
  name: 'changelog',
  steps: 'apply-in-place',
  options: ['changelog', 'columns'],
  deletes: ['ignore', 'hard', 'soft'],
  // A change log names deleted keys: they are soft-deleted unless the table says otherwise.
  defaultDeletes: 'soft',
  onePartition: true,
  savesPosition: true,
  runKind: 'incremental',
  unreadChange: ' with no log entry past the saved position',
  changedBelow: 'changed without a log entry',
  needsKey: () => 'the change log names the rows it changed by key',
  settable: false,
};
