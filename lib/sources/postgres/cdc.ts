import { Client, type ClientConfig, type Pool } from 'pg';
import type { Pgoutput } from 'pg-logical-replication';
import { TablesyncError } from '../../errors';
import type { PartitionRange, TableRef } from '../../types';
import type { CopyStream, ReadFilter } from '../base';
import { EVERY_ROW } from '../base';
import { piecePosition, splitPosition, type ChangeBatch, type ChangeCapture, type ChangeShape, type ChangeTransaction, type ChangeValue, type ReadLimits, type RowChange, type SnapshotOptions, type SnapshotRead, type StreamPosition } from '../changes';
import { PgReplicationStream } from './cdc-stream';
import { qualifyPg, quotePg } from './sql';
import type { TablePlan } from '../../types';

// PostgreSQL change capture: one publication and one logical replication slot
// (pgoutput) per stream. The slot is created on a replication connection with
// an exported snapshot, which the initial load reads under; changes are then
// streamed on a replication connection the worker keeps open from batch to
// batch (cdc-stream.ts), which only moves the slot's confirmed position when
// tablesync says a batch is applied. The walsender runs the output functions
// with tablesync's pinned session settings (the pool's startup options), so
// values arrive in the same exact text a load reads. pg-logical-replication's
// pgoutput parser decodes the messages.

const WHOLE: PartitionRange = { index: 0, count: 1, lo: null, hi: null };

/** A pg_lsn as a number, to compare. */
export function lsnValue(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]+)\/([0-9A-Fa-f]+)$/.exec(lsn);
  if (!m) throw new Error(`not a PostgreSQL LSN: "${lsn}"`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/** PostgreSQL's own spelling of an LSN (hex halves without leading zeros). */
export function lsnText(lsn: string): string {
  return lsnFromValue(lsnValue(lsn));
}

/** A number as PostgreSQL spells an LSN. */
function lsnFromValue(v: bigint): string {
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** What PostgresSource gives its change capture: its pool and a snapshot read of a table. */
export interface PgCaptureSource {
  readonly pool: Pool;
  openCopy(plan: TablePlan, range: PartitionRange, preferBinary: boolean, filter?: ReadFilter, snapshot?: string): Promise<CopyStream>;
}

const setup = (message: string) => new TablesyncError('CdcSetup', message);

/** Messages read ahead at least (a batch's size otherwise): the next batch's changes come while one is applied. */
const MIN_READ_AHEAD = 1_000;
/** A stream no batch has used this long is closed (a paused or stopped workflow): the walsender and slot are freed. */
const IDLE_CLOSE_MS = 5_000;

/** A slot's stream open on this worker, and where the batches it handed out stand. */
interface Reader {
  stream: PgReplicationStream;
  /** Relation messages come once per stream (and again after a schema change): their shapes, by relation. */
  shapes: Map<number, ChangeShape>;
  /** Columns whose type names are still to look up. */
  unresolved: { column: ChangeShape[number]; oid: number; mod: number }[];
  /** The transaction being read (it may go on in the next read, after a piece, or a piece not yet handed out). */
  open: (ChangeTransaction & { seen: number; skip: number; commit: string }) | null;
  /** The position of the last transaction (or piece) handed out. */
  delivered: string | null;
  /** A read is running. */
  busy: boolean;
  /** Handed out and not yet acknowledged (a batch is being applied): not closed as idle. */
  leased: boolean;
  used: number;
}

/** pgoutput's commit time (microseconds since 1970, as the parser gives it) as ISO 8601. */
function timeText(micros: unknown): string {
  return new Date(Number(BigInt(micros as bigint) / 1000n)).toISOString();
}

export class PgChangeCapture implements ChangeCapture {
  readonly positionType = 'pg_lsn';
  // PostgreSQL 15's pgoutput leaves generated columns out.
  readonly carriesGenerated = false;
  readonly holdsLog = true;
  private readonly typeNames = new Map<string, string>();
  private readonly readers = new Map<string, Reader>();
  private reap: NodeJS.Timeout | null = null;
  constructor(private readonly source: PgCaptureSource) {}

  private get pool(): Pool {
    return this.source.pool;
  }

  async check(tables: TableRef[]): Promise<void> {
    const r = await this.pool.query(`SELECT current_setting('wal_level') AS wal_level, current_setting('max_replication_slots')::int AS slots,
      (SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user) AS replication, current_user AS "user"`);
    const s = r.rows[0];
    if (s.wal_level !== 'logical') {
      throw setup(`the source's wal_level is "${s.wal_level}"; cdc needs wal_level = logical (postgresql.conf, then restart the server)`);
    }
    if (s.slots < 1) throw setup('the source has max_replication_slots = 0; cdc needs one free replication slot');
    if (!s.replication) {
      throw setup(`role "${s.user}" has no REPLICATION privilege; cdc reads the log through a replication slot (ALTER ROLE "${s.user}" REPLICATION)`);
    }
    for (const t of tables) {
      const q = await this.pool.query(
        `SELECT c.relreplident AS identity, EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS keyed
         FROM pg_class c WHERE c.oid = $1::regclass`,
        [qualifyPg(t)],
      );
      const row = q.rows[0];
      const name = `${t.schema}.${t.name}`;
      if (row.identity === 'n') {
        throw setup(`table ${name} has REPLICA IDENTITY NOTHING: its updates and deletes name no row; set REPLICA IDENTITY DEFAULT (with a primary key) or FULL`);
      }
      if (row.identity === 'd' && !row.keyed) {
        throw setup(`table ${name} has no primary key, so its updates and deletes carry no key (replica identity); add a primary key`);
      }
    }
  }

  async position(stream: string): Promise<StreamPosition | null> {
    const r = await this.pool.query(
      `SELECT confirmed_flush_lsn::text AS confirmed, active,
        COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint AS retained,
        COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint AS lag
       FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()`,
      [stream],
    );
    const row = r.rows[0];
    if (!row) return null;
    return { confirmed: row.confirmed, active: row.active, retainedBytes: Number(row.retained), lagBytes: Number(row.lag) };
  }

  async start(stream: string, tables: TableRef[], load: (read: SnapshotRead, position: string, options?: SnapshotOptions) => Promise<void>): Promise<string> {
    const list = tables.map(qualifyPg).join(', ');
    const exists = await this.pool.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [stream]);
    await this.pool.query(exists.rowCount ? `ALTER PUBLICATION ${quotePg(stream)} SET TABLE ${list}` : `CREATE PUBLICATION ${quotePg(stream)} FOR TABLE ${list}`);
    const options = (this.pool as unknown as { options: ClientConfig }).options;
    // The exported snapshot lives as long as this connection runs nothing else: the load reads under it meanwhile.
    const replication = new Client({ ...options, replication: 'database' } as ClientConfig);
    const ignore = () => undefined;
    replication.on('error', ignore);
    await replication.connect();
    try {
      const created = await replication.query(`CREATE_REPLICATION_SLOT ${quotePg(stream)} LOGICAL pgoutput EXPORT_SNAPSHOT`);
      const { consistent_point: start, snapshot_name: snapshot } = created.rows[0];
      try {
        // Any session may read under the exported snapshot: the load reads block ranges of a table at once.
        await load((plan, range = WHOLE) => this.source.openCopy(plan, range, true, EVERY_ROW, snapshot), lsnText(start), { ranges: true });
      } catch (err) {
        // A stream whose snapshot was not loaded is no use: the next attempt starts over with a new one.
        await replication.end().catch(() => undefined);
        await this.drop(stream).catch(() => undefined);
        throw err;
      }
      return lsnText(start);
    } finally {
      await replication.end().catch(() => undefined);
    }
  }

  /** The stream of this slot open on this worker, if it may go on from where it is (see goesOn); else a new one. */
  private async readerOf(stream: string, limits: ReadLimits): Promise<Reader> {
    let r = this.readers.get(stream);
    // A read still running is an earlier attempt cut off from Temporal: this one takes the slot over.
    if (r && (r.busy || r.stream.failed || !this.goesOn(r, limits))) {
      await this.close(stream);
      r = undefined;
    }
    if (!r) {
      r = { stream: await PgReplicationStream.open(this.pool, stream, limits.beat ?? (() => undefined)), shapes: new Map(), unresolved: [], open: null, delivered: null, busy: false, leased: false, used: Date.now() };
      this.readers.set(stream, r);
      this.reap ??= setInterval(() => this.closeIdle(), 1_000).unref();
    }
    return r;
  }

  /**
   * Whether a stream may go on after what it handed out last: only when the
   * target saved at least that much as applied. A stream never skips, it only
   * sends the log in order from where it started; so what it handed out and
   * was not applied (a batch that failed, rolled back) is read again from the
   * slot's confirmed position by a new stream, and what was applied besides
   * (by another worker meanwhile) is skipped by the saved positions.
   */
  private goesOn(r: Reader, limits: ReadLimits): boolean {
    if (r.delivered === null) return true;
    const { applied = null, resume } = limits;
    if (applied === null) return false;
    const { at, applied: count } = splitPosition(r.delivered);
    const c = this.compare(applied, at);
    if (count === null) return c >= 0;
    return c > 0 || (c === 0 && resume !== undefined && this.compare(resume.commit, at) === 0 && resume.applied >= count);
  }

  private closeIdle(): void {
    for (const [stream, r] of this.readers) if (!r.busy && !r.leased && Date.now() - r.used > IDLE_CLOSE_MS) void this.close(stream);
    if (!this.readers.size && this.reap) {
      clearInterval(this.reap);
      this.reap = null;
    }
  }

  /** Ends this worker's stream of the slot, if any: the slot is free for another reader or a drop once this returns. */
  async close(stream: string): Promise<void> {
    const r = this.readers.get(stream);
    if (!r) return;
    this.readers.delete(stream);
    await r.stream.close();
  }

  async read(stream: string, maxChanges: number, limits: ReadLimits = {}): Promise<ChangeBatch> {
    const piece = limits.pieceChanges ?? Infinity;
    const beat = limits.beat ?? (() => undefined);
    const r = await this.readerOf(stream, limits);
    r.busy = true;
    r.used = Date.now();
    try {
      // Commits before this position are all sent before the stream says it decoded past it: with none for us, it may be acknowledged.
      const upto = lsnValue((await this.pool.query('SELECT pg_current_wal_lsn()::text AS upto')).rows[0].upto as string);
      r.stream.readAhead = Math.max(MIN_READ_AHEAD, maxChanges);
      const transactions: ChangeTransaction[] = [];
      let changes = 0;
      let stopped = false;
      let taken = 0;
      const keep = (change: RowChange) => {
        const txn = r.open!;
        if (txn.seen++ < txn.skip) return; // applied by an earlier piece
        txn.changes.push(change);
      };
      read: for (;;) {
        // A piece goes alone in its batch: the whole transactions before it are applied and acknowledged first.
        if (r.open && r.open.changes.length >= piece) {
          stopped = true;
          if (transactions.length) break;
          const { seen, skip: _skip, ...txn } = r.open;
          transactions.push({ ...txn, position: piecePosition(txn.commit, seen), partial: true });
          r.open = { ...r.open, changes: [], first: seen };
          break;
        }
        const msg = r.stream.take();
        if (!msg) {
          // Nothing more received yet: what is read whole is applied now while the server sends more (a transaction
          // begun goes on in the next read), so batches grow to their size only when applying is the slower side.
          // With nothing read, the read waits until the server decoded past `upto`.
          if (transactions.length || (!r.open && r.stream.drainedTo(upto))) {
            stopped = !!r.open || !r.stream.drainedTo(upto);
            break;
          }
          beat();
          await r.stream.wait(100);
          continue;
        }
        if (++taken % 1_000 === 0) beat();
        switch (msg.tag) {
          case 'relation': {
            const shape: ChangeShape = msg.columns.map((c) => ({ name: c.name, type: '' }));
            msg.columns.forEach((c, i) => r.unresolved.push({ column: shape[i], oid: c.typeOid, mod: c.typeMod }));
            r.shapes.set(msg.relationOid, shape);
            break;
          }
          case 'begin': {
            const commit = lsnText(msg.commitLsn!);
            const skip = limits.resume && this.compare(limits.resume.commit, commit) === 0 ? limits.resume.applied : 0;
            r.open = { position: '', commit, commitTime: timeText(msg.commitTime), changes: [], first: skip, seen: 0, skip };
            break;
          }
          case 'commit': {
            const { seen: _seen, skip: _skip, ...txn } = r.open!;
            transactions.push({ ...txn, position: lsnText(msg.commitEndLsn!) });
            changes += txn.changes.length;
            r.open = null;
            if (changes >= maxChanges) {
              stopped = true;
              break read;
            }
            break;
          }
          case 'insert':
            keep({ kind: 'insert', table: refOf(msg.relation), row: msg.new as Record<string, ChangeValue>, shape: r.shapes.get(msg.relation.relationOid) });
            break;
          case 'update': {
            const before = msg.key ?? msg.old;
            const oldKey = before ? keyOf(msg.relation, before) : null;
            const newKey = keyOf(msg.relation, msg.new);
            const moved = oldKey !== null && msg.relation.keyColumns.some((k) => oldKey[k] !== newKey[k]);
            keep({ kind: 'update', table: refOf(msg.relation), oldKey: moved ? oldKey : null, row: msg.new as Record<string, ChangeValue>, shape: r.shapes.get(msg.relation.relationOid) });
            break;
          }
          case 'delete':
            keep({ kind: 'delete', table: refOf(msg.relation), oldKey: keyOf(msg.relation, (msg.key ?? msg.old)!) });
            break;
          case 'truncate':
            keep({ kind: 'truncate', tables: msg.relations.map(refOf) });
            break;
          default:
            break; // type, origin, logical messages: nothing to apply
        }
      }
      await this.resolveTypes(r.unresolved.splice(0));
      const idle = transactions.length || r.open ? null : r.stream.idleAt;
      if (transactions.length) r.delivered = transactions[transactions.length - 1].position;
      // Handed out: kept open (not reaped) until acknowledged, or closed when the batch fails.
      r.leased = transactions.length > 0 || idle !== null;
      return { transactions, idleTo: idle === null ? null : lsnFromValue(idle), more: stopped };
    } catch (err) {
      // Unless a later attempt took the slot over meanwhile (then its stream is the one kept).
      if (this.readers.get(stream) === r) this.readers.delete(stream);
      await r.stream.close();
      throw err;
    } finally {
      r.busy = false;
      r.used = Date.now();
    }
  }

  /** Type names of the columns relation messages described (by oid and modifier), as the catalog spells them. */
  private async resolveTypes(columns: Reader['unresolved']): Promise<void> {
    for (const { column, oid, mod } of columns) {
      const key = `${oid}/${mod}`;
      let name = this.typeNames.get(key);
      if (name === undefined) {
        name = (await this.pool.query('SELECT format_type($1::oid, $2::int) AS name', [oid, mod])).rows[0].name as string;
        this.typeNames.set(key, name);
      }
      column.type = name;
    }
  }

  async acknowledge(stream: string, position: string): Promise<void> {
    const r = this.readers.get(stream);
    if (r) {
      r.leased = false;
      r.used = Date.now();
    }
    // A piece of a transaction is not acknowledged: the rest of it is read from the same place if this stream ends.
    if (splitPosition(position).applied !== null) return;
    if (r && !r.stream.failed) return r.stream.acknowledge(lsnValue(position));
    // No stream here (it broke after the read): told the SQL way unless another reader holds the slot now (it acknowledges
    // what it applies; until then a re-read skips this by the saved positions). Never backwards (advance refuses that).
    await this.pool.query(
      `SELECT pg_replication_slot_advance(slot_name, $2::pg_lsn) FROM pg_replication_slots
       WHERE slot_name = $1 AND NOT active AND confirmed_flush_lsn < $2::pg_lsn`,
      [stream, position],
    );
  }

  async drop(stream: string): Promise<boolean> {
    await this.close(stream);
    // A stream still open on another worker (its workflow stopped or gone) holds the slot: ended first, then dropped.
    for (let tries = 0; ; tries++) {
      await this.pool.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [stream]);
      try {
        const r = await this.pool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [stream]);
        await this.pool.query(`DROP PUBLICATION IF EXISTS ${quotePg(stream)}`);
        return (r.rowCount ?? 0) > 0;
      } catch (err) {
        if ((err as { code?: string }).code !== '55006' || tries >= 50) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }


  compare(a: string, b: string): number {
    // A piece's position (commit#applied) orders by its commit here; apply.ts looks at the count.
    const d = lsnValue(splitPosition(a).at) - lsnValue(splitPosition(b).at);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  }
}

function refOf(relation: Pgoutput.MessageRelation): TableRef {
  return { schema: relation.schema, name: relation.name };
}

/** The replica identity's columns of a tuple (the primary key under the default identity). */
function keyOf(relation: Pgoutput.MessageRelation, tuple: Record<string, unknown>): Record<string, string | null> {
  const key: Record<string, string | null> = {};
  for (const k of relation.keyColumns) key[k] = (tuple[k] ?? null) as string | null;
  return key;
}
