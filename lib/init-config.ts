import type { DialectName } from './sources/base';
import type { TableRef } from './types';

// `tablesync init`: what a starter config suggests per table, and its text.
// Pure: the command gathers the facts (catalog, estimates, indexes), this
// turns them into a commented YAML file a person reads before running it.

/** What init found out about one source table. */
export interface InitTable {
  ref: TableRef;
  primaryKey: string[];
  /** The catalog's row estimate. */
  rows: number;
  /** A column that looks like "last changed" and can order a cursor. */
  cursor?: { column: string; type: string; indexed: boolean; nullable: boolean };
  /** typeMap entries a full load needs (the dialect's tested suggestion), with the refusal they answer. */
  typeHints: { key: string; type: string; why: string }[];
  /** Unique indexes over NOT NULL columns (a keyless table's key, guaranteed by the source). */
  uniqueKeys?: string[][];
  /** Why the table cannot be synced at all (a type with no mapping): written commented out. */
  unreadable?: string;
}

export interface InitInput {
  dialect: DialectName;
  /** The schema the tables were listed from (MariaDB: the database). */
  schema: string;
  /** The connection URLs as the file may show them: passwords replaced. */
  sourceUrl: string;
  targetUrl: string;
  /** The file's path as the next commands name it. */
  out: string;
  tables: InitTable[];
}

/** Above this many rows, compare reading every row on every run is worth avoiding. */
export const BIG_TABLE_ROWS = 1_000_000;

/** Column names that usually hold the time a row last changed. */
const CHANGED_AT = /^(updated|modified|changed|last_?modified|last_?updated|last_?changed|update|modify|change)(_?(at|on|date|time|ts|timestamp|datetime|utc))?$/i;

/** Whether a column name looks like a "last changed" column (SQL Server rowversion columns count too). */
export function looksLikeChangedAt(name: string, type: string): boolean {
  return CHANGED_AT.test(name) || /^(rowversion|timestamp)$/i.test(type) && !/^(created|inserted)/i.test(name);
}

/** A URL with its password replaced, so the file can name it: the password stays in the environment. */
export function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = 'PASSWORD';
    return u.toString();
  } catch {
    return '(a URL that does not parse)';
  }
}

export interface Suggestion {
  /** The entry's mode line (absent: the config's default, auto). */
  mode?: 'full' | 'cursor';
  cursor?: string;
  /** A key for a table without a primary key (a unique index over NOT NULL columns). */
  primaryKey?: string[];
  /** Why, one comment line each. */
  why: string[];
}

/** The mode init suggests for a table, and why. */
export function suggestMode(t: InitTable): Suggestion {
  const size = `~${t.rows.toLocaleString('en-US')} rows`;
  const unique = t.uniqueKeys?.[0];
  if (!t.primaryKey.length && unique) {
    const why = [`${size}, no primary key, but a unique index over NOT NULL columns (${unique.join(', ')}): named as its key,`];
    why.push('auto loads it in full the first time, then compares every row on each run and writes what differs.');
    return { primaryKey: unique, why };
  }
  if (!t.primaryKey.length) {
    const why = [`${size}, no primary key: mode full reloads it whole on every run (auto would too).`];
    why.push('To sync it in place, name a unique NOT NULL column set: primaryKey: [a, b] (checked on the source every run).');
    if (t.cursor) why.push(`Or keep every version it reads: mode: cursor, cursor: ${t.cursor.column}, write: append.`);
    return { mode: 'full', why };
  }
  const key = `key (${t.primaryKey.join(', ')})`;
  if (t.cursor?.indexed) {
    const why = [`${size}, ${key}: "${t.cursor.column}" (${t.cursor.type}) is indexed and looks like a last-changed column, so mode cursor reads only rows changed since the last run.`];
    why.push(`Only if every change sets it; deletes are not seen (a periodic verify finds them).`);
    if (t.cursor.nullable) why.push(`It is nullable: rows with a NULL cursor are read only by the first run.`);
    return { mode: 'cursor', cursor: t.cursor.column, why };
  }
  const why = [`${size}, ${key}: auto loads it in full the first time, then compares every row on each run and writes what differs.`];
  if (t.cursor) why.push(`"${t.cursor.column}" could be a cursor (mode: cursor) but has no index: each run would scan the table for it.`);
  if (t.rows >= BIG_TABLE_ROWS && !t.cursor) {
    why.push('That is a lot to read on every run: add an indexed updated_at and use mode: cursor, or mode: changelog with a change-log table.');
  }
  return { why };
}

const q = (s: string) => JSON.stringify(s);

/** The commented starter config. */
export function initConfigText(input: InitInput): string {
  const lines: string[] = [
    '# tablesync starter config, written by `tablesync init`. Read it, adjust it, then run it.',
    '#',
    '# Connections are named here, never written: the worker reads their URLs from the environment.',
    `#   export TABLESYNC_CONNECTION_SOURCE=${q(input.sourceUrl)}`,
    `#   export TABLESYNC_CONNECTION_TARGET=${q(input.targetUrl)}`,
    '#   export TABLESYNC_ROLE_SOURCE=source TABLESYNC_ROLE_TARGET=target   # the source is only ever read',
    ...(/PASSWORD@/.test(input.sourceUrl + input.targetUrl) ? ['# (put the real password where PASSWORD is, in the environment only)'] : []),
    '#',
    '# Next:',
    `#   tablesync run --config ${input.out} --dry-run --local   # what the first run would do, changing nothing`,
    `#   tablesync run --config ${input.out} --local             # the first sync, with a worker in this process`,
    `#   tablesync verify --config ${input.out} --local          # compare source and target`,
    `#   tablesync worker --config ${input.out} &   then   tablesync schedule create --config ${input.out} --cron @hourly   # keep it in step`,
    '',
    'source:',
    '  connection: source',
    `  schema: ${q(input.schema)}`,
    'target:',
    '  connection: target',
    '  # schema: the source schema unless set here',
  ];
  const hints = input.tables.flatMap((t) => t.typeHints);
  if (hints.length) {
    lines.push('', '# Types the default mapping refuses, mapped as the source dialect suggests (tested mappings):', 'typeMap:');
    for (const h of hints) lines.push(`  # ${h.why}`, `  ${q(h.key)}: ${q(h.type)}`);
  }
  lines.push('', 'tables:');
  if (!input.tables.length) lines.push(`  # the schema "${input.schema}" has no tables; name some:`, '  - "*"');
  for (const t of input.tables) {
    const name = `${t.ref.schema}.${t.ref.name}`;
    if (t.unreadable) {
      lines.push(`  # ${name}: left out, ${t.unreadable}`, `  # - table: ${q(name)}`);
      continue;
    }
    const s = suggestMode(t);
    lines.push(...s.why.map((w) => `  # ${w}`), `  - table: ${q(name)}`);
    if (s.mode) lines.push(`    mode: ${s.mode}`);
    if (s.cursor) lines.push(`    cursor: ${q(s.cursor)}`);
    if (s.primaryKey) lines.push(`    primaryKey: [${s.primaryKey.map(q).join(', ')}]`);
  }
  return `${lines.join('\n')}\n`;
}
