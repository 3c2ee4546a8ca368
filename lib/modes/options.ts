import { configTraits, SYNC_MODES, traitsOf, type ConfigModeName, type ModeOption } from './names';

// Options compose through what each mode declares (traits.options,
// traits.deletes): a table entry that sets an option its mode does not take is
// refused when the config is read, naming the field, never accepted and
// ignored. Top-level cursor/write/lookback are defaults for the tables whose
// mode takes them, so only a table's own entry is held to its mode.

const OPTIONS: ModeOption[] = ['cursor', 'write', 'lookback', 'changelog', 'columns'];

interface EntryLike {
  mode?: ConfigModeName;
  deletes?: 'ignore' | 'hard' | 'soft';
  [option: string]: unknown;
}

/** What is wrong with the tables' options, one line per field (`tables[2].write applies to …`); empty: nothing. */
export function unsupportedOptions(config: { mode: ConfigModeName; tables: (string | EntryLike)[] }): string[] {
  const problems: string[] = [];
  config.tables.forEach((entry, i) => {
    if (typeof entry === 'string') return;
    const mode = entry.mode ?? config.mode;
    const traits = configTraits(mode);
    for (const option of OPTIONS) {
      if (entry[option] === undefined || traits.every((t) => t.options.includes(option))) continue;
      const takers = SYNC_MODES.filter((m) => traitsOf(m).options.includes(option));
      problems.push(`tables[${i}].${option} applies to mode ${takers.join(', ')} only (this table's mode is ${mode})`);
    }
    if (entry.deletes !== undefined && !traits.every((t) => t.deletes.includes(entry.deletes!))) {
      const takers = SYNC_MODES.filter((m) => traitsOf(m).deletes.includes(entry.deletes!));
      problems.push(`tables[${i}].deletes: ${entry.deletes} applies to mode ${takers.join(', ')} only (this table's mode is ${mode})`);
    }
  });
  return problems;
}
