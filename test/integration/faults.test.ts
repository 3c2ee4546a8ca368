import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { createConnection, type Connection as MyConnection } from 'mysql2/promise';
import type { Pool } from 'pg';
import type { SyncConfigInput } from '../../lib/config';
import type { SyncSummary } from '../../lib/types';
import { incrementalSyncWorkflow } from '../../workflows';
import { useDatabases } from '../helpers/databases';
import {
  assertPgTablesEqual,
  duplicateKeys,
  closeStagingGate,
  leftoverTables,
  lockPgTable,
  mariadbTextRows,
  pgBackends,
  pgTextRows,
  stateRows,
  waitFor,
  waitingAtGate,
} from '../helpers/guarantees';
import { activityRuns, activityRunsWithChildren, fetchHistory } from '../helpers/history';
import { MYSQL_BASE, mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { temporal, uniqueTaskQueue } from '../helpers/temporal';
import { TcpProxy } from '../helpers/tcp-proxy';
import { DevServer } from '../helpers/temporal-server';
import { sleep, startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

const SRC = testDb('tablesync_it_fault_src');
const DST = testDb('tablesync_it_fault_dst');
const MY = testDb('tablesync_it_fault_my');
const pgConnections = { src: pgUrl(SRC), dst: pgUrl(DST) };
const myConnections = { my: mysqlUrl(MY), dst: pgUrl(DST) };
// Retries come quickly so a test spends its time on the fault, not on backoff.
const fast = { retry: { maximumAttempts: 5, initialIntervalMs: 200, maximumIntervalMs: 1_000 } };

let seq = 0;
const workflowIdFor = (name: string) => `fault-${name}-${process.pid}-${Date.now()}-${++seq}`;

/** Source table keyed 1..rows and, when stale > 0, a target holding the first `stale` keys with old values. */
async function seedPg(src: Pool, dst: Pool, table: string, rows: number, stale: number): Promise<void> {
  const ddl = `CREATE TABLE ${table} (id bigint PRIMARY KEY, label text, amount numeric(12,2))`;
  await src.query(ddl);
  await src.query(`INSERT INTO ${table} SELECT g, 'row ' || g, g * 0.25 FROM generate_series(1, ${rows}) g`);
  await src.query(`ANALYZE ${table}`);
  if (stale > 0) {
    await dst.query(ddl);
    await dst.query(`INSERT INTO ${table} SELECT g, 'stale', 0 FROM generate_series(1, ${stale}) g`);
  }
}

/** Target equals source and no key twice: the end state every fault must still reach. */
async function assertSynced(src: Pool, dst: Pool, table: string): Promise<void> {
  await assertPgTablesEqual(src, dst, table);
  assert.equal(await duplicateKeys(dst, table, ['id']), 0, `${table}: no duplicate keys`);
}

/** Fails at once (with the worker's output) when a worker process has died, instead of waiting for a timeout. */
function assertAlive(...workers: WorkerProcess[]): void {
  for (const w of workers) {
    if (w.proc.exitCode !== null || w.proc.signalCode !== null) {
      throw new Error(`worker process ${w.pid} died (${w.proc.exitCode ?? w.proc.signalCode}):\n${w.logs()}`);
    }
  }
}

/** The workflow's result, or a clear failure as soon as one of the given workers dies. */
async function resultWhileAlive<T>(handle: WorkflowHandle, workers: WorkerProcess[]): Promise<T> {
  const died = workers.map((w) =>
    w.exited.then(({ code, signal }) => {
      throw new Error(`worker process ${w.pid} died (${code ?? signal}) before the run finished:\n${w.logs()}`);
    }),
  );
  return Promise.race([handle.result() as Promise<T>, ...died]);
}

function startSync(client: Client, taskQueue: string, config: SyncConfigInput, name: string) {
  return client.workflow.start(incrementalSyncWorkflow, { taskQueue, workflowId: workflowIdFor(name), args: [config] });
}

describe('faults: real processes and servers broken mid-run', function () {
  const { src, dst, my } = useDatabases(
    { pg: { src: SRC, dst: DST }, mysql: { my: MY } },
    { beforeClose: (): Promise<unknown> => dst.query('DROP EVENT TRIGGER IF EXISTS tablesync_it_gate') },
  );
  const workers: WorkerProcess[] = [];

  /** A worker process on a fresh task queue of the shared dev server, and a sync started on it. */
  async function startOnWorkerProcess(connections: Record<string, string>, config: SyncConfigInput, name: string) {
    const env = await temporal();
    const taskQueue = uniqueTaskQueue(name);
    const worker = await startWorkerProcess({ address: env.address, taskQueue, connections });
    workers.push(worker);
    const handle = await startSync(env.client, taskQueue, config, name);
    return { env, taskQueue, worker, handle };
  }

  afterEach(async function () {
    // A failed test must not leave a worker polling into the next one; its output explains the failure.
    if (this.currentTest?.state === 'failed') {
      for (const w of workers) console.error(`--- worker ${w.identity} output (last 8000 characters):\n${w.logs().slice(-8_000)}`);
    }
    await Promise.all(workers.splice(0).map((w) => w.kill()));
  });

  it('survives SIGKILL of the worker process in the middle of a COPY: a new worker process finishes the run', async () => {
    await seedPg(src, dst, 'killed', 30_000, 100);
    const config: SyncConfigInput = {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: ['killed'],
      partitionThreshold: 10_000,
      rowsPerPartition: 10_000,
      maxPartitionsPerTable: 3,
      maxParallelTransfers: 3,
      // Temporal notices the dead worker after 2 s without a heartbeat.
      timeouts: { heartbeatSeconds: 2 },
      ...fast,
    };
    const env = await temporal();
    const taskQueue = uniqueTaskQueue('fault-kill');
    // Planning reads the table (key min/max), so the lock that freezes the COPY is
    // taken only once all three partitions wait at the gate, after planning.
    const gate = await closeStagingGate(dst);
    let lock: Awaited<ReturnType<typeof lockPgTable>> | null = null;
    try {
      const first = await startWorkerProcess({ address: env.address, taskQueue, connections: pgConnections });
      workers.push(first);
      const handle = await startSync(env.client, taskQueue, config, 'kill');
      await waitFor('3 partitions at the gate', async () => {
        assertAlive(first);
        return (await waitingAtGate(dst, DST, 'killed')) === 3;
      });
      lock = await lockPgTable(src, 'killed');
      await gate.release();
      // Every partition is now inside its COPY: source side waiting on the lock, target side in COPY … FROM STDIN.
      const dead = await waitFor('3 source COPYs waiting on the lock', async () => {
        const b = (await pgBackends(src, SRC, 'COPY (SELECT%killed%')).filter((x) => x.waiting);
        return b.length === 3 && b;
      });
      await waitFor('3 target COPY FROM STDIN', async () => (await pgBackends(dst, DST, 'COPY %FROM STDIN%')).length === 3);
      await first.kill('SIGKILL');
      assert.equal(first.proc.signalCode, 'SIGKILL');

      const second = await startWorkerProcess({ address: env.address, taskQueue, connections: pgConnections });
      workers.push(second);
      // The retries run on the new worker: three new COPY backends besides the dead worker's orphans.
      const deadPids = new Set(dead.map((b) => b.pid));
      await waitFor("the new worker's 3 retried reads", async () => {
        assertAlive(second);
        // Each retry first digests its range (compare mode), then copies it: either read waits on the lock.
        const b = await pgBackends(src, SRC, '%FROM "public"."killed"%');
        return b.filter((x) => x.waiting && !deadPids.has(x.pid)).length === 3;
      });
      await lock.release();
      const summary = await resultWhileAlive<SyncSummary>(handle, [second]);

      assert.equal(summary.tablesFailed, 0, JSON.stringify(summary.tables));
      const [t] = summary.tables;
      assert.deepEqual([t.partitions, t.rowsCopied, t.inserted, t.updated, t.unchanged], [3, 30_000, 29_900, 100, 0]);
      await assertSynced(src, dst, 'killed');
      assert.deepEqual(await leftoverTables(dst, ['killed']), [], 'no staging or load table left behind');

      const state = await stateRows(dst, handle.workflowId);
      assert.deepEqual(
        state.map((r) => [r.partition_index, r.sync_status, r.retry_count, r.error_message]),
        [
          [0, 'completed', 1, null],
          [1, 'completed', 1, null],
          [2, 'completed', 1, null],
        ],
      );
      assert.equal(state.reduce((n, r) => n + r.rows_copied, 0), 30_000);

      // The history agrees: each partition took a second attempt, and the second worker ran it.
      const parts = (await activityRunsWithChildren(env.client, handle.workflowId)).filter((r) => r.type === 'syncPartition');
      assert.deepEqual(
        parts.map((p) => [p.outcome, p.attempt, p.identity]),
        [0, 1, 2].map(() => ['completed', 2, second.identity]),
      );
    } finally {
      await gate.release();
      await lock?.release();
    }
  });

  it('a worker cut off from Temporal keeps running its attempt while another worker runs the retry: one commit counted, state tells the truth', async () => {
    // A network partition between a worker and Temporal (not the databases): Temporal
    // times the attempt out and hands the retry to another worker while the first
    // attempt is still alive and, once unblocked, commits. The retry must not count
    // (or report) as its own the rows the first attempt already wrote.
    await seedPg(src, dst, 'cut_off', 5_000, 100);
    const env = await temporal();
    const taskQueue = uniqueTaskQueue('fault-cut');
    const [host, port] = env.address.split(':');
    const proxy = await TcpProxy.start(host === 'localhost' ? '127.0.0.1' : host, Number(port));
    const gate = await closeStagingGate(dst);
    let lock: Awaited<ReturnType<typeof lockPgTable>> | null = null;
    try {
      const first = await startWorkerProcess({ address: proxy.address, taskQueue, connections: pgConnections });
      workers.push(first);
      const handle = await startSync(
        env.client,
        taskQueue,
        { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['cut_off'], timeouts: { heartbeatSeconds: 2 }, ...fast },
        'cut',
      );
      await waitFor('the partition at the gate', async () => (await waitingAtGate(dst, DST, 'cut_off')) === 1);
      lock = await lockPgTable(src, 'cut_off');
      await gate.release();
      const [stuck] = await waitFor('the first attempt COPY waiting on the lock', async () => {
        const b = (await pgBackends(src, SRC, 'COPY (SELECT%cut_off%')).filter((x) => x.waiting);
        return b.length === 1 && b;
      });
      proxy.cut();
      const second = await startWorkerProcess({ address: env.address, taskQueue, connections: pgConnections });
      workers.push(second);
      // The retry runs on the second worker while the first attempt still holds its transaction open:
      // it gets as far as a lock, behind the first attempt's transaction or the source lock.
      await waitFor('the retry, on the second worker, blocked on a lock', async () => {
        assertAlive(first, second);
        const target = (await pgBackends(dst, DST, '%')).filter((b) => b.waiting);
        const source = (await pgBackends(src, SRC, '%')).filter((b) => b.waiting && b.pid !== stuck.pid);
        return target.length + source.length === 1;
      });
      assert.ok((await pgBackends(src, SRC, 'COPY (SELECT%cut_off%')).some((b) => b.pid === stuck.pid), 'first attempt still copying');
      await lock.release();
      const summary = await resultWhileAlive<SyncSummary>(handle, [second]);
      // The premise: the cut-off worker's attempt ran to its end too (and could not report it).
      await waitFor('the cut-off worker trying to report its completed attempt', async () =>
        /respond_activity_task_completed/.test(first.logs()),
      );

      assert.equal(summary.tablesFailed, 0, JSON.stringify(summary.tables));
      await assertSynced(src, dst, 'cut_off');
      assert.deepEqual(await leftoverTables(dst, ['cut_off']), []);
      const [t] = summary.tables;
      assert.deepEqual([t.rowsCopied, t.inserted, t.updated], [5_000, 4_900, 100], 'the summary counts what was written');
      assert.deepEqual(
        (await stateRows(dst, handle.workflowId)).map((r) => [r.sync_status, r.rows_inserted, r.rows_updated, r.error_message]),
        [['completed', 4_900, 100, null]],
        '_migration_state counts what was written',
      );
    } finally {
      await gate.release();
      await lock?.release();
      await proxy.close();
    }
  });

  describe('connections killed from the database side (MariaDB source, PostgreSQL target)', () => {
    let admin: MyConnection;

    before(async () => {
      admin = await createConnection({ uri: MYSQL_BASE });
    });
    after(async () => {
      await admin?.end();
    });

    /** Ids of MariaDB sessions whose statement reads `table` and waits for the table's metadata lock. */
    async function waitingSelects(table: string): Promise<number[]> {
      const [rows] = await admin.query(
        `SELECT ID AS id FROM information_schema.PROCESSLIST
          WHERE DB = ? AND INFO LIKE ? AND STATE LIKE 'Waiting for table metadata lock' AND ID <> CONNECTION_ID()`,
        [MY, `SELECT %${table}%`],
      );
      return (rows as { id: number }[]).map((r) => Number(r.id));
    }

    async function seedMy(table: string, rows: number): Promise<void> {
      await my.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name varchar(40), n int)`);
      await my.query(`INSERT INTO ${table} SELECT seq, CONCAT('name ', seq), seq * 3 FROM seq_1_to_${rows}`);
      // Exact TABLE_ROWS, so planning never needs a COUNT(*) that the test's lock would block.
      await my.query(`ANALYZE TABLE ${table}`);
    }

    const myConfig = (table: string): SyncConfigInput => ({
      source: { connection: 'my' },
      target: { connection: 'dst', schema: 'public' },
      tables: [table],
      ...fast,
    });

    it('retries a partition whose MariaDB source connection is KILLed mid-stream: state shows retry_count 1, completed', async () => {
      await seedMy('my_killed', 3_000);
      // LOCK TABLES … WRITE makes the sync's SELECT wait inside the server, where it is killed.
      await my.query('LOCK TABLES my_killed WRITE');
      try {
        const { worker, handle } = await startOnWorkerProcess(myConnections, myConfig('my_killed'), 'mykill');
        const [killed] = await waitFor('the sync SELECT waiting on the lock', async () => {
          assertAlive(worker);
          const ids = await waitingSelects('my_killed');
          return ids.length === 1 && ids;
        });
        await admin.query(`KILL ${killed}`);
        // The killed attempt must fail and be retried; the retry's own SELECT waits again, then is let through.
        await waitFor(
          'the retried SELECT (the attempt whose connection was killed never failed)',
          async () => {
            assertAlive(worker);
            return (await waitingSelects('my_killed')).some((id) => id !== killed);
          },
          30_000,
        );
        await my.query('UNLOCK TABLES');
        const summary = await resultWhileAlive<SyncSummary>(handle, [worker]);
        const [t] = summary.tables;
        assert.deepEqual([t.status, t.mode, t.rowsCopied, t.inserted], ['completed', 'full', 3_000, 3_000], t.error);
        assert.deepEqual(
          (await stateRows(dst, handle.workflowId)).map((r) => [r.sync_status, r.retry_count, r.rows_copied, r.error_message]),
          [['completed', 1, 3_000, null]],
        );
      } finally {
        await my.query('UNLOCK TABLES');
      }
      assert.deepEqual(await pgTextRows(dst, 'public.my_killed'), await mariadbTextRows(my, MY, 'my_killed'));
      assert.equal(await duplicateKeys(dst, 'public.my_killed', ['id']), 0);
      assert.deepEqual(await leftoverTables(dst, ['my_killed']), []);
    });

    it('retries a partition whose target connection is terminated mid-apply: state shows retry_count 1, completed', async () => {
      await seedMy('my_apply', 2_000);
      await dst.query('CREATE TABLE public.my_apply (id integer PRIMARY KEY, name varchar(40), n integer)');
      await dst.query(`INSERT INTO public.my_apply SELECT g, 'old', 0 FROM generate_series(1, 50) g`);

      // A row lock on a row the upsert must update: INSERT … ON CONFLICT waits on it inside the partition's transaction.
      const locker = await dst.connect();
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM public.my_apply WHERE id = 7 FOR UPDATE');
      try {
        const { worker, handle } = await startOnWorkerProcess(myConnections, myConfig('my_apply'), 'apply');
        const applying = async () => {
          assertAlive(worker);
          return (await pgBackends(dst, DST, 'WITH applied AS%my_apply%')).filter((b) => b.waiting).map((b) => b.pid);
        };
        const [terminated] = await waitFor('the upsert waiting on the row lock', async () => {
          const pids = await applying();
          return pids.length === 1 && pids;
        });
        const r = await dst.query('SELECT pg_terminate_backend($1) AS ok', [terminated]);
        assert.equal(r.rows[0].ok, true);
        await waitFor('the retried upsert', async () => (await applying()).some((pid) => pid !== terminated));
        await locker.query('COMMIT');
        const summary = await resultWhileAlive<SyncSummary>(handle, [worker]);
        const [t] = summary.tables;
        assert.deepEqual([t.status, t.mode, t.inserted, t.updated, t.unchanged], ['completed', 'compare', 1_950, 50, 0], t.error);
        assert.deepEqual(
          (await stateRows(dst, handle.workflowId)).map((s) => [s.sync_status, s.retry_count, s.rows_inserted, s.rows_updated, s.error_message]),
          [['completed', 1, 1_950, 50, null]],
        );
      } finally {
        await locker.query('ROLLBACK').catch(() => undefined);
        locker.release();
      }
      assert.deepEqual(await pgTextRows(dst, 'public.my_apply'), await mariadbTextRows(my, MY, 'my_apply'));
      assert.equal(await duplicateKeys(dst, 'public.my_apply', ['id']), 0);
      assert.deepEqual(await leftoverTables(dst, ['my_apply']), []);
    });
  });

  it('resumes after the Temporal dev server is killed and restarted on the same SQLite file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tablesync-fault-'));
    const server = await DevServer.create(join(dir, 't.db'));
    let client: Client | null = null;
    let lock: Awaited<ReturnType<typeof lockPgTable>> | null = null;
    const gate = await closeStagingGate(dst);
    try {
      await server.start();
      await seedPg(src, dst, 'srv_done', 2_000, 10);
      await seedPg(src, dst, 'srv_blocked', 9_000, 30);
      const taskQueue = uniqueTaskQueue('fault-server');
      const worker = await startWorkerProcess({ address: server.address, taskQueue, connections: pgConnections });
      workers.push(worker);
      let connection = await Connection.connect({ address: server.address });
      client = new Client({ connection });
      const { workflowId } = await startSync(
        client,
        taskQueue,
        {
          source: { connection: 'src' },
          target: { connection: 'dst' },
          tables: ['srv_done', 'srv_blocked'],
          partitionThreshold: 3_000,
          rowsPerPartition: 3_000,
          maxParallelTransfers: 3,
          ...fast,
        },
        'server',
      );
      // Both tables planned, their partitions at the gate: freeze srv_blocked, then let them all in.
      await waitFor('4 partitions at the gate', async () => {
        assertAlive(worker);
        return (await waitingAtGate(dst, DST, 'srv_done')) === 1 && (await waitingAtGate(dst, DST, 'srv_blocked')) === 3;
      });
      lock = await lockPgTable(src, 'srv_blocked');
      await gate.release();
      // One table done, the other's 3 partitions stuck in their COPY: then the server dies.
      await waitFor('srv_done completed', async () =>
        (await stateRows(dst, workflowId)).some((r) => r.table_name === 'srv_done' && r.sync_status === 'completed'),
      );
      await waitFor('3 blocked COPYs', async () => (await pgBackends(src, SRC, 'COPY (SELECT%srv_blocked%')).length === 3);
      await connection.close();
      await server.stop('SIGKILL');
      await sleep(1_000);
      await server.start();
      // The worker process outlived the outage and reconnects by itself.
      assertAlive(worker);
      await lock.release();

      connection = await Connection.connect({ address: server.address });
      client = new Client({ connection });
      const summary = await resultWhileAlive<SyncSummary>(client.workflow.getHandle(workflowId), [worker]);
      assert.equal(summary.tablesFailed, 0, JSON.stringify(summary.tables));
      assert.deepEqual(
        summary.tables.map((t) => [t.table, t.partitions, t.rowsCopied, t.inserted, t.updated, t.unchanged]),
        [
          ['public.srv_done', 1, 2_000, 1_990, 10, 0],
          ['public.srv_blocked', 3, 9_000, 8_970, 30, 0],
        ],
      );
      await assertSynced(src, dst, 'srv_done');
      await assertSynced(src, dst, 'srv_blocked');
      assert.deepEqual(await leftoverTables(dst, ['srv_done', 'srv_blocked']), []);
      const state = await stateRows(dst, workflowId);
      assert.deepEqual(
        state.map((r) => [r.table_name, r.partition_index, r.sync_status, r.error_message]),
        [
          ['srv_blocked', 0, 'completed', null],
          ['srv_blocked', 1, 'completed', null],
          ['srv_blocked', 2, 'completed', null],
          ['srv_done', 0, 'completed', null],
        ],
      );
      // The partitions blocked across the outage finished in the attempt that was running: resumed, not redone.
      assert.deepEqual(
        state.map((r) => r.retry_count),
        [0, 0, 0, 0],
      );
      const history = await fetchHistory(client, workflowId);
      assert.deepEqual(
        activityRuns(history).filter((r) => r.outcome !== 'completed'),
        [],
      );
    } finally {
      await gate.release();
      await lock?.release();
      await client?.connection.close().catch(() => undefined);
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two worker processes on one task queue share a sync of 20 partitioned tables: every row lands exactly once', async () => {
    const tables = Array.from({ length: 20 }, (_, i) => `multi_${String(i + 1).padStart(2, '0')}`);
    let total = 0;
    for (const [i, t] of tables.entries()) {
      const rows = 1_000 + i * 37;
      total += rows;
      // Even tables have a target with stale rows (incremental), odd ones none (full load).
      await seedPg(src, dst, t, rows, i % 2 === 0 ? 25 : 0);
    }
    const env = await temporal();
    const taskQueue = uniqueTaskQueue('fault-two');
    // Two activity slots per worker, and the incremental tables' partitions held at a gate:
    // three held at once can only be held by both workers together, whatever the scheduling.
    const gate = await closeStagingGate(dst);
    try {
      const opts = { address: env.address, taskQueue, connections: pgConnections, env: { TABLESYNC_MAX_ACTIVITIES: '2' } };
      const [a, b] = await Promise.all([startWorkerProcess(opts), startWorkerProcess(opts)]);
      workers.push(a, b);
      const handle = await startSync(
        env.client,
        taskQueue,
        {
          source: { connection: 'src' },
          target: { connection: 'dst' },
          tables: ['multi_*'],
          partitionThreshold: 250,
          rowsPerPartition: 250,
          maxPartitionsPerTable: 4,
          maxParallelTransfers: 4,
          ...fast,
        },
        'two',
      );
      await waitFor('3 partitions at the gate', async () => {
        assertAlive(a, b);
        return (await waitingAtGate(dst, DST, 'multi')) >= 3;
      });
      await gate.release();
      const summary = await resultWhileAlive<SyncSummary>(handle, [a, b]);

      assert.equal(summary.tablesFailed, 0, JSON.stringify(summary.tables.filter((t) => t.error)));
      assert.equal(summary.tablesSynced, 20);
      assert.equal(summary.rowsCopied, total);
      assert.equal(summary.inserted + summary.updated, total);
      assert.equal(summary.updated, 10 * 25);
      assert.ok(summary.tables.every((t) => t.partitions === 4), 'every table split into 4 key ranges');
      for (const t of tables) await assertSynced(src, dst, t);
      assert.deepEqual(await leftoverTables(dst, tables), []);

      // One committed state row per (table, partition); the rows they copied add up to the source exactly.
      const state = await stateRows(dst, handle.workflowId);
      assert.equal(state.length, 80);
      assert.ok(state.every((r) => r.sync_status === 'completed' && r.error_message === null));
      assert.equal(state.reduce((n, r) => n + r.rows_copied, 0), total);

      const parts = (await activityRunsWithChildren(env.client, handle.workflowId)).filter((r) => r.type === 'syncPartition');
      assert.equal(parts.length, 80);
      assert.ok(parts.every((p) => p.outcome === 'completed'));
      const byWorker = new Map<string, number>();
      for (const p of parts) byWorker.set(p.identity, (byWorker.get(p.identity) ?? 0) + 1);
      assert.deepEqual([...byWorker.keys()].sort(), [a.identity, b.identity].sort(), 'both workers ran partitions');
    } finally {
      await gate.release();
    }
  });
});
