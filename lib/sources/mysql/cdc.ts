import type { ConnectionOptions, PoolConnection } from 'mysql2';
import { TablesyncError } from '../../errors';
import { displayName } from '../../tables';
import type { PartitionRange, TablePlan, TableRef } from '../../types';
import type { CopyStream, ReadFilter, SourceTable } from '../base';
import { EVERY_ROW } from '../base';
import { splitPosition, type ChangeBatch, type ChangeCapture, type ChangeShape, type ReadLimits, type SnapshotRead, type StreamPosition } from '../changes';
import { binlogPositionText, compareBinlogPositions, parseBinlogPosition, PRIVILEGES, sameBinlogType, setup } from './binlog';
import { BinlogRead } from './binlog-read';
export { binlogPositionText, binlogValueText, compareBinlogPositions, parseBinlogPosition, sameBinlogType, statementEffect, type BinlogPosition, type StatementKind } from './binlog';

// MariaDB/MySQL change capture from the binary log. The server keeps nothing
// per reader (no slot): the position a stream has applied lives in the
// target's table states, each batch reads the binlog from there with
// @vlasky/zongji (a maintained binlog reader built on mysql2 that decodes
// MariaDB's GTID events and row events under binlog_row_metadata=FULL, where
// each row event names its columns itself), and the binlog is only ever
// read. A position is `<binlog file>:<offset>` of a commit's end (or of an
// event between transactions), ordered by the file's number, then the offset;
// a piece of a large transaction's is `<where it starts>#<changes applied>`.
// Positions, values and statements are in binlog.ts, one read in binlog-read.ts.
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
// ---------------------------------------------------------------- capture

/** The binlog reader's server id for a stream: the stream's hash (a replica id the source does not see twice). */
function readerId(stream: string, sourceId: number): number {
  let h = 0x811c9dc5;
  for (const ch of stream) h = Math.imul(h ^ ch.codePointAt(0)!, 0x01000193) >>> 0;
  const id = (h % 0x7ffffffe) + 1;
  return id === sourceId ? id + 1 : id;
}


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
