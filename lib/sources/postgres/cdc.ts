import { Client, type ClientConfig, type Pool } from 'pg';
import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { TablesyncError } from '../../errors';
import type { PartitionRange, TableRef } from '../../types';
import type { CopyStream, ReadFilter } from '../base';
import { EVERY_ROW } from '../base';
import type { ChangeBatch, ChangeCapture, ChangeTransaction, ChangeValue, RowChange, SnapshotRead, StreamPosition } from '../changes';
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

export class PgChangeCapture implements ChangeCapture {
  readonly positionType = 'pg_lsn';
  // PostgreSQL 15's pgoutput leaves generated columns out.
  readonly carriesGenerated = false;
  readonly holdsLog = true;
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

  async start(stream: string, tables: TableRef[], load: (read: SnapshotRead, position: string) => Promise<void>): Promise<string> {
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
        await load((plan) => this.source.openCopy(plan, WHOLE, true, EVERY_ROW, snapshot), lsnText(start));
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

  async read(stream: string, maxChanges: number): Promise<ChangeBatch> {
    // Commits before this position are all decoded by the peek below: with none for us, it may be acknowledged.
    const upto = (await this.pool.query('SELECT pg_current_wal_lsn()::text AS upto')).rows[0].upto as string;
    const r = await this.pool.query(
      `SELECT data FROM pg_logical_slot_peek_binary_changes($1, $2::pg_lsn, $3, 'proto_version', '1', 'publication_names', $4)`,
      [stream, upto, maxChanges, quotePg(stream)],
    );
    // One decoder per read: relation messages come again in every read's decoding session.
    const parser = new PgoutputPlugin({ protoVersion: 1, publicationNames: [stream] });
    const transactions: ChangeTransaction[] = [];
    let open: RowChange[] | null = null;
    for (const { data } of r.rows as { data: Buffer }[]) {
      const msg = parser.parse(data);
      switch (msg.tag) {
        case 'relation':
          // Values stay the source's text (exact: no JS Date, no float), as a load reads them.
          for (const c of msg.columns) c.parser = (raw: unknown) => raw;
          break;
        case 'begin':
          open = [];
          break;
        case 'commit':
          transactions.push({ position: lsnText(msg.commitEndLsn!), changes: open ?? [] });
          open = null;
          break;
        case 'insert':
          open!.push({ kind: 'insert', table: refOf(msg.relation), row: msg.new as Record<string, ChangeValue> });
          break;
        case 'update': {
          const before = msg.key ?? msg.old;
          const oldKey = before ? keyOf(msg.relation, before) : null;
          const newKey = keyOf(msg.relation, msg.new);
          const moved = oldKey !== null && msg.relation.keyColumns.some((k) => oldKey[k] !== newKey[k]);
          open!.push({ kind: 'update', table: refOf(msg.relation), oldKey: moved ? oldKey : null, row: msg.new as Record<string, ChangeValue> });
          break;
        }
        case 'delete':
          open!.push({ kind: 'delete', table: refOf(msg.relation), oldKey: keyOf(msg.relation, (msg.key ?? msg.old)!) });
          break;
        case 'truncate':
          open!.push({ kind: 'truncate', tables: msg.relations.map(refOf) });
          break;
        default:
          break; // type, origin, logical messages: nothing to apply
      }
    }
    return { transactions, idleTo: transactions.length ? null : lsnText(upto) };
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
    const d = lsnValue(a) - lsnValue(b);
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
