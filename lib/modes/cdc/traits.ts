import type { ModeTraits } from '../traits';

export const cdcTraits: ModeTraits = {
  name: 'cdc',
  // Not run by a sync run at all: the cdc workflow snapshots the table and applies its changes (see index.ts).
  steps: 'apply-in-place',
  // No where: the stream's row images would have to be matched by the worker, outside the source,
  // which cannot evaluate a SQL predicate nor compare values in the source's types and collations.
  options: [],
  deletes: ['ignore', 'hard', 'soft'],
  // The source's log says what was deleted: a replica deletes it too, unless the table says otherwise.
  defaultDeletes: 'hard',
  onePartition: true,
  savesPosition: true,
  runKind: 'incremental',
  unreadChange: ' not yet applied from the change stream',
  changedBelow: 'changed without a change in the stream',
  // The log names a changed row by its replica identity: without a key, updates and deletes name no row.
  needsKey: () => 'cdc applies changes by key (the table\'s replica identity); add a primary key',
  settable: false,
  resetState: 'forget the saved log position: the cdc workflow takes a new snapshot of every table of its stream',
};
