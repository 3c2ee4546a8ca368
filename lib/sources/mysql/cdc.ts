import ZongJi, { type BinlogEvent, type RowData } from '@vlasky/zongji';
import type { ConnectionOptions, PoolConnection } from 'mysql2';
import { TablesyncError } from '../../errors';
import { displayName } from '../../tables';
import type { ColumnPlan, PartitionRange, TablePlan, TableRef } from '../../types';
import type { CopyStream, ReadFilter, SourceTable } from '../base';
import { EVERY_ROW } from '../base';
import { piecePosition, splitPosition, type ChangeBatch, type ChangeCapture, type ChangeShape, type ChangeTransaction, type ChangeValue, type ReadLimits, type RowChange, type SnapshotRead, type StreamPosition } from '../changes';
import { mapMysqlType } from './types';

// MariaDB/MySQL change capture from the binary log. The server keeps nothing
// per reader (no slot): the position a stream has applied lives in the
// target's table states, each batch reads the binlog from there with
// @vlasky/zongji (a maintained binlog reader built on mysql2 that decodes
// MariaDB's GTID events and row events under binlog_row_metadata=FULL, where
// each row event names its columns itself), and the binlog is only ever
// read. A position is `<binlog file>:<offset>` of a commit's end (or of an
// event between transactions), ordered by the file's number, then the offset.
//
// The snapshot: MariaDB's START TRANSACTION WITH CONSISTENT SNAPSHOT records
// the binlog position of that snapshot (binlog_snapshot_file/_position), so
// no lock is needed; MySQL lacks those, and gets it under FLUSH TABLES WITH
// READ LOCK for the moment the snapshot is opened. The snapshot is one
// session's transaction, so every table of it is read on that one session.

const WHOLE: PartitionRange = { index: 0, count: 1, lo: null, hi: null };

/** What MysqlSource gives its change capture. */
export interface MysqlCaptureSource {
  readonly connectionOptions: ConnectionOptions;
  connection(): Promise<PoolConnection>;
  /** The catalog's columns now (the spelling plans and schema evolution use). */
  describeTable(ref: TableRef): Promise<SourceTable | null>;
  openCopyOn(plan: TablePlan, range: PartitionRange, preferBinary: boolean, filter?: ReadFilter, snapshot?: PoolConnection): Promise<CopyStream>;
}

const setup = (message: string) => new TablesyncError('CdcSetup', message);

const PRIVILEGES = "cdc reads the binary log as a replica does: the source's user needs REPLICATION SLAVE and BINLOG MONITOR (MySQL: REPLICATION CLIENT), e.g. GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO the user";

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

// ---------------------------------------------------------------- capture

/** The binlog reader's server id for a stream: the stream's hash (a replica id the source does not see twice). */
function readerId(stream: string, sourceId: number): number {
  let h = 0x811c9dc5;
  for (const ch of stream) h = Math.imul(h ^ ch.codePointAt(0)!, 0x01000193) >>> 0;
  const id = (h % 0x7ffffffe) + 1;
  return id === sourceId ? id + 1 : id;
}

/** A read stops after this long without a binlog event (the end it aimed at should come well before). */
const QUIET_MS = 5_000;
/** A read returns at the first transaction boundary after this long (its caller heartbeats between reads). */
const READ_MS = 2_000;

export class MysqlChangeCapture implements ChangeCapture {
  readonly positionType = 'binlog';
  // A FULL row image holds every column, generated (virtual or stored) ones too.
  readonly carriesGenerated = true;
  // The server purges its binlog by its own rules, whatever a reader has read.
  readonly holdsLog = false;
  /**
   * Per stream, a position this process read up to without anything to
   * apply (acknowledged idle): the next read starts there rather than at the
   * target's position, which an idle stream does not move. Lost with the
   * process, when reading again from the target's position is as correct.
   */
  private readonly idle = new Map<string, string>();
  /** Per stream, the idle position the last read returned (and for which tables): only such a position is remembered when acknowledged. */
  private readonly offered = new Map<string, { position: string; key: string }>();

  constructor(private readonly source: MysqlCaptureSource) {}

  private async query<T = Record<string, unknown>>(sql: string, conn?: PoolConnection): Promise<T[]> {
    const c = conn ?? (await this.source.connection());
    try {
      return await new Promise<T[]>((resolve, reject) => c.query(sql, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
    } finally {
      if (!conn) c.release();
    }
  }

  async check(tables: TableRef[]): Promise<void> {
    const vars = new Map(
      (await this.query<{ Variable_name: string; Value: string }>(
        "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata')",
      )).map((r) => [r.Variable_name.toLowerCase(), String(r.Value).toUpperCase()]),
    );
    if (vars.get('log_bin') !== 'ON') {
      throw setup("the source's log_bin is OFF: cdc reads the binary log; start the server with log_bin (and binlog_format = ROW, binlog_row_image = FULL, binlog_row_metadata = FULL)");
    }
    if (vars.get('binlog_format') !== 'ROW') {
      throw setup(`the source's binlog_format is ${vars.get('binlog_format')}: cdc reads row events; set binlog_format = ROW (SET GLOBAL binlog_format = 'ROW' and in the server's config)`);
    }
    if (vars.get('binlog_row_image') !== 'FULL') {
      throw setup(`the source's binlog_row_image is ${vars.get('binlog_row_image')}: cdc needs every column of each changed row; set binlog_row_image = FULL`);
    }
    if (vars.get('binlog_row_metadata') !== 'FULL') {
      // Without it a row event has no column names: they would be looked up now, for changes written under an older schema.
      throw setup(
        `the source's binlog_row_metadata is ${vars.get('binlog_row_metadata') ?? 'missing (MariaDB 10.5+ or MySQL 8.0+ has it)'}: cdc needs each row event to name its columns; set binlog_row_metadata = FULL (SET GLOBAL binlog_row_metadata = 'FULL' and in the server's config)`,
      );
    }
    await this.logs();
    for (const t of tables) {
      const [row] = await this.query<{ engine: string | null }>(
        `SELECT ENGINE AS engine FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${quoteString(t.schema)} AND TABLE_NAME = ${quoteString(t.name)}`,
      );
      if (row && row.engine && !/^innodb$/i.test(row.engine)) {
        throw setup(`table ${displayName(t)} is ${row.engine}: its rows are outside the transactional snapshot that cdc starts from; cdc needs InnoDB tables`);
      }
    }
  }

  private async logs(): Promise<{ file: string; size: number }[]> {
    try {
      return (await this.query<{ Log_name: string; File_size: string | number }>('SHOW BINARY LOGS')).map((r) => ({ file: r.Log_name, size: Number(r.File_size) }));
    } catch (err) {
      if ((err as { errno?: number }).errno === 1381) throw setup("the source's log_bin is OFF: cdc reads the binary log; start the server with log_bin");
      if ((err as { errno?: number }).errno === 1227) throw setup(`${(err as Error).message}: ${PRIVILEGES}`);
      throw err;
    }
  }

  private async end(conn?: PoolConnection): Promise<string> {
    const [row] = await this.query<{ File: string; Position: string | number }>('SHOW MASTER STATUS', conn);
    if (!row) throw setup("the source's log_bin is OFF: cdc reads the binary log; start the server with log_bin");
    return binlogPositionText(row.File, Number(row.Position));
  }

  async position(stream: string, applied?: string | null): Promise<StreamPosition | null> {
    // Nothing on the source stands for a stream: without a saved position there is none.
    if (!applied) return null;
    const at = parseBinlogPosition(splitPosition(applied).at);
    const logs = await this.logs();
    const here = logs.findIndex((l) => l.file === at.file);
    const gone = (why: string) =>
      new TablesyncError(
        'CdcGap',
        `${why}, so the changes after the saved position ${applied} cannot be read; run tablesync reset-state for a table of the stream and start again: the cdc workflow then takes a new snapshot of every table`,
      );
    if (here < 0) {
      throw gone(
        `binary log ${at.file} is no longer on the source (purged: PURGE BINARY LOGS, expire_logs_days or binlog_expire_logs_seconds; the oldest kept is ${logs[0]?.file ?? 'none'})`,
      );
    }
    if (here === logs.length - 1 && at.offset > logs[here].size) throw gone(`binary log ${at.file} is shorter than the saved position (was the log reset?)`);
    const lagBytes = logs.slice(here).reduce((n, l) => n + l.size, 0) - at.offset;
    return { confirmed: applied, retainedBytes: 0, lagBytes: Math.max(0, lagBytes), active: false };
  }

  async start(stream: string, tables: TableRef[], load: (read: SnapshotRead, position: string) => Promise<void>): Promise<string> {
    this.forget(stream);
    const conn = await this.source.connection();
    const run = (sql: string) => this.query<Record<string, string>>(sql, conn);
    try {
      await run('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      await run('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
      // MariaDB spells them Binlog_snapshot_file and _position.
      const status = new Map((await run("SHOW STATUS LIKE 'binlog_snapshot_%'")).map((r) => [r.Variable_name.toLowerCase(), r.Value]));
      let position: string;
      if (status.get('binlog_snapshot_file')) {
        position = binlogPositionText(status.get('binlog_snapshot_file')!, Number(status.get('binlog_snapshot_position')));
      } else {
        // MySQL: no snapshot position of its own; writes are held off while the snapshot opens and the position is read.
        await run('ROLLBACK');
        await run('FLUSH TABLES WITH READ LOCK');
        try {
          await run('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
          position = await this.end(conn);
        } finally {
          await run('UNLOCK TABLES');
        }
      }
      await load((plan) => this.source.openCopyOn(plan, WHOLE, true, EVERY_ROW, conn), position);
      await run('COMMIT');
      conn.release();
      return position;
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  /**
   * Whole transactions, or a piece of one larger than `limits.pieceChanges`
   * alone. The binlog keeps no reader's place, so a piece is named by where
   * its transaction starts (the reader's position before it) and the changes
   * applied: the next read starts there again and leaves those out.
   */
  async read(stream: string, maxChanges: number, limits: ReadLimits = {}): Promise<ChangeBatch> {
    const { tables = [], beat = () => undefined } = limits;
    // A piece's saved position reads from its transaction's start.
    const applied = limits.applied && splitPosition(limits.applied).at;
    if (!applied) throw new TablesyncError('CdcGap', `stream ${stream} has no saved position to read the binary log from; run tablesync reset-state for a table of the stream for a new snapshot`);
    // Idle stretches are judged for a set of tables: remembered per stream and that set.
    const key = JSON.stringify([stream, ...tables.map((t) => displayName(t.source)).sort()]);
    const idle = this.idle.get(key);
    const from = idle && compareBinlogPositions(idle, applied) > 0 ? idle : applied;
    const end = await this.end();
    if (compareBinlogPositions(from, end) >= 0) return { transactions: [], idleTo: from };
    const [{ id }] = await this.query<{ id: number | string }>('SELECT @@server_id AS id');
    const pieces = { piece: limits.pieceChanges ?? Infinity, resume: limits.resume };
    const reader = new BinlogRead(this.source.connectionOptions, readerId(stream, Number(id)), tables, from, end, maxChanges, beat, pieces);
    const batch = await reader.run();
    await this.resolveTypes(reader.unresolved);
    if (batch.idleTo) this.offered.set(stream, { position: batch.idleTo, key });
    return batch;
  }

  /**
   * A logged column whose type is not its plan's (an added or retyped
   * column) spelled as the catalog spells it now, when the catalog's type is
   * the one logged: the mode maps it from the catalog, and compares the two
   * spellings. A catalog that differs (changed again since) leaves the
   * logged spelling, and the mode refuses the change naming both.
   */
  private async resolveTypes(columns: { table: TableRef; column: ChangeShape[number] }[]): Promise<void> {
    const catalog = new Map<string, Map<string, string>>();
    for (const { table, column } of columns) {
      const name = displayName(table);
      let types = catalog.get(name);
      if (!types) {
        types = new Map(((await this.source.describeTable(table))?.columns ?? []).map((c) => [c.name, c.type]));
        catalog.set(name, types);
      }
      const now = types.get(column.name);
      if (now !== undefined && sameBinlogType(now, column.type)) column.type = now;
    }
  }

  async acknowledge(stream: string, position: string): Promise<void> {
    // The binlog keeps no reader's position: an applied one is in the target's states; an idle one (a stretch of
    // log with nothing for the stream's tables, a fact of the log whatever stream reads it) is remembered here,
    // only to skip re-reading it. An applied position is never remembered: it belongs to the stream that applied it.
    const offered = this.offered.get(stream);
    if (offered?.position !== position) return;
    const idle = this.idle.get(offered.key);
    if (!idle || compareBinlogPositions(position, idle) > 0) this.idle.set(offered.key, position);
  }

  async drop(stream: string): Promise<boolean> {
    // Nothing on the source to remove (the binlog is the server's, purged by its own rules).
    this.forget(stream);
    return false;
  }

  compare(a: string, b: string): number {
    return compareBinlogPositions(a, b);
  }

  private forget(stream: string): void {
    for (const key of this.idle.keys()) if ((JSON.parse(key) as string[])[0] === stream) this.idle.delete(key);
    this.offered.delete(stream);
  }
}

function quoteString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

const tableKey = (schema: string, name: string) => `${schema}\u0000${name}`;

interface TableMapEntry {
  parentSchema: string;
  tableName: string;
  /** The columns as the table-map event describes them (binlog_row_metadata=FULL), or as the catalog did for a table the reader had to look up. */
  columnSchemas?: { COLUMN_NAME: string; COLUMN_TYPE: string }[];
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

/** A column of a row event as its value is decoded: the plan's (retyped as logged), or for a column the plan lacks, one mapped from its logged type as a load would. */
function loggedColumn(plan: TablePlan, name: string, type: string): ColumnPlan {
  const known = plan.columns.find((c) => c.name === name);
  if (known) return sameBinlogType(known.sourceType, type) ? known : { ...known, sourceType: type };
  const dataType = (/^\s*([a-z0-9_]+)/i.exec(type)?.[1] ?? '').toLowerCase();
  const m = /\((\d+)(?:,(\d+))?\)/.exec(type);
  let targetType = 'text';
  try {
    targetType = mapMysqlType(
      { name, type, dataType, nullable: true, unsigned: /\bunsigned\b/i.test(type), precision: m ? Number(m[1]) : null, scale: m?.[2] !== undefined ? Number(m[2]) : /^(datetime|timestamp|time)$/.test(dataType) && m ? Number(m[1]) : null },
      plan.source,
    );
  } catch {
    // A type a load refuses: applying refuses the column, naming it.
  }
  return { name, targetName: name, sourceType: type, targetType, nullable: true };
}

type Event = BinlogEvent & Record<string, unknown>;

/**
 * One read of the binlog: from `from` up to `end` (the source's position when
 * the read began), whole transactions, stopping at the first commit after
 * about `maxChanges` changes, or at a piece of a transaction larger than
 * `piece` (alone in its read; see ReadLimits).
 */
class BinlogRead {
  private readonly tables: Map<string, TablePlan>;
  private file: string;
  /** The position after the last event read outside a transaction. */
  private at: string;
  private open: RowChange[] | null = null;
  /**
   * The open transaction: where it starts (the position read up to before it, the same whichever read meets it,
   * since a read starts at such a position), the changes an earlier piece applied (left out), the changes met so far.
   */
  private txn: { commit: string; skip: number; seen: number; time: number } | null = null;
  /** The open group is a single statement (DDL, TRUNCATE) with no commit event of its own. */
  private standalone = false;
  private readonly transactions: ChangeTransaction[] = [];
  private changes = 0;
  private readonly began = Date.now();
  private events = 0;
  /** The read stopped at its size: more may wait in the log. */
  private more = false;
  /** The shapes met, by table and logged columns. */
  private readonly shapes = new Map<string, { shape: ChangeShape; columns: Map<string, ColumnPlan> }>();
  /** Columns whose logged type is not the plan's: spelled as the catalog does after the read (see MysqlChangeCapture.resolveTypes). */
  readonly unresolved: { table: TableRef; column: ChangeShape[number] }[] = [];

  constructor(
    private readonly options: ConnectionOptions,
    private readonly serverId: number,
    tables: TablePlan[],
    private readonly from: string,
    private readonly end: string,
    private readonly maxChanges: number,
    private readonly beat: () => void,
    private readonly pieces: { piece: number; resume?: { commit: string; applied: number } },
  ) {
    this.tables = new Map(tables.map((t) => [tableKey(t.source.schema, t.source.name), t]));
    this.file = parseBinlogPosition(from).file;
    this.at = from;
  }

  run(): Promise<ChangeBatch> {
    const start = parseBinlogPosition(this.from);
    const zongji = new ZongJi({ ...this.options, timezone: 'Z', jsonStrings: true } as ConnectionOptions);
    return new Promise<ChangeBatch>((resolve, reject) => {
      let done = false;
      let quiet: NodeJS.Timeout | undefined;
      const finish = (err?: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(quiet);
        zongji.stop();
        if (err) reject(translate(err, this.at));
        else resolve(this.transactions.length ? { transactions: this.transactions, idleTo: null, more: this.more } : { transactions: [], idleTo: this.at });
      };
      const wait = () => {
        clearTimeout(quiet);
        quiet = setTimeout(() => finish(), QUIET_MS);
      };
      zongji.on('error', (err: unknown) => finish(err));
      zongji.on('binlog', (event: BinlogEvent) => {
        if (done) return;
        try {
          wait();
          if (++this.events % 100 === 0) this.beat(); // a rows event holds many rows: a large transaction is thousands of changes per 100
          if (this.take(event as Event)) finish();
        } catch (err) {
          finish(err);
        }
      });
      wait();
      zongji.start({
        serverId: this.serverId,
        filename: start.file,
        position: start.offset,
        includeEvents: ['rotate', 'format', 'query', 'xid', 'mariadbgtid', 'gtid', 'anonymousgtid', 'tablemap', 'writerows', 'updaterows', 'deleterows', 'xaprepare', 'transactionpayload', 'partialupdaterows'],
      });
    });
  }

  private plan(entry: TableMapEntry | undefined): TablePlan | undefined {
    return entry ? this.tables.get(tableKey(entry.parentSchema, entry.tableName)) : undefined;
  }

  /** Takes one event; true when the read is done. */
  private take(event: Event): boolean {
    const name = event.getEventName();
    const next = event.nextPosition;
    switch (name) {
      case 'rotate':
        this.file = event.binlogName as string;
        if (!this.open) this.at = binlogPositionText(this.file, Number(event.position));
        return this.reached();
      case 'mariadbgtid':
        // MariaDB's GTID event stands for BEGIN, or (standalone) for a statement group with no commit event.
        this.open = null;
        this.begin(event.timestamp);
        this.standalone = Boolean(event.standalone);
        return false;
      case 'gtid':
      case 'anonymousgtid':
        // MySQL: a BEGIN follows for a transaction; DDL comes alone.
        this.open = null;
        this.begin(event.timestamp);
        this.standalone = true;
        return false;
      case 'query':
        return this.statement(event);
      case 'xid':
        return this.commit(next, event.timestamp);
      case 'xaprepare':
        if (this.open?.length) throw setup('an XA transaction changed a cdc table: cdc does not apply XA (two-phase) transactions');
        this.open = null;
        return this.between(next);
      case 'writerows':
      case 'updaterows':
      case 'deleterows':
        return this.rows(name, event, event.timestamp);
      default:
        return this.open ? false : this.between(next);
    }
  }

  /** A transaction opens (a GTID event, BEGIN, or the first row of one without either). */
  private begin(timestamp: number): void {
    if (this.open !== null) return;
    this.open = [];
    const { resume } = this.pieces;
    const skip = resume && compareBinlogPositions(resume.commit, this.at) === 0 ? resume.applied : 0;
    this.txn = { commit: this.at, skip, seen: 0, time: timestamp };
  }

  /** Keeps one change of the open transaction, unless an earlier piece applied it; true when a piece is cut (the read is done). */
  private keep(change: RowChange): boolean {
    const txn = this.txn!;
    if (txn.seen < txn.skip) {
      txn.seen++;
      return false;
    }
    // Cut before a change past the piece, never after the last: a transaction's last piece always holds a change.
    if (this.open!.length >= this.pieces.piece) return this.cut();
    txn.seen++;
    this.open!.push(change);
    return false;
  }

  /**
   * The open transaction is larger than a piece: alone in the read, its changes so far are a piece (not acknowledged,
   * named by the transaction's start and the changes applied then); after whole ones, it is left to the next read.
   */
  private cut(): boolean {
    const txn = this.txn!;
    if (!this.transactions.length) {
      const commitTime = txn.time > 0 ? { commitTime: new Date(txn.time).toISOString() } : {};
      this.transactions.push({ position: piecePosition(txn.commit, txn.seen), commit: txn.commit, first: txn.skip, changes: this.open!, partial: true, ...commitTime });
    }
    this.open = null;
    this.more = true;
    return true;
  }

  private rows(name: string, event: Event, timestamp: number): boolean {
    const entry = (event.tableMap as Record<number, TableMapEntry>)[event.tableId as number];
    const plan = this.plan(entry);
    if (!plan) return false;
    this.begin(timestamp);
    const table = plan.source;
    // This event's own columns (its table map precedes it): a row logged before an ALTER has the old ones, after it the new.
    const { shape, columns } = this.shapeOf(plan, entry!);
    const rows = event.rows as (RowData | { before: RowData; after: RowData })[];
    for (const r of rows) {
      let change: RowChange;
      if (name === 'writerows') change = { kind: 'insert', table, row: values(columns, r as RowData), shape };
      else if (name === 'deleterows') change = { kind: 'delete', table, oldKey: key(plan, columns, r as RowData) };
      else {
        const { before, after } = r as { before: RowData; after: RowData };
        const oldKey = key(plan, columns, before);
        const row = values(columns, after);
        const moved = plan.primaryKey.some((k) => oldKey[k] !== row[k]);
        change = { kind: 'update', table, oldKey: moved ? oldKey : null, row, shape };
      }
      if (this.keep(change)) return true;
    }
    return false;
  }

  /**
   * The table's columns as a row event's table map logs them, as a shape the
   * mode compares with the plan (the plan's spelling where the type is the
   * same; the catalog's, found after the read, where it is not) and as the
   * columns its values are decoded with. One shape per distinct table map:
   * the rows of one shape share it.
   */
  private shapeOf(plan: TablePlan, entry: TableMapEntry): { shape?: ChangeShape; columns: Map<string, ColumnPlan> } {
    const logged = entry.columnSchemas;
    if (!logged?.length) return { columns: new Map(plan.columns.map((c) => [c.name, c])) };
    const id = JSON.stringify([displayName(plan.source), ...logged.map((c) => [c.COLUMN_NAME, c.COLUMN_TYPE])]);
    let known = this.shapes.get(id);
    if (!known) {
      const shape: ChangeShape = logged.map((c) => {
        const column = plan.columns.find((p) => p.name === c.COLUMN_NAME);
        return { name: c.COLUMN_NAME, type: column && sameBinlogType(column.sourceType, c.COLUMN_TYPE) ? column.sourceType : c.COLUMN_TYPE };
      });
      for (const [i, c] of logged.entries()) if (shape[i].type === c.COLUMN_TYPE && !plan.columns.some((p) => p.name === c.COLUMN_NAME && p.sourceType === c.COLUMN_TYPE)) this.unresolved.push({ table: plan.source, column: shape[i] });
      known = { shape, columns: new Map(logged.map((c) => [c.COLUMN_NAME, loggedColumn(plan, c.COLUMN_NAME, c.COLUMN_TYPE)])) };
      this.shapes.set(id, known);
    }
    return known;
  }

  private statement(event: Event): boolean {
    const sql = String(event.query);
    const { kind, tables } = statementEffect(sql, String(event.schema ?? ''));
    if (kind === 'begin') {
      this.begin(event.timestamp);
      this.standalone = false;
      return false;
    }
    if (kind === 'commit') return this.commit(event.nextPosition, event.timestamp);
    if (kind === 'rollback') {
      this.open = null;
      return this.between(event.nextPosition);
    }
    const ours = tables
      .map((ref) => this.tables.get(tableKey(ref.schema, ref.name)))
      .filter((t): t is TablePlan => t !== undefined);
    if (ours.length) {
      const names = [...new Set(ours.map((t) => displayName(t.source)))].join(', ');
      if (kind === 'truncate') {
        this.begin(event.timestamp);
        if (this.keep({ kind: 'truncate', tables: [...new Map(ours.map((t) => [displayName(t.source), t.source])).values()] })) return true;
      } else if (kind === 'ddl') {
        // An ALTER is not refused here: what it did to the columns shows in the next row event's table map.
        throw new TablesyncError(
          'CdcSchemaChange',
          `${names}: the source dropped, replaced or renamed the table (${clip(sql)}); cdc follows a table's columns, not its name: run tablesync reset-state for the table, then the cdc workflow takes a new snapshot`,
        );
      } else if (kind === 'dml') {
        // A session with binlog_format = STATEMENT (or MIXED) logs the statement, not its rows: they cannot be applied.
        throw setup(`${names}: changed by a statement logged as text, not as rows (${clip(sql)}); every session writing cdc tables needs binlog_format = ROW; run tablesync reset-state for the table for a new snapshot`);
      }
    }
    // A statement outside a transaction (DDL, TRUNCATE: a group of its own) ends with itself.
    return this.open === null || this.standalone ? this.commit(event.nextPosition, event.timestamp) : false;
  }

  /** `timestamp`: the commit event's time (ms; the binlog keeps whole seconds). */
  private commit(next: number, timestamp: number): boolean {
    const position = binlogPositionText(this.file, next);
    if (this.open?.length) {
      const txn = this.txn!;
      this.transactions.push({ position, changes: this.open, commit: txn.commit, first: txn.skip, ...(timestamp > 0 && { commitTime: new Date(timestamp).toISOString() }) });
      this.changes += this.open.length;
    }
    this.open = null;
    this.txn = null;
    this.standalone = false;
    this.at = position;
    this.more = this.changes >= this.maxChanges;
    return this.more || this.reached();
  }

  private between(next: number): boolean {
    if (next > 0) this.at = binlogPositionText(this.file, next);
    return this.reached();
  }

  private reached(): boolean {
    return this.open === null && (compareBinlogPositions(this.at, this.end) >= 0 || Date.now() - this.began > READ_MS);
  }
}

function values(columns: Map<string, ColumnPlan>, row: RowData): Record<string, ChangeValue> {
  const out: Record<string, ChangeValue> = {};
  for (const [name, v] of Object.entries(row)) {
    const column = columns.get(name);
    // A column no table map named is passed on as is: applying refuses it, naming it.
    out[name] = column ? binlogValueText(column, v) : v === null || v === undefined ? null : String(v);
  }
  return out;
}

function key(plan: TablePlan, columns: Map<string, ColumnPlan>, row: RowData): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const k of plan.primaryKey) out[k] = binlogValueText(columns.get(k) ?? plan.columns.find((c) => c.name === k)!, row[k]);
  return out;
}

const clip = (sql: string) => (sql.length > 200 ? `${sql.slice(0, 200)}…` : sql).replace(/\s+/g, ' ').trim();

/** The reader's errors as cdc's: a purged log is a gap, a missing privilege a setup error. */
function translate(err: unknown, at: string): unknown {
  if (err instanceof TablesyncError) return err;
  const e = err as { errno?: number; code?: string; message?: string };
  if (e.errno === 1236) {
    return new TablesyncError(
      'CdcGap',
      `the source cannot send its binary log from ${at} (${e.message}): purged, or the log was reset, so changes after it cannot be read; run tablesync reset-state for a table of the stream and start again: the cdc workflow then takes a new snapshot of every table`,
    );
  }
  if (e.errno === 1227 || e.errno === 1045) return setup(`${e.message}: ${PRIVILEGES}`);
  if (/binlog_transaction_compression|PARTIAL_JSON/i.test(e.message ?? '')) return setup(e.message!);
  return err;
}
