import type { Readable } from 'node:stream';
import type { ChangeCapture } from './changes';
import type { CursorDialect } from './cursor';
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
  canonicalText(column: ColumnPlan): string | null;
  /** Cursor columns: which types order, their exact text and typed parameters. */
  cursor: CursorDialect;
  /** Row digests for verify's row-by-row comparison (see digests.ts). */
  digest: DigestDialect;
  /** Key columns of any type: their exact text (range bounds) and how it is bound back. */
  key: KeyDialect;
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

/**
 * Range bounds on keys of any type are values read from the source as text
 * and bound back as the column's own type, so the source compares them in the
 * column's own collation (the order its sample was sorted in).
 */
export interface KeyDialect {
  /** Whether a key column of this source type can bound a range (its text reads back as the same value). */
  splits(type: string): boolean;
  /** The column's exact text. */
  text(quoted: string, type: string): string;
  /** A bound text value as the column's type. */
  param(placeholder: string, type: string): string;
  /** `(a, b) > (x, y)` uses the key's index here; otherwise it is expanded to `a >= x AND (a > x OR b > y)`. */
  rowValues: boolean;
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
  /** PostgreSQL: the column has a default, which a row inserted without it takes. */
  hasDefault?: boolean;
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

/** See SourceConnection.readSession. */
export interface ReadSession {
  /** openCopy on the session: the reads run one at a time, each after the previous one's stream ended or was finished. */
  openCopy(plan: TablePlan, range: PartitionRange, preferBinary: boolean, filter?: ReadFilter): Promise<CopyStream>;
  /** Ends the session's read transaction and gives its connection back. */
  close(): Promise<void>;
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
/** A snapshot exported by a session kept open for it: usable by any session of the same server until released or lost. */
export interface HeldSnapshot {
  readonly name: string;
  /** Set when the holding session ended on its own (its server closed it): the snapshot is gone. */
  readonly lost: Error | null;
  release(): Promise<void>;
}

export interface SourceConnection {
  readonly dialect: Dialect;
  listTables(): Promise<CatalogEntry[]>;
  /** How this database itself matches schema and table names (PostgreSQL: exactly; the others per their settings). */
  nameRule(): Promise<NameRule>;
  describeTable(ref: TableRef): Promise<SourceTable | null>;
  /**
   * describeTable of many tables in a few catalog queries (a sync of
   * thousands would otherwise spend its planning on round trips), keyed by
   * refKey. A table left out (not found, or found only under another
   * spelling) is for describeTable to report.
   */
  describeTables(refs: TableRef[]): Promise<Map<string, SourceTable>>;
  estimateRows(ref: TableRef): Promise<number>;
  /** estimateRows of many tables at once (see estimateOrCountMany); a table left out is for estimateRows. */
  estimateRowsMany(refs: TableRef[]): Promise<Map<string, number>>;
  /** A key column's smallest and largest value among the rows `filter` keeps (a table's where; default every row). */
  keyBounds(ref: TableRef, column: string, filter?: ReadFilter): Promise<{ min: string | null; max: string | null }>;
  /**
   * About `pieces - 1` key values (encodeKey text) that cut the table into
   * `pieces` ranges of similar size, from the source's statistics or a sample
   * (never a full read of the rows), sorted by the source in the key's own
   * order and distinct. Empty: no way to split, or too few rows seen.
   */
  sampleKeys(plan: TablePlan, pieces: number, estimatedRows: number): Promise<string[]>;
  /**
   * The column sets of the table's unique indexes whose columns are all NOT
   * NULL (no filter, no expression): keys the source guarantees, for a table
   * without a primary key (`primaryKey:`, init's suggestions).
   */
  uniqueKeys(ref: TableRef): Promise<string[][]>;
  /** Rows of a query as objects (catalog-size results only: bounds, key lists); values bound. */
  queryRows(sql: string, params: string[]): Promise<Record<string, unknown>[]>;
  /** A cursor column's largest value (exact text) and how many rows have none. */
  cursorBounds(ref: TableRef, cursor: CursorPlan, filter?: ReadFilter): Promise<{ max: string | null; nulls: number }>;
  /**
   * `value` read as the cursor column's type, on the source, back as the
   * source's own text of it (what a run would save); null when it does not
   * parse as that type.
   */
  cursorValueText(column: { type: string; dataType: string }, value: string): Promise<string | null>;
  /** Streams the rows of a key range that `filter` keeps (the plan's mode says which: see lib/modes readFilterOf). */
  openCopy(plan: TablePlan, range: PartitionRange, preferBinary: boolean, filter?: ReadFilter, snapshot?: string): Promise<CopyStream>;
  /**
   * A source that can read a table by storage blocks under one shared
   * snapshot (PostgreSQL 14 and later: TID Range Scans, exported snapshots):
   * the table's size in blocks now, or null when this table cannot be read so
   * (not a plain table, an older server). Absent: the dialect cannot.
   */
  blockCount?(ref: TableRef): Promise<number | null>;
  /**
   * Reads of many small tables one after another on one session (a group of
   * small loads), each without a transaction or connection checkout of its
   * own. Absent: each read is an openCopy.
   */
  readSession?(): Promise<ReadSession>;
  /** Opens a session holding a snapshot that other sessions can read under (see blockCount). */
  holdSnapshot?(): Promise<HeldSnapshot>;
  /** Checksum of a key range (the rows the plan's rowFilter keeps) over the given columns' canonical text; see Dialect.canonicalText. */
  checksumRange(plan: TablePlan, columns: ColumnPlan[], range: PartitionRange): Promise<RangeSum>;
  /** Streaming its own change log (cdc mode); null: this source cannot (yet). */
  readonly changeCapture: ChangeCapture | null;
  /**
   * A source that cannot compute row digests in SQL (SQL Server without a
   * UTF-8 collation) streams them computed by the worker: each row's key text
   * `k` and digest `h` as rowDigestsSql gives them, `p` with `flag`; with
   * `from` (keysSql's derived table) its distinct keys `k` only. null: use the SQL.
   */
  rowHashes?(
    plan: TablePlan,
    columns: ColumnPlan[],
    range: PartitionRange,
    options?: {
      flag?: (placeholder: (i: number) => string) => { sql: string; params: string[] };
      from?: (placeholder: (i: number) => string) => { sql: string; params: string[] };
    },
  ): Promise<AsyncIterable<{ k: string; h: string; p?: number }> | null>;
  close(): Promise<void>;
}

export { COUNT_CHUNK, chunks, estimateOrCount, estimateOrCountMany, knownCount, refKey } from './estimates';

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
 * What a read adds to its key range's WHERE (a cursor window, a log's keys:
 * the table's mode decides, see lib/modes), its values numbered by
 * `placeholder` in the dialect's own form.
 */
export type ReadFilter = (dialect: Dialect, placeholder: (i: number) => string) => { sql: string; params: string[] };

/** Every row of the range. */
export const EVERY_ROW: ReadFilter = () => ({ sql: '', params: [] });

/** The statement reading a cursor column's bounds among the rows `filter` keeps, in any dialect that has cursors. */
export function cursorBoundsSql(dialect: Dialect, ref: TableRef, cursor: CursorPlan, filter: ReadFilter = EVERY_ROW): { sql: string; params: string[] } {
  const q = dialect.quoteIdent(cursor.column);
  const max = dialect.cursor.text(`MAX(${q})`, { type: cursor.sourceType, dataType: cursor.dataType });
  const where = filter(dialect, dialect.placeholder);
  return { sql: `SELECT ${max} AS max_value, COUNT(*) - COUNT(${q}) AS null_rows FROM ${qualify(dialect, ref)}${where.sql ? ` WHERE ${where.sql}` : ''}`, params: where.params };
}

/** `where` (" WHERE …" or empty) with `extra` (a bare predicate or empty) ANDed on. */
export function andWhere(where: { sql: string; params: string[] }, extra: { sql: string; params: string[] }): { sql: string; params: string[] } {
  if (!extra.sql) return where;
  return { sql: where.sql ? `${where.sql} AND ${extra.sql}` : ` WHERE ${extra.sql}`, params: [...where.params, ...extra.params] };
}

/** A dialect's unique-key query (params schema, table; rows idx, name in index order) as column sets. */
export async function uniqueKeysOf(source: Pick<SourceConnection, 'queryRows'>, sql: string, ref: TableRef): Promise<string[][]> {
  const keys = new Map<string, string[]>();
  for (const row of await source.queryRows(sql, [ref.schema, ref.name])) {
    const idx = String(row.idx);
    keys.set(idx, [...(keys.get(idx) ?? []), String(row.name)]);
  }
  return [...keys.values()];
}

export function qualify(dialect: Dialect, ref: TableRef): string {
  return `${dialect.quoteIdent(ref.schema)}.${dialect.quoteIdent(ref.name)}`;
}

/** Source types of the plan's key columns, in key order. */
export function keyTypes(plan: TablePlan): string[] {
  return plan.primaryKey.map((k) => plan.columns.find((c) => c.name === k)?.sourceType ?? '');
}

/** Rows a key sample aims at: enough per piece for even pieces, few enough to read in well under a second. */
const SAMPLE_ROWS = 20_000;
const SAMPLE_ROWS_PER_PIECE = 100;

/** The percentage of a table's pages a key sample reads. */
export function samplePercent(pieces: number, estimatedRows: number): number {
  const rows = Math.max(SAMPLE_ROWS, pieces * SAMPLE_ROWS_PER_PIECE);
  return Math.min(100, (100 * rows) / Math.max(1, estimatedRows));
}

/**
 * pieces - 1 cut points strictly inside `sorted` (distinct values in the
 * source's order, its first and last the smallest and largest), evenly
 * spaced; picked by position, so they keep the source's order.
 */
export function evenCuts(sorted: string[], pieces: number): string[] {
  const last = sorted.length - 1;
  if (last < pieces) return [];
  return Array.from({ length: pieces - 1 }, (_, k) => sorted[Math.floor(((k + 1) * last) / pieces)]);
}

/** A key value as range-bound text: the value itself for a one-column key, a JSON array of the values for a composite one. */
export function encodeKey(values: string[]): string {
  return values.length === 1 ? values[0] : JSON.stringify(values);
}

/** The values of a range bound of a `width`-column key; throws on text that is not one. */
export function decodeKey(text: string, width: number): string[] {
  if (width === 1) return [text];
  const values: unknown = JSON.parse(text);
  if (!Array.isArray(values) || values.length !== width || values.some((v) => typeof v !== 'string')) {
    throw new Error(`key range bound ${JSON.stringify(text)} is not a JSON array of ${width} strings`);
  }
  return values as string[];
}

/** What a key range's WHERE needs of a dialect: each dialect's keys.ts builds it without the whole Dialect. */
export type RangeDialect = Pick<Dialect, 'quoteIdent' | 'placeholder'> & { key: Pick<KeyDialect, 'rowValues'> };

/**
 * WHERE clause of a key range (lo, hi] with bound parameters, numbered from
 * `first`; `cast` types the i-th key column's value. A composite key compares
 * as a tuple, each column in its own order and collation. Returns an empty
 * clause for the whole table.
 */
export function rangePredicate(
  dialect: RangeDialect,
  key: string | string[],
  range: PartitionRange,
  first = 1,
  cast: (placeholder: string, column: number) => string = (p) => p,
): { sql: string; params: string[] } {
  const columns = (typeof key === 'string' ? [key] : key).map((c) => dialect.quoteIdent(c));
  const params: string[] = [];
  const bind = (value: string, column: number) => {
    params.push(value);
    return cast(dialect.placeholder(first + params.length - 1), column);
  };
  const compare = (bound: string, op: '>' | '<='): string => {
    const values = decodeKey(bound, columns.length);
    if (columns.length === 1) return `${columns[0]} ${op} ${bind(values[0], 0)}`;
    if (dialect.key.rowValues) return `(${columns.join(', ')}) ${op} (${values.map(bind).join(', ')})`;
    // (a, b) > (x, y) is a >= x AND (a > x OR b > y): the leading range lets the optimizer seek.
    const [weak, strict] = op === '>' ? ['>=', '>'] : ['<=', '<'];
    const from = (i: number): string =>
      i === columns.length - 1
        ? `${columns[i]} ${op} ${bind(values[i], i)}`
        : `${columns[i]} ${weak} ${bind(values[i], i)} AND (${columns[i]} ${strict} ${bind(values[i], i)} OR ${from(i + 1)})`;
    return `(${from(0)})`;
  };
  const parts: string[] = [];
  if (range.lo !== null) parts.push(compare(range.lo, '>'));
  if (range.hi !== null) parts.push(compare(range.hi, '<='));
  return { sql: parts.length ? ` WHERE ${parts.join(' AND ')}` : '', params };
}
