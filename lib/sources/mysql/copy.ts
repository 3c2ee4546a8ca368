// MariaDB/MySQL rows straight into COPY data: each row packet of the text
// protocol is read field by field (length-coded bytes) and written into the
// COPY output as it arrives, with no per-field typeCast, string or row array
// in between. Tables whose every column has a binary form (integers, numeric,
// boolean, date, timestamps, text, json, bytea) go as binary COPY, which
// PostgreSQL parses at half the cost of text; the others as COPY text.
//
// This reads mysql2's row packets through a driver internal (the Query
// command's `row` state, see hookRows), so mysql2 is pinned to the exact
// version tested (package.json), test/integration/mysql-copy.test.ts fails when
// that internal changes, and a change that bypasses the hook at run time fails
// the stream (hookRows) instead of losing rows.
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { PoolConnection } from 'mysql2';
import {
  BINARY_COPY_HEADER,
  bigintWriter,
  booleanWriter,
  CopyBuffer,
  dateWriter,
  type FieldWriter,
  intWriter,
  numericWriter,
  timestampWriter,
  writeByteaText,
  writeRaw,
  writeUtf8,
} from './copy-bytes';
import { TablesyncError } from '../../errors';
import type { ColumnPlan } from '../../types';
import { isTimestamptz } from '../../canonical';

/** The mysql2 version whose Query internals hookRows was written and tested against. */
export const MYSQL2_TESTED_VERSION = '3.24.6';

const ZERO_DATE = Buffer.from('0000-00-00', 'latin1');
// Year 0000 first: a byte test that rules out nearly every value before the full compare.
const isZeroDate = (src: Buffer, start: number, end: number) =>
  end - start >= 10 && src[start] === 0x30 && src[start + 1] === 0x30 && src[start + 2] === 0x30 && src[start + 3] === 0x30 &&
  src.compare(ZERO_DATE, 0, 10, start, start + 10) === 0;

export type Warn = (column: string, what: string) => void;

const sourceFamily = (c: ColumnPlan) => (/^\s*([a-z0-9_]+)/i.exec(c.sourceType)?.[1] ?? '').toLowerCase();
const INTEGER_SOURCE = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'year']);
const TEXT_TARGET = /^(text|json|varchar|character varying)(\s*\(\s*\d+\s*\))?$/;
const NUMERIC_TARGET = /^(numeric|decimal)(\s*\(\s*\d+\s*(,\s*\d+\s*)?\))?$/;
const TIMESTAMP_TARGET = /^timestamp(\s*\(\s*\d+\s*\))?(\s+without time zone)?$/;

function zeroDateAsNull(column: ColumnPlan, warn: Warn, write: FieldWriter): FieldWriter {
  return (out, src, start, end) => {
    if (isZeroDate(src, start, end)) {
      warn(column.name, "zero date '0000-00-00' loaded as NULL");
      return false;
    }
    return write(out, src, start, end);
  };
}

/**
 * The binary COPY writer of a column, or null when the pair of source and
 * target types has none here (the table then goes as COPY text). Only pairs
 * whose source text has one known form are taken, so each parser knows its input.
 */
export function binaryFieldWriter(column: ColumnPlan, warn: Warn): FieldWriter | null {
  const target = column.targetType.toLowerCase().trim();
  const source = sourceFamily(column);
  const text: FieldWriter = (out, src, start, end) => (writeUtf8(out, src, start, end, false), true);
  if (target === 'bytea') return (out, src, start, end) => (writeRaw(out, src, start, end), true);
  if (TEXT_TARGET.test(target)) return text;
  if (target === 'boolean') return source === 'tinyint' ? booleanWriter(true) : null;
  const integer = INTEGER_SOURCE.has(source);
  if (target === 'smallint' || target === 'integer') return integer ? intWriter(target) : null;
  if (target === 'bigint') return integer ? bigintWriter : null;
  if (NUMERIC_TARGET.test(target)) return integer || source === 'decimal' || source === 'numeric' ? numericWriter : null;
  if (target === 'date') return source === 'date' ? zeroDateAsNull(column, warn, dateWriter) : null;
  if (TIMESTAMP_TARGET.test(target) || isTimestamptz(target)) {
    // TIMESTAMPs are read with the session in UTC: the same microseconds either way.
    return source === 'datetime' || source === 'timestamp' ? zeroDateAsNull(column, warn, timestampWriter) : null;
  }
  return null;
}

/** The COPY text writer of a column, keyed on the target type (and the source type for zero dates). */
export function textFieldWriter(column: ColumnPlan, warn: Warn): FieldWriter {
  const target = column.targetType.toLowerCase();
  if (target === 'boolean') return booleanWriter(false);
  if (target === 'bytea') return (out, src, start, end) => (writeByteaText(out, src, start, end), true);
  if (target.startsWith('bit')) {
    const width = Number(/\((\d+)\)/.exec(target)?.[1] ?? 1);
    return (out, src, start, end) => {
      // The value's bits, most significant first, cut or zero-padded to the column's width.
      const b = out.buf;
      let p = out.pos;
      for (let k = width - 1; k >= 0; k--) {
        const byte = end - 1 - (k >> 3);
        b[p++] = byte >= start && (src[byte] >> (k & 7)) & 1 ? 0x31 : 0x30;
      }
      out.pos = p;
      return true;
    };
  }
  if (/^(date|timestamp)/.test(target)) {
    // The offset is written out so the target's TimeZone setting cannot shift the instant.
    const offset = isTimestamptz(target);
    return zeroDateAsNull(column, warn, (out, src, start, end) => {
      writeUtf8(out, src, start, end, true);
      if (offset) {
        out.buf.write('+00', out.pos, 'latin1');
        out.pos += 3;
      }
      return true;
    });
  }
  if (target.startsWith('time')) {
    return (out, src, start, end) => {
      const s = src.toString('latin1', start, end);
      if (s.startsWith('-') || Number(s.split(':')[0]) > 23) {
        throw new Error(`time value ${s} is outside PostgreSQL's time range; map the column to interval in typeMap`);
      }
      writeUtf8(out, src, start, end, true);
      return true;
    };
  }
  return (out, src, start, end) => (writeUtf8(out, src, start, end, true), true);
}

/** Bytes a field may take in the output per input byte (bytea hex, escapes: 2; bit(n): 8 per byte, at most 64). */
function expansion(columns: ColumnPlan[]): number {
  return columns.some((c) => c.targetType.toLowerCase().startsWith('bit')) ? 8 : 3;
}

const BATCH_BYTES = 256 * 1024;

/** Turns row packets into COPY data (binary or text) in ~256 KB chunks. */
export class MysqlCopyEncoder {
  readonly format: 'binary' | 'text';
  rows = 0;
  private readonly writers: FieldWriter[];
  private readonly names: string[];
  private readonly expand: number;
  private readonly out = new CopyBuffer(BATCH_BYTES + 64 * 1024);

  constructor(columns: ColumnPlan[], preferBinary: boolean, warn: Warn) {
    const binary = preferBinary ? columns.map((c) => binaryFieldWriter(c, warn)) : [];
    this.format = preferBinary && binary.every((w) => w !== null) ? 'binary' : 'text';
    this.writers = this.format === 'binary' ? (binary as FieldWriter[]) : columns.map((c) => textFieldWriter(c, warn));
    this.names = columns.map((c) => c.name);
    this.expand = expansion(columns);
    if (this.format === 'binary') {
      this.out.buf.set(BINARY_COPY_HEADER, 0);
      this.out.pos = BINARY_COPY_HEADER.length;
    }
  }

  /**
   * Encodes one row packet's payload src[start, end): per column a
   * length-coded value (0xfb = NULL). Returns a full chunk to hand on, or null.
   */
  row(src: Buffer, start: number, end: number): Buffer | null {
    const out = this.out;
    const n = this.writers.length;
    out.ensure(this.expand * (end - start) + 8 * n + 16);
    const binary = this.format === 'binary';
    if (binary) {
      out.buf.writeInt16BE(n, out.pos);
      out.pos += 2;
    }
    let p = start;
    for (let i = 0; i < n; i++) {
      if (!binary && i > 0) out.buf[out.pos++] = 0x09;
      const c = src[p++];
      let len: number;
      if (c < 0xfb) len = c;
      else if (c === 0xfb) len = -1;
      else if (c === 0xfc) {
        len = src[p] | (src[p + 1] << 8);
        p += 2;
      } else if (c === 0xfd) {
        len = src[p] | (src[p + 1] << 8) | (src[p + 2] << 16);
        p += 3;
      } else {
        len = src.readUInt32LE(p) + src.readUInt32LE(p + 4) * 4294967296;
        p += 8;
      }
      if (len > end - p) throw new Error(`MySQL row packet ends inside column "${this.names[i]}"`);
      const mark = out.pos;
      let value = len >= 0;
      if (value) {
        if (binary) out.pos += 4;
        try {
          value = this.writers[i](out, src, p, p + len);
        } catch (err) {
          // The same row fails the same way on every attempt: not retryable.
          throw new TablesyncError('UnsupportedValue', `column "${this.names[i]}": ${(err as Error).message}`);
        }
        p += len;
      }
      if (!value) {
        out.pos = mark;
        if (binary) {
          out.buf.writeInt32BE(-1, mark);
          out.pos += 4;
        } else {
          out.buf[out.pos++] = 0x5c;
          out.buf[out.pos++] = 0x4e;
        }
      } else if (binary) {
        out.buf.writeInt32BE(out.pos - mark - 4, mark);
      }
    }
    if (p !== end) throw new Error(`MySQL row packet has ${end - p} bytes after its ${n} columns`);
    if (!binary) out.buf[out.pos++] = 0x0a;
    this.rows++;
    return out.pos >= BATCH_BYTES ? out.take() : null;
  }

  /** What is left, with binary COPY's trailer. */
  end(): Buffer {
    if (this.format === 'binary') {
      this.out.ensure(2);
      this.out.buf.writeInt16BE(-1, this.out.pos);
      this.out.pos += 2;
    }
    return this.out.take();
  }
}

// ------------------------------------------------------------ mysql2 hook

/** The parts of mysql2's Query command and Packet that hookRows relies on. */
interface Mysql2Packet {
  buffer: Buffer;
  offset: number;
  end: number;
  isEOF(): boolean;
}
interface Mysql2Query {
  row(packet: Mysql2Packet, connection: unknown): unknown;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

let installedVersion: string | null | undefined;

/** The mysql2 version in use, or null when it cannot be read. */
export function mysql2Version(): string | null {
  if (installedVersion === undefined) {
    try {
      installedVersion = (createRequire(__filename)('mysql2/package.json') as { version: string }).version;
    } catch {
      installedVersion = null;
    }
  }
  return installedVersion;
}

/**
 * mysql2's Query command keeps its state as the next method to call; after
 * the column definitions it returns `this.row` and calls it for every packet
 * of the result set. An own `row` property on the command is therefore
 * called instead of the prototype's: it hands each row packet to onRow and
 * leaves the end-of-rows packet to mysql2's own `row`. Should a row still
 * arrive as a 'result' event (the internal changed), the stream fails rather
 * than lose it.
 */
export function hookRows(query: unknown, onRow: (src: Buffer, start: number, end: number) => void, onError: (err: Error) => void): void {
  const q = query as Mysql2Query;
  const original = Object.getPrototypeOf(q).row as Mysql2Query['row'];
  if (typeof original !== 'function') throw new Error(`mysql2 ${mysql2Version()}: Query has no row state to read rows from`);
  const row = function (this: Mysql2Query, packet: Mysql2Packet, connection: unknown): unknown {
    if (packet.isEOF()) return original.call(this, packet, connection);
    try {
      onRow(packet.buffer, packet.offset, packet.end);
    } catch (err) {
      onError(err as Error);
    }
    return row;
  };
  q.row = row;
  q.on('result', (r: unknown) => {
    if (Array.isArray(r) || (r !== null && typeof r === 'object' && !('affectedRows' in r))) {
      onError(new Error(`mysql2 ${mysql2Version()} delivered a row past the COPY encoder: its Query internals changed; pin mysql2 ${MYSQL2_TESTED_VERSION}`));
    }
  });
}

/**
 * Runs `sql` on conn and streams its rows as COPY data. Backpressure: a full
 * stream pauses the connection, reading resumes it. Errors of the query, of
 * the connection (KILL, server gone) and of a value end the stream.
 */
export function streamCopy(conn: PoolConnection, sql: string, params: unknown[], encoder: MysqlCopyEncoder): Readable {
  let failed = false;
  const stream = new Readable({
    highWaterMark: 1024 * 1024,
    read: () => conn.resume(),
  });
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    stream.destroy(err);
  };
  const query = conn.query({ sql, values: params });
  hookRows(
    query,
    (src, start, end) => {
      if (failed) return;
      const chunk = encoder.row(src, start, end);
      if (chunk && !stream.push(chunk)) conn.pause();
    },
    fail,
  );
  const q = query as unknown as Mysql2Query;
  q.on('error', (err) => fail(err as Error));
  q.on('end', () => {
    if (failed) return;
    stream.push(encoder.end());
    stream.push(null);
  });
  return stream;
}
