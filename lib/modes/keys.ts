import { TablesyncError } from '../errors';
import { qualify, type SourceConnection, type SourceTable } from '../sources/base';
import { displayName } from '../tables';
import { traitsOf, type ConfigModeName } from './names';
import type { TableSettings } from './types';

// The key a table syncs by. The source's primary key when it has one; for a
// table without, the columns `primaryKey:` names, taken only when the source
// shows them usable as a key right now (no NULL, no value twice), since
// nothing in a keyless source stops either from appearing. A wrong key would
// merge distinct rows (upsert) or fail the key build after a whole load.

/** The table with the key it syncs by; refuses a `primaryKey:` the source does not bear out, naming table and columns. */
export async function withConfiguredKey(source: SourceConnection, found: SourceTable, settings: TableSettings): Promise<{ table: SourceTable; notes: string[] }> {
  const wanted = settings.primaryKey;
  if (!wanted) return { table: found, notes: [] };
  const name = displayName(found.ref);
  const field = settings.field('primaryKey');
  const list = wanted.join(', ');
  if (found.primaryKey.length) {
    const same = found.primaryKey.length === wanted.length && found.primaryKey.every((k, i) => k === wanted[i]);
    if (same) return { table: found, notes: [] };
    throw new TablesyncError('InvalidConfig', `${name}: ${field} (${list}) differs from the source's primary key (${found.primaryKey.join(', ')}); leave ${field} out, the source's key is used`);
  }
  const known = new Set(found.columns.map((c) => c.name));
  const unknown = wanted.filter((c) => !known.has(c));
  if (unknown.length) {
    throw new TablesyncError('UnknownColumn', `${name}: ${field} names ${unknown.map((c) => `"${c}"`).join(', ')}, which the table does not have`);
  }
  if (new Set(wanted).size !== wanted.length) throw new TablesyncError('InvalidConfig', `${name}: ${field} names a column twice (${list})`);
  // A unique index over NOT NULL columns among these (and these NOT NULL too) guarantees the key: no scan needed.
  const notNull = wanted.every((w) => found.columns.some((c) => c.name === w && !c.nullable));
  const indexed = notNull && (await source.uniqueKeys(found.ref)).some((k) => k.every((c) => wanted.includes(c)));
  if (indexed) {
    return { table: { ...found, primaryKey: [...wanted] }, notes: [`keyed by ${field} (${list}): the source has no primary key; a unique index over NOT NULL columns guarantees it`] };
  }
  const q = wanted.map((c) => source.dialect.quoteIdent(c));
  const from = qualify(source.dialect, found.ref);
  const [row] = await source.queryRows(
    `SELECT (SELECT COUNT(*) FROM ${from} WHERE ${q.map((c) => `${c} IS NULL`).join(' OR ')}) AS nulls, ` +
      `(SELECT COUNT(*) FROM (SELECT ${q.join(', ')} FROM ${from} GROUP BY ${q.join(', ')} HAVING COUNT(*) > 1) d) AS dups`,
    [],
  );
  const nulls = Number(row.nulls);
  const dups = Number(row.dups);
  if (nulls || dups) {
    const why = [nulls && `${nulls} row${nulls === 1 ? '' : 's'} with a NULL in them`, dups && `${dups} value${dups === 1 ? '' : 's'} held by more than one row`].filter(Boolean).join(' and ');
    throw new TablesyncError('InvalidConfig', `${name}: ${field} (${list}) cannot key the table: the source has ${why}; name columns that are unique and NOT NULL`);
  }
  return {
    table: { ...found, primaryKey: [...wanted] },
    notes: [`keyed by ${field} (${list}): the source has no primary key; checked unique and without NULLs on the source for this run`],
  };
}

/**
 * A table with no key: what its mode makes of it. auto reloads it (full
 * every run); a mode that needs a key refuses it, saying what would work,
 * unless the config says to skip such tables.
 */
export function keylessOutcome(name: string, settings: TableSettings, mode: ConfigModeName): { skip: string } | { mode: 'full' | 'as-is'; notes: string[] } {
  if (settings.keyless === 'skip') return { skip: `no primary key (${settings.field('keyless')}: skip)` };
  if (settings.deletes === 'soft') {
    throw new TablesyncError('MissingPrimaryKey', `${name} has no primary key: ${settings.field('deletes')}: soft marks rows by key; name one with ${settings.field('primaryKey')}: [columns], or use deletes: ignore or hard`);
  }
  if (mode === 'auto') return { mode: 'full', notes: ['no primary key: reloaded in full on every run (name a unique column set with primaryKey: to sync it in place)'] };
  const need = traitsOf(mode).needsKey(settings.write);
  if (need) {
    const alternatives = [`mode: full (reloads it)`, ...(mode === 'cursor' ? ['write: append'] : []), `${settings.field('primaryKey')}: [columns] naming a unique NOT NULL column set`, `keyless: skip`];
    throw new TablesyncError('MissingPrimaryKey', `${name} has no primary key, which mode ${mode} needs: ${need}. Use ${alternatives.join(', or ')}`);
  }
  return { mode: 'as-is', notes: [] };
}
