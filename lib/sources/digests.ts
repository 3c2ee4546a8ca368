import type { ColumnPlan, PartitionRange, TablePlan } from '../types';
import { qualify, type DigestDialect, type Dialect } from './base';
import { rowFilterOf } from './row-filter';

// Row digests for verify: when a key range's checksums differ, verify finds
// the rows behind it. Each side hashes each row's canonical text (the text
// the checksums hash) and its key's; the key's hash also splits a big range
// into buckets (its first hex digits), so only buckets whose sums differ are
// listed row by row and no side ever sends more than a bucket group at once.
// The same statements run on the source (its dialect) and on the target.

/** One side of the comparison: where its rows are and how it writes digests. */
export interface DigestSide {
  dialect: Pick<Dialect, 'placeholder'>;
  digest: DigestDialect;
  /** The qualified relation (table, or a derived table for log keys). */
  relation: string;
  /** For rangeWhere: the key column as this side names it. */
  plan: TablePlan;
  key: ColumnPlan[];
  columns: ColumnPlan[];
  /** A condition rows must meet (a soft-delete target's unmarked rows). */
  live?: string;
  /** Bound conditions rows must meet (the source table's where, see row-filter.ts). */
  filter?: (placeholder: (i: number) => string) => { sql: string; params: string[] };
}

/** The source side of the comparison: the source table, in source column names. */
export function sourceDigestSide(dialect: Dialect, digest: DigestDialect, table: TablePlan, columns: ColumnPlan[]): DigestSide {
  const key = table.primaryKey.map((k) => table.columns.find((c) => c.name === k)!);
  const where = rowFilterOf(table);
  return { dialect, digest, relation: qualify(dialect, table.source), plan: table, key, columns, ...(table.rowFilter && { filter: (p: (i: number) => string) => where(dialect, p) }) };
}

/** A statement built in text order, its values numbered as they appear (MySQL's ? are positional). */
class Statement {
  params: string[] = [];
  constructor(private readonly dialect: Pick<Dialect, 'placeholder'>) {}
  bind(value: string): string {
    this.params.push(value);
    return this.dialect.placeholder(this.params.length);
  }
  /** Appends a fragment built elsewhere with values numbered from `first`. */
  take(built: { sql: string; params: string[] }): string {
    this.params.push(...built.params);
    return built.sql;
  }
  get next(): number {
    return this.params.length + 1;
  }
}

/** How many hex digits of the key hash split a range of `rows` rows into buckets of about 2,000 rows (0: no split). */
export function bucketDigits(rows: number): number {
  if (rows <= 20_000) return 0;
  return Math.min(4, Math.ceil(Math.log(rows / 2_000) / Math.log(16)));
}

function bucketOf(side: DigestSide, digits: number): string {
  return `LEFT(${side.digest.md5(side.digest.row(side.key))}, ${digits})`;
}

function whereOf(q: Statement, side: DigestSide, range: PartitionRange, digits: number, buckets: string[] | null): string {
  let where = q.take(side.digest.rangeWhere(side.plan, range, q.next));
  const and = (cond: string) => {
    where += `${where ? ' AND' : ' WHERE'} ${cond}`;
  };
  if (side.live) and(side.live);
  if (side.filter) {
    const first = q.next;
    const f = q.take(side.filter((i) => side.dialect.placeholder(first + i - 1)));
    if (f) and(f);
  }
  if (buckets) and(`${bucketOf(side, digits)} IN (${buckets.map((b) => q.bind(b)).join(', ')})`);
  return where;
}

/** Rows and checksum per key-hash bucket of one range: `b`, `n`, `s`. */
export function bucketSumsSql(side: DigestSide, range: PartitionRange, digits: number): { sql: string; params: string[] } {
  const q = new Statement(side.dialect);
  const bucket = bucketOf(side, digits);
  const where = whereOf(q, side, range, digits, null);
  const sum = side.digest.sum32(side.digest.md5(side.digest.row(side.columns)));
  return { sql: `SELECT ${bucket} AS b, COUNT(*) AS n, ${sum} AS s FROM ${side.relation}${where} GROUP BY ${bucket}`, params: q.params };
}

/**
 * Each row of one range (only those in `buckets`, when given): `k` the key's
 * canonical text, `h` the row's digest and, with `flag`, `p` 1 when the
 * condition holds (a cursor the next run reads), else 0.
 */
export function rowDigestsSql(
  side: DigestSide,
  range: PartitionRange,
  digits: number,
  buckets: string[] | null,
  flag?: (placeholder: (i: number) => string) => { sql: string; params: string[] },
): { sql: string; params: string[] } {
  const q = new Statement(side.dialect);
  let select = `${side.digest.row(side.key)} AS k, ${side.digest.md5(side.digest.row(side.columns))} AS h`;
  if (flag) {
    const first = q.next;
    select += `, CASE WHEN ${q.take(flag((i) => side.dialect.placeholder(first + i - 1)))} THEN 1 ELSE 0 END AS p`;
  }
  const where = whereOf(q, side, range, digits, buckets);
  return { sql: `SELECT ${select} FROM ${side.relation}${where}`, params: q.params };
}

/**
 * The distinct keys of a derived table (`inner`, whose one column carries the
 * key column's name), as row digests name them: `k`. Values of `inner` come first.
 */
export function keysSql(
  side: Omit<DigestSide, 'relation' | 'columns' | 'live'>,
  inner: (placeholder: (i: number) => string) => { sql: string; params: string[] },
  range: PartitionRange,
  digits: number,
  buckets: string[] | null,
): { sql: string; params: string[] } {
  const q = new Statement(side.dialect);
  const from = q.take(inner((i) => side.dialect.placeholder(i)));
  // The derived table holds logged keys, not the source's rows: the table's where does not apply to it.
  const where = whereOf(q, { ...side, relation: '', columns: [], filter: undefined }, range, digits, buckets);
  return { sql: `SELECT DISTINCT ${side.digest.row(side.key)} AS k FROM (${from}) x${where}`, params: q.params };
}

/** A key's canonical text ("<chars>:<text>" per column, "N" for NULL) as people read it: 42, or (1, abc). */
export function displayKey(text: string): string {
  const chars = Array.from(text);
  const parts: string[] = [];
  let i = 0;
  while (i < chars.length) {
    if (chars[i] === 'N') {
      parts.push('NULL');
      i++;
      continue;
    }
    const colon = chars.indexOf(':', i);
    if (colon < 0) return text;
    const n = Number(chars.slice(i, colon).join(''));
    if (!Number.isInteger(n)) return text;
    parts.push(chars.slice(colon + 1, colon + 1 + n).join(''));
    i = colon + 1 + n;
  }
  return parts.length === 1 ? parts[0] : `(${parts.join(', ')})`;
}
