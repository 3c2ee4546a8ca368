import { isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';
import { TablesyncError } from '../../errors';

/** Encodes one value for COPY text format; null means SQL NULL. */
export type ValueEncoder = (value: unknown) => string | null;

const SPECIAL = /[\\\t\n\r]/;

/** COPY text escaping: backslash, tab, newline and carriage return. */
export function escapeCopyText(s: string): string {
  if (!SPECIAL.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\') out += '\\\\';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else out += ch;
  }
  return out;
}

/** bytea in hex form; the backslash is itself escaped for COPY text. */
export function byteaHex(buf: Buffer): string {
  return `\\\\x${buf.toString('hex')}`;
}

/**
 * Bytes as the text they encode: exact UTF-8 or refused (a lenient decode would
 * put U+FFFD where the bytes were), and no NUL, which PostgreSQL text cannot hold.
 */
export function asUtf8(v: unknown): string {
  if (typeof v === 'string') return v;
  if (!Buffer.isBuffer(v)) throw new Error(`cannot encode a ${typeof v} as text`);
  if (!isUtf8(v)) throw new Error(`value 0x${v.subarray(0, 32).toString('hex')}${v.length > 32 ? '…' : ''} is not valid UTF-8 text; map the column to bytea`);
  if (v.includes(0)) throw new Error('value contains a NUL byte, which PostgreSQL text cannot hold; map the column to bytea');
  return v.toString('utf8');
}

/** A value whose text form is already what PostgreSQL parses (strings from the driver, numbers, bigint, UTF-8 bytes). */
export const asText: ValueEncoder = (v) => {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 't' : 'f';
  return escapeCopyText(asUtf8(v));
};

/** Bytes byte for byte; a string (a text value mapped to bytea) as its UTF-8 bytes. */
export const asBytea: ValueEncoder = (v) => {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return byteaHex(v);
  if (typeof v === 'string') return byteaHex(Buffer.from(v, 'utf8'));
  throw new Error(`cannot encode a ${typeof v} as bytea`);
};

export const asBoolean: ValueEncoder = (v) => {
  if (v === null || v === undefined) return null;
  if (v === true || v === 1 || v === '1' || v === 't') return 't';
  if (v === false || v === 0 || v === '0' || v === 'f') return 'f';
  throw new Error(`value ${JSON.stringify(v)} is not a boolean (0 or 1)`);
};

const BATCH_BYTES = 256 * 1024;

/**
 * Turns row arrays (one element per column) into COPY text, in batches of
 * ~256 KB so each write to the server is large; backpressure flows through
 * because this is an ordinary Transform. Encoder errors name the column.
 */
export class RowCopyEncoder extends Transform {
  rows = 0;
  private parts: string[] = [];
  private size = 0;

  constructor(
    private readonly encoders: ValueEncoder[],
    private readonly columnNames: string[],
  ) {
    super({ writableObjectMode: true, readableObjectMode: false, writableHighWaterMark: 1024 });
  }

  _transform(row: unknown[], _enc: BufferEncoding, cb: TransformCallback): void {
    let line = '';
    const n = this.encoders.length;
    for (let i = 0; i < n; i++) {
      let text: string | null;
      try {
        text = this.encoders[i](row[i]);
      } catch (err) {
        // The same row fails the same way on every attempt: not retryable.
        cb(new TablesyncError('UnsupportedValue', `column "${this.columnNames[i]}": ${(err as Error).message}`));
        return;
      }
      line += (i ? '\t' : '') + (text === null ? '\\N' : text);
    }
    line += '\n';
    this.parts.push(line);
    this.size += line.length;
    this.rows++;
    if (this.size >= BATCH_BYTES) this.push(this.drain());
    cb();
  }

  _flush(cb: TransformCallback): void {
    if (this.size) this.push(this.drain());
    cb();
  }

  private drain(): Buffer {
    const buf = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.size = 0;
    return buf;
  }
}
