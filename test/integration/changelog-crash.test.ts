import assert from 'node:assert/strict';
import type { SyncSummary } from '../../lib/types';
import { incrementalSyncWorkflow } from '../../workflows';
import { useDatabases } from '../helpers/databases';
import { duplicateKeys, leftoverTables, lockPgTable, pgBackends, waitFor } from '../helpers/guarantees';
import { pgUrl, testDb } from '../helpers/pg';
import { runSyncInProcess } from '../helpers/run';
import { temporal, uniqueTaskQueue } from '../helpers/temporal';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

// A change-log run whose worker process is SIGKILLed inside its source read:
// a new worker finishes the run, nothing repeated, nothing lost, the log
// position saved once, with the rows it covers.
const SRC = testDb('tablesync_it_clogcrash_src');
const DST = testDb('tablesync_it_clogcrash_dst');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };

describe('change-log mode survives a worker SIGKILLed mid-read (real processes)', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });
  const workers: WorkerProcess[] = [];
  after(async () => {
    for (const w of workers) await w.kill();
  });

  it('a new worker finishes the run: target equal to the source, deletes once, the position saved', async () => {
    await src.query(`CREATE TABLE project (id int PRIMARY KEY, name text)`);
    await src.query(`CREATE TABLE change_log (id serial PRIMARY KEY, object_id text, content_type_id int, action text)`);
    await src.query(`INSERT INTO project SELECT g, 'p' || g FROM generate_series(1, 3000) g`);
    const config = {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: [{ table: 'project', mode: 'changelog', changelog: { table: 'change_log', key: 'object_id', position: 'id', where: { content_type_id: 7 } } }],
      timeouts: { heartbeatSeconds: 2 },
      retry: { maximumAttempts: 5, initialIntervalMs: 200, maximumIntervalMs: 500 },
    };
    const first = await runSyncInProcess(connections, config, 'clogcrash-first');
    assert.ok(first.outcome.ok && first.outcome.value.tablesFailed === 0);

    await src.query(`UPDATE project SET name = 'changed' WHERE id % 30 = 0`); // 100 rows
    await src.query(`DELETE FROM project WHERE id IN (5, 6, 7, 8, 9)`);
    await src.query(`INSERT INTO project SELECT g, 'new' FROM generate_series(3001, 3010) g`);
    await src.query(`INSERT INTO change_log (object_id, content_type_id, action)
      SELECT id::text, 7, 'changed' FROM project WHERE id % 30 = 0
      UNION ALL SELECT g::text, 7, 'deleted' FROM generate_series(5, 9) g
      UNION ALL SELECT g::text, 7, 'added' FROM generate_series(3001, 3010) g`);
    await src.query('ANALYZE project');

    const env = await temporal();
    const taskQueue = uniqueTaskQueue('clogcrash');
    // The source read of the changed keys waits on this lock, inside the run's chunk transaction.
    const lock = await lockPgTable(src, 'project');
    try {
      const one = await startWorkerProcess({ address: env.address, taskQueue, connections });
      workers.push(one);
      const handle = await env.client.workflow.start(incrementalSyncWorkflow, { taskQueue, workflowId: `clogcrash-${process.pid}`, args: [config] });
      const dead = await waitFor('the read waiting on the lock', async () => {
        const b = (await pgBackends(src, SRC, 'COPY (SELECT%project%')).filter((x) => x.waiting);
        return b.length === 1 && b;
      });
      await one.kill('SIGKILL');
      const two = await startWorkerProcess({ address: env.address, taskQueue, connections });
      workers.push(two);
      await waitFor("the new worker's retried read", async () =>
        (await pgBackends(src, SRC, 'COPY (SELECT%project%')).some((x) => x.waiting && x.pid !== dead[0].pid),
      );
      await lock.release();
      const summary: SyncSummary = await handle.result();
      const [t] = summary.tables;
      assert.equal(t.status, 'completed', t.error);
      assert.deepEqual([t.inserted, t.updated, t.deleted], [10, 100, 5], 'each change applied once');
    } finally {
      await lock.release();
    }
    const live = await dst.query(`SELECT id, name FROM project WHERE NOT is_deleted ORDER BY id`);
    const source = await src.query(`SELECT id, name FROM project ORDER BY id`);
    assert.deepEqual(live.rows, source.rows);
    assert.equal((await dst.query(`SELECT count(*)::int AS n FROM project WHERE is_deleted`)).rows[0].n, 5);
    assert.equal(await duplicateKeys(dst, 'public.project', ['id']), 0);
    assert.deepEqual(await leftoverTables(dst, ['project']), []);
    const [state] = (await dst.query(`SELECT cursor_value FROM _tablesync_tables WHERE target_table = 'project'`)).rows;
    const [max] = (await src.query(`SELECT max(id)::text AS m FROM change_log`)).rows;
    assert.equal(state.cursor_value, max.m);
    const history = await dst.query(`SELECT count(*)::int AS n FROM _tablesync_table_history WHERE target_table = 'project'`);
    assert.equal(history.rows[0].n, 2, 'one state change per completed run, none for the killed attempt');
  });
});
