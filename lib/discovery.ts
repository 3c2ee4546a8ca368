import { catalogName, EXACT_NAMES, type CatalogEntry, type NameRule, type SourceConnection } from './sources/base';
import { displayName, isPattern, matchesPattern, parseTableName } from './tables';
import type { SyncConfig, TableEntry } from './config';
import type { FailedTable, TableRef } from './types';

/** The tables a config's `tables` list names, what each entry resolved to, and what could not be resolved. */
export interface Resolution {
  /** Each table once, with the settings of the entry that named it (an explicit name wins over a pattern). */
  refs: ResolvedTable[];
  failed: FailedTable[];
  /** What patterns matched and left out, and why: shown before any row moves. */
  plan: string[];
}

export interface ResolvedTable extends TableRef {
  /** Index of the `tables` entry it came from, and that entry's own settings (none for a plain name). */
  entryIndex: number;
  entry?: TableEntry;
}

const KIND_WORDS: Record<CatalogEntry['kind'], string> = {
  table: 'table',
  view: 'view',
  partition: 'partition',
  child: 'inheritance child',
};

function describeEntry(e: CatalogEntry): string {
  return e.parent ? `${KIND_WORDS[e.kind]} ${displayName(e)} (of ${displayName(e.parent)})` : `${KIND_WORDS[e.kind]} ${displayName(e)}`;
}

function list(names: string[], max = 10): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** Edit distance (insert, delete, replace, swap two neighbours), case-insensitive. */
function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The one name closest to `wanted` within a typo's distance (a third of its length, at most 3), if any. */
export function closestName(wanted: string, names: string[]): string | undefined {
  const limit = Math.min(3, Math.max(1, Math.floor(wanted.length / 3)));
  let best: { name: string; distance: number } | undefined;
  for (const name of names) {
    const distance = editDistance(wanted, name);
    if (distance <= limit && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

/**
 * Resolves table names and patterns against the source catalog. Patterns take
 * tables only: a partition or inheritance child is read through its parent,
 * so taking it too would copy its rows twice. A problem with one entry fails
 * that entry alone.
 */
export function resolveTableSpecs(
  entries: (string | TableEntry)[],
  defaultSchema: string,
  listing: CatalogEntry[],
  sourceName: string,
  rule: NameRule = EXACT_NAMES,
  options: { typoHints?: boolean } = {},
): Resolution {
  const refs = new Map<string, ResolvedTable>();
  const failed: FailedTable[] = [];
  const plan: string[] = [];
  // The listing by exact name, by the source's own name rule and by parent: a config of thousands of names asks each in O(1).
  const exactKey = (t: TableRef) => JSON.stringify([t.schema, t.name]);
  const ruleKey = (t: TableRef) => JSON.stringify([rule.key(t.schema), rule.key(t.name)]);
  const byName = new Map<string, CatalogEntry>();
  const byRule = new Map<string, CatalogEntry[]>();
  const byParent = new Map<string, CatalogEntry[]>();
  for (const e of listing) {
    if (!byName.has(exactKey(e))) byName.set(exactKey(e), e);
    const same = byRule.get(ruleKey(e));
    if (same) same.push(e);
    else byRule.set(ruleKey(e), [e]);
    if (e.parent) {
      const siblings = byParent.get(exactKey(e.parent));
      if (siblings) siblings.push(e);
      else byParent.set(exactKey(e.parent), [e]);
    }
  }
  const children = (parent: TableRef) => byParent.get(exactKey(parent)) ?? [];
  const take = (ref: TableRef, explicit: boolean) => {
    const seen = refs.get(displayName(ref));
    if (seen) {
      // A name given on its own says more than a pattern that also matched it.
      if (explicit) refs.set(displayName(ref), { ...ref, entryIndex: index, entry: settings });
      return;
    }
    refs.set(displayName(ref), { ...ref, entryIndex: index, entry: settings });
    const parts = children(ref);
    if (parts.length) {
      const what = parts.every((p) => p.kind === 'partition') ? 'partitions are' : 'inheritance children are';
      plan.push(`${displayName(ref)}: its ${parts.length} ${what} read through it, not synced as tables of their own`);
    }
  };
  let index = -1;
  let settings: TableEntry | undefined;
  for (const given of entries) {
    index++;
    settings = typeof given === 'string' ? undefined : given;
    const spec = typeof given === 'string' ? given : given.table;
    let ref: TableRef;
    try {
      ref = parseTableName(spec, defaultSchema);
    } catch (err) {
      failed.push({ table: spec, type: 'InvalidConfig', reason: `tables: ${(err as Error).message}` });
      continue;
    }
    if (isPattern(ref)) {
      const hits = listing.filter((e) => matchesPattern(ref, e, rule.key));
      const matched = hits.filter((e) => e.kind === 'table' && !e.parent);
      const leftOut = hits.filter((e) => !matched.includes(e));
      const leftOutText = leftOut.length ? `; left out: ${list(leftOut.map(describeEntry))}` : '';
      if (matched.length === 0) {
        failed.push({
          table: spec,
          type: 'UnknownTable',
          reason: `tables: pattern "${spec}" matches no table in source "${sourceName}"${leftOutText}`,
        });
        continue;
      }
      plan.push(
        `tables: "${spec}" matched ${matched.length} table${matched.length === 1 ? '' : 's'}: ${list(matched.map(displayName))}${leftOutText}`,
      );
      for (const t of matched) take({ schema: t.schema, name: t.name }, false);
      continue;
    }
    // The catalog's spelling from here on: `dbo.genre` is dbo.Genre where the source says so.
    let found: TableRef;
    try {
      found = catalogName(ref, byRule.get(ruleKey(ref)) ?? [], rule);
    } catch (err) {
      failed.push({ table: displayName(ref), type: 'InvalidConfig', reason: (err as Error).message });
      continue;
    }
    if (displayName(found) !== displayName(ref)) {
      plan.push(`tables: "${spec}" is ${displayName(found)} in the source (names compare ${rule.description})`);
      ref = found;
    }
    const entry = byName.get(exactKey(ref));
    if (entry?.kind === 'view') {
      failed.push({ table: displayName(ref), type: 'UnknownTable', reason: `${displayName(ref)} is a view in source "${sourceName}": only tables can be synced` });
      continue;
    }
    if (entry?.parent) {
      plan.push(
        `${displayName(ref)} is a ${KIND_WORDS[entry.kind]} of ${displayName(entry.parent)}, synced as named; ` +
          `the parent also exists, and syncing it too would copy these rows again`,
      );
    }
    // Not listed, but a listed table's name is a typo away: say which (describeTable would only say it does not exist).
    const near = entry || options.typoHints === false ? undefined : closestName(displayName(ref), listing.filter((e) => e.kind !== 'view').map(displayName));
    if (near) {
      failed.push({ table: displayName(ref), type: 'UnknownTable', reason: `Source table ${displayName(ref)} does not exist in "${sourceName}"; did you mean ${near}?` });
      continue;
    }
    // Not listed: describeTable decides (and reports an unknown table per table).
    take(ref, true);
  }
  return { refs: [...refs.values()], failed, plan };
}

/**
 * Planned tables that would land in one target table: each is refused, naming
 * the others, before anything is written. (A sync that took both would leave
 * one table's rows and report both as synced.)
 */
export function targetCollisions<T extends { source: TableRef; target: TableRef }>(tables: T[]): { kept: T[]; failed: FailedTable[] } {
  const byTarget = new Map<string, T[]>();
  for (const t of tables) {
    const key = displayName(t.target);
    byTarget.set(key, [...(byTarget.get(key) ?? []), t]);
  }
  const kept: T[] = [];
  const failed: FailedTable[] = [];
  for (const [target, group] of byTarget) {
    if (group.length === 1) {
      kept.push(group[0]);
      continue;
    }
    const names = group.map((t) => displayName(t.source));
    for (const t of group) {
      failed.push({
        table: displayName(t.source),
        target,
        type: 'NameCollision',
        reason:
          `source tables ${names.map((n) => `"${n}"`).join(' and ')} both become target table ${target}; ` +
          `nothing was written: sync them in separate runs with different target.schema, or leave one out`,
      });
    }
  }
  return { kept, failed };
}

/** The config's tables as the source lists and matches them (names, patterns), with what was refused. */
export async function resolveConfigTables(
  source: Pick<SourceConnection, 'dialect' | 'listTables' | 'nameRule'>,
  config: Pick<SyncConfig, 'tables' | 'source'>,
): Promise<Resolution> {
  return resolveTableSpecs(config.tables, config.source.schema ?? source.dialect.defaultSchema, await source.listTables(), config.source.connection, await source.nameRule());
}
