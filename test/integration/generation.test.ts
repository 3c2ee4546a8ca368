import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { Pool } from 'pg';
import type { SyncConfigInput } from '../../lib/config';
import type { SyncSummary } from '../../lib/types';
import { incrementalSyncWorkflow } from '../../workflows';
import { connectionEnv, startCli } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import {
  assertPgTablesEqual,
  closeStagingGate,
  leftoverTables,
  lockPgTable,
  pgBackends,
  waitFor,
  waitingAtGate,
} from '../helpers/guarantees';
import { pgUrl, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';
import { temporal, uniqueTaskQueue } from '../helpers/temporal';
import { runTestVerify } from '../helpers/verify';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

const SRC = testDb('tablesync_it_gen_src');
const DST = testDb('tablesync_it_gen_dst');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };
const fast = { retry: { maximumAttempts: 5, initialIntervalMs: 200, maximumIntervalMs: 1_000 } };

let seq = 0;
const workflowIdFor = (name: string) => `gen-${name}-${process.pid}-${Date.now()}-${++seq}`;

/** The _migration_state rows of one sync: status and committed chunks per partition. */
async function partitionStates(dst: Pool, workflowId: string): Promise<{ partition_index: number; sync_status: string; chunks_done: number }[]> {
  if (!(await dst.query(`SELECT to_regclass('_migration_state') AS t`)).rows[0].t) return [];
  const r = await dst.query(
    `SELECT partition_index, sync_status, chunks_done FROM _migration_state WHERE workflow_id = $1 ORDER BY partition_index`,
    [workflowId],
  );
  return r.rows;
}

/** Waits until a COPY of `table` on the source is blocked on a lock (the test holds it). */
function copyBlocked(src: Pool, table: string, count = 1) {
  return waitFor(`${count} source COPY of ${table} waiting on the lock`, async () => {
    const b = (await pgBackends(src, SRC, `COPY (SELECT%${table}%`)).filter((x) => x.waiting);
    return b.length >= count;
  });
}

describe('generations: runs that outlive their caller', function () {
  const { src, dst } = useDatabases(
    { pg: { src: SRC, dst: DST } },
    { beforeClose: (): Promise<unknown> => dst.query('DROP EVENT TRIGGER IF EXISTS tablesync_it_gate') },
  );
  const workers: WorkerProcess[] = [];

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      for (const w of workers) console.error(`--- worker ${w.identity} output (last 8000 characters):\n${w.logs().slice(-8_000)}`);
    }
    await Promise.all(workers.splice(0).map((w) => w.kill()));
  });

  it('an abandoned full load that comes back after a newer sync fails as Superseded; the newer rows stay', async () => {
    const rows = 20_000;
    await src.query(`CREATE TABLE stale (id bigint PRIMARY KEY, label text)`);
    await src.query(`INSERT INTO stale SELECT g, 'v1' FROM generate_series(1, ${rows}) g`);
    await src.query('ANALYZE stale');
    await dst.query(`CREATE TABLE stale (id bigint PRIMARY KEY, label text)`);
    await dst.query(`INSERT INTO stale SELECT g, 'v0' FROM generate_series(1, ${rows}) g`);
    const base = {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: ['stale'],
      batchSize: 1_000,
      timeouts: { heartbeatSeconds: 2 },
      ...fast,
    } satisfies SyncConfigInput;

    // The old run: a full load on its own task queue, its worker killed with the load table partly filled.
    const env = await temporal();
    const oldQueue = uniqueTaskQueue('gen-abandoned');
    const first = await startWorkerProcess({ address: env.address, taskQueue: oldQueue, connections });
    workers.push(first);
    const abandoned: WorkflowHandle<typeof incrementalSyncWorkflow> = await env.client.workflow.start(incrementalSyncWorkflow, {
      taskQueue: oldQueue,
      workflowId: workflowIdFor('abandoned'),
      args: [{ ...base, mode: 'full' }],
    });
    await waitFor('two committed chunks of the old load', async () => (await partitionStates(dst, abandoned.workflowId))[0]?.chunks_done >= 2);
    const lock = await lockPgTable(src, 'stale');
    try {
      await copyBlocked(src, 'stale');
      await first.kill('SIGKILL');
    } finally {
      await lock.release();
    }
    const [partial] = await partitionStates(dst, abandoned.workflowId);
    assert.ok(partial.chunks_done >= 2 && partial.chunks_done < rows / 1_000, `load partly done: ${partial.chunks_done} chunks`);

    // The source moves on, and a newer incremental sync brings the target up to date.
    await src.query(`UPDATE stale SET label = 'v2'`);
    const newer = await syncOk(connections, { ...base, mode: 'incremental' });
    assert.equal(newer.tablesFailed, 0, JSON.stringify(newer.tables));
    assert.equal(newer.updated, rows);
    await assertPgTablesEqual(src, dst, 'stale');

    // A worker returns to the old queue: the old run resumes, and must not commit its older rows.
    const second = await startWorkerProcess({ address: env.address, taskQueue: oldQueue, connections });
    workers.push(second);
    const old = (await Promise.race([
      abandoned.result(),
      second.exited.then(() => {
        throw new Error(`worker died:\n${second.logs()}`);
      }),
    ])) as SyncSummary;
    assert.equal(old.tablesFailed, 1, JSON.stringify(old.tables));
    const error = old.tables[0].error ?? '';
    assert.match(error, /stale was claimed by a newer sync/);
    assert.ok(error.includes(newer.workflowId), `the error names the newer run (${newer.workflowId}): ${error}`);

    await assertPgTablesEqual(src, dst, 'stale');
    assert.deepEqual(await leftoverTables(dst, ['stale']), [], 'no staging or load table left behind');
    const claim = await dst.query(`SELECT generation::int, workflow_id FROM _tablesync_generations WHERE target_table = 'stale'`);
    assert.deepEqual(claim.rows, [{ generation: 2, workflow_id: newer.workflowId }]);

    // Verify without repair writes nothing and so claims nothing; the next run is unchanged.
    const verified = await runTestVerify(connections, { config: base });
    assert.equal(verified.matches, true, verified.message);
    const after = await dst.query(`SELECT generation::int, workflow_id FROM _tablesync_generations WHERE target_table = 'stale'`);
    assert.deepEqual(after.rows, claim.rows);
    const again = await syncOk(connections, base);
    assert.deepEqual([again.tablesFailed, again.inserted, again.updated, again.unchanged], [0, 0, 0, rows]);
  });

  it('a newer claim waits for a running chunk; the older run then stops at its next chunk', async () => {
    const rows = 6_000;
    await src.query(`CREATE TABLE overlap (id bigint PRIMARY KEY, label text)`);
    await src.query(`INSERT INTO overlap SELECT g, 'a' FROM generate_series(1, ${rows}) g`);
    await src.query('ANALYZE overlap');
    await dst.query(`CREATE TABLE overlap (id bigint PRIMARY KEY, label text)`);
    await dst.query(`INSERT INTO overlap SELECT g, 'old' FROM generate_series(1, ${rows}) g`);
    const config = {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: ['overlap'],
      batchSize: 1_000,
      ...fast,
    } satisfies SyncConfigInput;
    // The first run's first chunk holds the table's claim while it waits at the staging gate (after planning).
    const gate = await closeStagingGate(dst);
    const firstRun = syncOk(connections, config, {
      during: async () => {
        try {
          await waitFor('the first run at the gate', async () => (await waitingAtGate(dst, DST, 'overlap')) === 1);
          // The second run's claim waits behind that chunk, on the generation row.
          const secondRun = syncOk(connections, config);
          await waitFor('the second claim waiting on the generation row', async () =>
            (await pgBackends(dst, DST, 'INSERT INTO %_tablesync_generations%')).some((b) => b.waiting),
          );
          await gate.release();
          const second = await secondRun;
          assert.equal(second.tablesFailed, 0, JSON.stringify(second.tables));
          // The first run's held chunk committed before the claim went through, and nothing of it after.
          assert.deepEqual([second.updated, second.unchanged], [rows - 1_000, 1_000]);
        } finally {
          await gate.release();
        }
      },
    });
    const first = await firstRun;
    assert.equal(first.tablesFailed, 1, JSON.stringify(first.tables));
    assert.match(first.tables[0].error ?? '', /overlap was claimed by a newer sync/);
    await assertPgTablesEqual(src, dst, 'overlap');
    assert.deepEqual(await leftoverTables(dst, ['overlap']), []);
  });

  it('run --local cancels its workflow on SIGINT: activities stop, the load table is dropped, exit 130', async () => {
    await src.query(`CREATE TABLE slow (id bigint PRIMARY KEY, label text)`);
    await src.query(`INSERT INTO slow SELECT g, repeat('x', 40) FROM generate_series(1, 40000) g`);
    await src.query('ANALYZE slow');
    const dir = mkdtempSync(join(tmpdir(), 'tablesync-gen-'));
    try {
      const file = join(dir, 'sync.json');
      const config = {
        source: { connection: 'src' },
        target: { connection: 'dst' },
        tables: ['slow'],
        partitionThreshold: 20_000,
        rowsPerPartition: 20_000,
        maxPartitionsPerTable: 2,
        batchSize: 1_000,
        ...fast,
      };
      writeFileSync(file, JSON.stringify(config));
      const env = await temporal();
      const workflowId = workflowIdFor('cli-cancel');
      const cli = startCli(['run', '--config', file, '--local', '--workflow-id', workflowId], {
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_TASK_QUEUE: uniqueTaskQueue('gen-cli'),
        ...connectionEnv(connections),
      });
      const lock = { held: null as Awaited<ReturnType<typeof lockPgTable>> | null };
      try {
        // Both partitions past their first chunk, then stuck in a COPY: cancellation must reach them there.
        await waitFor('both partitions past their first chunk', async () => {
          if (cli.proc.exitCode !== null) throw new Error(`cli exited early (${cli.proc.exitCode}):\n${cli.output()}`);
          const s = await partitionStates(dst, workflowId);
          return s.length === 2 && s.every((p) => p.chunks_done >= 1);
        });
        lock.held = await lockPgTable(src, 'slow');
        await copyBlocked(src, 'slow', 2);
        const sent = Date.now();
        cli.proc.kill('SIGINT');
        const { code, out } = await Promise.race([
          cli.exited,
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`cli still running 60 s after SIGINT:\n${cli.output()}`)), 60_000)),
        ]);
        assert.equal(code, 130, out);
        assert.ok(Date.now() - sent < 30_000, 'cancelled promptly');
        assert.ok(out.includes(`cancelled sync ${workflowId}`), out);
      } finally {
        await lock.held?.release();
        if (cli.proc.exitCode === null) cli.proc.kill('SIGKILL');
      }

      const parent = await env.client.workflow.getHandle(workflowId).describe();
      assert.equal(parent.status.name, 'CANCELLED');
      const child = await env.client.workflow.getHandle(`${workflowId}/public.slow`).describe();
      assert.equal(child.status.name, 'CANCELLED');
      assert.deepEqual(await leftoverTables(dst, ['slow']), [], 'no staging or load table left behind');
      const states = await partitionStates(dst, workflowId);
      assert.deepEqual(
        states.map((s) => [s.partition_index, s.sync_status]),
        [
          [0, 'cancelled'],
          [1, 'cancelled'],
        ],
      );
      assert.ok(states.every((s) => s.chunks_done < 20), JSON.stringify(states));
      assert.equal((await dst.query(`SELECT to_regclass('public.slow') AS t`)).rows[0].t, null, 'nothing swapped in');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
