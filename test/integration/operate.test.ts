import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { envConnectionName } from '../../activities/connections';
import { readProgress } from '../../client/progress';
import type { SyncSummary } from '../../lib/types';
import type { SyncProgress } from '../../workflows/progress';
import { runCli } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import { assertPgTablesEqual, leftoverTables, lockPgTable, pgBackends, stateRows, waitFor } from '../helpers/guarantees';
import { pgUrl, testDb } from '../helpers/pg';
import { temporal, testWorker } from '../helpers/temporal';

const SRC = testDb('tablesync_it_ops_src');
const DST = testDb('tablesync_it_ops_dst');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };
// Two partitions of 20 chunks each: slow enough to look at mid-run.
const slowConfig = {
  source: { connection: 'src' },
  target: { connection: 'dst' },
  tables: ['public.slow'],
  partitionThreshold: 20_000,
  rowsPerPartition: 20_000,
  maxPartitionsPerTable: 2,
  batchSize: 1_000,
  retry: { maximumAttempts: 5, initialIntervalMs: 200, maximumIntervalMs: 1_000 },
};
let seq = 0;
const workflowIdFor = (name: string) => `ops-${name}-${process.pid}-${++seq}`;

describe('operating a sync: progress, status --watch, cancel, the failure line', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });
  let client: Client;
  let address: string;

  before(async () => {
    await src.query('CREATE TABLE slow (id int PRIMARY KEY, v text)');
    await src.query(`INSERT INTO slow SELECT g, repeat('x', 20) FROM generate_series(1, 40000) g`);
    await src.query('ANALYZE slow');
    const env = await temporal();
    client = env.client;
    address = env.address;
  });

  const chunksDone = async (workflowId: string): Promise<number[]> => {
    if (!(await dst.query(`SELECT to_regclass('_migration_state') AS t`)).rows[0].t) return [];
    const r = await dst.query('SELECT chunks_done FROM _migration_state WHERE workflow_id = $1 ORDER BY partition_index', [workflowId]);
    return r.rows.map((x) => Number(x.chunks_done));
  };
  /** Both partitions past their first chunk, then held in a COPY by a lock on the source table. */
  const holdMidRun = async (workflowId: string) => {
    await waitFor('both partitions past their first chunk', async () => {
      const c = await chunksDone(workflowId);
      return c.length === 2 && c.every((n) => n >= 1);
    });
    const lock = await lockPgTable(src, 'slow');
    await waitFor('both source COPYs waiting on the lock', async () => (await pgBackends(src, SRC, 'COPY (SELECT%slow%')).filter((b) => b.waiting).length >= 2);
    return lock;
  };

  it('the progress query answers mid-run with plausible numbers, and status --watch follows the run off a TTY', async () => {
    const { taskQueue, worker, close } = await testWorker(connections, 'ops-progress');
    const workflowId = workflowIdFor('progress');
    try {
      await worker.runUntil(async () => {
        const handle = await client.workflow.start('incrementalSyncWorkflow', { taskQueue, workflowId, args: [slowConfig] });
        const lock = await holdMidRun(workflowId);
        try {
          const parent = await handle.query<SyncProgress>('progress');
          assert.deepEqual(
            [parent.phase, parent.tablesTotal, parent.tablesRunning, parent.tablesDone, parent.tables[0].table, parent.tables[0].partitionsTotal],
            ['sync', 1, 1, 0, 'public.slow', 2],
          );
          // Committed chunks come from heartbeat details, which Temporal throttles: wait for them.
          const p = await waitFor('heartbeats of both partitions', async () => {
            const live = await readProgress(client, workflowId);
            return live.tables[0].rowsCopied >= 2_000 && live;
          });
          const [t] = p.tables;
          assert.equal(p.status, 'RUNNING');
          assert.deepEqual([t.phase, t.mode, t.partitionsDone, t.partitionsRunning], ['copy', 'full', 0, 2]);
          const committed = (await chunksDone(workflowId)).reduce((a, b) => a + b, 0) * 1_000;
          assert.ok(t.rowsCopied >= 2_000 && t.rowsCopied <= committed + 2_000, `rows copied ${t.rowsCopied}, committed ${committed}`);
          assert.ok(Math.abs(t.estimatedRows - 40_000) <= 400, `estimate ${t.estimatedRows}`);

          // A follower elsewhere, off a TTY: plain lines, then the summary and run's exit code.
          const watch = runCli(['status', workflowId, '--watch', '--interval', '1'], { TEMPORAL_ADDRESS: address });
          await new Promise((r) => setTimeout(r, 3_500));
          await lock.release();
          const r = await watch;
          assert.equal(r.code, 0, r.stdout + r.stderr);
          const lines = r.stdout.split('\n').filter((l) => l.startsWith(`progress ${workflowId}: `));
          assert.ok(lines.length >= 2, r.stdout);
          assert.match(lines[0], /0\/1 tables done, 0 failed, 1 running; [\d,]+ of ~[\d,]+ rows \(\d+%\).*public\.slow copy \d+% [\d,]+ rows, partitions 0\/2/);
          assert.match(r.stdout, /Full load complete: 1 table synced, 0 failed/);
        } finally {
          await lock.release();
        }
        const summary = (await handle.result()) as SyncSummary;
        assert.equal(summary.rowsCopied, 40_000);
        const after = await handle.query<SyncProgress>('progress');
        assert.deepEqual([after.phase, after.tablesDone, after.tables[0].rowsCopied, after.tables[0].partitionsDone], ['done', 1, 40_000, 2]);
      });
      await assertPgTablesEqual(src, dst, 'public.slow');
    } finally {
      await close();
    }
  });

  it('tablesync cancel stops a sync started elsewhere: state rows cancelled, no staging or load table', async () => {
    await dst.query('DROP TABLE IF EXISTS public.slow');
    const { taskQueue, worker, close } = await testWorker(connections, 'ops-cancel');
    const workflowId = workflowIdFor('cancel');
    try {
      await worker.runUntil(async () => {
        const handle = await client.workflow.start('incrementalSyncWorkflow', { taskQueue, workflowId, args: [slowConfig] });
        const lock = await holdMidRun(workflowId);
        try {
          const r = await runCli(['cancel', workflowId], { TEMPORAL_ADDRESS: address }, 60_000);
          assert.equal(r.code, 0, r.stdout + r.stderr);
          assert.match(r.stdout, new RegExp(`cancelled sync ${workflowId}`));
        } finally {
          await lock.release();
        }
        assert.equal((await handle.describe()).status.name, 'CANCELLED');
        assert.equal((await client.workflow.getHandle(`${workflowId}/public.slow`).describe()).status.name, 'CANCELLED');
      });
      assert.deepEqual((await stateRows(dst, workflowId)).map((s) => s.sync_status), ['cancelled', 'cancelled']);
      assert.deepEqual(await leftoverTables(dst, ['slow']), []);
      const again = await runCli(['cancel', workflowId], { TEMPORAL_ADDRESS: address });
      assert.equal(again.code, 1);
      assert.match(again.stderr, /is not running \(CANCELLED\): nothing to cancel/);
      const unknown = await runCli(['cancel', 'no-such-workflow'], { TEMPORAL_ADDRESS: address });
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /^tablesync: UnknownWorkflow: no workflow "no-such-workflow"/m);
    } finally {
      await close();
    }
  });

  describe('run ends with the cause, not "Activity task failed"', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'tablesync-ops-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    const runLocal = (config: unknown, urls: Record<string, string>) => {
      const file = join(dir, `c${++seq}.json`);
      writeFileSync(file, JSON.stringify(config));
      const env: Record<string, string> = { TEMPORAL_ADDRESS: address };
      for (const [name, url] of Object.entries(urls)) env[envConnectionName(name)] = url;
      return runCli(['run', '--config', file, '--local'], env);
    };
    const lastLine = (text: string) => text.trim().split('\n').pop() ?? '';

    it('a run that fails as a whole: the error type and message of the root cause, and where', async () => {
      const r = await runLocal({ ...slowConfig, target: { connection: 'dst' } }, { src: connections.src, dst: pgUrl(testDb('tablesync_it_ops_nope')) });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const line = lastLine(r.stderr);
      assert.match(line, /^tablesync: UnknownDatabase: .*tablesync_it_ops_nope.* \(in initializeState of tablesync-/);
      assert.ok(!line.includes('Activity task failed') && !line.includes('Workflow execution failed'), line);
    });

    it('a failed table: the last line names the table, the error type and the columns', async () => {
      await src.query('CREATE TABLE users (id int PRIMARY KEY, "UserId" int, user_id int)');
      await src.query('INSERT INTO users VALUES (1, 1, 1)');
      const r = await runLocal(
        { source: { connection: 'src' }, target: { connection: 'dst', naming: 'snake_case' }, tables: ['public.users'] },
        connections,
      );
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^Sync failed: 0 tables synced, 1 failed/m);
      assert.match(lastLine(r.stderr), /^tablesync: public\.users failed: NameCollision: .*"UserId".*"user_id"/);
    });
  });
});
