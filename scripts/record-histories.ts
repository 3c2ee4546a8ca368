// Records the histories test/replay replays: representative runs of every
// workflow on the real Temporal dev server. Re-record (npm run record-histories)
// only when a workflow change is meant to be incompatible with running
// workflows — and then version it (patched()) instead, if any are in flight.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import type { SyncConfigInput } from '../lib/config';
import { freshCdcDatabase, freshDatabase, PG_CDC_BASE, pgUrl, testDb } from '../test/helpers/pg';
import { lockPgTable, pgBackends, waitFor } from '../test/helpers/guarantees';
import { runSyncInProcess, syncOk } from '../test/helpers/run';
import { stopTemporal, temporal, testWorker } from '../test/helpers/temporal';
import { runTestVerify } from '../test/helpers/verify';
import { syncTableWorkflow } from '../workflows';
import { installLogger } from '../workers/logger';

const out = join(__dirname, '..', '..', 'test', 'replay', 'histories');
// Suffixed like the tests' databases, so two checkouts can record at once.
const SRC = testDb('tablesync_record_src');
const DST = testDb('tablesync_record_dst');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000, maximumAttempts: 2 } };

// The Temporal CLI writes the same JSON the Web UI exports and historyFromJSON reads
// (the SDK's own historyToJSON fails with this protobufjs version).
async function save(name: string, workflowId: string, runId?: string): Promise<void> {
  const env = await temporal();
  const cli = execFileSync('bash', [join(__dirname, '..', '..', 'scripts', 'temporal-cli.sh')], { encoding: 'utf8' }).trim();
  const run = runId ? ['--run-id', runId] : [];
  const json = execFileSync(cli, ['workflow', 'show', '--address', env.address, '--workflow-id', workflowId, ...run, '--output', 'json'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  // Replay needs the id too: child ids are derived from it.
  const history = JSON.parse(json);
  writeFileSync(join(out, `${name}.json`), `${JSON.stringify({ workflowId, history })}\n`);
  console.log(`recorded ${name} (${history.events.length} events)`);
}

/**
 * verify on a cursor table whose rows differ, found row by row: one changed
 * without moving the cursor, one pending. Alone (`record-histories
 * verify-rows`) it records just this history, leaving the others as they were.
 */
async function recordVerifyRows(src: Pool, base: Omit<SyncConfigInput, 'tables'>): Promise<void> {
  await src.query(`CREATE TABLE stock (id int PRIMARY KEY, qty int, updated_at timestamp(6) NOT NULL)`);
  await src.query(`INSERT INTO stock SELECT g, g, '2026-01-01'::timestamp + g * interval '1 minute' FROM generate_series(1, 30) g`);
  const config = { ...base, tables: [{ table: 'stock', mode: 'cursor' as const, cursor: 'updated_at' }] };
  await syncOk(connections, config);
  await src.query(`UPDATE stock SET qty = 0 WHERE id = 3`);
  await src.query(`UPDATE stock SET qty = 0, updated_at = '2026-02-01' WHERE id = 4`);
  const env = await temporal();
  const verify = await runTestVerify(connections, { config });
  if (verify.tables[0]?.rows?.changed.count !== 1 || verify.tables[0].rows.pending.count !== 1) throw new Error(`verify rows: ${JSON.stringify(verify.tables)}`);
  const verifyId = (await env.client.workflow.list({ query: `WorkflowType = 'verifyWorkflow'` })[Symbol.asyncIterator]().next()).value?.workflowId;
  if (!verifyId) throw new Error('no verify run');
  await save('verify-cursor-rows', verifyId);
}

/**
 * A cdc stream (PostgreSQL logical replication, on the wal_level=logical
 * server): its first run (setup, snapshot, batches, continue-as-new) and its
 * last (pause, resume, stop with the slot dropped). Alone: `record-histories cdc`.
 */
async function recordCdc(dst: Pool): Promise<void> {
  const name = testDb('tablesync_record_cdc_src');
  const src = await freshCdcDatabase(name);
  const cdcConnections = { src: `${PG_CDC_BASE}/${name}`, dst: pgUrl(DST) };
  await src.query(`CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric(12,2))`);
  await src.query(`INSERT INTO accounts SELECT g, 'o' || g, g FROM generate_series(1, 100) g`);
  const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'accounts', mode: 'cdc' as const }], ...fast };
  const env = await temporal();
  const { taskQueue, worker, close } = await testWorker(cdcConnections, 'record-cdc');
  const workflowId = `record-cdc-${process.pid}`;
  const wait = async (what: string, probe: () => Promise<boolean>) => {
    for (let i = 0; i < 600 && !(await probe()); i++) await new Promise((r) => setTimeout(r, 100));
    if (!(await probe())) throw new Error(`cdc: no ${what}`);
  };
  await worker.runUntil(async () => {
    const firstRun = (await env.client.workflow.start('cdcWorkflow', { taskQueue, workflowId, args: [{ config, waitMs: 300, batchesPerRun: 4 }] })).firstExecutionRunId;
    // The latest run of the id, whichever it is.
    const h = env.client.workflow.getHandle(workflowId);
    const progress = () => h.query<{ phase: string; totals: { batches: number } }>('cdcProgress');
    await wait('stream', async () => (await progress()).phase === 'streaming');
    await src.query(`BEGIN; UPDATE accounts SET balance = balance - 10 WHERE id = 1; UPDATE accounts SET balance = balance + 10 WHERE id = 2; COMMIT`);
    await src.query(`DELETE FROM accounts WHERE id = 3; INSERT INTO accounts VALUES (101, 'new', 0)`);
    await wait('caught up', async () => (await dst.query(`SELECT count(*)::int AS n FROM accounts WHERE id IN (3, 101)`)).rows[0].n === 1);
    // Past the first run: it continued as new after its 4 batches.
    await wait('continue-as-new', async () => (await h.describe()).runId !== firstRun);
    await h.signal('cdcPause');
    await wait('pause', async () => (await progress()).phase === 'paused');
    await h.signal('cdcResume');
    await src.query(`UPDATE accounts SET owner = 'renamed' WHERE id = 4`);
    await wait('the last change', async () => (await dst.query(`SELECT 1 FROM accounts WHERE owner = 'renamed'`)).rowCount === 1);
    await h.signal('cdcStop', { dropSlot: true });
    const result = (await h.result()) as { slotKept: string | null };
    if (result.slotKept) throw new Error(`cdc: slot kept: ${result.slotKept}`);
    await save('cdc-snapshot-batches-continue-as-new', workflowId, firstRun);
    await save('cdc-pause-resume-stop', workflowId);
  });
  await close();
  await src.end();
}

/** The id of the newest verify run on the dev server. */
async function lastVerifyId(): Promise<string> {
  const env = await temporal();
  const id = (await env.client.workflow.list({ query: `WorkflowType = 'verifyWorkflow'` })[Symbol.asyncIterator]().next()).value?.workflowId;
  if (!id) throw new Error('no verify run');
  return id;
}

/**
 * verify --repair of a cursor table whose own delete rule is soft (and whose
 * target has no flag column): the repaired ranges keep the row the source
 * lacks, under the verify-repair-delete-rule patch.
 */
async function recordVerifyRepairSoft(src: Pool, dst: Pool, base: Omit<SyncConfigInput, 'tables'>): Promise<void> {
  await src.query(`CREATE TABLE kept (id int PRIMARY KEY, v text, updated_at timestamp(6) NOT NULL)`);
  await src.query(`INSERT INTO kept SELECT g, 'v' || g, '2026-01-01'::timestamp + g * interval '1 minute' FROM generate_series(1, 20) g`);
  const config = { ...base, tables: [{ table: 'kept', mode: 'cursor' as const, cursor: 'updated_at', deletes: 'soft' as const }] };
  await syncOk(connections, config);
  await src.query(`DELETE FROM kept WHERE id = 7`);
  await dst.query(`UPDATE kept SET v = 'drift' WHERE id = 3`);
  const verify = await runTestVerify(connections, { config, repair: true });
  const kept = (await dst.query(`SELECT 1 FROM kept WHERE id = 7`)).rowCount;
  if (!verify.tables[0]?.repaired || kept !== 1) throw new Error(`verify repair (soft): ${JSON.stringify(verify.tables)}`);
  await save('verify-repair-delete-rule', await lastVerifyId());
}

/**
 * A full load in partitions cancelled while its swap waits to build the key
 * (a lock on the load table holds it): under the full-load-state-follows-swap
 * patch the run waits for the swap to end cancelled, then drops the load table
 * and marks its partitions cancelled.
 */
async function recordCancelledSwap(src: Pool, dst: Pool, base: Omit<SyncConfigInput, 'tables'>): Promise<void> {
  await src.query(`CREATE TABLE swapped (id int PRIMARY KEY, v text)`);
  await src.query(`INSERT INTO swapped SELECT g, 'v' || g FROM generate_series(1, 6000) g`);
  await src.query('ANALYZE swapped');
  const config = { ...base, tables: ['swapped'], mode: 'full' as const, partitionThreshold: 2_000, rowsPerPartition: 2_000, maxPartitionsPerTable: 3, batchSize: 1_000 };
  const { workflowId } = await runSyncInProcess(connections, config, {
    prefix: 'record-cancel',
    during: async ({ client, workflowId }) => {
      const load = await waitFor('the load table', async () => (await dst.query(`SELECT relname FROM pg_class WHERE relname LIKE '\\_ts\\_load\\_swapped%'`)).rows[0]?.relname);
      const lock = await lockPgTable(dst, `public."${load}"`, 'ACCESS SHARE');
      try {
        await waitFor('the key build waiting', async () => (await pgBackends(dst, DST, 'ALTER TABLE%PRIMARY KEY%')).some((b) => b.waiting));
        await client.workflow.getHandle(workflowId).cancel();
        // The cancelled key build ends at once; dropping the load table waits for this lock.
        await waitFor('the key build cancelled', async () => (await pgBackends(dst, DST, 'ALTER TABLE%PRIMARY KEY%')).length === 0);
      } finally {
        await lock.release();
      }
      await waitFor('the table workflow closed', async () => (await client.workflow.getHandle(`${workflowId}/public.swapped`).describe()).status.name !== 'RUNNING');
    },
  });
  const states = (await dst.query(`SELECT DISTINCT sync_status FROM _migration_state WHERE workflow_id = $1`, [workflowId])).rows.map((r) => r.sync_status);
  if (states.join() !== 'cancelled') throw new Error(`cancelled swap: state ${states.join()}`);
  await save('sync-table-full-load-cancelled-swap', `${workflowId}/public.swapped`);
}

/**
 * A sync whose notify: webhooks are called at its end (under the
 * notify-webhook patch): one answers 500 once and then 200 (retried), one
 * whose variable the worker lacks (a warning). Alone: `record-histories notify`.
 */
async function recordNotify(src: Pool, base: Omit<SyncConfigInput, 'tables'>): Promise<void> {
  const { createServer } = await import('node:http');
  let hits = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(hits++ === 0 ? 500 : 200).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  try {
    await src.query(`CREATE TABLE IF NOT EXISTS notified (id int PRIMARY KEY, v text)`);
    await src.query(`INSERT INTO notified SELECT g, 'v' || g FROM generate_series(1, 10) g ON CONFLICT DO NOTHING`);
    const config = {
      ...base,
      tables: ['notified'],
      notify: [
        { urlEnv: 'TABLESYNC_WEBHOOK', on: 'always' as const },
        { urlEnv: 'TABLESYNC_WEBHOOK_UNSET', on: 'always' as const },
      ],
    };
    const run = await syncOk(connections, config, { prefix: 'record-notify', env: { TABLESYNC_WEBHOOK: `http://127.0.0.1:${port}/hook` } });
    if (hits !== 2 || run.runWarnings?.length !== 1) throw new Error(`notify: ${hits} calls, warnings ${JSON.stringify(run.runWarnings)}`);
    await save('sync-notify', run.workflowId);
  } finally {
    server.close();
  }
}

/**
 * A sync of more tables than tablesPerBatch: the batches' names and results
 * in the state (batches-in-state), the sync's history with counts only.
 */
async function recordBatches(src: Pool, _dst: Pool, base: Omit<SyncConfigInput, 'tables'>): Promise<void> {
  for (let i = 1; i <= 5; i++) await src.query(`CREATE TABLE batched_${i} (id int PRIMARY KEY, v text); INSERT INTO batched_${i} SELECT g, 'v' FROM generate_series(1, ${i}) g`);
  const run = await syncOk(connections, { ...base, tables: ['batched_*'], tablesPerBatch: 2 });
  if (run.tablesSynced !== 5 || run.tables.length !== 5) throw new Error(`batches: ${JSON.stringify(run)}`);
  await save('sync-batches-in-state', run.workflowId);
  await save('sync-batch-in-state', `${run.workflowId}/batch-1-of-3`);
}

/**
 * A batch whose discovery plans its tasks too (batch-tasks-in-discovery: no
 * createSyncTasks), its small tables loaded in a syncSmallTables group (small-groups-of-50).
 */
async function recordBatchTasks(src: Pool, _dst: Pool, base: Omit<SyncConfigInput, 'tables'>): Promise<void> {
  for (let i = 1; i <= 4; i++) await src.query(`CREATE TABLE grouped_${i} (id int PRIMARY KEY, v text); INSERT INTO grouped_${i} SELECT g, 'v' FROM generate_series(1, ${i}) g`);
  // Two batches of two, one slot each: each batch's two small tables go in one group.
  const run = await syncOk(connections, { ...base, tables: ['grouped_*'], tablesPerBatch: 2, maxParallelTransfers: 2 });
  if (run.tablesSynced !== 4 || run.tables.length !== 4) throw new Error(`batch tasks: ${JSON.stringify(run)}`);
  await save('sync-batch-tasks-in-discovery', `${run.workflowId}/batch-1-of-2`);
}

/**
 * A cursor sync past its first run, with the fewest steps (fewer-steps-per-run): discoverTables plans the task,
 * the table's steps run in the sync itself (no child), the summary is made in the workflow.
 */
async function recordSmallRun(src: Pool, _dst: Pool, base: Omit<SyncConfigInput, 'tables'>): Promise<void> {
  await src.query(`CREATE TABLE ticks (id int PRIMARY KEY, v text, updated_at timestamp(6) NOT NULL)`);
  await src.query(`INSERT INTO ticks SELECT g, 'v' || g, '2026-01-01'::timestamp + g * interval '1 minute' FROM generate_series(1, 20) g`);
  const config = { ...base, tables: [{ table: 'ticks', mode: 'cursor' as const, cursor: 'updated_at' }] };
  await syncOk(connections, config);
  await src.query(`UPDATE ticks SET v = 'w', updated_at = '2026-02-01' WHERE id = 3`);
  const run = await syncOk(connections, config);
  if (run.tables[0]?.updated !== 1) throw new Error(`small run: ${JSON.stringify(run.tables)}`);
  await save('sync-cursor-small-run', run.workflowId);
}

/** Histories that can be recorded alone (`record-histories NAME`), leaving the others as they were. */
const ALONE: Record<string, (src: Pool, dst: Pool, base: Omit<SyncConfigInput, 'tables'>) => Promise<void>> = {
  'verify-rows': (src, _dst, base) => recordVerifyRows(src, base),
  'verify-repair-delete-rule': recordVerifyRepairSoft,
  'full-load-cancelled-swap': recordCancelledSwap,
  cdc: (_src, dst) => recordCdc(dst),
  notify: (src, _dst, base) => recordNotify(src, base),
  batches: recordBatches,
  'batch-tasks': recordBatchTasks,
  'small-run': recordSmallRun,
};

async function main(): Promise<void> {
  installLogger('WARN');
  mkdirSync(out, { recursive: true });
  const src = await freshDatabase(SRC);
  const dst = await freshDatabase(DST);
  const alone = ALONE[process.argv[2] ?? ''];
  if (alone) {
    await alone(src, dst, { source: { connection: 'src' }, target: { connection: 'dst' }, ...fast });
    await src.end();
    await dst.end();
    await stopTemporal();
    return;
  }
  await src.query(`CREATE TABLE orders (id bigint PRIMARY KEY, note text, qty int)`);
  await src.query(`INSERT INTO orders SELECT g, 'n' || g, g FROM generate_series(1, 4000) g`);
  await src.query(`CREATE TABLE strict (id int PRIMARY KEY, v text)`);
  await src.query(`INSERT INTO strict VALUES (1, NULL)`);
  await src.query(`CREATE TABLE nokey (a int)`);
  await src.query('ANALYZE');
  await dst.query(`CREATE TABLE strict (id int PRIMARY KEY, v text NOT NULL)`);
  await dst.query(`INSERT INTO strict VALUES (2, 'x')`);
  const base = {
    source: { connection: 'src' },
    target: { connection: 'dst' },
    partitionThreshold: 2_000,
    rowsPerPartition: 1_000,
    maxPartitionsPerTable: 3,
    ...fast,
  };

  // A full load in partitions, a table that fails (NULL into NOT NULL) and one skipped.
  const first = await syncOk(connections, { ...base, tables: ['public.*'] });
  await save('sync-full-load-failed-table-skipped', first.workflowId);
  await save('sync-table-full-load', `${first.workflowId}/public.orders`);
  await save('sync-table-failed', `${first.workflowId}/public.strict`);

  // Incremental compare with hard deletes and verification after the sync.
  await src.query(`UPDATE orders SET qty = -qty WHERE id % 500 = 0`);
  await src.query(`DELETE FROM orders WHERE id = 7`);
  const second = await syncOk(connections, { ...base, tables: ['orders'], deletes: 'hard', verifyAfterSync: true });
  await save('sync-compare-deletes-verify', second.workflowId);
  await save('sync-table-compare-deletes-verify', `${second.workflowId}/public.orders`);

  // Verify with repair of drifted ranges.
  await dst.query(`UPDATE orders SET note = 'drift' WHERE id = 10`);
  const env = await temporal();
  const verify = await runTestVerify(connections, { config: { ...base, tables: ['orders'], verifyRowsPerRange: 1_000 }, repair: true });
  const verifyId = (await env.client.workflow.list({ query: `WorkflowType = 'verifyWorkflow'` })[Symbol.asyncIterator]().next()).value
    ?.workflowId;
  if (!verify.matches || !verifyId) throw new Error('verify run did not repair');
  await save('verify-repair', verifyId);

  // syncTableWorkflow started on its own, as from the Web UI.
  const { taskQueue, worker, close } = await testWorker(connections, 'record');
  const aloneId = `record-sync-table-alone-${process.pid}`;
  await worker.runUntil(
    env.client.workflow.execute(syncTableWorkflow, {
      taskQueue,
      workflowId: aloneId,
      args: [{ config: { ...base, tables: ['orders'] }, table: 'public.orders' }],
    }),
  );
  await close();
  await save('sync-table-alone', aloneId);

  // Cursor mode: a run, then the operations on its state, started by type name with JSON input as from the Web UI.
  await src.query(`CREATE TABLE events (id int PRIMARY KEY, v text, updated_at timestamp(6) NOT NULL)`);
  await src.query(`INSERT INTO events SELECT g, 'v' || g, '2026-01-01'::timestamp + g * interval '1 minute' FROM generate_series(1, 50) g`);
  const cursorConfig = { ...base, tables: [{ table: 'events', mode: 'cursor' as const, cursor: 'updated_at' }] };
  const cursorRun = await syncOk(connections, cursorConfig);
  await save('sync-cursor', cursorRun.workflowId);
  await save('sync-table-cursor', `${cursorRun.workflowId}/public.events`);
  const ops = await testWorker(connections, 'record-ops');
  const operations: [string, string, object][] = [
    ['reset-state', 'resetStateWorkflow', { config: cursorConfig, table: 'events', cursor: '2026-01-01 00:30:00' }],
    ['set-mode', 'setModeWorkflow', { config: cursorConfig, table: 'events', mode: 'cursor', write: 'append' }],
    ['table-status', 'tableStatusWorkflow', { config: cursorConfig }],
  ];
  // A worker runs once: one runUntil for all three, in order.
  await ops.worker.runUntil(async () => {
    for (const [name, type, input] of operations) {
      await env.client.workflow.execute(type, { taskQueue: ops.taskQueue, workflowId: `record-${name}-${process.pid}`, args: [input] });
    }
  });
  await ops.close();
  for (const [name] of operations) await save(name, `record-${name}-${process.pid}`);

  // Schema evolution: a column added to the cursor table's source is added to the target and backfilled.
  await src.query(`ALTER TABLE events ADD COLUMN extra text`);
  await src.query(`UPDATE events SET extra = 'x' || id WHERE id % 2 = 0`);
  await dst.query(`UPDATE _tablesync_tables SET cursor_value = NULL, mode = 'cursor', write = 'upsert' WHERE target_table = 'events'`);
  await dst.query(`DROP TABLE IF EXISTS events CASCADE`);
  const evolvedFirst = await syncOk(connections, { ...cursorConfig });
  await src.query(`ALTER TABLE events ADD COLUMN later text`);
  await src.query(`UPDATE events SET later = 'l' || id`);
  const evolved = await syncOk(connections, cursorConfig);
  if (evolvedFirst.tablesFailed || evolved.tablesFailed) throw new Error(`schema evolution run failed: ${JSON.stringify(evolved.tables)}`);
  await save('sync-schema-evolution', evolved.workflowId);
  await save('sync-table-schema-evolution', `${evolved.workflowId}/public.events`);

  // Change-log mode: a first (full) run, then a run that applies logged inserts, updates and deletes.
  await src.query(`CREATE TABLE project (id int PRIMARY KEY, name text)`);
  await src.query(`CREATE TABLE change_log (id serial PRIMARY KEY, object_id text, content_type_id int, action text)`);
  await src.query(`INSERT INTO project SELECT g, 'p' || g FROM generate_series(1, 20) g`);
  const changelogConfig = {
    ...base,
    tables: [{ table: 'project', mode: 'changelog' as const, changelog: { table: 'change_log', key: 'object_id', position: 'id', where: { content_type_id: 1 } } }],
  };
  await syncOk(connections, changelogConfig);
  await src.query(`UPDATE project SET name = 'changed' WHERE id = 3; DELETE FROM project WHERE id = 4; INSERT INTO project VALUES (21, 'new')`);
  await src.query(`INSERT INTO change_log (object_id, content_type_id, action) VALUES ('3', 1, 'changed'), ('4', 1, 'deleted'), ('21', 1, 'added')`);
  const changelogRun = await syncOk(connections, changelogConfig);
  if (changelogRun.tablesFailed || changelogRun.deleted !== 1) throw new Error(`change-log run: ${JSON.stringify(changelogRun.tables)}`);
  await save('sync-changelog', changelogRun.workflowId);
  await save('sync-table-changelog', `${changelogRun.workflowId}/public.project`);

  // More small tables than slots: syncSmallTables groups, one table of a group failing (NULL into NOT NULL).
  for (const t of ['g1', 'g2', 'g3', 'g4', 'g5']) {
    await src.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v text); INSERT INTO ${t} VALUES (1, 'x')`);
  }
  const grouped = await syncOk(connections, { ...base, tables: ['public.g*', 'strict'], maxParallelTransfers: 2 });
  if (grouped.tablesSynced !== 5 || grouped.tablesFailed !== 1) throw new Error(`small-table groups run: ${JSON.stringify(grouped.tables)}`);
  await save('sync-small-table-groups', grouped.workflowId);

  await recordVerifyRows(src, base);
  await recordVerifyRepairSoft(src, dst, base);
  await recordCancelledSwap(src, dst, base);
  await recordCdc(dst);
  await recordNotify(src, base);

  await src.end();
  await dst.end();
  await stopTemporal();
}

main().catch(async (err) => {
  console.error(err);
  await stopTemporal();
  process.exit(1);
});
