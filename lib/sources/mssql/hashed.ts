import { createHash } from 'node:crypto';
import type { ColumnPlan, PartitionRange, TablePlan } from '../../types';
import { isTimestamptz } from '../../canonical';
import { mssqlCanonical, STRING_SOURCES, TEXT_TARGETS } from './digest';
import { mssqlRangeWhere } from './keys';
import { qualifyMssql, quote } from './sql';

// Verify on a SQL Server without a UTF-8 collation (2016, 2017, Babelfish):
// the server cannot hash the UTF-8 bytes PostgreSQL hashes, so it sends each
// row's canonical values and the worker builds the very text mssqlChecksumSql
// would hash ("<characters>:<text>" per field, "N" for NULL), hashes it with
// MD5 and sums the first 32 bits. Same texts, same sums: a range is "equal"
// only when every row's canonical text is, as on the server-side path.

/** One column read for the worker: what is selected, and how the driver's value becomes pgCanonical's text. */
export interface CanonicalRead {
  expression: string;
  text(value: unknown): string | null;
}

const asString = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/**
 * "yyyy-mm-dd hh:mi:ss" with exactly six fractional digits: style 121 prints
 * seven on SQL Server (the 7th is cut, as the read path cuts it) and drops
 * trailing zeros on Babelfish.
 */
function sixDigits(text: string): string {
  const m = /^([^.]*)(?:\.(\d*))?$/.exec(text.trim());
  if (!m) throw new Error(`unexpected date/time text from SQL Server: ${JSON.stringify(text)}`);
  return `${m[1]}.${(m[2] ?? '').padEnd(6, '0').slice(0, 6)}`;
}

/** Lower-case hex of bytes the driver returns as a Buffer. */
function hexOf(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (!Buffer.isBuffer(v)) throw new Error(`expected bytes from SQL Server, got ${typeof v}`);
  return v.toString('hex');
}

/** The IEEE bytes float8send / float4send give, from the driver's double (exactly the stored value). */
function ieeeHex(v: unknown, bytes: 4 | 8): string | null {
  if (v === null || v === undefined) return null;
  const b = Buffer.alloc(bytes);
  if (bytes === 8) b.writeDoubleBE(Number(v));
  else b.writeFloatBE(Number(v));
  return b.toString('hex');
}

/**
 * The worker-side form of mssqlCanonical: null exactly where it is null (no
 * exact rule, column left out). Dates and times are read as style 121 text and
 * given six digits here; bytes and floats as the driver's own values.
 */
export function mssqlCanonicalRead(column: Pick<ColumnPlan, 'name' | 'sourceType' | 'targetType'>): CanonicalRead | null {
  const server = mssqlCanonical(column);
  if (server === null) return null;
  const q = quote(column.name);
  const source = column.sourceType.replace(/\(.*\)$/, '').toLowerCase();
  const t = column.targetType.toLowerCase().replace(/\s+/g, ' ').trim();
  const widened = (e: string) => `CONVERT(varchar(27), CONVERT(datetime2(7), ${e}), 121)`;
  const stamp = (expression: string, suffix: string): CanonicalRead => ({
    expression,
    text: (v) => (v === null || v === undefined ? null : `${sixDigits(String(v))}${suffix}`),
  });
  if (t === 'bytea') return { expression: `CONVERT(varbinary(max), ${q})`, text: hexOf };
  if (t === 'double precision' || t === 'float8') return { expression: `CONVERT(float, ${q})`, text: (v) => ieeeHex(v, 8) };
  if (t === 'real' || t === 'float4') return { expression: `CONVERT(real, ${q})`, text: (v) => ieeeHex(v, 4) };
  if (t === 'date') return server === null ? null : { expression: `CONVERT(char(10), ${q}, 23)`, text: (v) => (v == null ? null : `${v} AD`) };
  if (/^time(\s*\(\d\))?( without time zone)?$/.test(t)) {
    return { expression: `SUBSTRING(${widened(q)}, 12, 16)`, text: (v) => (v == null ? null : sixDigits(`x ${String(v)}`).slice(2)) };
  }
  if (t.startsWith('timestamp') || isTimestamptz(t)) {
    const utc = isTimestamptz(t) && source === 'datetimeoffset';
    switch (source) {
      case 'datetime2':
        return stamp(widened(q), ' AD');
      case 'datetimeoffset':
        return stamp(widened(utc ? `SWITCHOFFSET(${q}, '+00:00')` : q), ' AD');
      case 'datetime':
        // As the read path sends it: its ticks as style 121 prints them.
        return stamp(`CONVERT(varchar(23), ${q}, 121)`, ' AD');
      case 'smalldatetime':
        return stamp(`CONVERT(varchar(19), ${q}, 120)`, ' AD');
      case 'date':
        return stamp(`CONVERT(char(10), ${q}, 23) + ' 00:00:00'`, ' AD');
    }
  }
  // Strings as the driver reads them, as the read path copies them: Babelfish's
  // CONVERT(nvarchar, <nchar>) drops the padding SQL Server keeps.
  if (TEXT_TARGETS.test(t) && STRING_SOURCES.has(source)) return { expression: q, text: asString };
  // Everything else is text SQL Server prints alike everywhere (numbers, uuid, bit as t/f, xml).
  return { expression: server, text: asString };
}

/** The row text the checksums hash: each field "<characters>:<text>", NULL as "N". */
export function canonicalRowText(fields: (string | null)[]): string {
  return fields.map((f) => (f === null ? 'N' : `${[...f].length}:${f}`)).join('');
}

export const md5Hex = (text: string): string => createHash('md5').update(text, 'utf8').digest('hex');

/** The first 32 bits of a hex digest as a number, as pgSum32 adds them up. */
export const first32 = (hex: string): bigint => BigInt(`0x${hex.slice(0, 8)}`);

/** A row as verify compares it: its key's canonical text, its row digest, and the pending flag when asked. */
export interface HashedRow {
  k: string;
  h: string;
  p?: number;
}

export type Bound = (placeholder: (i: number) => string) => { sql: string; params: string[] };

/**
 * The SELECT the worker hashes: the key's canonical values, then the
 * columns', then the pending flag (when given), over one key range. With
 * `from` (a derived table carrying the key columns: logged keys), its distinct
 * keys only. `keyParams` says which bound values are key bounds (bound with the key's type).
 */
export function mssqlHashedSelectSql(
  plan: TablePlan,
  columns: ColumnPlan[],
  range: PartitionRange,
  options: { flag?: Bound; from?: Bound; filter?: Bound } = {},
): { sql: string; params: string[]; keyParams: Set<number>; reads: { key: CanonicalRead[]; columns: CanonicalRead[] } } {
  const readOf = (c: ColumnPlan) => {
    const read = mssqlCanonicalRead(c);
    if (!read) throw new Error(`column ${c.name} (${c.sourceType} → ${c.targetType}) has no canonical text on SQL Server`);
    return read;
  };
  const key = plan.primaryKey.map((k) => readOf(plan.columns.find((c) => c.name === k)!));
  const cols = options.from ? [] : columns.map(readOf);
  const params: string[] = [];
  const keyParams = new Set<number>();
  let relation = qualifyMssql(plan.source);
  if (options.from) {
    const inner = options.from((i) => `@p${i}`);
    params.push(...inner.params);
    relation = `(${inner.sql}) AS x`;
  }
  const byKey = mssqlRangeWhere(plan, range, params.length + 1);
  byKey.params.forEach((_, i) => keyParams.add(params.length + i));
  params.push(...byKey.params);
  let where = byKey;
  // The table's where (the source rows it syncs); a derived table of keys (from) is not the table.
  if (options.filter && !options.from) {
    const first = params.length;
    const f = options.filter((i) => `@p${first + i}`);
    params.push(...f.params);
    where = { sql: f.sql ? `${byKey.sql ? `${byKey.sql} AND` : ' WHERE'} ${f.sql}` : byKey.sql, params: [] };
  }
  const select = [...key, ...cols].map((r) => r.expression);
  if (options.flag) {
    const first = params.length;
    const f = options.flag((i) => `@p${first + i}`);
    params.push(...f.params);
    select.push(`CASE WHEN ${f.sql} THEN 1 ELSE 0 END`);
  }
  const distinct = options.from ? 'DISTINCT ' : '';
  return { sql: `SELECT ${distinct}${select.join(', ')} FROM ${relation}${where.sql}`, params, keyParams, reads: { key, columns: cols } };
}

/** A streamed row of mssqlHashedSelectSql (array row mode) as verify compares it. */
export function hashRow(row: unknown[], reads: { key: CanonicalRead[]; columns: CanonicalRead[] }, flagged: boolean): HashedRow {
  const n = reads.key.length;
  if (!reads.columns.length) return { k: canonicalRowText(reads.key.map((r, i) => r.text(row[i]))), h: '' };
  const k = canonicalRowText(reads.key.map((r, i) => r.text(row[i])));
  const h = md5Hex(canonicalRowText(reads.columns.map((r, i) => r.text(row[n + i]))));
  return flagged ? { k, h, p: Number(row[n + reads.columns.length]) } : { k, h };
}
