import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import type { Connection } from 'mysql2/promise';
import { cdcProgress, mariadbCaughtUp, runCdc, streaming } from '../helpers/cdc';
import { useDatabases } from '../helpers/databases';
import { duplicateKeys, waitFor } from '../helpers/guarantees';
import { freshMysqlCdcDatabase, MYSQL_CDC_BASE } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { failureChain } from '../helpers/run';
import { temporal, uniqueTaskQueue } from '../helpers/temporal';
import { workerProcesses } from '../helpers/worker-process';

// MariaDB cdc and large source transactions: applied whole up to
// cdcTransactionChanges, in pieces past it (each its own target commit,
// resumable inside the transaction across a crash).
const SRC = testDb('tablesync_it_mcdctx_src');
const DST = testDb('tablesync_it_mcdctx_dst');
const connections = { src: `${MYSQL_CDC_BASE}/${SRC}`, dst: pgUrl(DST) };
const FAST = { timeouts: { heartbeatSeconds: 5 }, retry: { maximumAttempts: 5, initialIntervalMs: 200, maximumIntervalMs: 500 } };

const caughtUp = mariadbCaughtUp;
const cdcRun = (workflowId: string, input: object, during?: (h: WorkflowHandle) => Promise<void>) => runCdc(connections, 'mcdctx', workflowId, input, during);
const progressOf = cdcProgress;
let runs = 0;
const wid = (what: string) => `mcdctx-${what}-${process.pid}-${++runs}`;

describe('cdc mode: MariaDB large transactions (real servers)', function () {
  this.timeout(240_000);
  const { dst } = useDatabases({ pg: { dst: DST } }, { perTest: true });
  let my: Connection;
  beforeEach(async () => {
    my = await freshMysqlCdcDatabase(SRC);
  });
  afterEach(async () => {
    await my.end();
  });

  it('a long transaction (60,000 changes) is applied whole, in one batch, each change counted once', async () => {
    await my.query(`CREATE TABLE items (id int PRIMARY KEY, v text, n int)`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table: 'items', mode: 'cdc' }], ...FAST };
    const outcome = await cdcRun(wid('long'), { config, waitMs: 500, maxChanges: 1_000 }, async (h) => {
      await streaming(h);
      await my.query(`BEGIN; INSERT INTO items SELECT seq, CONCAT('v', seq), 0 FROM seq_1_to_30000; UPDATE items SET n = 1; COMMIT`);
      await caughtUp(my, dst, 'SELECT * FROM items ORDER BY id');
      const p = await waitFor('the counts', async () => {
        const q = await progressOf(h);
        return q.totals.transactions > 0 && q;
      });
      assert.deepEqual([p.totals.transactions, p.totals.inserted, p.totals.updated, p.totals.skipped], [1, 30000, 30000, 0]);
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(outcome.ok, outcome.ok ? '' : failureChain(outcome.error));
  });

  it('a transaction past cdcTransactionChanges is applied in pieces (one target commit each); a worker SIGKILLed between pieces, the next goes on inside the transaction, each change applied once', async () => {
    await my.query(`CREATE TABLE items (id int PRIMARY KEY, v text, n int)`);
    await my.query(`CREATE TABLE side (id int PRIMARY KEY, v text)`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table: 'items', mode: 'cdc' }, { table: 'side', mode: 'cdc' }], cdcTransactionChanges: 3_000, ...FAST };
    const env = await temporal();
    const taskQueue = uniqueTaskQueue('mcdctx-pieces');
    const workers = workerProcesses({ address: env.address, taskQueue, connections });
    const worker = workers.start;
    const saved = async (table: string) => (await dst.query(`SELECT cursor_value FROM _tablesync_tables WHERE target_table = $1`, [table])).rows[0]?.cursor_value as string | undefined;
    try {
      const one = await worker();
      const h = await env.client.workflow.start('cdcWorkflow', { taskQueue, workflowId: wid('pieces'), args: [{ config, waitMs: 300, maxChanges: 100 }] });
      await streaming(h);
      // 10,000 inserts, 10,000 updates and 1,000 deletes over two tables, in one source transaction (21,002 changes: 8 pieces).
      // Re-applying any piece after a later one shows: an insert again after the updates (n back to 0), or after the deletes.
      await my.query(`BEGIN; INSERT INTO items SELECT seq, CONCAT('v', seq), 0 FROM seq_1_to_10000; INSERT INTO side VALUES (1, 'in the middle');
        UPDATE items SET n = 1; DELETE FROM items WHERE id > 9000; INSERT INTO side VALUES (2, 'at the end'); COMMIT`);
      // The worker dies once a piece is in (in the middle of a later one, or between two).
      await waitFor('a piece applied', async () => /#\d+$/.test((await saved('items')) ?? ''));
      await one.kill('SIGKILL');
      const piece = (await saved('items'))!;
      assert.match(piece, /^.+\.\d+:\d+#\d+$/, 'the state holds a piece position: the transaction\'s start#changes applied');
      const seen = (await dst.query(`SELECT count(*)::int AS n FROM items`)).rows[0].n;
      assert.ok(seen > 0 && seen <= 10_000, `rows of the transaction in the target before its end: ${seen}`);
      await worker();
      await caughtUp(my, dst, 'SELECT * FROM items ORDER BY id', undefined, 120_000);
      await caughtUp(my, dst, 'SELECT * FROM side ORDER BY id');
      const p = await waitFor('the last piece counted', async () => {
        const q = await progressOf(h);
        return q.totals.transactions === 1 && q;
      });
      // A piece the killed worker committed without reporting it is not counted; none is applied (or counted) twice,
      // and nothing is skipped by a saved position: the reads left the applied changes out.
      assert.ok(p.totals.inserted + p.totals.updated + p.totals.deleted <= 21_002, JSON.stringify(p.totals));
      assert.equal(p.totals.skipped, 0);
      assert.ok(p.totals.batches >= 7, `several target commits: ${p.totals.batches}`);
      await h.signal('cdcStop', { dropSlot: true });
      await h.result();
    } finally {
      await workers.killAll();
    }
    assert.equal(await duplicateKeys(dst, 'public.items', ['id']), 0);
    assert.match((await saved('items'))!, /^.+\.\d+:\d+$/, 'a whole transaction\'s position once its last piece is in');
  });
});
