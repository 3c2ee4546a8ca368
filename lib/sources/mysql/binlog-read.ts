import ZongJi, { type BinlogEvent, type RowData } from '@vlasky/zongji';
import type { ConnectionOptions } from 'mysql2';
import { TablesyncError } from '../../errors';
import { displayName } from '../../tables';
import type { ColumnPlan, TablePlan, TableRef } from '../../types';
import { piecePosition, type ChangeBatch, type ChangeShape, type ChangeTransaction, type ChangeValue, type RowChange } from '../changes';
import { binlogPositionText, binlogValueText, compareBinlogPositions, parseBinlogPosition, PRIVILEGES, sameBinlogType, setup, statementEffect } from './binlog';
import { mapMysqlType } from './types';

// One read of the binary log for a cdc batch (see cdc.ts): zongji from a
// position to the source's end when the read began, decoded into whole
// transactions of the stream's tables, or a piece of a large one.

/** A read stops after this long without a binlog event (the end it aimed at should come well before). */
const QUIET_MS = 5_000;
/** A read returns at the first transaction boundary after this long (its caller heartbeats between reads). */
const READ_MS = 2_000;

const tableKey = (schema: string, name: string) => `${schema}\u0000${name}`;

interface TableMapEntry {
  parentSchema: string;
  tableName: string;
  /** The columns as the table-map event describes them (binlog_row_metadata=FULL), or as the catalog did for a table the reader had to look up. */
  columnSchemas?: { COLUMN_NAME: string; COLUMN_TYPE: string }[];
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
export class BinlogRead {
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
