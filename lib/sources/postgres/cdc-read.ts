import type { Pool } from 'pg';
import type { Pgoutput } from 'pg-logical-replication';
import type { TableRef } from '../../types';
import { piecePosition, splitPosition, type ChangeBatch, type ChangeShape, type ChangeTransaction, type ChangeValue, type ReadLimits, type RowChange } from '../changes';
import { MIN_READ_AHEAD, PgReplicationStream } from './cdc-stream';
import { lsnFromValue, lsnText, lsnValue } from './lsn';

// The change streams a worker keeps open (cdc-stream.ts), one per slot, and
// the reads of a cdc batch from them: pgoutput messages into whole source
// transactions (or a piece of a large one), in the exact text a load reads.

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

/** The streams of the slots this worker reads, and where each stands. */
export class PgStreamReaders {
  private readonly readers = new Map<string, Reader>();
  private reap: NodeJS.Timeout | null = null;
  private readonly typeNames = new Map<string, string>();
  constructor(
    private readonly pool: () => Pool,
    private readonly compare: (a: string, b: string) => number,
  ) {}

  /** The stream of this slot open on this worker, if it may go on from where it is (see goesOn); else a new one. */
  private async readerOf(stream: string, limits: ReadLimits): Promise<Reader> {
    let r = this.readers.get(stream);
    // A read still running is an earlier attempt cut off from Temporal: this one takes the slot over.
    if (r && (r.busy || r.stream.failed || !this.goesOn(r, limits))) {
      await this.close(stream);
      r = undefined;
    }
    if (!r) {
      r = { stream: await PgReplicationStream.open(this.pool(), stream, limits.beat ?? (() => undefined)), shapes: new Map(), unresolved: [], open: null, delivered: null, busy: false, leased: false, used: Date.now() };
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

  async closeAll(): Promise<void> {
    await Promise.all([...this.readers.keys()].map((stream) => this.close(stream)));
  }

  async read(stream: string, maxChanges: number, limits: ReadLimits = {}): Promise<ChangeBatch> {
    const piece = limits.pieceChanges ?? Infinity;
    const beat = limits.beat ?? (() => undefined);
    const r = await this.readerOf(stream, limits);
    r.busy = true;
    r.used = Date.now();
    try {
      // Commits before this position are all sent before the stream says it decoded past it: with none for us, it may be acknowledged.
      const upto = lsnValue((await this.pool().query('SELECT pg_current_wal_lsn()::text AS upto')).rows[0].upto as string);
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
          await r.stream.wait(100, !r.open);
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
        name = (await this.pool().query('SELECT format_type($1::oid, $2::int) AS name', [oid, mod])).rows[0].name as string;
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
    await this.pool().query(
      `SELECT pg_replication_slot_advance(slot_name, $2::pg_lsn) FROM pg_replication_slots
       WHERE slot_name = $1 AND NOT active AND confirmed_flush_lsn < $2::pg_lsn`,
      [stream, position],
    );
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
