import type { ModeTraits } from '../traits';

export const changelogTraits: ModeTraits = {
  name: 'changelog',
  steps: 'apply-in-place',
  // where: a logged key is read only if its row matches; a logged key whose row no longer matches
  // counts as gone, so a row leaving the filter is deleted (or marked) like a deleted one: exact.
  options: ['changelog', 'columns', 'where'],
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
