import { Client, type ClientConfig, type Pool, type PoolClient } from 'pg';
import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { TablesyncError } from '../../errors';
import type { PartitionRange, TableRef } from '../../types';
import type { CopyStream, ReadFilter } from '../base';
import { EVERY_ROW } from '../base';
import { piecePosition, splitPosition, type ChangeBatch, type ChangeCapture, type ChangeShape, type ChangeTransaction, type ChangeValue, type ReadLimits, type RowChange, type SnapshotOptions, type SnapshotRead, type StreamPosition } from '../changes';
import { qualifyPg, quotePg } from './sql';
import type { TablePlan } from '../../types';

// PostgreSQL change capture: one publication and one logical replication slot
// (pgoutput) per stream. The slot is created on a replication connection with
// an exported snapshot, which the initial load reads under; changes are then
// read through the SQL interface (pg_logical_slot_peek_binary_changes), which
// leaves them in the slot until tablesync says they are applied
// (pg_replication_slot_advance), and runs the output functions in a session
// with tablesync's pinned settings, so values arrive in the same exact text a
// load reads. pg-logical-replication's pgoutput parser decodes the messages.

const WHOLE: PartitionRange = { index: 0, count: 1, lo: null, hi: null };

/** A pg_lsn as a number, to compare. */
export function lsnValue(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]+)\/([0-9A-Fa-f]+)$/.exec(lsn);
  if (!m) throw new Error(`not a PostgreSQL LSN: "${lsn}"`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/** PostgreSQL's own spelling of an LSN (hex halves without leading zeros). */
export function lsnText(lsn: string): string {
  const v = lsnValue(lsn);
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** What PostgresSource gives its change capture: its pool and a snapshot read of a table. */
export interface PgCaptureSource {
  readonly pool: Pool;
  openCopy(plan: TablePlan, range: PartitionRange, preferBinary: boolean, filter?: ReadFilter, snapshot?: string): Promise<CopyStream>;
}

const setup = (message: string) => new TablesyncError('CdcSetup', message);

/** Rows fetched from the peek's cursor at a time. */
const FETCH_ROWS = 2_000;

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

  async read(stream: string, maxChanges: number, limits: ReadLimits = {}): Promise<ChangeBatch> {
    const piece = limits.pieceChanges ?? Infinity;
    const db = await this.pool.connect();
    let broken: Error | undefined;
    try {
      // Commits before this position are all decoded by the peek below: with none for us, it may be acknowledged.
      const upto = (await db.query('SELECT pg_current_wal_lsn()::text AS upto')).rows[0].upto as string;
      // Fetched in slices through a cursor: the server keeps what the peek decoded (on disk past work_mem), the
      // worker holds one slice and the changes it keeps, never a large transaction's rows all at once.
      await db.query('BEGIN');
      await db.query(
        `DECLARE tablesync_changes NO SCROLL CURSOR FOR
         SELECT data FROM pg_logical_slot_peek_binary_changes($1, $2::pg_lsn, $3, 'proto_version', '1', 'publication_names', $4)`,
        [stream, upto, maxChanges, quotePg(stream)],
      );
      // One decoder per read: relation messages come again in every read's decoding session.
      const parser = new PgoutputPlugin({ protoVersion: 1, publicationNames: [stream] });
      const shapes = new Map<number, ChangeShape>();
      const unresolved: { column: ChangeShape[number]; oid: number; mod: number }[] = [];
      const transactions: ChangeTransaction[] = [];
      let changes = 0;
      let rows = 0;
      let open: (ChangeTransaction & { seen: number; skip: number; commit: string }) | null = null;
      let stopped = false;
      const keep = (change: RowChange) => {
        const txn = open!;
        if (txn.seen++ < txn.skip) return; // applied by an earlier piece
        txn.changes.push(change);
      };
      read: for (;;) {
        const slice = (await db.query(`FETCH ${FETCH_ROWS} FROM tablesync_changes`)).rows as { data: Buffer }[];
        limits.beat?.();
        if (!slice.length) break;
        rows += slice.length;
        for (const { data } of slice) {
          const msg = parser.parse(data);
          switch (msg.tag) {
            case 'relation': {
              // Values stay the source's text (exact: no JS Date, no float), as a load reads them.
              for (const c of msg.columns) c.parser = (raw: unknown) => raw;
              const shape: ChangeShape = msg.columns.map((c) => ({ name: c.name, type: '' }));
              msg.columns.forEach((c, i) => unresolved.push({ column: shape[i], oid: c.typeOid, mod: c.typeMod }));
              shapes.set(msg.relationOid, shape);
              break;
            }
            case 'begin': {
              const commit = lsnText(msg.commitLsn!);
              const skip = limits.resume && this.compare(limits.resume.commit, commit) === 0 ? limits.resume.applied : 0;
              open = { position: '', commit, commitTime: timeText(msg.commitTime), changes: [], first: skip, seen: 0, skip };
              break;
            }
            case 'commit': {
              const { seen: _seen, skip: _skip, ...txn } = open!;
              transactions.push({ ...txn, position: lsnText(msg.commitEndLsn!) });
              changes += txn.changes.length;
              open = null;
              if (changes >= maxChanges) {
                stopped = true;
                break read;
              }
              break;
            }
            case 'insert':
              keep({ kind: 'insert', table: refOf(msg.relation), row: msg.new as Record<string, ChangeValue>, shape: shapes.get(msg.relation.relationOid) });
              break;
            case 'update': {
              const before = msg.key ?? msg.old;
              const oldKey = before ? keyOf(msg.relation, before) : null;
              const newKey = keyOf(msg.relation, msg.new);
              const moved = oldKey !== null && msg.relation.keyColumns.some((k) => oldKey[k] !== newKey[k]);
              keep({ kind: 'update', table: refOf(msg.relation), oldKey: moved ? oldKey : null, row: msg.new as Record<string, ChangeValue>, shape: shapes.get(msg.relation.relationOid) });
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
          if (open && open.changes.length >= piece) {
            stopped = true;
            if (transactions.length) {
              // A piece goes alone in its batch: the whole transactions before it are applied and acknowledged first.
              open = null;
              break read;
            }
            const { seen, skip: _skip, ...txn } = open;
            transactions.push({ ...txn, position: piecePosition(txn.commit, seen), partial: true });
            open = null;
            break read;
          }
        }
      }
      await db.query('CLOSE tablesync_changes');
      await db.query('COMMIT');
      await this.resolveTypes(db, unresolved);
      const more = stopped || rows >= maxChanges;
      return { transactions, idleTo: transactions.length ? null : lsnText(upto), more };
    } catch (err) {
      broken = err as Error;
      await db.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      db.release(broken);
    }
  }

  /** Type names of the columns relation messages described (by oid and modifier), as the catalog spells them. */
  private async resolveTypes(db: PoolClient, columns: { column: ChangeShape[number]; oid: number; mod: number }[]): Promise<void> {
    for (const { column, oid, mod } of columns) {
      const key = `${oid}/${mod}`;
      let name = this.typeNames.get(key);
      if (name === undefined) {
        name = (await db.query('SELECT format_type($1::oid, $2::int) AS name', [oid, mod])).rows[0].name as string;
        this.typeNames.set(key, name);
      }
      column.type = name;
    }
  }

  async acknowledge(stream: string, position: string): Promise<void> {
    // Never backwards (advance refuses that): a retried step may acknowledge what is already confirmed.
    await this.pool.query(
      `SELECT pg_replication_slot_advance(slot_name, $2::pg_lsn) FROM pg_replication_slots
       WHERE slot_name = $1 AND confirmed_flush_lsn < $2::pg_lsn`,
      [stream, position],
    );
  }

  async drop(stream: string): Promise<boolean> {
    const r = await this.pool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [stream]);
    await this.pool.query(`DROP PUBLICATION IF EXISTS ${quotePg(stream)}`);
    return (r.rowCount ?? 0) > 0;
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
