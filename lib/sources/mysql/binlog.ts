import { TablesyncError } from '../../errors';
import type { ColumnPlan, TableRef } from '../../types';
import { splitPosition } from '../changes';

// What the MariaDB/MySQL change capture (cdc.ts) and its binlog reader
// (binlog-read.ts) share: binlog positions, values as the target's text,
// what a statement event is to cdc, and the types a table map logs.

export const setup = (message: string) => new TablesyncError('CdcSetup', message);

export const PRIVILEGES = "cdc reads the binary log as a replica does: the source's user needs REPLICATION SLAVE and BINLOG MONITOR (MySQL: REPLICATION CLIENT), e.g. GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO the user";

// ---------------------------------------------------------------- positions

export interface BinlogPosition {
  file: string;
  offset: number;
}

export function binlogPositionText(file: string, offset: number): string {
  return `${file}:${offset}`;
}

export function parseBinlogPosition(position: string): BinlogPosition & { seq: number } {
  const m = /^(.*\.(\d+)):(\d+)$/.exec(position);
  if (!m) throw new Error(`not a binlog position (file:offset): "${position}"`);
  return { file: m[1], seq: Number(m[2]), offset: Number(m[3]) };
}

/** Orders binlog positions: the file's sequence number (its name's extension), then the offset; a piece's (file:offset#applied) by its transaction's. */
export function compareBinlogPositions(a: string, b: string): number {
  const x = parseBinlogPosition(splitPosition(a).at);
  const y = parseBinlogPosition(splitPosition(b).at);
  return Math.sign(x.seq - y.seq) || Math.sign(x.offset - y.offset);
}

// ---------------------------------------------------------------- values

const family = (c: ColumnPlan) => (/^\s*([a-z0-9_]+)/i.exec(c.sourceType)?.[1] ?? '').toLowerCase();

function bitsText(value: Buffer, width: number): string {
  let out = '';
  for (let k = width - 1; k >= 0; k--) {
    const byte = value.length - 1 - (k >> 3);
    out += byte >= 0 && (value[byte] >> (k & 7)) & 1 ? '1' : '0';
  }
  return out;
}

function bytesText(c: ColumnPlan, value: Buffer): string {
  const source = family(c);
  const target = c.targetType.toLowerCase();
  if (source === 'bit') {
    if (target.startsWith('bit')) return bitsText(value, Number(/\((\d+)\)/.exec(c.sourceType)?.[1] ?? 1));
    return BigInt(`0x${value.toString('hex') || '0'}`).toString();
  }
  // Under binlog_row_metadata=FULL MariaDB's UUID, INET4 and INET6 arrive as their stored bytes.
  if (source === 'uuid' && value.length === 16) {
    const h = value.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  if (source === 'inet4' && value.length === 4) return [...value].join('.');
  if (source === 'inet6' && value.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(value.readUInt16BE(i).toString(16));
    return groups.join(':');
  }
  if (target === 'bytea') return `\\x${value.toString('hex')}`;
  // A binary value into a text column: its bytes as the load reads them (UTF-8).
  return value.toString('utf8');
}

const ZERO_DATE = /^0000-00-00/;

/**
 * A binlog row value as the text the target parses for the column, the same
 * value a load of the row writes (lib/sources/mysql/copy.ts): the reader is
 * set up like the load's sessions (DECIMAL and BIGINT as exact strings,
 * dates as strings, TIMESTAMP in UTC); zero dates become NULL, as a load makes them.
 */
export function binlogValueText(c: ColumnPlan, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const target = c.targetType.toLowerCase();
  if (Buffer.isBuffer(value)) return bytesText(c, value);
  if (typeof value === 'number' || typeof value === 'bigint') {
    if (target === 'boolean') {
      if (value !== 0 && value !== 1) throw new TablesyncError('UnsupportedValue', `column "${c.name}": ${value} is not a boolean (0 or 1); map the column to smallint in typeMap`);
      return value ? 'true' : 'false';
    }
    // A float's nearest double, printed exactly enough to come back as the same float (real) or double.
    return String(value);
  }
  if (typeof value === 'string') {
    if (/^(date|timestamp)/.test(target)) {
      if (ZERO_DATE.test(value)) return null;
      return /^timestamp\s*(\(\d+\))?\s*with time zone$|^timestamptz/.test(target) ? `${value}+00` : value;
    }
    if (target.startsWith('time') && (value.startsWith('-') || Number(value.split(':')[0]) > 23)) {
      throw new TablesyncError('UnsupportedValue', `column "${c.name}": time value ${value} is outside PostgreSQL's time range; map the column to interval in typeMap`);
    }
    if (target === 'boolean') return binlogValueText(c, Number(value));
    return value;
  }
  // JSON that a MySQL server stores in its binary form, decoded by the reader (jsonStrings keeps it text).
  return JSON.stringify(value);
}

// ---------------------------------------------------------------- statements

const IDENT = '(?:`(?:[^`]|``)+`|[A-Za-z0-9_$]+)';
const NAME = `${IDENT}(?:\\s*\\.\\s*${IDENT})?`;
const NAMES = `${NAME}(?:\\s*,\\s*${NAME})*`;

/** Each name of a list (`a`, db.b, `c`.`d`) as a table, a bare name in `schema`. */
function names(list: string, schema: string): TableRef[] {
  const refs: TableRef[] = [];
  for (const m of list.matchAll(new RegExp(`(${IDENT})(?:\\s*\\.\\s*(${IDENT}))?`, 'g'))) {
    const part = (p: string) => (p.startsWith('`') ? p.slice(1, -1).replace(/``/g, '`') : p);
    refs.push(m[2] !== undefined ? { schema: part(m[1]), name: part(m[2]) } : { schema, name: part(m[1]) });
  }
  return refs;
}

export type StatementKind = 'begin' | 'commit' | 'rollback' | 'truncate' | 'alter' | 'ddl' | 'dml' | 'other';

/**
 * What a statement event is to cdc, and the tables it is about: a TRUNCATE,
 * an ALTER (its effect on the columns is read from the next row event's
 * table map, not from its text), a table dropped or replaced or renamed
 * (DROP, RENAME, CREATE OR REPLACE, ALTER … RENAME TO), rows written as a
 * statement (a session not in ROW format: every name it mentions counts),
 * or neither.
 */
export function statementEffect(sql: string, schema: string): { kind: StatementKind; tables: TableRef[] } {
  const text = sql.replace(/\/\*(?!!)[\s\S]*?\*\/|--\s[^\n]*|#[^\n]*/g, ' ').replace(/\s+/g, ' ').trim();
  const match = (re: string) => new RegExp(re, 'i').exec(text);
  let m: RegExpExecArray | null;
  if (/^(BEGIN|XA START)\b/i.test(text)) return { kind: 'begin', tables: [] };
  if (/^COMMIT\b/i.test(text)) return { kind: 'commit', tables: [] };
  if (/^ROLLBACK\b(?! TO\b)/i.test(text)) return { kind: 'rollback', tables: [] };
  if ((m = match(`^TRUNCATE (?:TABLE )?(${NAME})`))) return { kind: 'truncate', tables: names(m[1], schema) };
  if ((m = match(`^ALTER (?:ONLINE )?(?:IGNORE )?TABLE (?:IF EXISTS )?(${NAME})`))) {
    // RENAME COLUMN / INDEX / KEY keep the table; RENAME [TO|AS] moves it away from the stream.
    const renamed = /\bRENAME\s+(?!(?:COLUMN|INDEX|KEY|CONSTRAINT)\b)/i.test(text.slice(m[0].length));
    return { kind: renamed ? 'ddl' : 'alter', tables: names(m[1], schema) };
  }
  if ((m = match(`^DROP TABLES? (?:IF EXISTS )?(${NAMES})`))) return { kind: 'ddl', tables: names(m[1], schema) };
  if ((m = match(`^RENAME TABLES? (.*)$`))) return { kind: 'ddl', tables: names(m[1].replace(/\bTO\b/gi, ','), schema) };
  if ((m = match(`^CREATE OR REPLACE (?:TEMPORARY )?TABLE (?:IF NOT EXISTS )?(${NAME})`))) return { kind: 'ddl', tables: names(m[1], schema) };
  if (/^(INSERT|UPDATE|DELETE|REPLACE|LOAD)\b/i.test(text)) return { kind: 'dml', tables: names(text.replace(/'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"/g, ' '), schema) };
  return { kind: 'other', tables: [] };
}

/** A type as its family and size, without what MariaDB's catalog adds and the binlog does not say (integer display widths, zerofill). */
function normalType(type: string): string {
  return type
    .toLowerCase()
    .replace(/\/\*.*?\*\//g, ' ')
    .replace(/\bzerofill\b/, ' ')
    .replace(/^integer\b/, 'int')
    .replace(/^(tinyint|smallint|mediumint|int|bigint|year)\s*\(\d+\)/, '$1')
    .replace(/\s+/g, ' ')
    .trim();
}

/** MariaDB types the binlog describes by their storage: JSON is a LONGTEXT, UUID/INET6 16 bytes, INET4 4 bytes. */
const STORED_AS: Record<string, string[]> = { json: ['longtext', 'json'], uuid: ['binary(16)'], inet6: ['binary(16)'], inet4: ['binary(4)'] };

/** The catalog's type (`int(11)`, `json`) and the binlog's (`int`, `longtext`) name the same column type. */
export function sameBinlogType(catalog: string, logged: string): boolean {
  const a = normalType(catalog);
  const b = normalType(logged);
  if (a === b) return true;
  // Geometry: the binlog says the kind only when the server logs it.
  if (/^(geometry|point|linestring|polygon|multipoint|multilinestring|multipolygon|geometrycollection)$/.test(a) && /^geometry|^point|^linestring|^polygon|^multi|^geometrycollection/.test(b)) return true;
  return STORED_AS[a]?.includes(b) ?? false;
}
