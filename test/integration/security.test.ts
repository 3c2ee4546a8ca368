import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createConnection } from 'mysql2/promise';
import { Client as PgClient } from 'pg';
import type { SyncConfigInput } from '../../lib/config';
import type { SyncSummary } from '../../lib/types';
import { incrementalSyncWorkflow } from '../../workflows';
import { mysqlUrlAs, pgUrlAs, recreateMysqlUser, recreatePgRole } from '../helpers/accounts';
import { useDatabases } from '../helpers/databases';
import { closeStagingGate, duplicateKeys, leftoverTables, mariadbTextRows, pgTextRows, waitFor, waitingAtGate } from '../helpers/guarantees';
import { childWorkflowIds, fetchHistory, historyText, protoText, rootCause } from '../helpers/history';
import { MYSQL_BASE } from '../helpers/mysql';
import { testDb } from '../helpers/pg';
import { temporal, uniqueTaskQueue } from '../helpers/temporal';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

const SRC = testDb('tablesync_it_sec_src');
const DST = testDb('tablesync_it_sec_dst');
const MY = testDb('tablesync_it_sec_my');
const READER = testDb('tablesync_it_sec_reader');

// Distinct, unmistakable secrets, with characters that must be percent-encoded in a URL.
const MY_PW = 'My-Sec#Pw!41%z';
const WRONG_PW = 'Wrong-Sec#Pw!77';
const PG_PW = 'Pg-Sec#Pw!52'; // the local server trusts 127.0.0.1 and ignores it, but it is in the URL all the same
const DST_PW = 'Dst-Sec#Pw!63';
const URLS = {
  my: mysqlUrlAs(READER, MY_PW, MY),
  mybad: mysqlUrlAs(READER, WRONG_PW, MY),
  src: pgUrlAs(READER, SRC, PG_PW),
  dst: pgUrlAs('postgres', DST, DST_PW),
};
/** Everything that must never leave the worker: each password raw and URL-encoded, and each URL. */
const SECRETS = [
  ...[MY_PW, WRONG_PW, PG_PW, DST_PW].flatMap((pw) => [pw, encodeURIComponent(pw)]),
  ...Object.values(URLS),
];

function assertNoSecrets(text: string, where: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${where} contains the secret ${JSON.stringify(s)}`);
}

const fast = { retry: { maximumAttempts: 3, initialIntervalMs: 200, maximumIntervalMs: 500 } };

describe('security: secrets stay in the worker, and the source is only read', function () {
  const { src, dst, my } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { my: MY } });
  let worker: WorkerProcess;
  let client: Client;
  let taskQueue: string;
  /** Every sync this suite started; their histories are searched at the end. */
  const started: string[] = [];
  let seq = 0;

  async function sync(config: SyncConfigInput, name: string, during?: (workflowId: string) => Promise<void>) {
    const handle = await client.workflow.start(incrementalSyncWorkflow, {
      taskQueue,
      workflowId: `sec-${name}-${process.pid}-${Date.now()}-${++seq}`,
      args: [config],
    });
    started.push(handle.workflowId);
    if (during) await during(handle.workflowId);
    try {
      return { ok: true as const, summary: (await handle.result()) as SyncSummary, workflowId: handle.workflowId };
    } catch (error) {
      return { ok: false as const, error: error as Error, workflowId: handle.workflowId };
    }
  }

  before(async () => {
    await src.query('CREATE TABLE pg_items (id bigint PRIMARY KEY, name text, price numeric(10,2))');
    await src.query(`INSERT INTO pg_items SELECT g, 'item ' || g, g * 1.5 FROM generate_series(1, 3000) g`);
    await src.query('ANALYZE pg_items');
    await src.query('CREATE TABLE pg_checked (id int PRIMARY KEY, code text)');
    await src.query(`INSERT INTO pg_checked VALUES (1, 'ok'), (2, 'refused')`);
    await dst.query(`CREATE TABLE pg_checked (id int PRIMARY KEY, code text CONSTRAINT no_refused CHECK (code <> 'refused'))`);
    await dst.query(`INSERT INTO pg_checked VALUES (1, 'old')`);
    await my.query('CREATE TABLE my_orders (id int PRIMARY KEY, customer varchar(40), total decimal(10,2), placed datetime)');
    await my.query(
      `INSERT INTO my_orders SELECT seq, CONCAT('customer ', seq), seq * 2.25, '2026-01-02 03:04:05' + INTERVAL seq MINUTE FROM seq_1_to_500`,
    );
    await my.query('CREATE TABLE my_lines (order_id int, line int, qty int, PRIMARY KEY (order_id, line))');
    await my.query('INSERT INTO my_lines SELECT seq DIV 3 + 1, seq MOD 3, seq FROM seq_0_to_899');

    // Read-only source accounts: SELECT on the source tables and nothing else (docs/sources.md's minimal grants).
    await recreatePgRole(READER, PG_PW);
    await src.query(`GRANT CONNECT ON DATABASE "${SRC}" TO ${READER}; GRANT USAGE ON SCHEMA public TO ${READER}`);
    await src.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${READER}`);
    await recreateMysqlUser(READER, MY_PW, [`GRANT SELECT ON ${MY}.* TO $USER`]);

    const env = await temporal();
    client = env.client;
    taskQueue = uniqueTaskQueue('sec');
    // DEBUG: the most the worker ever logs, all of it searched for secrets below.
    worker = await startWorkerProcess({
      address: env.address,
      taskQueue,
      connections: URLS,
      env: { TABLESYNC_LOG_LEVEL: 'DEBUG' },
    });
  });

  after(async function () {
    if (this.currentTest?.state === 'failed' || process.env.TEST_LOG_LEVEL) console.error(worker?.logs());
    await worker?.kill();
  });

  it('the source accounts really are read-only (so a sync that succeeds with them only reads)', async () => {
    const asReader = new PgClient({ connectionString: URLS.src });
    await asReader.connect();
    try {
      await assert.rejects(asReader.query(`INSERT INTO pg_items VALUES (0, 'x', 0)`), /permission denied for table pg_items/);
      await assert.rejects(asReader.query('CREATE TABLE public.scratch (x int)'), /permission denied for schema public/);
    } finally {
      await asReader.end();
    }
    const myReader = await createConnection({ uri: URLS.my });
    try {
      await assert.rejects(myReader.query(`INSERT INTO my_orders (id) VALUES (0)`), /INSERT command denied/);
    } finally {
      await myReader.end();
    }
  });

  it('syncs MariaDB → PostgreSQL as a SELECT-only MariaDB user', async () => {
    const r = await sync(
      { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: [`${MY}.*`], ...fast },
      'my',
    );
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.equal(r.summary.tablesFailed, 0, JSON.stringify(r.summary.tables));
    assert.deepEqual(
      r.summary.tables.map((t) => [t.table, t.inserted]).sort(),
      [
        [`${MY}.my_lines`, 900],
        [`${MY}.my_orders`, 500],
      ],
    );
    for (const t of ['my_orders', 'my_lines']) {
      // my_lines has a two-column key: order by both.
      assert.deepEqual(await pgTextRows(dst, `public.${t}`, '1, 2'), await mariadbTextRows(my, MY, t, '1, 2'), `${t}: rows`);
    }
  });

  it('syncs PostgreSQL → PostgreSQL as a SELECT-only role, full and then incremental, with heartbeats free of secrets', async () => {
    const config: SyncConfigInput = {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: ['pg_items'],
      partitionThreshold: 1_000,
      rowsPerPartition: 1_000,
      ...fast,
    };
    const full = await sync(config, 'pg-full');
    assert.ok(full.ok, full.ok ? '' : full.error.message);
    assert.deepEqual(
      full.summary.tables.map((t) => [t.mode, t.partitions, t.inserted]),
      [['full', 3, 3_000]],
    );

    await src.query(`UPDATE pg_items SET price = price + 1 WHERE id % 100 = 0`);
    // Hold the incremental run's partitions while they heartbeat, and read what they send.
    const gate = await closeStagingGate(dst);
    let heartbeats = '';
    try {
      const incremental = await sync(config, 'pg-incr', async (workflowId) => {
        await waitFor('3 partitions at the gate', async () => (await waitingAtGate(dst, DST, 'pg_items')) === 3);
        heartbeats = await waitFor('heartbeat details of the held partitions', async () => {
          const d = await client.workflow.getHandle(`${workflowId}/public.pg_items`).describe();
          const pending = d.raw.pendingActivities ?? [];
          return pending.length === 3 && pending.every((a) => a.heartbeatDetails?.payloads?.length) && protoText(pending);
        });
        await gate.release();
      });
      assert.ok(incremental.ok, incremental.ok ? '' : incremental.error.message);
      assert.deepEqual(
        incremental.summary.tables.map((t) => [t.mode, t.updated, t.unchanged]),
        [['compare', 30, 2_970]],
      );
    } finally {
      await gate.release();
    }
    assert.match(heartbeats, /inFlight|rowsCopied/, 'the heartbeat details were read');
    assertNoSecrets(heartbeats, 'heartbeat details');
    assert.deepEqual(await pgTextRows(dst, 'pg_items'), await pgTextRows(src, 'pg_items'));
    assert.equal(await duplicateKeys(dst, 'pg_items', ['id']), 0);
  });

  it('fails a run on a wrong password and a run with a failing table, and their errors carry no secret', async () => {
    const badAuth = await sync(
      { source: { connection: 'mybad' }, target: { connection: 'dst', schema: 'public' }, tables: ['my_orders'], ...fast },
      'badauth',
    );
    assert.ok(!badAuth.ok, 'a wrong password fails the run');
    const root = rootCause(badAuth.error);
    assert.equal(root.type, 'AuthenticationFailed', root.message);
    assert.match(root.message, new RegExp(`Access denied for user '${READER}'`));
    assertNoSecrets(root.message, 'the error');

    // A table whose rows the target refuses (a CHECK constraint): the run completes with the table failed.
    const checked = await sync({ source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['pg_checked'], ...fast }, 'checked');
    assert.ok(checked.ok, checked.ok ? '' : checked.error.message);
    assert.equal(checked.summary.tablesFailed, 1);
    assert.match(checked.summary.tables[0].error ?? '', /violates check constraint "no_refused"/);
    assertNoSecrets(JSON.stringify(checked.summary), 'the summary');
    assert.deepEqual(await leftoverTables(dst, ['pg_checked']), []);
  });

  it('no password or connection URL appears in any workflow history (parents and children) or in the worker output', async () => {
    assert.ok(started.length >= 5, `the runs above were recorded (${started.length})`);
    let searched = 0;
    for (const id of started) {
      const parent = await fetchHistory(client, id);
      const ids = [id, ...childWorkflowIds(parent)];
      for (const wf of ids) {
        const text = wf === id ? historyText(parent) : historyText(await fetchHistory(client, wf));
        assertNoSecrets(text, `history of ${wf}`);
        // Connection names do travel (that is how the worker finds its URLs): proof the search reads payloads.
        assert.match(text, /"connection":"(my|mybad|src)"/, `history of ${wf} decoded`);
        searched++;
      }
    }
    assert.ok(searched >= 10, `parents and children searched (${searched})`);
    const logs = worker.logs();
    assert.match(logs, /tablesync worker polling/);
    assert.match(logs, /violates check constraint "no_refused"/, 'a failure was logged, so the logs were worth searching');
    assertNoSecrets(logs, 'worker output');
  });

  it('left the source as it was: no state, staging or load table in the source databases', async () => {
    const pgTables = await src.query(`SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY 1`);
    assert.deepEqual(
      pgTables.rows.map((r) => r.relname),
      ['pg_checked', 'pg_items'],
    );
    const admin = await createConnection({ uri: MYSQL_BASE });
    try {
      const [rows] = await admin.query(`SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1`, [MY]);
      assert.deepEqual(
        (rows as { t: string }[]).map((r) => r.t),
        ['my_lines', 'my_orders'],
      );
    } finally {
      await admin.end();
    }
  });
});
