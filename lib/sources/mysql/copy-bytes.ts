// COPY data written straight from a driver's bytes, without strings or row
// arrays in between: a growable output buffer, COPY text escaping of raw bytes,
// and PostgreSQL's binary COPY forms of integers, numerics, dates and
// timestamps parsed from their ISO text. Every parser is strict: text that is
// not exactly the expected form is refused, never guessed at.
import { isUtf8 } from 'node:buffer';

/** Output of a COPY stream being built; `take()` hands over what is written so far. */
export class CopyBuffer {
  buf: Buffer;
  pos = 0;

  constructor(private readonly size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Room for n more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  /** The bytes written so far; later writes go to a fresh buffer, so the chunk handed out stays intact. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafe(this.size);
    this.pos = 0;
    return out;
  }
}

/**
 * Writes one non-NULL value, the bytes src[start, end), into out (room for
 * the column's expansion already ensured). Returns false when the value is to
 * be loaded as NULL instead (MySQL zero dates). Throws Error on a value the
 * target cannot take.
 */
export type FieldWriter = (out: CopyBuffer, src: Buffer, start: number, end: number) => boolean;

function hexOf(src: Buffer, start: number, end: number): string {
  const n = end - start;
  return `0x${src.toString('hex', start, start + Math.min(n, 32))}${n > 32 ? '…' : ''}`;
}

function latin1(src: Buffer, start: number, end: number): string {
  return src.toString('latin1', start, end);
}

/**
 * Raw bytes as PostgreSQL text: exact UTF-8 without NUL, or refused (the same
 * rules and messages as mssql/copy-text.ts's asUtf8). `escape`: COPY text escaping of
 * backslash, tab, newline and carriage return; binary COPY takes them as they are.
 */
export function writeUtf8(out: CopyBuffer, src: Buffer, start: number, end: number, escape: boolean): void {
  const b = out.buf;
  let p = out.pos;
  // OR of all bytes: bit 7 set means non-ASCII, checked as UTF-8 once at the end.
  let any = 0;
  let nul = false;
  if (!escape) {
    for (let i = start; i < end; i++) {
      const c = src[i];
      any |= c;
      if (c === 0) nul = true;
      b[p++] = c;
    }
  } else {
    for (let i = start; i < end; i++) {
      const c = src[i];
      any |= c;
      if (c > 0x5c || (c >= 0x20 && c !== 0x5c)) {
        b[p++] = c;
        continue;
      }
      if (c === 0) nul = true;
      else if (c === 0x5c) {
        b[p++] = 0x5c;
        b[p++] = 0x5c;
      } else if (c === 0x09) {
        b[p++] = 0x5c;
        b[p++] = 0x74;
      } else if (c === 0x0a) {
        b[p++] = 0x5c;
        b[p++] = 0x6e;
      } else if (c === 0x0d) {
        b[p++] = 0x5c;
        b[p++] = 0x72;
      } else b[p++] = c;
    }
  }
  if (any & 0x80 && !isUtf8(src.subarray(start, end))) {
    throw new Error(`value ${hexOf(src, start, end)} is not valid UTF-8 text; map the column to bytea`);
  }
  if (nul) throw new Error('value contains a NUL byte, which PostgreSQL text cannot hold; map the column to bytea');
  out.pos = p;
}

/** Bytes copied as they are. */
export function writeRaw(out: CopyBuffer, src: Buffer, start: number, end: number): void {
  if (end - start > 64) {
    src.copy(out.buf, out.pos, start, end);
    out.pos += end - start;
    return;
  }
  const b = out.buf;
  let p = out.pos;
  for (let i = start; i < end; i++) b[p++] = src[i];
  out.pos = p;
}

const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** bytea in COPY text: \\x and two hex digits a byte (the backslash itself escaped). */
export function writeByteaText(out: CopyBuffer, src: Buffer, start: number, end: number): void {
  const b = out.buf;
  let p = out.pos;
  b[p++] = 0x5c;
  b[p++] = 0x5c;
  b[p++] = 0x78;
  for (let i = start; i < end; i++) {
    b[p++] = HEX[src[i] >> 4];
    b[p++] = HEX[src[i] & 15];
  }
  out.pos = p;
}

// ------------------------------------------------------------ binary forms

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

/** An integer's text (optional sign, digits only): its value, or null when it needs more than 15 digits. */
function smallInteger(src: Buffer, start: number, end: number): number | null {
  let i = start;
  const neg = src[i] === 0x2d;
  if (neg || src[i] === 0x2b) i++;
  if (i >= end) throw new Error(`value "${latin1(src, start, end)}" is not an integer`);
  while (i < end - 1 && src[i] === 0x30) i++;
  if (end - i > 15) {
    for (let j = i; j < end; j++) if (!isDigit(src[j])) throw new Error(`value "${latin1(src, start, end)}" is not an integer`);
    return null;
  }
  let v = 0;
  for (; i < end; i++) {
    const c = src[i];
    if (!isDigit(c)) throw new Error(`value "${latin1(src, start, end)}" is not an integer`);
    v = v * 10 + (c - 0x30);
  }
  return neg ? -v : v;
}

const INT_RANGE = {
  smallint: [-32768, 32767],
  integer: [-2147483648, 2147483647],
} as const;

export function intWriter(target: 'smallint' | 'integer'): FieldWriter {
  const [lo, hi] = INT_RANGE[target];
  const bytes = target === 'smallint' ? 2 : 4;
  return (out, src, start, end) => {
    const v = smallInteger(src, start, end);
    if (v === null || v < lo || v > hi) throw new Error(`value ${latin1(src, start, end)} is out of range for type ${target}`);
    if (bytes === 2) out.buf.writeInt16BE(v, out.pos);
    else out.buf.writeInt32BE(v, out.pos);
    out.pos += bytes;
    return true;
  };
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export const bigintWriter: FieldWriter = (out, src, start, end) => {
  const v = smallInteger(src, start, end);
  if (v === null) {
    const big = BigInt(latin1(src, start, end));
    if (big < INT64_MIN || big > INT64_MAX) throw new Error(`value ${latin1(src, start, end)} is out of range for type bigint`);
    out.buf.writeBigInt64BE(big, out.pos);
  } else {
    const hi = Math.floor(v / 4294967296);
    out.buf.writeInt32BE(hi, out.pos);
    out.buf.writeUInt32BE(v - hi * 4294967296, out.pos + 4);
  }
  out.pos += 8;
  return true;
};

let groups = new Uint16Array(64);

/**
 * numeric's binary form (ndigits, weight, sign, dscale, base-10000 digits)
 * from a decimal's text: optional sign, digits, optional fraction; dscale is
 * the fraction's digit count, as numeric_in gives it.
 */
export const numericWriter: FieldWriter = (out, src, start, end) => {
  let i = start;
  const neg = src[i] === 0x2d;
  if (neg || src[i] === 0x2b) i++;
  let intStart = i;
  while (i < end && isDigit(src[i])) i++;
  const intEnd = i;
  let fracStart = i;
  let fracEnd = i;
  if (i < end && src[i] === 0x2e) {
    fracStart = ++i;
    while (i < end && isDigit(src[i])) i++;
    fracEnd = i;
  }
  if (i !== end || (intEnd === intStart && fracEnd === fracStart)) throw new Error(`value "${latin1(src, start, end)}" is not a decimal number`);
  while (intStart < intEnd && src[intStart] === 0x30) intStart++;
  const intLen = intEnd - intStart;
  const fracLen = fracEnd - fracStart;
  const need = Math.ceil(intLen / 4) + Math.ceil(fracLen / 4);
  if (groups.length < need) groups = new Uint16Array(need);
  let n = 0;
  // Integer digits in groups of four counted from the decimal point.
  let g = 0;
  let k = intLen % 4 || 4;
  for (let j = intStart; j < intEnd; j++) {
    g = g * 10 + (src[j] - 0x30);
    if (--k === 0) {
      groups[n++] = g;
      g = 0;
      k = 4;
    }
  }
  let weight = n - 1;
  // Fraction digits in groups of four, the last one padded with zeros.
  k = 4;
  for (let j = fracStart; j < fracEnd; j++) {
    g = g * 10 + (src[j] - 0x30);
    if (--k === 0) {
      groups[n++] = g;
      g = 0;
      k = 4;
    }
  }
  if (k !== 4) groups[n++] = g * 10 ** k;
  let first = 0;
  while (first < n && groups[first] === 0) {
    first++;
    weight--;
  }
  while (n > first && groups[n - 1] === 0) n--;
  const ndigits = n - first;
  const b = out.buf;
  let p = out.pos;
  b.writeInt16BE(ndigits, p);
  b.writeInt16BE(ndigits === 0 ? 0 : weight, p + 2);
  b.writeUInt16BE(neg && ndigits > 0 ? 0x4000 : 0, p + 4);
  b.writeInt16BE(fracLen, p + 6);
  p += 8;
  for (let j = first; j < n; j++, p += 2) b.writeUInt16BE(groups[j], p);
  out.pos = p;
  return true;
};

/** Days from 1970-01-01 to a proleptic Gregorian date. */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** PostgreSQL's epoch, 2000-01-01, in days from 1970-01-01. */
const PG_EPOCH_DAYS = 10957;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digits(src: Buffer, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = src[i];
    if (!isDigit(c)) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/** Days since 2000-01-01 of the "YYYY-MM-DD" that src[start, end) starts with; throws unless it is a real calendar date. */
function pgDays(src: Buffer, start: number, end: number, kind: 'date' | 'timestamp'): number {
  const y = digits(src, start, 4);
  const m = digits(src, start + 5, 2);
  const d = digits(src, start + 8, 2);
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (
    end - start < 10 || src[start + 4] !== 0x2d || src[start + 7] !== 0x2d ||
    y < 1 || m < 1 || m > 12 || d < 1 || d > (m === 2 && leap ? 29 : DAYS_IN_MONTH[m - 1])
  ) {
    throw new Error(`value "${latin1(src, start, end)}" is not a valid ${kind}`);
  }
  return daysFromCivil(y, m, d) - PG_EPOCH_DAYS;
}

export const dateWriter: FieldWriter = (out, src, start, end) => {
  if (end - start !== 10) throw new Error(`value "${latin1(src, start, end)}" is not a valid date`);
  out.buf.writeInt32BE(pgDays(src, start, end, 'date'), out.pos);
  out.pos += 4;
  return true;
};

/**
 * Writes secs·10⁶ + micros as a big-endian int64 without leaving exact
 * double arithmetic (|secs| < 2⁴⁰, 0 ≤ micros < 10⁶).
 */
export function writeMicros(buf: Buffer, pos: number, secs: number, micros: number): void {
  const q = Math.floor(secs / 65536);
  const x = q * 1e6; // value = x·2¹⁶ + y
  const y = (secs - q * 65536) * 1e6 + micros;
  const hi0 = Math.floor(x / 65536);
  const low = (x - hi0 * 65536) * 65536 + y;
  const carry = Math.floor(low / 4294967296);
  buf.writeInt32BE(hi0 + carry, pos);
  buf.writeUInt32BE(low - carry * 4294967296, pos + 4);
}

/** timestamp / timestamptz: microseconds since 2000-01-01 00:00:00 of "YYYY-MM-DD HH:MM:SS[.f…]" (UTC for timestamptz). */
export const timestampWriter: FieldWriter = (out, src, start, end) => {
  const len = end - start;
  const h = digits(src, start + 11, 2);
  const mi = digits(src, start + 14, 2);
  const s = digits(src, start + 17, 2);
  let micros = 0;
  let bad = len < 19 || len === 20 || len > 26 || src[start + 10] !== 0x20 || src[start + 13] !== 0x3a || src[start + 16] !== 0x3a;
  bad ||= h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59;
  if (!bad && len > 19) {
    if (src[start + 19] !== 0x2e) bad = true;
    const f = digits(src, start + 20, len - 20);
    if (f < 0) bad = true;
    micros = f * 10 ** (26 - len);
  }
  if (bad) throw new Error(`value "${latin1(src, start, end)}" is not a valid timestamp`);
  const days = pgDays(src, start, end, 'timestamp');
  writeMicros(out.buf, out.pos, days * 86400 + h * 3600 + mi * 60 + s, micros);
  out.pos += 8;
  return true;
};

/** MySQL's BOOLEAN (tinyint(1)): 0 or 1, anything else refused (asBoolean's message). */
export function booleanWriter(binary: boolean): FieldWriter {
  return (out, src, start, end) => {
    const c = end - start === 1 ? src[start] : -1;
    if (c !== 0x30 && c !== 0x31) throw new Error(`value ${JSON.stringify(latin1(src, start, end))} is not a boolean (0 or 1)`);
    out.buf[out.pos++] = binary ? c - 0x30 : c === 0x31 ? 0x74 : 0x66;
    return true;
  };
}

/** Binary COPY's file header: signature, flags, no extension. */
export const BINARY_COPY_HEADER = Buffer.from('PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1');
