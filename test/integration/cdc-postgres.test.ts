import assert from 'node:assert/strict';
import { Client, type ClientConfig, type Pool } from 'pg';
import type { CdcProgress, CdcResult } from '../../workflows/cdc';
import { caughtUpWith, runCdc, streaming, replicationSlots } from '../helpers/cdc';
import { useDatabases } from '../helpers/databases';
import { duplicateKeys, lockPgTable, pgBackends, waitFor } from '../helpers/guarantees';
import { freshCdcDatabase, PG_CDC_BASE, pgUrl, testDb } from '../helpers/pg';
import type { WorkflowHandle } from '@temporalio/client';
import { failureChain, runWorkflow, syncOk, type RunningWorkflow } from '../helpers/run';
import { temporal, uniqueTaskQueue } from '../helpers/temporal';
import { startWorkerProcess, workerProcesses } from '../helpers/worker-process';
import { connectionEnv, runCli } from '../helpers/cli';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// cdc mode against a real PostgreSQL with wal_level=logical (the second
// cluster scripts/services.sh starts, TABLESYNC_TEST_PG_CDC) into the usual target.
const SRC = testDb('tablesync_it_cdc_src');
const DST = testDb('tablesync_it_cdc_dst');
const connections = { src: `${PG_CDC_BASE}/${SRC}`, dst: pgUrl(DST) };
/** Sizes that make the snapshot of a table of a few thousand rows several block ranges (about 2,000 rows each). */
const SPLIT = { batchSize: 2_000, partitionThreshold: 5_000, rowsPerPartition: 5_000, maxParallelTransfers: 4 };
const FAST = { timeouts: { heartbeatSeconds: 3 }, retry: { maximumAttempts: 5, initialIntervalMs: 200, maximumIntervalMs: 500 } };

async function rows(pool: Pool, sql: string): Promise<string[]> {
  return (await pool.query(sql)).rows.map((r) => JSON.stringify(r));
}

/** Until the target's rows (by `sql`) are the source's. */
const caughtUp = (src: Pool, dst: Pool, srcSql: string, dstSql = srcSql, timeoutMs = 60_000) =>
  caughtUpWith(() => rows(src, srcSql), () => rows(dst, dstSql), timeoutMs);

const progressOf = (run: RunningWorkflow) => run.client.workflow.getHandle(run.workflowId).query<CdcProgress>('cdcProgress');
const stop = (run: RunningWorkflow, dropSlot = true) => run.client.workflow.getHandle(run.workflowId).signal('cdcStop', { dropSlot });

/** A cdc workflow under a given id (its slot's name comes from it), with `during` while it runs; how it ended. */
const cdcRun = (workflowId: string, input: object, during?: (h: WorkflowHandle) => Promise<void>) => runCdc(connections, 'cdc', workflowId, input, during);


const slots = replicationSlots;

describe('cdc mode: PostgreSQL logical replication (real servers)', function () {
  this.timeout(180_000);
  const { dst } = useDatabases({ pg: { dst: DST } }, { perTest: true });
  let src: Pool;
  beforeEach(async () => {
    src = await freshCdcDatabase(SRC);
  });
  afterEach(async () => {
    await src.end();
  });

  it('snapshot under concurrent writes, then every change kind, in commit order, nothing lost or doubled', async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, n int, doc text)`);
    // Stored out of line, uncompressed: an update that leaves doc alone sends it as 'unchanged TOAST'.
    await src.query(`ALTER TABLE items ALTER doc SET STORAGE EXTERNAL`);
    await src.query(`CREATE TABLE ledger (id int PRIMARY KEY, item int, amount numeric(12,2))`);
    await src.query(`INSERT INTO items SELECT g, 'item ' || g, g, NULL FROM generate_series(1, 20000) g`);
    // Small batches: the 20,000 rows of items are read in several block ranges at once under the slot's snapshot.
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['items', 'ledger'], mode: 'cdc', ...SPLIT, ...FAST };
    // Writes that keep going while the slot is created and the snapshot read: each lands in the snapshot or the stream, once.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        const k = 20000 + ++written;
        await src.query(`BEGIN; INSERT INTO items VALUES (${k}, 'late ${k}', ${k}); UPDATE items SET n = n + 1 WHERE id = ${(written % 20000) + 1}; COMMIT`);
      }
    })();
    const big = 'x'.repeat(10) + Array.from({ length: 4000 }, (_, i) => (i * 7919).toString(36)).join('');
    const run = await runWorkflow<CdcResult>(connections, 'cdcWorkflow', { config, waitMs: 1_000, batchesPerRun: 2 }, {
      prefix: 'cdc',
      during: async (w) => {
        await waitFor('the snapshot', async () => (await progressOf(w)).phase === 'streaming');
        writing = false;
        await writer;
        await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
        // Every change kind.
        await src.query(`UPDATE items SET doc = $1 WHERE id <= 3`, [big]); // a TOASTed value
        await src.query(`UPDATE items SET name = 'renamed' WHERE id <= 3`); // doc unchanged: not sent, kept
        await src.query(`UPDATE items SET id = id + 1000000 WHERE id = 2`); // a key change (doc unchanged)
        await src.query(`DELETE FROM items WHERE id BETWEEN 10 AND 19`);
        await src.query(`INSERT INTO items VALUES (0, 'zero', NULL, 'small')`);
        // One transaction over both tables: applied together, in order (an insert then its update then its delete).
        await src.query(`BEGIN; INSERT INTO ledger VALUES (1, 1, 9.99), (2, 1, 0.01); UPDATE items SET n = -1 WHERE id = 1;
          UPDATE ledger SET amount = 100.50 WHERE id = 1; DELETE FROM ledger WHERE id = 2; INSERT INTO items VALUES (5000000, 'in txn', 5, NULL); COMMIT`);
        await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
        await caughtUp(src, dst, 'SELECT * FROM ledger ORDER BY id');
        const p = await progressOf(w);
        assert.ok(p.position, 'a position is reported');
        assert.ok(p.lagBytes !== null && p.lagBytes >= 0);
        await stop(w);
      },
    });
    assert.ok(run.outcome.ok, run.outcome.ok ? '' : run.outcome.error.message);
    const result = run.outcome.value;
    assert.equal(result.slotKept, null);
    assert.ok(result.totals.batches > 2, `continued as new (every 2 batches) along the way: ${result.totals.batches} batches`);
    assert.deepEqual(await slots(src), [], 'stop --drop-slot removes the slot');
    assert.ok(written > 0, 'the writer ran during the snapshot');
    assert.equal(await duplicateKeys(dst, 'public.items', ['id']), 0);
    const toasted = await dst.query(`SELECT id, name, length(doc) AS len FROM items WHERE id IN (1, 3, 1000002) ORDER BY id`);
    assert.deepEqual(toasted.rows, [
      { id: 1, name: 'renamed', len: big.length },
      { id: 3, name: 'renamed', len: big.length },
      { id: 1000002, name: 'renamed', len: big.length },
    ], 'an unchanged TOAST value keeps the target value, never NULL');
    const state = await dst.query(`SELECT target_table, mode, cursor_value FROM _tablesync_tables ORDER BY 1`);
    assert.deepEqual(state.rows.map((r) => [r.target_table, r.mode]), [['items', 'cdc'], ['ledger', 'cdc']]);
    assert.match(state.rows[0].cursor_value, /^[0-9A-F]+\/[0-9A-F]+$/);
  });

  it('a table read in several block ranges at once loads every row exactly once while writes move rows between blocks', async () => {
    const N = 30_000;
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`);
    await src.query(`INSERT INTO items SELECT g, 0, repeat('p', 40) FROM generate_series(1, ${N}) g`);
    await src.query('ANALYZE items');
    // The load table's creation waits 2 s (an event trigger on the target): by then the slot and its snapshot
    // exist, and the writer below moves rows between blocks before the block ranges are read.
    await dst.query(`CREATE TABLE slowed (at timestamptz)`);
    await dst.query(`CREATE FUNCTION slow_load() RETURNS event_trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() WHERE object_identity LIKE '%\\_ts\\_load\\_%') THEN
          INSERT INTO slowed VALUES (clock_timestamp());
          PERFORM pg_sleep(2);
        END IF;
      END $$`);
    await dst.query(`CREATE EVENT TRIGGER slow_load ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION slow_load()`);
    // Every transaction inserts one row and lengthens a row of a full block, which moves it to another
    // block (no room for a HOT update): the ranges read after it must find it once, in its old block.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        const k = ++written;
        await src.query(`BEGIN; INSERT INTO items VALUES (${N + k}, ${k}, repeat('q', 40));
          UPDATE items SET n = n + 1, pad = pad || 'u' WHERE id = ${N - ((k * 7919) % (N - 1))}; COMMIT`);
      }
    })();
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['items'], mode: 'cdc', ...SPLIT, ...FAST };
    const outcome = await cdcRun(`cdc-ranges-${process.pid}`, { config, waitMs: 500 }, async (h) => {
      try {
        await streaming(h);
      } finally {
        writing = false;
        await writer;
      }
      // startCdc's own result (in the history): how many ranges the table was read in, how many rows.
      const events = (await h.fetchHistory()).events ?? [];
      const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'startCdc');
      const done = events.find((e) => e.activityTaskCompletedEventAttributes && Number(e.activityTaskCompletedEventAttributes.scheduledEventId) === Number(scheduled?.eventId));
      const started = JSON.parse(Buffer.from(done!.activityTaskCompletedEventAttributes!.result!.payloads![0].data!).toString());
      assert.ok(started.ranges['public.items'] >= 2, `read in several block ranges: ${JSON.stringify(started.ranges)}`);
      assert.equal((await dst.query('SELECT count(*)::int AS n FROM slowed')).rows[0].n, 1, 'the load waited while the writer ran');
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      // Each write inserted one row: in the snapshot if it committed before the slot's start, else applied from
      // the stream (counted there even over a row that exists). A row read twice (in its old block and its new
      // one) or in neither, or ranges read later than the snapshot, would make these N + written plus or minus some.
      const snapshotRows = started.snapshot['public.items'];
      const p = await waitFor(
        'the stream\'s counts',
        async () => {
          const q = await h.query<CdcProgress>('cdcProgress');
          return snapshotRows + q.totals.inserted >= N + written && q;
        },
        20_000,
      ).catch(async (err) => {
        throw new Error(`${(err as Error).message}: snapshot ${snapshotRows} + stream ${(await h.query<CdcProgress>('cdcProgress')).totals.inserted} != ${N} + ${written}`);
      });
      assert.equal(snapshotRows + p.totals.inserted, N + written, 'every write once: in the snapshot or in the stream');
      assert.ok(snapshotRows > N && p.totals.inserted > 0, `writes on both sides of the boundary: ${snapshotRows - N} in the snapshot, ${p.totals.inserted} streamed`);
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(outcome.ok, outcome.ok ? '' : failureChain(outcome.error));
    assert.equal(await duplicateKeys(dst, 'public.items', ['id']), 0);
    assert.equal((await dst.query('SELECT count(*)::int AS n FROM items')).rows[0].n, N + written);
    assert.deepEqual(await slots(src), []);
  });

  it('soft deletes mark rows and a key that comes back is live again; TRUNCATE is applied (hard) or refused (ignore), naming the setting', async () => {
    await src.query(`CREATE TABLE soft (id int PRIMARY KEY, v text)`);
    await src.query(`CREATE TABLE hard (id int PRIMARY KEY, v text)`);
    await src.query(`CREATE TABLE keep (id int PRIMARY KEY, v text)`);
    for (const t of ['soft', 'hard', 'keep']) await src.query(`INSERT INTO ${t} SELECT g, 'v' || g FROM generate_series(1, 50) g`);
    const config = {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      mode: 'cdc',
      tables: [{ table: 'soft', deletes: 'soft' }, 'hard', { table: 'keep', deletes: 'ignore' }],
      ...FAST,
    };
    const outcome = await cdcRun(`cdc-soft-${process.pid}`, { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      await src.query(`DELETE FROM soft WHERE id <= 5; DELETE FROM keep WHERE id <= 5`);
      await src.query(`INSERT INTO soft VALUES (1, 'back')`);
      await src.query(`TRUNCATE hard`);
      await caughtUp(src, dst, 'SELECT id, v FROM soft ORDER BY id', 'SELECT id, v FROM soft WHERE NOT is_deleted ORDER BY id');
      await waitFor('the truncate', async () => (await dst.query('SELECT count(*)::int AS n FROM hard')).rows[0].n === 0);
      // deletes: ignore keeps deleted rows; a TRUNCATE of such a table is refused rather than applied or dropped.
      await src.query(`TRUNCATE keep`);
    });
    assert.ok(!outcome.ok, 'a TRUNCATE of a deletes: ignore table fails the stream');
    const chain = failureChain(outcome.error);
    assert.match(chain, /public\.keep: the source truncated the table, and its deletes are ignore/);
    assert.match(chain, /replication slot "tablesync_cdc_soft_\d+_[0-9a-f]{8}" is kept and holds back the source's WAL/);
    const marked = await dst.query(`SELECT id, is_deleted, _tablesync_deleted_at IS NOT NULL AS dated FROM soft WHERE id <= 5 ORDER BY id`);
    assert.deepEqual(marked.rows.map((r) => [r.id, r.is_deleted, r.dated]), [[1, false, false], [2, true, true], [3, true, true], [4, true, true], [5, true, true]]);
    assert.equal((await dst.query('SELECT count(*)::int AS n FROM keep')).rows[0].n, 50, 'deletes: ignore keeps the rows');
    assert.equal((await slots(src)).length, 1);
  });

  it('a slot dropped behind its back stops the stream (no gap); reset-state, then a new snapshot', async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, v text)`);
    await src.query(`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 100) g`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'items', mode: 'cdc' }], ...FAST };
    const id = `cdc-gap-${process.pid}`;
    const first = await cdcRun(id, { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      await src.query(`INSERT INTO items VALUES (101, 'streamed')`);
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      await h.signal('cdcStop', { dropSlot: false });
    });
    assert.ok(first.ok, first.ok ? '' : failureChain(first.error));
    assert.match(first.value.slotKept ?? '', /replication slot "tablesync_cdc_gap_\d+_[0-9a-f]{8}" is kept \(\d+ bytes of WAL held\)/);
    assert.deepEqual(await slots(src), [first.value.stream]);
    await src.query(`SELECT pg_drop_replication_slot($1)`, [first.value.stream]);
    await src.query(`INSERT INTO items VALUES (102, 'while no slot')`);
    const gap = await cdcRun(id, { config, waitMs: 500 });
    assert.ok(!gap.ok);
    assert.match(failureChain(gap.error), /replication slot "tablesync_cdc_gap_\d+_[0-9a-f]{8}" is gone .*run tablesync reset-state/);
    assert.equal((await dst.query(`SELECT count(*)::int AS n FROM items`)).rows[0].n, 101, 'nothing applied across the gap');
    const reset = await runWorkflow<{ changes: string[] }>(connections, 'resetStateWorkflow', { config, table: 'items' }, 'cdc-reset');
    assert.ok(reset.outcome.ok, reset.outcome.ok ? '' : failureChain(reset.outcome.error));
    assert.match(reset.outcome.value.changes.join(), /forget the saved log position: the cdc workflow takes a new snapshot/);
    const again = await cdcRun(id, { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      assert.deepEqual((await h.query<CdcProgress>('cdcProgress')).snapshot, { 'public.items': 102 });
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(again.ok, again.ok ? '' : failureChain(again.error));
    assert.deepEqual(await slots(src), []);
  });

  it('bad setups fail with the setting named: wal_level, REPLICATION privilege, no primary key, REPLICA IDENTITY NOTHING, generated columns', async () => {
    await src.query(`CREATE TABLE nokey (a int)`);
    await src.query(`CREATE TABLE noident (id int PRIMARY KEY); ALTER TABLE noident REPLICA IDENTITY NOTHING`);
    await src.query(`CREATE TABLE gen (id int PRIMARY KEY, a int, b int GENERATED ALWAYS AS (a * 2) STORED)`);
    await src.query(`CREATE TABLE items (id int PRIMARY KEY)`);
    await src.query(`DROP ROLE IF EXISTS tablesync_norepl${process.env.TABLESYNC_TEST_DB_SUFFIX ?? ''}`);
    const role = `tablesync_norepl${process.env.TABLESYNC_TEST_DB_SUFFIX ?? ''}`;
    await src.query(`CREATE ROLE ${role} LOGIN NOREPLICATION; GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role}`);
    await dst.query(`CREATE TABLE items (id int PRIMARY KEY)`);
    const cases: [string, Record<string, string>, string, RegExp][] = [
      ['wal_level', { plain: pgUrl(DST), dst: pgUrl(DST) }, 'items', /the source's wal_level is "\w+"; cdc needs wal_level = logical/],
      ['privilege', { plain: `${PG_CDC_BASE.replace('postgres@', `${role}@`)}/${SRC}`, dst: pgUrl(DST) }, 'items', new RegExp(`role "${role}" has no REPLICATION privilege`)],
      ['key', { plain: `${PG_CDC_BASE}/${SRC}`, dst: pgUrl(DST) }, 'nokey', /public\.nokey: cdc needs a primary key/],
      ['identity', { plain: `${PG_CDC_BASE}/${SRC}`, dst: pgUrl(DST) }, 'noident', /table public\.noident has REPLICA IDENTITY NOTHING/],
      ['generated', { plain: `${PG_CDC_BASE}/${SRC}`, dst: pgUrl(DST) }, 'gen', /public\.gen: column "b" is generated, and the change log does not carry generated columns/],
    ];
    for (const [what, conns, table, expected] of cases) {
      const config = { source: { connection: 'plain' }, target: { connection: 'dst', schema: `s_${what}` }, tables: [{ table, mode: 'cdc' }], ...FAST };
      const run = await runWorkflow<CdcResult>(conns, 'cdcWorkflow', { config }, `cdc-bad-${what}`);
      assert.ok(!run.outcome.ok, what);
      assert.match(failureChain(run.outcome.error), expected, what);
    }
    assert.deepEqual(await slots(src), [], 'a refused setup makes no slot');
    await src.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
  });

  it('a worker SIGKILLed mid-batch and a target connection cut mid-batch: nothing repeated, nothing lost', async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, v text, n int)`);
    await src.query(`INSERT INTO items SELECT g, 'v' || g, 0 FROM generate_series(1, 1000) g`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'items', mode: 'cdc' }], ...FAST };
    const env = await temporal();
    const taskQueue = uniqueTaskQueue('cdc-crash');
    const workers = workerProcesses({ address: env.address, taskQueue, connections });
    const worker = workers.start;
    try {
      const one = await worker();
      const h = await env.client.workflow.start('cdcWorkflow', { taskQueue, workflowId: `cdc-crash-${process.pid}`, args: [{ config, waitMs: 500 }] });
      await streaming(h);
      const changes = async (round: number) => {
        await src.query(`UPDATE items SET n = n + 1, v = 'r${round}' WHERE id % 10 = ${round}`); // 100 rows
        await src.query(`INSERT INTO items SELECT g, 'new', ${round} FROM generate_series(${round * 1000 + 1001}, ${round * 1000 + 1100}) g`);
        await src.query(`DELETE FROM items WHERE id BETWEEN ${round * 50 + 1} AND ${round * 50 + 20}`); // 20 rows, some just updated
      };
      // 1: the batch waits on a lock in the target; its worker is SIGKILLed there, and its orphaned backend cut off.
      let lock = await lockPgTable(dst, 'public.items');
      await changes(1);
      const stuck = await waitFor('the batch waiting in the target', async () => (await pgBackends(dst, DST, '%"public"."items"%')).find((b) => b.waiting));
      await one.kill('SIGKILL');
      await dst.query('SELECT pg_terminate_backend($1)', [stuck.pid]);
      await worker();
      await waitFor("the new worker's retried batch", async () => (await pgBackends(dst, DST, '%"public"."items"%')).some((b) => b.waiting && b.pid !== stuck.pid));
      await lock.release();
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      // 2: the target connection of a live worker's batch is cut mid-batch; the retry applies it once.
      lock = await lockPgTable(dst, 'public.items');
      await changes(2);
      const cut = await waitFor('the batch waiting in the target', async () => (await pgBackends(dst, DST, '%"public"."items"%')).find((b) => b.waiting));
      await dst.query('SELECT pg_terminate_backend($1)', [cut.pid]);
      await waitFor('the retried batch', async () => (await pgBackends(dst, DST, '%"public"."items"%')).some((b) => b.waiting && b.pid !== cut.pid));
      await lock.release();
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      // The target shows the batch once it commits; its counts reach the workflow when the step returns.
      const p = await waitFor('the counts', async () => {
        const q = await h.query<CdcProgress>('cdcProgress');
        return q.totals.inserted + q.totals.updated + q.totals.deleted >= 448 && q;
      });
      // Updated: 100 in round 1; in round 2, 100 of the first 1000 and 10 of round 1's inserts, less 52 and 62 (deleted in round 1).
      assert.deepEqual([p.totals.inserted, p.totals.updated, p.totals.deleted], [200, 208, 40], 'each change counted once');
      await h.signal('cdcStop', { dropSlot: true });
      await h.result();
    } finally {
      await workers.killAll();
    }
    assert.equal(await duplicateKeys(dst, 'public.items', ['id']), 0);
    assert.deepEqual(await slots(src), []);
  });

  it('a batch committed but not acknowledged (a crash in between) is read again and skipped by the saved position', async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, v text)`);
    await src.query(`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 10) g`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'items', mode: 'cdc' }], ...FAST };
    const id = `cdc-ack-${process.pid}`;
    const first = await cdcRun(id, { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      await h.signal('cdcStop', { dropSlot: false });
    });
    assert.ok(first.ok, first.ok ? '' : failureChain(first.error));
    // As if a batch had applied this transaction and saved its position, and the worker died before acknowledging it.
    await src.query(`INSERT INTO items VALUES (11, 'applied once')`);
    const applied = (await src.query(`SELECT pg_current_wal_lsn()::text AS lsn`)).rows[0].lsn;
    await dst.query(`INSERT INTO items VALUES (11, 'marker: applied by the batch that died')`);
    await dst.query(`UPDATE _tablesync_tables SET cursor_value = $1 WHERE target_table = 'items'`, [applied]);
    await src.query(`INSERT INTO items VALUES (12, 'after')`);
    const again = await cdcRun(id, { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      await waitFor('the change after', async () => (await dst.query(`SELECT 1 FROM items WHERE id = 12`)).rowCount === 1);
      const p = await waitFor('the counts', async () => {
        const q = await h.query<CdcProgress>('cdcProgress');
        return q.totals.inserted > 0 && q;
      });
      assert.equal(p.snapshot, null, 'went on from the saved positions');
      assert.equal(p.totals.skipped, 1);
      assert.equal(p.totals.inserted, 1);
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(again.ok, again.ok ? '' : failureChain(again.error));
    assert.equal((await dst.query(`SELECT v FROM items WHERE id = 11`)).rows[0].v, 'marker: applied by the batch that died');
  });

  it("a batch committed by a worker killed before its result reached Temporal: the retried step reports that batch's counts", async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, v text)`);
    await src.query(`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 10) g`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'items', mode: 'cdc' }], ...FAST };
    const env = await temporal();
    const taskQueue = uniqueTaskQueue('cdc-lost-result');
    const workers = workerProcesses({ address: env.address, taskQueue, connections });
    const worker = workers.start;
    const gate = await dst.connect();
    try {
      const one = await worker();
      const h = await env.client.workflow.start('cdcWorkflow', { taskQueue, workflowId: `cdc-lost-result-${process.pid}`, args: [{ config, waitMs: 500 }] });
      await streaming(h);
      // Every save of a table's state waits at COMMIT for a lock the test holds: the batch's changes are in, its commit pending.
      await dst.query(`CREATE FUNCTION commit_gate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared(7707); RETURN NULL; END $$`);
      await dst.query(`CREATE CONSTRAINT TRIGGER commit_gate AFTER INSERT OR UPDATE ON _tablesync_tables DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION commit_gate()`);
      await gate.query('SELECT pg_advisory_lock(7707)');
      await src.query(`BEGIN; INSERT INTO items SELECT g, 'new' FROM generate_series(11, 15) g; UPDATE items SET v = 'changed' WHERE id <= 3; DELETE FROM items WHERE id IN (9, 10); COMMIT`);
      await waitFor('the batch waiting at its commit', async () => (await pgBackends(dst, DST, 'COMMIT')).find((b) => b.waiting));
      // The worker dies; its backend, left alone, commits once the lock is free. The step's result never reaches Temporal.
      await one.kill('SIGKILL');
      await gate.query('SELECT pg_advisory_unlock(7707)');
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      await dst.query(`DROP TRIGGER commit_gate ON _tablesync_tables; DROP FUNCTION commit_gate()`);
      await worker();
      // Without the saved step the retry would read the same changes (never acknowledged) and count them all skipped.
      const p = await waitFor('the counts', async () => {
        const q = await h.query<CdcProgress>('cdcProgress');
        return q.totals.batches > 0 && q.totals.inserted + q.totals.skipped > 0 && q;
      });
      assert.deepEqual([p.totals.inserted, p.totals.updated, p.totals.deleted, p.totals.skipped], [5, 3, 2, 0]);
      await src.query(`INSERT INTO items VALUES (16, 'after')`);
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      const after = await waitFor('the next batch', async () => {
        const q = await h.query<CdcProgress>('cdcProgress');
        return q.totals.inserted === 6 && q;
      });
      assert.equal(after.totals.skipped, 0, 'the retry acknowledged the committed batch: nothing is read twice');
      await h.signal('cdcStop', { dropSlot: true });
      await h.result();
    } finally {
      gate.release();
      await workers.killAll();
    }
    assert.equal(await duplicateKeys(dst, 'public.items', ['id']), 0);
    assert.deepEqual(await slots(src), []);
  });

  it("a slot still held by another reader's replication connection (an earlier attempt's) is taken over: one reader at a time, each change once", async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, v text)`);
    await src.query(`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 10) g`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'items', mode: 'cdc' }], ...FAST };
    const outcome = await cdcRun(`cdc-takeover-${process.pid}`, { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      await src.query(`INSERT INTO items VALUES (11, 'before')`);
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      // Paused, the worker closes its stream once unused; then another connection streams the slot and stays.
      await h.signal('cdcPause');
      const { stream } = await h.query<CdcProgress>('cdcProgress');
      await waitFor('the slot free', async () => (await src.query(`SELECT NOT active AS free FROM pg_replication_slots WHERE slot_name = $1`, [stream])).rows[0].free, 30_000);
      const other = new Client({ connectionString: connections.src, replication: 'database' } as ClientConfig);
      other.on('error', () => undefined);
      await other.connect();
      const held = other.query(`START_REPLICATION SLOT ${stream} LOGICAL 0/0 (proto_version '1', publication_names '${stream}')`).then(
        () => 'ended',
        (err: Error) => err.message,
      );
      const holder = await waitFor('the other reader holding the slot', async () => (await src.query(`SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1`, [stream])).rows[0].active_pid);
      await src.query(`INSERT INTO items VALUES (12, 'while held'); UPDATE items SET v = 'updated' WHERE id = 3; DELETE FROM items WHERE id = 4`);
      await h.signal('cdcResume');
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      assert.match(await held, /terminat/, "the other reader's walsender was ended");
      const now = (await src.query(`SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1`, [stream])).rows[0].active_pid;
      assert.notEqual(now, holder, "the stream's own walsender reads now");
      await other.end().catch(() => undefined);
      const p = await waitFor('the counts', async () => {
        const q = await h.query<CdcProgress>('cdcProgress');
        return q.totals.inserted >= 2 && q;
      });
      assert.deepEqual([p.totals.inserted, p.totals.updated, p.totals.deleted], [2, 1, 1], 'each change once');
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(outcome.ok, outcome.ok ? '' : failureChain(outcome.error));
    assert.deepEqual(await slots(src), []);
  });

  it('tablesync cdc start, status (position, lag), pause, resume, stop --drop-slot from the command line', async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, v text)`);
    await src.query(`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 10) g`);
    const env = await temporal();
    const taskQueue = uniqueTaskQueue('cdc-cli');
    const dir = mkdtempSync(join(tmpdir(), 'tablesync-cdc-'));
    const file = join(dir, 'cdc.json');
    writeFileSync(file, JSON.stringify({ source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'items', mode: 'cdc' }], ...FAST }));
    const cliEnv = { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: taskQueue, ...connectionEnv(connections) };
    const w = await startWorkerProcess({ address: env.address, taskQueue, connections });
    const id = `cdc-cli-${process.pid}`;
    try {
      const started = await runCli(['cdc', 'start', '--config', file, '--workflow-id', id], cliEnv);
      assert.equal(started.code, 0, started.out);
      await waitFor('the stream', async () => /streaming/.test((await runCli(['cdc', 'status', id], cliEnv)).stdout));
      await src.query(`INSERT INTO items VALUES (11, 'new')`);
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      const status = await waitFor('the counts in status', async () => {
        const r = await runCli(['cdc', 'status', id], cliEnv);
        return /1 inserted/.test(r.stdout) && r;
      });
      assert.match(status.stdout, /streaming, slot "tablesync_cdc_cli_\d+_[0-9a-f]{8}", tables public\.items/);
      assert.match(status.stdout, /applied up to [0-9A-F]+\/[0-9A-F]+ \(committed at the source [^)]+\), lag \d+ bytes of WAL, [\d.?]+ s/);
      assert.match(status.stdout, /1 inserted/);
      assert.equal((await runCli(['cdc', 'pause', id], cliEnv)).code, 0);
      await waitFor('paused', async () => /: paused/.test((await runCli(['cdc', 'status', id], cliEnv)).stdout));
      await src.query(`INSERT INTO items VALUES (12, 'while paused')`);
      assert.equal((await dst.query(`SELECT count(*)::int AS n FROM items`)).rows[0].n, 11, 'a paused stream applies nothing');
      assert.equal((await runCli(['cdc', 'resume', id], cliEnv)).code, 0);
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      const stopped = await runCli(['cdc', 'stop', id, '--drop-slot'], cliEnv);
      assert.equal(stopped.code, 0, stopped.out);
      assert.match(stopped.stdout, /stopped; slot "tablesync_cdc_cli_\d+_[0-9a-f]{8}" and its publication dropped/);
      assert.deepEqual(await slots(src), []);
      assert.match((await runCli(['cdc', 'status', id], cliEnv)).stdout, /COMPLETED\n {2}slot "tablesync_cdc_cli_\d+_[0-9a-f]{8}" dropped/);
      const tables = await runCli(['status', '--config', file], cliEnv);
      assert.equal(tables.code, 0, tables.out);
      // The table's state: the stream it follows and the position applied.
      assert.match(tables.stdout, /public\.items → public\.items: mode cdc, cursor tablesync_cdc_cli_\d+_[0-9a-f]{8} = [0-9A-F]+\/[0-9A-F]+ \(pg_lsn\)/);
    } finally {
      await w.kill();
    }
  });

  it('a sync run of the same config leaves the cdc tables to the cdc workflow and syncs the others', async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, v text); CREATE TABLE plain (id int PRIMARY KEY, v text)`);
    await src.query(`INSERT INTO items VALUES (1, 'a'); INSERT INTO plain VALUES (1, 'b')`);
    const summary = await syncOk(connections, { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'items', mode: 'cdc' }, 'plain'], ...FAST });
    assert.deepEqual(summary.skipped, [{ table: 'public.items', reason: 'mode cdc: synced by the cdc workflow (tablesync cdc start), not by a run' }]);
    assert.deepEqual(summary.tables.map((t) => [t.table, t.status]), [['public.plain', 'completed']]);
  });

  it('a long transaction (60,000 changes) is applied whole, in one batch, each change counted once', async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, v text, n int)`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'items', mode: 'cdc' }], ...FAST, timeouts: { heartbeatSeconds: 2 } };
    const outcome = await cdcRun(`cdc-long-${process.pid}`, { config, waitMs: 500, maxChanges: 1_000 }, async (h) => {
      await streaming(h);
      await src.query(`BEGIN; INSERT INTO items SELECT g, 'v' || g, 0 FROM generate_series(1, 30000) g; UPDATE items SET n = 1; COMMIT`);
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      const p = await waitFor('the counts', async () => {
        const q = await h.query<CdcProgress>('cdcProgress');
        return q.totals.transactions > 0 && q;
      });
      assert.deepEqual([p.totals.transactions, p.totals.inserted, p.totals.updated, p.totals.skipped], [1, 30000, 30000, 0]);
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(outcome.ok, outcome.ok ? '' : failureChain(outcome.error));
  });
});
