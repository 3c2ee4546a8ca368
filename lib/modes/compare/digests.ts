import { randomBytes } from 'node:crypto';
import { pgCanonical, pgFields } from '../../canonical';
import { sameOrderOnTarget } from '../../planner';
import { andWhere, rangePredicate, type Dialect, type ReadFilter, type SourceConnection } from '../../sources/base';
import { mysqlCanonical, mysqlFields } from '../../sources/mysql/digest';
import { rowFilterOf } from '../../sources/row-filter';
import { isWholeTable, liveCondition, targetRange } from '../../target';
import { qualifyPg, quotePg, targetRanges } from '../../target/sql';
import type { ColumnPlan, PartitionRange, TablePlan } from '../../types';
import type { Db } from '../types';

// Range digests for compare mode: before a chunk is copied, both sides hash
// the chunk's rows, grouped into small buckets of keys, inside the database,
// in one pass each (at once). Buckets whose row count and digest agree are
// equal and are neither copied nor applied; only the rows of the differing
// buckets are read into staging, applied and (deletes) checked for rows the
// source no longer has. A bucket whose digests match holds the same rows on
// both sides, so it has nothing to insert, update or delete.
//
// Row hashes, per source dialect, one 64-bit hash a row:
// - PostgreSQL source ("binary"): the row's stored form, record_send(ROW(...))
//   of the columns as the target's types (a source column of another type is
//   cast to the target's, as the binary COPY casts it; a user type is taken as
//   its text), so no value is formatted as text. The bytes are the types'
//   binary send forms: numeric keeps its scale (1.0 ≠ 1.00), floats their
//   bits (-0 ≠ 0), intervals their months/days/microseconds, text its bytes
//   whatever the collation, jsonb its text; NULL is its own length. They are
//   hashed with PostgreSQL's 64-bit hash_any (hash_array_extended over the one
//   bytea) under a random 64-bit seed drawn per chunk.
//   With an integer key bucketed by ranges ("keyed", about 40 % less backend
//   CPU than record_send, which forms and takes apart a ROW per row): the XOR of
//   seeded hashes, one per int/bool/text/uuid column (its exact seeded type hash:
//   text's bytes under COLLATE "C", integers and bools whole), and one of an
//   array of the other columns' send forms (the same bytes record_send sends,
//   each behind a two-byte position tag; types without a known send function
//   go in as one record_send). Every component's seed is the chunk's seed XOR
//   the row's key XOR the component's number in bits 58-63, so no two
//   (row, component) pairs of a bucket share a seed: keys in a bucket differ by
//   less than 2^58 (buckets no wider than 2^56), and two seeds that differ only
//   in bits 58-63 would need keys that differ by a multiple of 2^58. The key
//   itself is in the array (so a row of NULLs still has a random hash).
// - MariaDB/MySQL source ("md5"): verify's canonical text of the row (its
//   rule, lib/canonical.ts, made on the source by mysqlCanonical) hashed with
//   MD5 on each side; the MD5's first 64 bits are the hash.
// Per bucket each side sums the hash over its rows; the sums are compared
// modulo 2^64 (the sides may read the bits as signed or unsigned, which only
// differ by multiples of 2^64), with the row count.
//
// Exactness: keys are unique on each side, and the key is part of each row's
// bytes, so two buckets that differ differ in at least one row r that only
// one side has: no row on either side has r's bytes. Its coefficient in the
// difference of the sums is ±1, which is invertible modulo 2^64; so, for a
// hash modelled as a random function (of the bytes and the seed), whatever
// the other rows hash to, the sums agree with probability 2^-64. Keyed: the
// row r (key k) differs from the other side's row of key k (or that row is
// missing) in some component c: c's input bytes under c's seed for k occur in
// r only, and no other row of either bucket hashes under that seed. In the
// array, that input is one element whose tag no other position has, weighted
// by a power of 31 (odd, so invertible modulo 2^64). So r's component c is a
// fresh random value whatever the rest hashes to, and so is r's hash (an XOR
// with it): the sums agree with probability 2^-64 again. Each
// differing pair of buckets is missed with probability at most 2^-64 (the
// bound issue 20 sets) under that model: MD5 for the md5 scheme; for the
// binary scheme, hash_any under a secret random seed, which also keeps anyone
// who writes rows from choosing colliding ones.
// A plain sum of PostgreSQL's own type hashes would not do: they fold
// int8/timestamps to 32 bits and ignore numeric scale and -0, and a hash that
// is linear in its fields lets two rows that swap a value cancel; here each
// row is hashed whole, as bytes. (Chaining type hashes through the seed is
// cheaper, but merges 64-bit states along the way: its bound is the number of
// hashes in a bucket times 2^-64, which is over the issue's.)

/** Rows a bucket aims at: few enough that a change copies little, enough that the digest lists stay small. */
const ROWS_PER_BUCKET = 32;
/** Over this share of a chunk's rows in differing buckets, the chunk is copied whole (the filter would not pay). */
const WHOLE_CHUNK_SHARE = 0.5;
const MOD64 = 1n << 64n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = MOD64 - 1n;
/** Past this many key ranges, differing integer buckets are read by an IN list of buckets instead. */
const MAX_RANGES = 256;
const INTEGER_TARGET = /^(smallint|integer|bigint|int[248])$/;

export type DigestScheme = 'binary' | 'md5';

/**
 * The plan's decision: digests by this scheme (with `wholeOnly`, only while
 * the table is read as one key range, and why), or every row copied and why.
 */
export type RangeDigests = { scheme: DigestScheme; wholeOnly?: string } | { fallback: string };

/**
 * Whether a compare table's ranges can be digested on both sides exactly.
 * PostgreSQL: always (every column has a stored form); MariaDB/MySQL: when
 * every column has a canonical text (verify's rule); SQL Server: not yet
 * (its digests need a UTF-8 collation, which Babelfish and SQL Server before
 * 2019 lack, and are not built here): every row is copied, as before.
 */
export function rangeDigestsFor(dialect: Dialect, table: Pick<TablePlan, 'columns' | 'primaryKey' | 'integerKey'>): RangeDigests {
  if (dialect.name === 'mssql') return { fallback: 'SQL Server sources have no range digests yet' };
  if (dialect.name === 'mysql') {
    const bad = table.columns.find((c) => mysqlCanonical(c) === null);
    if (bad) return { fallback: `column ${bad.name} (${bad.sourceType} → ${bad.targetType}) has no canonical form to digest` };
  }
  const key = table.primaryKey.map((k) => table.columns.find((c) => c.name === k)!);
  const ordered = table.integerKey || key.every((c) => sameOrderOnTarget(dialect.name, c.sourceType, c.targetType, dialect.isIntegerType(c.sourceType)));
  const scheme = dialect.name === 'postgres' ? 'binary' : 'md5';
  // A range (lo, hi] of such a key holds other rows in the target: only the whole table can be compared there.
  if (!ordered) return { scheme, wholeOnly: `key (${table.primaryKey.join(', ')}) orders otherwise in the target` };
  return { scheme };
}

/** How a chunk's keys are grouped: contiguous runs of an integer key, or the first bits/hex digits of a hash of the key. */
export type Bucketing = { kind: 'int'; width: string } | { kind: 'hash'; size: number };

/**
 * Buckets of about ROWS_PER_BUCKET rows for a chunk of about `rows` rows: an
 * integer key with known ends is cut into equal widths (truncating division
 * gives the same bucket on every dialect); any other key by its hash.
 */
export function bucketingOf(table: TablePlan, chunk: PartitionRange, rows: number, min: string | null, max: string | null, scheme: DigestScheme): Bucketing {
  const buckets = Math.max(1, Math.ceil(rows / ROWS_PER_BUCKET));
  const key = table.columns.find((c) => c.name === table.primaryKey[0]);
  if (table.integerKey && table.primaryKey.length === 1 && key && INTEGER_TARGET.test(key.targetType.toLowerCase())) {
    const lo = chunk.lo !== null ? BigInt(chunk.lo) : min !== null ? BigInt(min) - 1n : null;
    const hi = chunk.hi !== null ? BigInt(chunk.hi) : max !== null ? BigInt(max) : null;
    if (lo !== null && hi !== null && hi > lo) {
      const width = (hi - lo + BigInt(buckets) - 1n) / BigInt(buckets);
      return { kind: 'int', width: String(width < 1n ? 1n : width) };
    }
  }
  // binary: bits of a 64-bit hash; md5: hex digits of the key's MD5.
  if (scheme === 'binary') return { kind: 'hash', size: Math.min(20, Math.max(0, Math.ceil(Math.log2(buckets)))) };
  return { kind: 'hash', size: Math.min(5, Math.max(0, Math.ceil(Math.log2(buckets) / 4))) };
}

/** One side's SQL pieces: where its rows are, its key range, and its bucket and row-hash expressions. */
interface Side {
  relation: string;
  where: { sql: string; params: string[] };
  bucket: string;
  /** The row's 64-bit hash (its columns, as the inner query sees them). */
  hash: string;
  /** MySQL: sums are read as text (the driver would read a large DECIMAL as a float); no OFFSET fence. */
  mysql?: boolean;
}

function keyColumns(table: TablePlan): ColumnPlan[] {
  return table.primaryKey.map((k) => table.columns.find((c) => c.name === k)!);
}

/** PostgreSQL (either side): a column as the bytes record_send hashes, named `q`, its type on the source `cast` to the target's. */
function pgField(c: ColumnPlan, q: string, source: boolean): string {
  if (c.userType) return `${q}::text`;
  return source && c.sourceType !== c.targetType ? `${q}::${c.targetType}` : q;
}

function pgBytes(columns: ColumnPlan[], name: (c: ColumnPlan) => string, source: boolean): string {
  return `record_send(ROW(${columns.map((c) => pgField(c, name(c), source)).join(', ')}))`;
}

/** A target type's name without its modifiers: `timestamp(6) with time zone` → `timestamp with time zone`. */
const baseType = (c: ColumnPlan): string => (c.userType ? 'text' : c.targetType.toLowerCase().replace(/\(\s*\d+\s*(,\s*-?\d+\s*)?\)/g, '').replace(/\s+/g, ' ').trim());

/**
 * Types whose value PostgreSQL hashes exactly, as a function of its stored form
 * (no folding): the seeded hash of that value is one component of a keyed row hash.
 * text takes its bytes whatever the column's collation (COLLATE "C").
 */
const DIRECT_HASH: Record<string, (v: string, seed: string) => string> = {
  smallint: (v, s) => `hashint4extended(${v}, ${s})`,
  integer: (v, s) => `hashint4extended(${v}, ${s})`,
  boolean: (v, s) => `hashint4extended(${v}::integer, ${s})`,
  text: (v, s) => `hashtextextended(${v} COLLATE "C", ${s})`,
  'character varying': (v, s) => `hashtextextended(${v} COLLATE "C", ${s})`,
  uuid: (v, s) => `uuid_hash_extended(${v}, ${s})`,
};

/** Send functions of common types (what record_send calls for them); a column of any other type goes through record_send. */
const SEND: Record<string, string> = {
  bigint: 'int8send',
  real: 'float4send',
  'double precision': 'float8send',
  numeric: 'numeric_send',
  'timestamp without time zone': 'timestamp_send',
  'timestamp with time zone': 'timestamptz_send',
  date: 'date_send',
  'time without time zone': 'time_send',
  interval: 'interval_send',
  bytea: 'byteasend',
  jsonb: 'jsonb_send',
};

/** Components get seeds that differ in bits 58-63, so a keyed hash has at most this many. */
const KEYED_COMPONENTS = 64;
/** Keys of one bucket differ by less than 2^58 (see keyedHash): buckets of integer keys no wider than this. */
const KEYED_MAX_WIDTH = 1n << 56n;

/**
 * A row's 64-bit hash for an integer key (the bucketing 'int'), cheaper than
 * one hash of record_send: the XOR of components, each a seeded hash whose seed
 * is the chunk's seed XOR the row's key XOR the component's number in bits
 * 58-63. Component 0 hashes an array of the key's and the other columns' send
 * forms (each prefixed by its position, so no two positions can hold the same
 * bytes); the others hash one column of a type in DIRECT_HASH each (NULL: 0).
 * Why it is exact, with the bound of one hash: see the header.
 */
function keyedHash(table: TablePlan, name: (c: ColumnPlan) => string, source: boolean, seed: string): string {
  const key = keyColumns(table)[0];
  const k = name(key);
  const seedOf = (j: number) => `('${BigInt.asIntN(64, BigInt(seed) ^ (BigInt(j) << 58n))}'::bigint # ${k}::bigint)`;
  const direct: string[] = [];
  const sent: string[] = [];
  const others: ColumnPlan[] = [];
  for (const c of table.columns) {
    if (c === key) continue;
    const v = pgField(c, name(c), source);
    const type = baseType(c);
    const h = DIRECT_HASH[type];
    if (h && direct.length < KEYED_COMPONENTS - 1) direct.push(`coalesce(${h(v, seedOf(direct.length + 1))}, 0)`);
    else if (SEND[type]) sent.push(`${SEND[type]}(${v})`);
    else others.push(c);
  }
  if (others.length) sent.push(pgBytes(others, name, source));
  // Position tags of two bytes (PostgreSQL tables have at most 1,600 columns); NULL stays NULL (hashed as 0).
  const tagged = [`int8send(${k}::bigint)`, ...sent].map((e, i) => `'\\x${i.toString(16).padStart(4, '0')}'::bytea || ${e}`);
  return [`hash_array_extended(ARRAY[${tagged.join(', ')}], ${seedOf(0)})`, ...direct].join(' # ');
}

/** PostgreSQL bucket of a row, its columns named by `name`. */
function pgBucket(table: TablePlan, b: Bucketing, name: (c: ColumnPlan) => string, source: boolean, scheme: DigestScheme): string {
  const key = keyColumns(table);
  if (b.kind === 'int') return `(${name(key[0])} / ${b.width}::bigint)`;
  if (b.size === 0) return scheme === 'md5' ? "'0'" : '0';
  if (scheme === 'binary') return `(hash_array_extended(ARRAY[${pgBytes(key, name, source)}], 0) & ${2 ** b.size - 1})`;
  // md5: as the source computes it from the key's canonical text.
  return `left(md5(${pgFields(key.map((c) => pgCanonical(name(c), c.targetType)))}), ${b.size})`;
}

function mysqlBucket(table: TablePlan, b: Bucketing): string {
  const key = keyColumns(table);
  const q = (c: ColumnPlan) => `\`${c.name.replace(/`/g, '``')}\``;
  if (b.kind === 'int') return `(${q(key[0])} DIV ${b.width})`;
  if (b.size === 0) return "'0'";
  return `LEFT(MD5(${mysqlFields(key.map((c) => mysqlCanonical(c)!))}), ${b.size})`;
}

const seedOf = (): string => randomBytes(8).readBigInt64BE().toString();

/** The SQL of both sides for one chunk. */
export function digestSides(
  dialect: Dialect,
  table: TablePlan,
  chunk: PartitionRange,
  b: Bucketing,
  scheme: DigestScheme,
  seed: string = seedOf(),
): { source: Side; target: Side } {
  // The source side digests only the rows the table's `where:` keeps, as its COPY reads them: a target row
  // that left the filter (by a column not synced, or by time) then makes its bucket differ, and is deleted.
  const keyWhere = dialect.digest.rangeWhere(table, chunk, 1);
  const sourceWhere = andWhere(keyWhere, rowFilterOf(table)(dialect, (i) => dialect.placeholder(keyWhere.params.length + i)));
  const keyNames = keyColumns(table).map((c) => c.targetName);
  const range = targetRange(table, chunk);
  const targetWhere = range ? rangePredicate(targetRanges, keyNames, range, 1) : { sql: '', params: [] };
  const targetName = (c: ColumnPlan) => quotePg(c.targetName);
  const target: Side = {
    relation: qualifyPg(table.target),
    where: targetWhere,
    bucket: pgBucket(table, b, targetName, false, scheme),
    hash: '',
  };
  let source: Side;
  if (scheme === 'binary') {
    // Integer buckets of keys close enough together: the keyed hash; otherwise one hash of the row's record_send.
    const keyed = b.kind === 'int' && BigInt(b.width) <= KEYED_MAX_WIDTH;
    const hash = (name: (c: ColumnPlan) => string, source: boolean) =>
      keyed ? keyedHash(table, name, source, seed) : `hash_array_extended(ARRAY[${pgBytes(table.columns, name, source)}], ${seed}::bigint)`;
    const sourceName = (c: ColumnPlan) => dialect.quoteIdent(c.name);
    source = {
      relation: `${dialect.quoteIdent(table.source.schema)}.${dialect.quoteIdent(table.source.name)}`,
      where: sourceWhere,
      bucket: pgBucket(table, b, sourceName, true, scheme),
      hash: hash(sourceName, true),
    };
    target.hash = hash(targetName, false);
  } else {
    source = {
      relation: `${dialect.quoteIdent(table.source.schema)}.${dialect.quoteIdent(table.source.name)}`,
      where: sourceWhere,
      bucket: mysqlBucket(table, b),
      hash: `CAST(CONV(LEFT(MD5(${mysqlFields(table.columns.map((c) => mysqlCanonical(c)!))}), 16), 16, 10) AS UNSIGNED)`,
      mysql: true,
    };
    target.hash = `('x' || left(md5(${pgFields(table.columns.map((c) => pgCanonical(targetName(c), c.targetType)))}), 16))::bit(64)::bigint`;
  }
  return { source, target };
}

/** Bucket, count and the hash sum of one side; with `live` (the target's unmarked rows), `m` counts the others. */
export function digestSql(side: Side, live?: string): { sql: string; params: string[] } {
  // PostgreSQL: OFFSET 0 keeps the subquery from being pulled up, so each row is hashed in the scan and the
  // sort by bucket carries (b, h), not every column the hash reads (which spilled to disk per chunk).
  const fence = side.mysql ? '' : ' OFFSET 0';
  const inner = `SELECT ${side.bucket} AS b, ${side.hash} AS h${live ? `, ${live} AS l` : ''} FROM ${side.relation}${side.where.sql}${fence}`;
  if (live) {
    return {
      sql: `SELECT x.b, count(*) FILTER (WHERE x.l)::bigint AS n, sum(x.h) FILTER (WHERE x.l) AS s, count(*) FILTER (WHERE NOT x.l)::bigint AS m FROM (${inner}) x GROUP BY x.b`,
      params: side.where.params,
    };
  }
  const sum = side.mysql ? 'CAST(SUM(x.h) AS CHAR)' : 'SUM(x.h)';
  return { sql: `SELECT x.b AS b, COUNT(*) AS n, ${sum} AS s FROM (${inner}) x GROUP BY x.b`, params: side.where.params };
}

/** A bucket's figures as one comparable text: count and hash sum modulo 2^64. */
export function figures(row: Record<string, unknown>): string {
  const v = row.s;
  let n = v === null || v === undefined ? 0n : BigInt(String(v).replace(/\.0*$/, '')) % MOD64;
  if (n < 0n) n += MOD64;
  return `${Number(row.n)}/${n}`;
}

/** Literal of a bucket value in SQL (an integer, or the hex digits of an MD5), checked: it is written into the statement. */
export function literal(value: string, hex: boolean): string {
  if (hex ? /^[0-9a-f]+$/.test(value) : /^-?\d+$/.test(value)) return hex ? `'${value}'` : value;
  throw new Error(`unexpected digest bucket ${JSON.stringify(value)}`);
}

/** What the digests of one chunk say: nothing to copy, or the differing buckets' rows only, or the whole chunk. */
export type Narrowed =
  | { kind: 'equal'; sourceRows: number }
  | { kind: 'some'; sourceRows: number; differingRows: number; filter: ReadFilter; onTarget: (alias: string) => string }
  | { kind: 'whole' };

export interface NarrowInput {
  table: TablePlan;
  chunk: PartitionRange;
  source: SourceConnection;
  /** Rows the chunk is expected to hold, and the table's key ends when planned (integer keys). */
  rows: number;
  min: string | null;
  max: string | null;
  /** Target rows that are marked deleted must go (deletes: hard, or repair without a soft-delete column). */
  hardDeletes: boolean;
}

/** Compares one chunk's buckets on both sides; null: this chunk cannot be digested (copy it all, as before). */
export async function narrowChunk(db: Db, input: NarrowInput): Promise<Narrowed | null> {
  const { table, chunk, source } = input;
  const digests = table.rangeDigests;
  if (!digests || !('scheme' in digests)) return null;
  if (!targetRange(table, chunk) && !isWholeTable(chunk)) return null;
  const b = bucketingOf(table, chunk, input.rows, input.min, input.max, digests.scheme);
  const sides = digestSides(source.dialect, table, chunk, b, digests.scheme);
  const s = digestSql(sides.source);
  const t = digestSql(sides.target, liveCondition(table));
  const [sourceRows, targetRows] = await Promise.all([source.queryRows(s.sql, s.params), db.query(t.sql, t.params).then((r) => r.rows as Record<string, unknown>[])]);
  const theirs = new Map<string, Record<string, unknown>>();
  for (const row of targetRows) theirs.set(String(row.b), row);
  const differing: string[] = [];
  let total = 0;
  let differingRows = 0;
  for (const row of sourceRows) {
    const bucket = String(row.b);
    const n = Number(row.n);
    total += n;
    const other = theirs.get(bucket);
    theirs.delete(bucket);
    if (other && figures(other) === figures(row) && !(input.hardDeletes && Number(other.m ?? 0) > 0)) continue;
    differing.push(bucket);
    differingRows += n;
  }
  // Buckets only the target has rows in (live, or marked ones a hard delete removes): their rows are deleted.
  for (const [bucket, row] of theirs) if (Number(row.n) > 0 || (input.hardDeletes && Number(row.m ?? 0) > 0)) differing.push(bucket);
  if (!differing.length) return { kind: 'equal', sourceRows: total };
  if (differingRows > WHOLE_CHUNK_SHARE * total) return { kind: 'whole' };
  const hex = b.kind === 'hash' && digests.scheme === 'md5';
  const list = differing.map((v) => literal(v, hex)).join(', ');
  const targetBucket = (alias: string) => pgBucket(table, b, (c) => `${alias}.${quotePg(c.targetName)}`, false, digests.scheme);
  // Integer buckets are key ranges: read as ranges, the index finds the differing rows and no row's bucket is
  // computed; a long list of scattered buckets stays an IN list (one hashed lookup a row, no huge OR to plan).
  const ranges = b.kind === 'int' ? bucketRanges(differing, b.width) : null;
  const key = keyColumns(table)[0];
  const inRanges = ranges && ranges.length <= MAX_RANGES ? ranges : null;
  return {
    kind: 'some',
    sourceRows: total,
    differingRows,
    filter: (dialect) => ({
      sql: inRanges ? keyInRanges(dialect.quoteIdent(key.name), inRanges, dialect.name === 'mysql' ? UINT64_MAX : INT64_MAX) : `${sides.source.bucket} IN (${list})`,
      params: [],
    }),
    onTarget: (alias) => (inRanges ? keyInRanges(`${alias}.${quotePg(key.targetName)}`, inRanges, INT64_MAX) : `${targetBucket(alias)} IN (${list})`),
  };
}

/**
 * The keys of integer buckets (key / width, which truncates toward zero: bucket
 * 0 holds -(width-1)..width-1, bucket -1 holds -(2*width-1)..-width), as
 * inclusive ranges in key order, adjacent ones merged.
 */
export function bucketRanges(buckets: string[], width: string): Array<[bigint, bigint]> {
  const w = BigInt(width);
  const spans = buckets.map((v): [bigint, bigint] => {
    const n = BigInt(v);
    if (n > 0n) return [n * w, n * w + w - 1n];
    if (n < 0n) return [n * w - w + 1n, n * w];
    return [1n - w, w - 1n];
  });
  spans.sort((a, z) => (a[0] < z[0] ? -1 : a[0] > z[0] ? 1 : 0));
  const merged: Array<[bigint, bigint]> = [];
  for (const [lo, hi] of spans) {
    const last = merged[merged.length - 1];
    if (last && lo <= last[1] + 1n) last[1] = hi > last[1] ? hi : last[1];
    else merged.push([lo, hi]);
  }
  return merged;
}

/** `column` in any of the ranges, their ends clamped to what the column's type can hold (so the literals stay integers of its kind). */
export function keyInRanges(column: string, ranges: Array<[bigint, bigint]>, max: bigint): string {
  const clamp = (v: bigint) => String(v < INT64_MIN ? INT64_MIN : v > max ? max : v);
  return `(${ranges.map(([lo, hi]) => `${column} BETWEEN ${clamp(lo)} AND ${clamp(hi)}`).join(' OR ')})`;
}
