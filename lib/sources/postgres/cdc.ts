import { Client, type ClientConfig, type Pool } from 'pg';
import { TablesyncError } from '../../errors';
import type { PartitionRange, TableRef } from '../../types';
import type { CopyStream, ReadFilter } from '../base';
import { EVERY_ROW } from '../base';
import { splitPosition, type ChangeBatch, type ChangeCapture, type ReadLimits, type SnapshotOptions, type SnapshotRead, type StreamPosition } from '../changes';
import { PgStreamReaders } from './cdc-read';
import { lsnText, lsnValue } from './lsn';
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
  private readonly readers = new PgStreamReaders(() => this.pool, (a, b) => this.compare(a, b));
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

  read(stream: string, maxChanges: number, limits: ReadLimits = {}): Promise<ChangeBatch> {
    return this.readers.read(stream, maxChanges, limits);
  }

  acknowledge(stream: string, position: string): Promise<void> {
    return this.readers.acknowledge(stream, position);
  }

  close(stream: string): Promise<void> {
    return this.readers.close(stream);
  }

  /** Ends every stream this worker holds open (the worker is stopping). */
  closeAll(): Promise<void> {
    return this.readers.closeAll();
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
