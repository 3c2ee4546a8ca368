import assert from 'node:assert/strict';
import type { SyncConfigInput } from '../../lib/config';
import type { SyncSummary } from '../../lib/types';
import { incrementalSyncWorkflow } from '../../workflows';
import { useDatabases } from '../helpers/databases';
import { assertPgTablesEqual } from '../helpers/guarantees';
import { metric, scrape, type Sample } from '../helpers/metrics';
import { PG_BASE, testDb } from '../helpers/pg';
import { temporal, uniqueTaskQueue } from '../helpers/temporal';
import { freePort } from '../helpers/temporal-server';
import { WorkerProcess, sleep, startWorkerProcess } from '../helpers/worker-process';

const SRC = testDb('tablesync_it_watch_src');
const DST = testDb('tablesync_it_watch_dst');
// Trust auth ignores it; the logs must never show it all the same.
const PASSWORD = 'Obs3rvedPw';
const withPassword = (db: string) => PG_BASE.replace('://postgres@', `://postgres:${PASSWORD}@`) + `/${db}`;

const ORDERS = 5_000;
const config: SyncConfigInput = {
  source: { connection: 'src' },
  target: { connection: 'dst' },
  tables: ['public.orders', 'public.small'],
  deletes: 'hard',
  // orders is split in 4 key ranges, small is one.
  partitionThreshold: 1_000,
  rowsPerPartition: 1_250,
  maxPartitionsPerTable: 4,
  retry: { maximumAttempts: 2, initialIntervalMs: 100 },
};

describe('observability: a worker process with TABLESYNC_METRICS_ADDRESS and TABLESYNC_LOG_FORMAT=json', function () {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });
  let worker: WorkerProcess;
  let metricsAddress: string;
  let taskQueue: string;
  let seq = 0;

  before(async () => {
    await src.query(`CREATE TABLE orders (id bigint PRIMARY KEY, label text)`);
    await src.query(`INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, ${ORDERS}) g`);
    await src.query(`CREATE TABLE small (id int PRIMARY KEY, v text)`);
    await src.query(`INSERT INTO small SELECT g, 'v' || g FROM generate_series(1, 10) g`);
    await src.query('ANALYZE');
    const env = await temporal();
    taskQueue = uniqueTaskQueue('watch');
    metricsAddress = `127.0.0.1:${await freePort()}`;
    worker = await startWorkerProcess({
      address: env.address,
      taskQueue,
      connections: { src: withPassword(SRC), dst: withPassword(DST) },
      env: { TABLESYNC_METRICS_ADDRESS: metricsAddress, TABLESYNC_LOG_FORMAT: 'json', TABLESYNC_LOG_LEVEL: 'DEBUG' },
    });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.error(`--- worker output (last 8000 characters):\n${worker.logs().slice(-8_000)}`);
  });

  after(async () => {
    await worker?.stop();
  });

  /** Starts a sync on the worker process, scraping its metrics while it runs. */
  async function sync(input: SyncConfigInput): Promise<{ workflowId: string; outcome: SyncSummary | Error; during: Sample[][] }> {
    const env = await temporal();
    const workflowId = `watch-${process.pid}-${++seq}`;
    const handle = await env.client.workflow.start(incrementalSyncWorkflow, { taskQueue, workflowId, args: [input] });
    let done = false;
    const outcome = handle.result().then(
      (s) => s,
      (e: Error) => e,
    );
    void outcome.finally(() => (done = true));
    const during: Sample[][] = [];
    while (!done) {
      during.push(await scrape(metricsAddress));
      await sleep(100);
    }
    return { workflowId, outcome: await outcome, during };
  }

  const rowCounters = ['rows_copied', 'rows_inserted', 'rows_updated', 'rows_deleted'] as const;
  function counts(samples: Sample[], table: string): Record<(typeof rowCounters)[number], number> {
    return Object.fromEntries(rowCounters.map((c) => [c, metric(samples, `tablesync_${c}_total`, { table, task_queue: taskQueue })])) as never;
  }
  const delta = (after: Record<string, number>, before: Record<string, number>) =>
    Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k]]));
  const partitionsDone = (samples: Sample[], table: string) =>
    metric(samples, 'tablesync_partition_duration_seconds_count', { table, outcome: 'completed', task_queue: taskQueue });

  it('counts rows copied / inserted / updated / deleted per table and partition durations, exactly, during and after a sync', async () => {
    const before = await scrape(metricsAddress);
    assert.deepEqual(counts(before, 'public.orders'), { rows_copied: 0, rows_inserted: 0, rows_updated: 0, rows_deleted: 0 });
    // The SDK's own worker metrics are on the same endpoint.
    assert.ok(before.some((s) => s.name.startsWith('temporal_') && s.labels.task_queue === taskQueue), 'SDK worker metrics for this queue');

    const first = await sync(config);
    assert.ok(!(first.outcome instanceof Error), `first sync: ${first.outcome}`);
    const afterFirst = await scrape(metricsAddress);
    assert.deepEqual(counts(afterFirst, 'public.orders'), { rows_copied: ORDERS, rows_inserted: ORDERS, rows_updated: 0, rows_deleted: 0 });
    assert.deepEqual(counts(afterFirst, 'public.small'), { rows_copied: 10, rows_inserted: 10, rows_updated: 0, rows_deleted: 0 });
    assert.equal(partitionsDone(afterFirst, 'public.orders'), 4);
    assert.equal(partitionsDone(afterFirst, 'public.small'), 1);
    // Scraped while it ran: never more than the final figures, never going down.
    let last = 0;
    for (const s of [...first.during, afterFirst]) {
      const n = counts(s, 'public.orders').rows_copied;
      assert.ok(n >= last && n <= ORDERS, `rows_copied went ${last} → ${n}`);
      last = n;
    }

    await src.query(`UPDATE orders SET label = label || ' changed' WHERE id IN (1, 1300, 2600, 3900, 4999, 17, 18)`);
    await src.query(`INSERT INTO orders VALUES (6001, 'new'), (6002, 'new'), (6003, 'new')`);
    await src.query(`DELETE FROM orders WHERE id IN (2, 2500)`);
    const second = await sync(config);
    assert.ok(!(second.outcome instanceof Error), `second sync: ${second.outcome}`);
    const afterSecond = await scrape(metricsAddress);
    // Rows copied are the rows moved: compare's range digests leave equal buckets behind, so the metric
    // follows the run's own figure, a small part of the table, not every row.
    const copiedOf = (table: string) => (second.outcome as SyncSummary).tables.find((t) => t.table === table)!.rowsCopied;
    assert.ok(copiedOf('public.orders') > 0 && copiedOf('public.orders') < ORDERS / 10, `orders copied ${copiedOf('public.orders')}`);
    assert.deepEqual(delta(counts(afterSecond, 'public.orders'), counts(afterFirst, 'public.orders')), {
      rows_copied: copiedOf('public.orders'),
      rows_inserted: 3,
      rows_updated: 7,
      rows_deleted: 2,
    });
    assert.deepEqual(delta(counts(afterSecond, 'public.small'), counts(afterFirst, 'public.small')), {
      rows_copied: copiedOf('public.small'),
      rows_inserted: 0,
      rows_updated: 0,
      rows_deleted: 0,
    });
    assert.equal(partitionsDone(afterSecond, 'public.orders') - partitionsDone(afterFirst, 'public.orders'), 4);
    const histogramSum = metric(afterSecond, 'tablesync_partition_duration_seconds_sum', { table: 'public.orders', task_queue: taskQueue });
    assert.ok(histogramSum > 0 && histogramSum < 600, `partition seconds ${histogramSum}`);
    await assertPgTablesEqual(src, dst, 'public.orders');
  });

  it('counts failed activity attempts by error type', async () => {
    const failures = (s: Sample[]) =>
      metric(s, 'tablesync_activity_failures_total', { activity: 'initializeState', error_type: 'UnknownConnection', task_queue: taskQueue });
    const before = failures(await scrape(metricsAddress));
    const run = await sync({ ...config, source: { connection: 'nope' } });
    assert.ok(run.outcome instanceof Error, 'a sync from an unknown connection fails');
    // Non-retryable: one attempt, one failure.
    assert.equal(failures(await scrape(metricsAddress)) - before, 1);
  });

  it('logs one JSON object per line with level, time, workflow id, table, partition and message; no password', async () => {
    const lines = worker.logs().split('\n').filter(Boolean);
    // The CLI's own startup notice is the one line that is not a log entry.
    const entries = lines.filter((l) => !l.startsWith('tablesync worker polling task queue')).map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${l}`);
      }
    });
    assert.ok(entries.length > 10, `${entries.length} entries`);
    for (const e of entries) {
      assert.ok(typeof e.message === 'string' && e.message, `message in ${JSON.stringify(e)}`);
      assert.match(String(e.level), /^(TRACE|DEBUG|INFO|WARN|ERROR)$/);
      assert.ok(!Number.isNaN(Date.parse(String(e.time))), `time in ${JSON.stringify(e)}`);
    }
    const partition = entries.find((e) => e.activity === 'syncPartition' && e.table === 'public.orders' && e.partition === '3/4');
    assert.ok(partition, 'a syncPartition entry names its table and partition');
    assert.match(String(partition.workflowId), /^watch-\d+-\d+\/public\.orders$/, 'the child workflow that ran it');
    const failed = entries.find((e) => e.activity === 'initializeState' && e.level === 'WARN');
    assert.ok(failed, 'the failed attempt is logged');
    assert.equal(failed.errorType, 'UnknownConnection');
    assert.match(String(failed.message), /nope/);
    assert.ok(!worker.logs().includes(PASSWORD), 'no password in the logs');
  });

  it('a metrics address already taken stops the worker at start, naming the variable (exit 2)', async () => {
    const env = await temporal();
    const second = new WorkerProcess({
      address: env.address,
      taskQueue: uniqueTaskQueue('watch-taken'),
      connections: {},
      env: { TABLESYNC_METRICS_ADDRESS: metricsAddress },
    });
    const { code } = await second.exited;
    assert.equal(code, 2, second.logs());
    assert.match(second.logs(), new RegExp(`TABLESYNC_METRICS_ADDRESS ${metricsAddress.replace(/\./g, '\\.')}: cannot serve metrics: .*Address already in use`));
  });
});
