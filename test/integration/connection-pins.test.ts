import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import { incrementalSyncWorkflow } from '../../workflows';
import { createWorker } from '../../workers/worker';
import { useDatabases } from '../helpers/databases';
import { activityRuns, fetchHistory, historyText } from '../helpers/history';
import { failureChain } from '../helpers/run';
import { pgUrl, testDb } from '../helpers/pg';
import { temporal, uniqueTaskQueue, workflowBundle } from '../helpers/temporal';
import { startWorkerProcess } from '../helpers/worker-process';

const SRC = testDb('tablesync_it_pins_src');
const DST = testDb('tablesync_it_pins_dst');
const STALE = testDb('tablesync_it_pins_stale');

const userTables = async (pool: Pool) =>
  (await pool.query(`SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND relkind = 'r' ORDER BY 1`)).rows.map(
    (r) => r.relname,
  );

describe('connection pins: two workers on one queue that disagree on what "dst" means', () => {
  const { src, dst, stale } = useDatabases({ pg: { src: SRC, dst: DST, stale: STALE } });

  it('never lets a row reach the other database: the stale worker refuses its tasks, naming the connection and both workers', async () => {
    for (let i = 0; i < 6; i++) {
      await src.query(`CREATE TABLE t${i} (id int PRIMARY KEY, v text)`);
      await src.query(`INSERT INTO t${i} SELECT g, 'v' || g FROM generate_series(1, 4000) g`);
    }
    const env = await temporal();
    const taskQueue = uniqueTaskQueue('pins');
    const bundle = await workflowBundle();
    const start = (dstUrl: string, identity: string, slots: number) =>
      createWorker({
        connection: env.nativeConnection,
        taskQueue,
        identity,
        maxConcurrentActivities: slots,
        connections: { src: { url: pgUrl(SRC) }, dst: { url: dstUrl } },
        workflowBundle: bundle,
        env: {},
      });
    // A second process: one process cannot host two workers on one queue.
    const bad = await startWorkerProcess({
      address: env.address,
      taskQueue,
      connections: { src: pgUrl(SRC), dst: pgUrl(STALE) },
      env: { TABLESYNC_MAX_ACTIVITIES: '4' },
    });
    const good = await start(pgUrl(DST), 'good-worker', 2);
    const workflowId = `pins-${process.pid}`;
    const goodRun = good.worker.run();
    try {
      const handle = await env.client.workflow.start(incrementalSyncWorkflow, {
        taskQueue,
        workflowId,
        // Small chunks and partitions: many tasks, spread over both workers.
        args: [{ source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.*'], batchSize: 500, partitionThreshold: 1000, rowsPerPartition: 1000, retry: { maximumAttempts: 2, initialIntervalMs: 100 } }],
      });
      // A catalog step refused by the other worker fails the run (nothing written);
      // a refused partition fails its table. Either way the refusal must say why.
      const outcome = await handle.result().then(
        (summary) => ({ summary, error: '' }),
        (err: unknown) => ({ summary: null, error: failureChain(err) }),
      );
      const history = await fetchHistory(env.client, workflowId);
      // Whichever worker took the first step pinned "dst" to its database; the other did nothing at all.
      const pinnedBy = activityRuns(history).find((r) => r.type === 'initializeState' && r.outcome === 'completed')!;
      const [mine, other, otherIdentity] = pinnedBy.identity === 'good-worker' ? [dst, stale, bad.identity] : [stale, dst, 'good-worker'];
      const [firstIdentity] = pinnedBy.identity === 'good-worker' ? ['good-worker'] : [bad.identity];
      // Not a row, not a load table, not even the state table.
      assert.deepEqual(await userTables(other), [], 'nothing reaches the other database');
      const text = historyText(history) + JSON.stringify(outcome);
      assert.match(text, /ConnectionMismatch|means another database/, 'the other worker took some tasks and refused them');
      assert.match(text, new RegExp(`Connection \\\\?"dst\\\\?" means another database on worker ${otherIdentity} than on worker ${firstIdentity}`));
      // Tables whose work all ran on the pinning worker are complete and exact; the others say why they failed.
      if (outcome.error) assert.match(outcome.error, /means another database/);
      for (const t of outcome.summary?.tables ?? []) {
        if (t.status === 'completed') {
          const n = (await mine.query(`SELECT count(*)::int AS n FROM public.${t.table.split('.')[1]}`)).rows[0].n;
          assert.equal(n, 4000, t.table);
        } else assert.match(t.error ?? '', /means another database/);
      }
    } finally {
      await bad.stop();
      good.worker.shutdown();
      await goodRun;
      await good.close();
    }
  });
});
