import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { Pool } from 'pg';
import { parseSyncConfig } from '../../lib/config';
import { cdcStreamName, legacyCdcStreamName } from '../../lib/modes/cdc/stream';
import type { CdcProgress } from '../../workflows/cdc';
import { caughtUpWith, cdcProgress, runCdc, streaming, replicationSlots } from '../helpers/cdc';
import { connectionEnv, runCli } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import { duplicateKeys, lockPgTable, pgBackends, waitFor } from '../helpers/guarantees';
import { metric, scrape, type Sample } from '../helpers/metrics';
import { freshCdcDatabase, PG_CDC_BASE, pgUrl, testDb } from '../helpers/pg';
import { failureChain } from '../helpers/run';
import { temporal, testWorker, uniqueTaskQueue } from '../helpers/temporal';
import { freePort } from '../helpers/temporal-server';
import { sleep, startWorkerProcess, workerProcesses } from '../helpers/worker-process';
import { incrementalSyncWorkflow } from '../../workflows';
import type { SyncSummary } from '../../lib/types';

// cdc operations and the stream's harder cases, against the wal_level=logical
// cluster (TABLESYNC_TEST_PG_CDC): status and metrics, slot names, the
// generation claim, large transactions in pieces, schema changes.
const SRC = testDb('tablesync_it_cdcops_src');
const DST = testDb('tablesync_it_cdcops_dst');
const OTHER = testDb('tablesync_it_cdcops_other');
const connections = { src: `${PG_CDC_BASE}/${SRC}`, dst: pgUrl(DST), other: pgUrl(OTHER) };
const FAST = { timeouts: { heartbeatSeconds: 3 }, retry: { maximumAttempts: 5, initialIntervalMs: 200, maximumIntervalMs: 500 } };
const base = { source: { connection: 'src' }, target: { connection: 'dst' }, ...FAST };

async function rows(pool: Pool, sql: string): Promise<string[]> {
  return (await pool.query(sql)).rows.map((r) => JSON.stringify(r));
}

const caughtUp = (src: Pool, dst: Pool, srcSql: string, dstSql = srcSql, timeoutMs = 90_000) =>
  caughtUpWith(() => rows(src, srcSql), () => rows(dst, dstSql), timeoutMs);

const cdcRun = (workflowId: string, input: object, during?: (h: WorkflowHandle) => Promise<void>) => runCdc(connections, 'cdcops', workflowId, input, during);

const progress = cdcProgress;

const slots = replicationSlots;

describe('cdc operations: status, metrics, slot names, claims, large transactions, schema changes (real servers)', function () {
  this.timeout(240_000);
  const { dst, other } = useDatabases({ pg: { dst: DST, other: OTHER } }, { perTest: true });
  let src: Pool;
  beforeEach(async () => {
    src = await freshCdcDatabase(SRC);
  });
  afterEach(async () => {
    await src.end();
  });

  it('status (WORKFLOW_ID and --config) shows lag in bytes and seconds and the position; metrics count changes by kind and the lag; a slot left without its workflow is warned about', async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, v text)`);
    await src.query(`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 20) g`);
    const env = await temporal();
    const taskQueue = uniqueTaskQueue('cdcops-status');
    const dir = mkdtempSync(join(tmpdir(), 'tablesync-cdcops-'));
    const file = join(dir, 'cdc.json');
    const config = { ...base, tables: [{ table: 'items', mode: 'cdc' }] };
    writeFileSync(file, JSON.stringify(config));
    const cliEnv = { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: taskQueue, ...connectionEnv(connections) };
    const metricsAddress = `127.0.0.1:${await freePort()}`;
    const w = await startWorkerProcess({ address: env.address, taskQueue, connections, env: { TABLESYNC_METRICS_ADDRESS: metricsAddress } });
    const id = `cdcops-status-${process.pid}`;
    const stream = cdcStreamName(id);
    const changes = (s: Sample[], kind: string) => metric(s, 'tablesync_cdc_changes_total', { stream, kind, task_queue: taskQueue });
    try {
      // Small batches, so a backlog takes several: the lag in seconds shows while they catch up.
      const h = await env.client.workflow.start('cdcWorkflow', { taskQueue, workflowId: id, args: [{ config, maxChanges: 5, waitMs: 300 }] });
      await streaming(h);
      await src.query(`INSERT INTO items VALUES (21, 'new'), (22, 'new')`);
      await src.query(`UPDATE items SET v = 'changed' WHERE id <= 3`);
      await src.query(`DELETE FROM items WHERE id = 20`);
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      const counted = await waitFor('the changes counted', async () => {
        const s = await scrape(metricsAddress);
        return changes(s, 'delete') === 1 && s;
      });
      assert.deepEqual(['insert', 'update', 'delete', 'truncate'].map((k) => changes(counted, k)), [2, 3, 1, 0]);
      // Caught up: nothing the source committed is unapplied.
      await waitFor('lag 0 s once caught up', async () => metric(await scrape(metricsAddress), 'tablesync_cdc_lag_seconds', { stream }) === 0);
      const bytes = (await scrape(metricsAddress)).find((x) => x.name === 'tablesync_cdc_lag_bytes' && x.labels.stream === stream);
      assert.ok(bytes && bytes.value >= 0, 'lag in bytes, per stream');

      // A backlog: paused while 40 transactions commit, then 3 s later resumed: the lag in seconds is at least the wait until caught up.
      await h.signal('cdcPause');
      await waitFor('paused', async () => (await progress(h)).phase === 'paused');
      for (let k = 100; k < 140; k++) await src.query(`INSERT INTO items VALUES (${k}, 'backlog')`);
      await sleep(3_000);
      await h.signal('cdcResume');
      let most = 0;
      while (metric(await scrape(metricsAddress), 'tablesync_cdc_changes_total', { stream, kind: 'insert' }) < 42) {
        most = Math.max(most, metric(await scrape(metricsAddress), 'tablesync_cdc_lag_seconds', { stream }));
        await sleep(50);
      }
      assert.ok(most >= 2.5, `lag seconds while catching up: at most ${most}`);
      await waitFor('lag 0 s again', async () => metric(await scrape(metricsAddress), 'tablesync_cdc_lag_seconds', { stream }) === 0);

      const byId = await runCli(['status', id], cliEnv);
      assert.equal(byId.code, 0, byId.out);
      assert.match(byId.stdout, new RegExp(`${id}: streaming, slot "${stream}", tables public\\.items`));
      assert.match(byId.stdout, /applied up to [0-9A-F]+\/[0-9A-F]+ \(committed at the source \d{4}-\d\d-\d\dT[\d:.]+Z\), lag \d+ bytes of WAL, 0 s/);
      const byConfig = await runCli(['status', '--config', file], cliEnv);
      assert.equal(byConfig.code, 0, byConfig.out);
      assert.match(byConfig.stdout, new RegExp(`cdc stream "${stream}" \\(${id}: RUNNING\\): applied up to [0-9A-F]+/[0-9A-F]+, lag \\d+ bytes of WAL, 0 s`));
      assert.doesNotMatch(byConfig.stdout, /warning/);
      const json = JSON.parse((await runCli(['status', '--config', file, '--json'], cliEnv)).stdout);
      assert.equal(json[0].stream.workflowStatus, 'RUNNING');
      assert.equal(typeof json[0].stream.slot.lagBytes, 'number');

      // Stopped, the slot kept: status says it holds WAL with no workflow reading it.
      assert.equal((await runCli(['cdc', 'stop', id], cliEnv)).code, 0);
      const left = await runCli(['status', '--config', file], cliEnv);
      assert.match(left.stdout, new RegExp(`warning: replication slot "${stream}" exists while no cdc workflow reads it \\(${id}: COMPLETED\\): it holds \\d+ bytes of the source's WAL`));
      assert.match(left.stdout, /pg_drop_replication_slot/);
      const ended = await runCli(['status', id], cliEnv);
      assert.match(ended.stdout, new RegExp(`${id}: COMPLETED\\n  warning: replication slot "${stream}" is kept`));
      await src.query('SELECT pg_drop_replication_slot($1)', [stream]);
      const gone = await runCli(['status', '--config', file], cliEnv);
      assert.match(gone.stdout, new RegExp(`cdc stream "${stream}" \\(${id}: COMPLETED\\): no replication slot on the source`));
      assert.doesNotMatch(gone.stdout, /warning/);
    } finally {
      await w.kill();
    }
  });

  it("slot names say tablesync once; a stream whose tables' state follows the old name keeps it", async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, v text)`);
    await src.query(`INSERT INTO items VALUES (1, 'a')`);
    const config = { ...base, tables: [{ table: 'items', mode: 'cdc' }] };
    const id = `tablesync-cdc-names-${process.pid}`;
    const first = await cdcRun(id, { config, waitMs: 300 }, async (h) => {
      await streaming(h);
      assert.equal((await progress(h)).stream, cdcStreamName(id));
      await h.signal('cdcStop', { dropSlot: false });
    });
    assert.ok(first.ok, first.ok ? '' : failureChain(first.error));
    assert.match(first.value.stream, new RegExp(`^tablesync_cdc_names_${process.pid}_[0-9a-f]{8}$`));
    // As a stream started before the fix left it: its slot, publication and tables' state under the old name, at the same place.
    const legacy = legacyCdcStreamName(id);
    assert.equal(legacy, `tablesync_tablesync_cdc_names_${process.pid}_${first.value.stream.slice(-8)}`);
    const at = (await src.query(`SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1`, [first.value.stream])).rows[0].lsn;
    await src.query(`SELECT pg_drop_replication_slot($1)`, [first.value.stream]);
    await src.query(`ALTER PUBLICATION ${first.value.stream} RENAME TO ${legacy}`);
    await src.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [legacy]);
    await dst.query(`UPDATE _tablesync_tables SET cursor_column = $1, cursor_value = $2`, [legacy, at]);
    await src.query(`INSERT INTO items VALUES (2, 'after')`);
    const again = await cdcRun(id, { config, waitMs: 300 }, async (h) => {
      await streaming(h);
      const p = await progress(h);
      assert.equal(p.stream, legacy, 'the saved name is used');
      assert.equal(p.snapshot, null, 'no new snapshot');
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(again.ok, again.ok ? '' : failureChain(again.error));
    assert.equal(again.value.stream, legacy);
    assert.deepEqual(await slots(src), []);
  });

  it('the snapshot claims its target tables: a sync of the same target table that started before cannot commit over it', async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, v text)`);
    await src.query(`INSERT INTO items SELECT g, 'cdc' FROM generate_series(1, 1000) g`);
    await other.query(`CREATE TABLE items (id int PRIMARY KEY, v text)`);
    await other.query(`INSERT INTO items SELECT g, 'other' FROM generate_series(1, 20000) g`);
    await other.query('ANALYZE items');
    const env = await temporal();
    const { taskQueue, worker, close } = await testWorker(connections, 'cdcops-claim');
    try {
      await worker.runUntil(async () => {
        // A full load of the same target table from another source, past its claim and first chunks, then held in a read of its source.
        const sync = await env.client.workflow.start(incrementalSyncWorkflow, {
          taskQueue,
          workflowId: `cdcops-claim-sync-${process.pid}`,
          args: [{ source: { connection: 'other' }, target: { connection: 'dst' }, tables: ['items'], mode: 'full', batchSize: 1_000, ...FAST, retry: { maximumAttempts: 1 } }],
        });
        await waitFor('chunks of the load committed', async () => {
          const t = await dst.query(`SELECT to_regclass('_migration_state') AS t`);
          return Boolean(t.rows[0].t) && (await dst.query(`SELECT max(chunks_done) AS n FROM _migration_state WHERE workflow_id = $1`, [sync.workflowId])).rows[0].n >= 2;
        });
        const lock = await lockPgTable(other, 'items');
        await waitFor('the load reading its source', async () => (await pgBackends(other, OTHER, 'COPY (SELECT%items%')).some((b) => b.waiting));
        const h = await env.client.workflow.start('cdcWorkflow', {
          taskQueue,
          workflowId: `cdcops-claim-${process.pid}`,
          args: [{ config: { ...base, tables: [{ table: 'items', mode: 'cdc' }] }, waitMs: 300 }],
        });
        // The snapshot's claim waits for the held chunk (which holds the sync's claim), heartbeating meanwhile.
        await waitFor('the snapshot claiming the table', async () => (await pgBackends(dst, DST, '%_tablesync_generations%')).some((b) => b.waiting));
        await lock.release();
        await streaming(h);
        const summary = (await sync.result().catch((e) => e)) as SyncSummary | Error;
        const said = summary instanceof Error ? failureChain(summary) : JSON.stringify(summary.tables.map((t) => [t.status, t.error]));
        assert.match(said, /Superseded|claimed by a newer sync, cdcops-claim-/, said);
        await src.query(`UPDATE items SET v = 'streamed' WHERE id = 1`);
        await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
        await h.signal('cdcStop', { dropSlot: true });
        await h.result();
      });
    } finally {
      await close();
    }
    assert.equal((await dst.query(`SELECT count(*)::int AS n FROM items WHERE v = 'other'`)).rows[0].n, 0, "the older sync's rows never landed");
  });

  it('a transaction past cdcTransactionChanges is applied in pieces (one target commit each); a stream stopped between pieces goes on from the piece, each change applied once', async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, v text, n int)`);
    await src.query(`CREATE TABLE side (id int PRIMARY KEY, v text)`);
    const config = { ...base, tables: [{ table: 'items', mode: 'cdc' }, { table: 'side', mode: 'cdc' }], cdcTransactionChanges: 3_000 };
    const id = `cdcops-pieces-${process.pid}`;
    let applied = { inserted: 0, updated: 0, deleted: 0, skipped: 0, transactions: 0 };
    const add = (p: CdcProgress) => {
      applied = {
        inserted: applied.inserted + p.totals.inserted,
        updated: applied.updated + p.totals.updated,
        deleted: applied.deleted + p.totals.deleted,
        skipped: applied.skipped + p.totals.skipped,
        transactions: applied.transactions + p.totals.transactions,
      };
    };
    // 10,000 inserts, 10,000 updates and 1,000 deletes over two tables, in one source transaction (21,002 changes: 8 pieces).
    const big = `BEGIN; INSERT INTO items SELECT g, 'v' || g, 0 FROM generate_series(1, 10000) g; INSERT INTO side VALUES (1, 'in the middle');
      UPDATE items SET n = 1; DELETE FROM items WHERE id > 9000; INSERT INTO side VALUES (2, 'at the end'); COMMIT`;
    const first = await cdcRun(id, { config, waitMs: 300, maxChanges: 100 }, async (h) => {
      await streaming(h);
      await src.query(big);
      // Stopped once some pieces are in: the signal is seen between batches, so the stream ends after a piece.
      const p = await waitFor('a piece applied', async () => {
        const q = await progress(h);
        return q.totals.inserted > 0 && q;
      });
      await h.signal('cdcStop', { dropSlot: false });
      assert.equal(p.totals.transactions, 0, 'a piece is not a whole transaction');
      const seen = (await dst.query(`SELECT count(*)::int AS n FROM items`)).rows[0].n;
      assert.ok(seen > 0 && seen <= 10_000, `rows of the transaction in the target before its end: ${seen}`);
    });
    assert.ok(first.ok, first.ok ? '' : failureChain(first.error));
    add({ totals: first.value.totals } as CdcProgress);
    const saved = (await dst.query(`SELECT target_table, cursor_value FROM _tablesync_tables WHERE target_table = 'items'`)).rows[0];
    assert.match(saved.cursor_value, /^[0-9A-F]+\/[0-9A-F]+#\d+$/, 'the state holds a piece position: commit#changes applied');
    assert.ok(applied.inserted + applied.updated + applied.deleted < 21_000, `stopped before the end: ${JSON.stringify(applied)}`);
    const second = await cdcRun(id, { config, waitMs: 300, maxChanges: 100 }, async (h) => {
      await streaming(h);
      assert.equal((await progress(h)).snapshot, null, 'went on from the saved positions');
      await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
      await caughtUp(src, dst, 'SELECT * FROM side ORDER BY id');
      await waitFor('the last piece counted', async () => (await progress(h)).totals.transactions === 1);
      add(await progress(h));
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(second.ok, second.ok ? '' : failureChain(second.error));
    // Each change counted once over both runs: none applied twice, none skipped by a saved position (the read left them out).
    assert.deepEqual(applied, { inserted: 10_002, updated: 10_000, deleted: 1_000, skipped: 0, transactions: 1 });
    assert.ok(first.value.totals.batches + second.value.totals.batches >= 6, 'several target commits');
    assert.equal(await duplicateKeys(dst, 'public.items', ['id']), 0);
    assert.match((await dst.query(`SELECT cursor_value FROM _tablesync_tables WHERE target_table = 'items'`)).rows[0].cursor_value, /^[0-9A-F]+\/[0-9A-F]+$/);
  });

  it('schema changes: an added column is added and backfilled (existing rows get their source values), a widened type widened', async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, name varchar(10), n int)`);
    await src.query(`INSERT INTO items SELECT g, 'n' || g, g FROM generate_series(1, 200) g`);
    const config = { ...base, tables: [{ table: 'items', mode: 'cdc', deletes: 'soft' }] };
    const outcome = await cdcRun(`cdcops-evolve-${process.pid}`, { config, waitMs: 300, batchesPerRun: 3 }, async (h) => {
      await streaming(h);
      await src.query(`UPDATE items SET n = -1 WHERE id = 1`);
      // One transaction: rows before the ALTER have the old columns, rows after the new.
      await src.query(`BEGIN; INSERT INTO items VALUES (201, 'before', 0);
        ALTER TABLE items ADD COLUMN status text NOT NULL DEFAULT 'new', ALTER COLUMN name TYPE varchar(40), ALTER COLUMN n TYPE bigint;
        INSERT INTO items VALUES (202, 'a name longer than ten', 5000000000, 'paid'); UPDATE items SET status = 'late' WHERE id = 2; COMMIT`);
      await src.query(`DELETE FROM items WHERE id = 3`);
      await src.query(`UPDATE items SET status = 'changed', n = 7 WHERE id = 4`);
      await caughtUp(src, dst, 'SELECT id, name, n, status FROM items ORDER BY id', 'SELECT id, name, n, status FROM items WHERE NOT is_deleted ORDER BY id');
      // Carried on: later batches (and continued runs) apply with the new columns.
      await src.query(`INSERT INTO items VALUES (203, 'later', 1, 'x')`);
      await caughtUp(src, dst, 'SELECT id, name, n, status FROM items ORDER BY id', 'SELECT id, name, n, status FROM items WHERE NOT is_deleted ORDER BY id');
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(outcome.ok, outcome.ok ? '' : failureChain(outcome.error));
    const types = await dst.query(`SELECT column_name, data_type, character_maximum_length AS len FROM information_schema.columns WHERE table_name = 'items' AND column_name IN ('name', 'n', 'status') ORDER BY 1`);
    assert.deepEqual(types.rows, [
      { column_name: 'n', data_type: 'bigint', len: null },
      { column_name: 'name', data_type: 'character varying', len: 40 },
      { column_name: 'status', data_type: 'text', len: null },
    ]);
    // Live rows all hold the source's value (compared above); a row the source deleted before the backfill read it keeps none.
    assert.deepEqual((await dst.query(`SELECT count(*)::int AS n FROM items WHERE status IS NULL AND NOT is_deleted`)).rows[0].n, 0);
    const state = (await dst.query(`SELECT columns FROM _tablesync_tables WHERE target_table = 'items'`)).rows[0].columns;
    assert.ok(JSON.stringify(state).includes('status'), `the state lists the added column: ${JSON.stringify(state)}`);
  });

  it('a worker restarted after the source changed shape: the stream goes on through the evolution rules (the plan its state saved is its own); a forged plan is still refused', async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, name varchar(10), n int)`);
    await src.query(`INSERT INTO items SELECT g, 'n' || g, g FROM generate_series(1, 50) g`);
    const config = { ...base, tables: [{ table: 'items', mode: 'cdc' }] };
    const env = await temporal();
    const taskQueue = uniqueTaskQueue('cdcops-restart');
    const workers = workerProcesses({ address: env.address, taskQueue, connections });
    const worker = workers.start;
    // Caught up, or the workflow's own failure (a refused plan ends the stream at once).
    const caughtUpOrFailed = async (h: WorkflowHandle, sql: string) =>
      Promise.race([
        caughtUp(src, dst, sql),
        h.result().then(
          () => Promise.reject(new Error('the stream ended')),
          (err: Error) => Promise.reject(new Error(failureChain(err))),
        ),
      ]);
    try {
      const one = await worker();
      const h = await env.client.workflow.start('cdcWorkflow', { taskQueue, workflowId: `cdcops-restart-${process.pid}`, args: [{ config, waitMs: 300 }] });
      await streaming(h);
      await src.query(`UPDATE items SET n = -1 WHERE id = 1`);
      await caughtUpOrFailed(h, 'SELECT id, name, n FROM items ORDER BY id');
      // The worker that made the plan is gone (and what it remembered with it); the source changes shape meanwhile.
      await one.kill('SIGKILL');
      await src.query(`ALTER TABLE items ADD COLUMN status text NOT NULL DEFAULT 'new', ALTER COLUMN name TYPE varchar(40), ALTER COLUMN n TYPE bigint`);
      await src.query(`INSERT INTO items VALUES (51, 'a name longer than ten', 5000000000, 'paid')`);
      await src.query(`UPDATE items SET status = 'late' WHERE id = 2`);
      await worker();
      await caughtUpOrFailed(h, 'SELECT id, name, n, status FROM items ORDER BY id');
      const types = await dst.query(`SELECT column_name, data_type, character_maximum_length AS len FROM information_schema.columns WHERE table_name = 'items' ORDER BY ordinal_position`);
      assert.deepEqual(types.rows, [
        { column_name: 'id', data_type: 'integer', len: null },
        { column_name: 'name', data_type: 'character varying', len: 40 },
        { column_name: 'n', data_type: 'bigint', len: null },
        { column_name: 'status', data_type: 'text', len: null },
      ]);
      await h.signal('cdcStop', { dropSlot: true });
      await h.result();
      // A plan the worker never made (types neither the catalog's nor any its state saved) is refused before any database work.
      const plan = (columns: [string, string][]) => ({
        source: { schema: 'public', name: 'items' },
        target: { schema: 'public', name: 'items' },
        mode: 'cdc',
        primaryKey: ['id'],
        notes: [],
        columns: columns.map(([name, sourceType]) => ({ name, targetName: name, sourceType, targetType: sourceType, nullable: name !== 'id' })),
      });
      const forged: [[string, string][], RegExp][] = [
        [[['id', 'integer'], ['name', 'character varying(40)'], ['n', 'smallint']], /the plan of public\.items has columns\[2\] "n" smallint, which the source table does not have/],
        [[['id', 'integer'], ['secret', 'text']], /the plan of public\.items has columns\[1\] "secret" text, which the source table does not have/],
      ];
      const totals = { batches: 0, transactions: 0, inserted: 0, updated: 0, deleted: 0, truncated: 0, skipped: 0 };
      for (const [i, [columns, expected]] of forged.entries()) {
        // A run carried on by continue-as-new takes its config parsed and its plans as given: the guard is all that checks them.
        const carried = { config: parseSyncConfig(config), stream: 'tablesync_forged', tables: [plan(columns)], totals, paused: false };
        const f = await env.client.workflow.start('cdcWorkflow', { taskQueue, workflowId: `cdcops-forged-${i}-${process.pid}`, args: [{ config, waitMs: 300, carried }] });
        const chain = await f.result().then(
          () => '(ended well)',
          (err: Error) => failureChain(err),
        );
        assert.match(chain, /A plan is made by the sync's own planning step; one that does not match the source catalog is not run/, chain);
        assert.match(chain, expected, chain);
      }
    } finally {
      await workers.killAll();
    }
    assert.deepEqual(await slots(src), []);
  });

  it('schema changes refused, naming the table and column, nothing of the batch applied: a dropped column, a rename, a narrowing, another type', async () => {
    const cases: [string, string, RegExp][] = [
      ['dropped', 'ALTER TABLE t_dropped DROP COLUMN v', /public\.t_dropped: column "v" was dropped at the source; cdc never drops or renames a target column/],
      ['renamed', 'ALTER TABLE t_renamed RENAME COLUMN v TO w', /public\.t_renamed: column "v" is gone from the source and "w" is new \(a rename looks like this\)/],
      ['narrowed', 'ALTER TABLE t_narrowed ALTER COLUMN v TYPE varchar(5)', /public\.t_narrowed: column "v" narrowed in the source from character varying\(20\) to character varying\(5\)/],
      ['retyped', 'ALTER TABLE t_retyped ALTER COLUMN v TYPE int USING length(v)', /public\.t_retyped: column "v" changed type in the source from character varying\(20\) to integer/],
    ];
    for (const [what, ddl, expected] of cases) {
      const table = `t_${what}`;
      await src.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v varchar(20))`);
      await src.query(`INSERT INTO ${table} VALUES (1, 'one')`);
      const config = { ...base, target: { connection: 'dst' }, tables: [{ table, mode: 'cdc' }] };
      const outcome = await cdcRun(`cdcops-refuse-${what}-${process.pid}`, { config, waitMs: 300 }, async (h) => {
        await streaming(h);
        await src.query(`BEGIN; INSERT INTO ${table} VALUES (2, 'two'); ${ddl}; INSERT INTO ${table} (id) VALUES (3); COMMIT`);
      });
      assert.ok(!outcome.ok, what);
      const chain = failureChain(outcome.error);
      assert.match(chain, expected, what);
      assert.match(chain, /is kept and holds back the source's WAL/, what);
      assert.deepEqual((await dst.query(`SELECT id FROM ${table} ORDER BY id`)).rows, [{ id: 1 }], `${what}: nothing of the refused transaction applied`);
      const columns = (await dst.query(`SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`, [table])).rows.map((r) => r.column_name);
      assert.deepEqual(columns, ['id', 'v'], `${what}: the target's columns as they were`);
      for (const slot of await slots(src)) await src.query('SELECT pg_drop_replication_slot($1)', [slot]);
    }
  });
});
