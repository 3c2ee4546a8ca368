import { configTraits, SYNC_MODES, traitsOf, type ConfigModeName, type ModeOption } from './names';

// Options compose through what each mode declares (traits.options,
// traits.deletes): a table entry that sets an option its mode does not take is
// refused when the config is read, naming the field, never accepted and
// ignored. Top-level cursor/write/lookback are defaults for the tables whose
// mode takes them, so only a table's own entry is held to its mode. The
// top-level `deletes` is different: a delete rule silently not carried out
// loses deletes, so every table it reaches (one without a `deletes` of its
// own) must be able to honour it, or the config is refused naming both.

const OPTIONS: ModeOption[] = ['cursor', 'write', 'lookback', 'changelog', 'columns', 'where'];

interface EntryLike {
  mode?: ConfigModeName;
  deletes?: 'ignore' | 'hard' | 'soft';
  [option: string]: unknown;
}

/** What is wrong with the tables' options, one line per field (`tables[2].write applies to …`); empty: nothing. */
export function unsupportedOptions(config: { mode: ConfigModeName; deletes?: 'ignore' | 'hard' | 'soft'; tables: (string | EntryLike)[] }): string[] {
  const problems: string[] = [];
  const fallback = config.deletes ?? 'ignore';
  const takers = (rule: string) => SYNC_MODES.filter((m) => traitsOf(m).deletes.includes(rule as 'ignore')).join(', ');
  const topTakes = configTraits(config.mode).every((t) => t.deletes.includes(fallback));
  if (!topTakes && config.tables.some((e) => typeof e === 'string' || (e.mode === undefined && e.deletes === undefined))) {
    problems.push(`deletes: ${fallback} applies to mode ${takers(fallback)} only (the config's mode is ${config.mode}); set deletes: ignore, or a mode that carries it out`);
  }
  config.tables.forEach((entry, i) => {
    if (typeof entry === 'string') return;
    if (entry.mode !== undefined && entry.deletes === undefined && !configTraits(entry.mode).every((t) => t.deletes.includes(fallback))) {
      problems.push(
        `deletes: ${fallback} (the top-level default) does not apply to tables[${i}] (mode ${entry.mode}): deletes: ${fallback} applies to mode ${takers(fallback)} only; ` +
          `set tables[${i}].deletes: ignore, or give deletes to the entries of the tables that take it`,
      );
    }
    const mode = entry.mode ?? config.mode;
    const traits = configTraits(mode);
    for (const option of OPTIONS) {
      if (entry[option] === undefined || traits.every((t) => t.options.includes(option))) continue;
      const modes = SYNC_MODES.filter((m) => traitsOf(m).options.includes(option));
      problems.push(`tables[${i}].${option} applies to mode ${modes.join(', ')} only (this table's mode is ${mode})`);
    }
    if (entry.deletes !== undefined && !traits.every((t) => t.deletes.includes(entry.deletes!))) {
      problems.push(`tables[${i}].deletes: ${entry.deletes} applies to mode ${takers(entry.deletes)} only (this table's mode is ${mode})`);
    }
  });
  return problems;
}
