import type { Readable } from 'node:stream';
import { changelogFilter } from './changelog';
import { cursorPredicate, type CursorDialect } from './cursor';
import { TablesyncError } from '../errors';
import type { ColumnPlan, CursorPlan, PartitionRange, TablePlan, TableRef } from '../types';

export type DialectName = 'postgres' | 'mysql' | 'mssql';

/** What differs between source databases in the SQL text itself. Pure. */
export interface Dialect {
  readonly name: DialectName;
  readonly defaultSchema: string;
  quoteIdent(name: string): string;
  /** Bound-parameter marker for the i-th value (1-based). */
  placeholder(i: number): string;
  isIntegerType(type: string): boolean;
  /**
   * PostgreSQL type for a source column. Throws TablesyncError('UnsupportedType')
   * naming table, column and type when there is no exact mapping.
   */
  mapType(column: SourceColumn, table: TableRef): string;
  /**
   * SQL expression giving a column's canonical text for verification
   * checksums: the text PostgreSQL's canonical form (pgCanonical) gives for
   * the same value in the target. null: the column cannot be compared this
   * way and is left out (e.g. a typeMap pairing with no exact rule).
   */
  canonicalText?(column: ColumnPlan): string | null;
  /** Cursor columns: which types order, their exact text and typed parameters. */
  cursor?: CursorDialect;
  /** Row digests for verify's row-by-row comparison (see digests.ts). */
  digest?: DigestDialect;
}

/** What verify needs to compare rows one by one, in the same text on every side. */
export interface DigestDialect {
  /** The columns' canonical texts as one text, each "<characters>:<text>" (NULL as "N"), as the checksums hash them. */
  row(columns: ColumnPlan[]): string;
  /** Lower-case hex MD5 of the UTF-8 bytes of a text. */
  md5(text: string): string;
  /** Aggregate: the sum over rows of the first 32 bits of a hex digest, as text ("0" for no rows). */
  sum32(hex: string): string;
  /** " WHERE …" of a key range (or ""), values numbered from `first`. */
  rangeWhere(plan: TablePlan, range: PartitionRange, first: number): { sql: string; params: string[] };
}

/** Count and order-free checksum of one key range. */
export interface RangeSum {
  rows: number;
  sum: string;
}

/**
 * The refusal of a column type. `suggestion` is a target type the dialect can
 * really read this type into (tested); without one the message says so
 * rather than offer a mapping that would fail later.
 */
export function unsupportedType(
  table: TableRef,
  column: SourceColumn,
  suggestion: { type: string; why: string } | null,
  why = 'has no exact PostgreSQL mapping',
): TablesyncError {
  const hint = suggestion
    ? `map it in the config, e.g. typeMap: { "${column.dataType}": "${suggestion.type}" } (${suggestion.why})`
    : `tablesync cannot read it; leave the table out or name the type in an issue`;
  return new TablesyncError('UnsupportedType', `${table.schema}.${table.name} column "${column.name}" type ${column.type} ${why}; ${hint}`);
}

export interface SourceColumn {
  name: string;
  /** Declared type as the source spells it: "decimal(12,2)", "int unsigned", "datetime2(7)". */
  type: string;
  /** Base type name, lower case: "decimal", "int", "datetime2". */
  dataType: string;
  nullable: boolean;
  /** Characters or bytes; -1 for (max). */
  length?: number | null;
  precision?: number | null;
  /** Scale, or fractional-second digits for temporal types. */
  scale?: number | null;
  unsigned?: boolean;
  /**
   * Computed by the database from other columns (PostgreSQL GENERATED ALWAYS
   * AS … STORED, MySQL/MariaDB VIRTUAL/STORED/PERSISTENT, SQL Server computed
   * columns). Read like any column; a target column like this cannot be written.
   */
  generated?: boolean;
}

export interface SourceTable {
  ref: TableRef;
  columns: SourceColumn[];
  primaryKey: string[];
}

export interface CopyStream {
  /** COPY data for the staging table, in `format`. */
  stream: Readable;
  format: 'binary' | 'text';
  /** Rows produced so far (for heartbeats). */
  rows(): number;
  /** Values changed on the way as documented (zero dates → NULL): how many of each. */
  warnings(): Record<string, number>;
  /** Ends the read: commits on success, discards the connection on error. */
  finish(error?: unknown): Promise<void>;
}

/**
 * A relation as the source catalog lists it. Patterns match only tables;
 * views, partitions and inheritance children are listed so that the plan can
 * say what a pattern left out and why.
 */
export interface CatalogEntry extends TableRef {
  /** table: an ordinary (or partitioned) table; partition / child: part of `parent`, read through it. */
  kind: 'table' | 'view' | 'partition' | 'child';
  parent?: TableRef;
}

/** The one interface every source implements; each dialect overrides what differs. */
export interface SourceConnection {
  readonly dialect: Dialect;
  listTables(): Promise<CatalogEntry[]>;
  /** How this database itself matches schema and table names (PostgreSQL: exactly; the others per their settings). */
  nameRule(): Promise<NameRule>;
  describeTable(ref: TableRef): Promise<SourceTable | null>;
  estimateRows(ref: TableRef): Promise<number>;
  keyBounds(ref: TableRef, column: string): Promise<{ min: string | null; max: string | null }>;
  /** Rows of a query as objects (catalog-size results only: bounds, key lists); values bound. */
  queryRows?(sql: string, params: string[]): Promise<Record<string, unknown>[]>;
  /** A cursor column's largest value (exact text) and how many rows have none. */
  cursorBounds?(ref: TableRef, cursor: CursorPlan): Promise<{ max: string | null; nulls: number }>;
  /**
   * `value` read as the cursor column's type, on the source, back as the
   * source's own text of it (what a run would save); null when it does not
   * parse as that type.
   */
  cursorValueText?(column: { type: string; dataType: string }, value: string): Promise<string | null>;
  openCopy(plan: TablePlan, range: PartitionRange, preferBinary: boolean): Promise<CopyStream>;
  /** Checksum of a key range over the given columns' canonical text; see Dialect.canonicalText. */
  checksumRange?(plan: TablePlan, columns: ColumnPlan[], range: PartitionRange): Promise<RangeSum>;
  close(): Promise<void>;
}

/**
 * A row count that sizes the plan: a non-negative integer, or null when the
 * figure is missing, negative (PostgreSQL's -1 for "never analyzed") or not a number.
 */
export function knownCount(value: unknown): number | null {
  if (value === null || value === undefined || value === '') return null;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : null;
}

/**
 * An estimate only sizes the plan, so it never stops a sync: each way of
 * estimating is tried in turn, and any error (a missing view on a stand-in
 * server, no privilege, a timeout) or an unknown figure moves on to the next;
 * the last step counts the rows, and only its error is reported.
 */
export async function estimateOrCount(estimates: (() => Promise<unknown>)[], count: () => Promise<unknown>): Promise<number> {
  for (const estimate of estimates) {
    try {
      const n = knownCount(await estimate());
      if (n !== null) return n;
    } catch {
      // Next way of estimating.
    }
  }
  return knownCount(await count()) ?? 0;
}

/** How a source compares schema and table names: names it treats as one table share a key. */
export interface NameRule {
  /** For messages: "exact", "case-insensitive (lower_case_table_names=1)". */
  description: string;
  key(name: string): string;
}

export const EXACT_NAMES: NameRule = { description: 'exact', key: (name) => name };

export function caseInsensitiveNames(why: string, accents = true): NameRule {
  return {
    description: `case-${accents ? '' : 'and accent-'}insensitive (${why})`,
    key: (name) => (accents ? name : name.normalize('NFD').replace(/\p{M}/gu, '')).toLowerCase(),
  };
}

/**
 * The catalog table a configured name means under the source's rule, so the
 * catalog's spelling is used from then on (target name, queries, reports).
 * The name itself when the catalog lists none: describeTable then reports it.
 */
export function catalogName(wanted: TableRef, listing: TableRef[], rule: NameRule): TableRef {
  const same = (a: string, b: string) => rule.key(a) === rule.key(b);
  const found = listing.filter((t) => same(t.schema, wanted.schema) && same(t.name, wanted.name));
  const exact = found.find((t) => t.schema === wanted.schema && t.name === wanted.name);
  if (exact || found.length === 0) return exact ?? wanted;
  if (found.length > 1) {
    const names = found.map((t) => `${t.schema}.${t.name}`).join(', ');
    throw new TablesyncError('InvalidConfig', `tables: "${wanted.schema}.${wanted.name}" matches ${names} (names compare ${rule.description}); name one exactly`);
  }
  return found[0];
}

/**
 * The cursor part of a read's WHERE, for a plan whose window is set; its
 * values are numbered after `first - 1` others. Empty otherwise.
 */
export function planFilter(dialect: Dialect, plan: TablePlan, placeholder: (i: number) => string): { sql: string; params: string[] } {
  if (plan.changelog) return changelogFilter(dialect, plan, placeholder);
  const c = plan.cursor;
  if (!c?.window || !dialect.cursor) return { sql: '', params: [] };
  return cursorPredicate(dialect.cursor, dialect.quoteIdent(c.column), { type: c.sourceType, dataType: c.dataType }, c.kind, c.window, placeholder);
}

/** The statement reading a cursor column's bounds, in any dialect that has cursors. */
export function cursorBoundsSql(dialect: Dialect, ref: TableRef, cursor: CursorPlan): string {
  const q = dialect.quoteIdent(cursor.column);
  const max = dialect.cursor!.text(`MAX(${q})`, { type: cursor.sourceType, dataType: cursor.dataType });
  return `SELECT ${max} AS max_value, COUNT(*) - COUNT(${q}) AS null_rows FROM ${qualify(dialect, ref)}`;
}

/** `where` (" WHERE …" or empty) with `extra` (a bare predicate or empty) ANDed on. */
export function andWhere(where: { sql: string; params: string[] }, extra: { sql: string; params: string[] }): { sql: string; params: string[] } {
  if (!extra.sql) return where;
  return { sql: where.sql ? `${where.sql} AND ${extra.sql}` : ` WHERE ${extra.sql}`, params: [...where.params, ...extra.params] };
}

export function rejectNul(name: string): string {
  if (name.includes('\u0000')) throw new Error(`Identifier contains a NUL character: ${JSON.stringify(name)}`);
  return name;
}

export function qualify(dialect: Dialect, ref: TableRef): string {
  return `${dialect.quoteIdent(ref.schema)}.${dialect.quoteIdent(ref.name)}`;
}

/**
 * WHERE clause of a key range (lo, hi] with bound parameters, numbered from `first`.
 * Returns an empty clause for the whole table.
 */
export function rangePredicate(
  dialect: Dialect,
  keyColumn: string,
  range: PartitionRange,
  first = 1,
): { sql: string; params: string[] } {
  const key = dialect.quoteIdent(keyColumn);
  const parts: string[] = [];
  const params: string[] = [];
  if (range.lo !== null) {
    params.push(range.lo);
    parts.push(`${key} > ${dialect.placeholder(first + params.length - 1)}`);
  }
  if (range.hi !== null) {
    params.push(range.hi);
    parts.push(`${key} <= ${dialect.placeholder(first + params.length - 1)}`);
  }
  return { sql: parts.length ? ` WHERE ${parts.join(' AND ')}` : '', params };
}
