import type { ModeTraits } from '../traits';

export const fullTraits: ModeTraits = {
  name: 'full',
  steps: 'load-and-swap',
  // where: the reload reads only the rows the filter keeps, so the swapped-in table holds exactly that set.
  options: ['columns', 'where'],
  // Deletes mean nothing to a reload: rows the source lacks are not in the new table (soft: kept marked, see soft-deletes).
  deletes: ['ignore', 'hard', 'soft'],
  onePartition: false,
  savesPosition: false,
  runKind: 'full load',
  unreadChange: '',
  // A reload needs no key: the table is loaded as one partition and swapped in whole.
  needsKey: () => null,
  settable: true,
};
