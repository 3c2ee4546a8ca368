import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { SyncSummary } from '../../lib/types';
import { runCli } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import { assertPgTablesEqual, waitFor } from '../helpers/guarantees';
import { pgUrl, testDb } from '../helpers/pg';
import { temporal, testWorker } from '../helpers/temporal';

const SRC = testDb('tablesync_it_sched_src');
const DST = testDb('tablesync_it_sched_dst');
// The file's URLs carry a password (trust auth ignores it): none of it may reach the schedule.
const SECRET = 'Sched-Secret-77';
const withPassword = (db: string) => pgUrl(db).replace('postgres@', `postgres:${SECRET}@`);
const connections = { src: withPassword(SRC), dst: withPassword(DST) };

describe('schedules: Temporal Schedules that start syncs, on the real dev server', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });
  let dir: string;
  let file: string;
  let client: Client;
  let address: string;
  let seq = 0;
  const newId = (name: string) => `${name}-${process.pid}-${++seq}`;

  before(async () => {
    await src.query('CREATE TABLE items (id int PRIMARY KEY, v text)');
    await src.query(`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 500) g`);
    dir = mkdtempSync(join(tmpdir(), 'tablesync-sched-'));
    file = join(dir, 'nightly.yaml');
    writeFileSync(
      file,
      [
        'connections:',
        `  src: ${connections.src}`,
        `  dst: ${connections.dst}`,
        'source: { connection: src }',
        'target: { connection: dst }',
        'tables: [public.items]',
        'retry: { initialIntervalMs: 200, maximumIntervalMs: 1000 }',
      ].join('\n'),
    );
    const env = await temporal();
    client = env.client;
    address = env.address;
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (args: string[]) => runCli(args, { TEMPORAL_ADDRESS: address });
  const ok = async (args: string[]) => {
    const r = await cli(args);
    assert.equal(r.code, 0, `tablesync ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
    return r.stdout;
  };

  it('create, list, trigger: the run is a sync tablesync-<id>-<time> that completes; the action holds no URL or password', async () => {
    const { taskQueue, worker, close } = await testWorker(connections, 'sched');
    const id = newId('nightly');
    try {
      await worker.runUntil(async () => {
        const created = await ok(['schedule', 'create', '--config', file, '--cron', '0 3 * * *', '--id', id, '--task-queue', taskQueue, '--note', 'from the test']);
        assert.match(created, new RegExp(`Created schedule ${id}: cron "0 3 \\* \\* \\*", overlap skip`));
        const d = await client.schedule.getHandle(id).describe();
        assert.equal(d.action.workflowType, 'incrementalSyncWorkflow');
        assert.equal(d.action.workflowId, `tablesync-${id}`);
        assert.equal(d.action.taskQueue, taskQueue);
        assert.equal(d.policies.overlap, 'SKIP');
        assert.equal(d.state.note, 'from the test');
        assert.equal(d.state.paused, false);
        assert.ok(d.info.nextActionTimes.length > 0, 'a next run');
        assert.ok(d.info.nextActionTimes.every((t) => t.getUTCHours() === 3 && t.getUTCMinutes() === 0), String(d.info.nextActionTimes));
        // The same input as run: connection names only.
        const input = d.action.args?.[0] as { source: { connection: string }; connections?: unknown };
        assert.equal(input.source.connection, 'src');
        assert.equal(input.connections, undefined);
        const stored = JSON.stringify(d.raw);
        for (const secret of [SECRET, encodeURIComponent(SECRET), '127.0.0.1:5432', 'postgres://']) {
          assert.ok(!stored.includes(secret) && !JSON.stringify(d.action).includes(secret), `the schedule holds "${secret}"`);
        }

        assert.match(await ok(['schedule', 'list']), new RegExp(`^${id}  active  cron "0 3 \\* \\* \\*"  next \\S+T03:00:00Z.*note: from the test$`, 'm'));

        await ok(['schedule', 'trigger', id]);
        const run = await waitFor('the triggered run', async () => (await client.schedule.getHandle(id).describe()).info.recentActions[0]);
        const runId = run.action.workflow.workflowId;
        assert.match(runId, new RegExp(`^tablesync-${id}-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));
        const summary = (await client.workflow.getHandle(runId).result()) as SyncSummary;
        assert.match(summary.message, /^Full load complete: 1 table synced, 0 failed/);
        await assertPgTablesEqual(src, dst, 'public.items');

        const described = await ok(['schedule', 'describe', id]);
        assert.match(described, /overlap {3}skip/);
        assert.match(described, /next runs \S+T03:00:00Z/);
        assert.match(described, new RegExp(`${runId} COMPLETED: Full load complete: 1 table synced`));
      });
    } finally {
      await client.schedule.getHandle(id).delete().catch(() => undefined);
      await close();
    }
  });

  it('pause, unpause, update, delete', async () => {
    const id = newId('changing');
    await ok(['schedule', 'create', '--config', file, '--cron', '@daily', '--id', id, '--paused', '--task-queue', 'nobody-polls']);
    const handle = client.schedule.getHandle(id);
    assert.equal((await handle.describe()).state.paused, true);
    await ok(['schedule', 'unpause', id, '--note', 'go']);
    assert.deepEqual([(await handle.describe()).state.paused, (await handle.describe()).state.note], [false, 'go']);
    await ok(['schedule', 'pause', id]);
    assert.equal((await handle.describe()).state.paused, true);

    await ok(['schedule', 'update', id, '--cron', '30 * * * *', '--overlap', 'buffer-one', '--note', 'hourly at :30']);
    const d = await handle.describe();
    assert.equal(d.policies.overlap, 'BUFFER_ONE');
    assert.equal(d.state.note, 'hourly at :30');
    assert.equal(d.state.paused, true, 'update keeps what it is not given');
    assert.equal(d.action.workflowId, `tablesync-${id}`);
    assert.ok(d.info.nextActionTimes.every((t) => t.getUTCMinutes() === 30), String(d.info.nextActionTimes));
    assert.match(await ok(['schedule', 'describe', id]), /cron {6}"30 \* \* \* \*"/);

    await ok(['schedule', 'delete', id]);
    assert.ok(!(await ok(['schedule', 'list'])).includes(id), 'deleted');
    const gone = await cli(['schedule', 'describe', id]);
    assert.equal(gone.code, 2, gone.stderr);
    assert.match(gone.stderr, new RegExp(`^tablesync: UnknownSchedule: no schedule "${id}"`, 'm'));
    const twice = await cli(['schedule', 'create', '--config', file, '--cron', '@hourly', '--id', 'dup-' + id, '--task-queue', 'nobody-polls']);
    assert.equal(twice.code, 0, twice.stderr);
    const again = await cli(['schedule', 'create', '--config', file, '--cron', '@hourly', '--id', 'dup-' + id, '--task-queue', 'nobody-polls']);
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, /ScheduleExists: schedule "dup-.*" already exists/);
    await client.schedule.getHandle('dup-' + id).delete();
  });

  it('a cron with seconds fires by itself, and overlap skip never runs two at once', async function () {
    this.timeout(120_000);
    const { taskQueue, worker, close } = await testWorker(connections, 'sched-sec');
    const id = newId('everysecond');
    try {
      await worker.runUntil(async () => {
        // 7 fields: second minute hour day-of-month month day-of-week year.
        await ok(['schedule', 'create', '--config', file, '--cron', '* * * * * * *', '--id', id, '--task-queue', taskQueue]);
        const runs = await waitFor('two runs started by the schedule itself', async () => {
          const d = await client.schedule.getHandle(id).describe();
          return d.info.recentActions.length >= 2 && d.info.recentActions;
        });
        await client.schedule.getHandle(id).pause();
        for (const r of runs) assert.match(r.action.workflow.workflowId, new RegExp(`^tablesync-${id}-`));
        // Each run started after the one before had closed.
        const spans = await Promise.all(
          runs.map(async (r) => {
            const h = client.workflow.getHandle(r.action.workflow.workflowId);
            await h.result();
            const d = await h.describe();
            return { start: d.startTime.getTime(), end: d.closeTime!.getTime() };
          }),
        );
        for (let i = 1; i < spans.length; i++) assert.ok(spans[i].start >= spans[i - 1].end, `run ${i} overlapped run ${i - 1}`);
        await assertPgTablesEqual(src, dst, 'public.items');
      });
    } finally {
      await client.schedule.getHandle(id).delete().catch(() => undefined);
      await close();
    }
  });

  it('--cron @once runs one sync now as tablesync-<id>-<time> and leaves no schedule', async () => {
    const { taskQueue, worker, close } = await testWorker(connections, 'sched-once');
    const id = newId('once');
    try {
      await worker.runUntil(async () => {
        const out = await ok(['schedule', 'create', '--config', file, '--cron', '@once', '--id', id, '--task-queue', taskQueue]);
        const runId = new RegExp(`Started (tablesync-${id}-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ) on task queue`).exec(out)?.[1];
        assert.ok(runId, out);
        const summary = (await client.workflow.getHandle(runId).result()) as SyncSummary;
        assert.equal(summary.tablesFailed, 0, summary.message);
      });
      await assert.rejects(client.schedule.getHandle(id).describe(), /not found/i);
    } finally {
      await close();
    }
  });
});
