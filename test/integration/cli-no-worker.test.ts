import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { startCli, type CliProcess } from '../helpers/cli';
import { exitWithin, printed } from '../helpers/cli-wait';
import { useDatabases } from '../helpers/databases';
import { pgUrl, testDb } from '../helpers/pg';
import { createWorker } from '../../workers/worker';
import { temporal, uniqueTaskQueue, workflowBundle } from '../helpers/temporal';
import { waitFor } from '../helpers/guarantees';

const SRC = testDb('tablesync_it_noworker_src');
const DST = testDb('tablesync_it_noworker_dst');

// No worker polls the queue these commands start their workflows on: each
// must say so within seconds (not wait in silence), and a signal must not
// leave it waiting for a cancellation nobody will carry out.
describe('CLI with no worker on the task queue: says so, and never hangs after a signal', function () {
  this.timeout(120_000);
  const { src } = useDatabases({ pg: { src: SRC, dst: DST } });
  let client: Client;
  let address: string;
  let dir: string;
  let configFile: string;
  const started: string[] = [];

  before(async () => {
    await src.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
    await src.query(`INSERT INTO t SELECT g, 'x' FROM generate_series(1, 10) g`);
    const env = await temporal();
    client = env.client;
    address = env.address;
    dir = mkdtempSync(join(tmpdir(), 'tablesync-noworker-'));
    configFile = join(dir, 'sync.yaml');
    writeFileSync(configFile, 'source: { connection: src }\ntarget: { connection: dst }\ntables: [public.t]\n');
  });

  after(async () => {
    // Whatever a test left running on its dead queue.
    for (const id of started) await client.workflow.getHandle(id).terminate('test cleanup').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const noWorker = (queue: string) => new RegExp(`no worker polls task queue "${queue}"`);
  const workflowIdOf = (text: string) => /(tablesync-[\w-]+-\d{4}-[\w-]+Z-[0-9a-f]{6})/.exec(text)?.[1];

  /** Starts a command, checks it says "no worker" within 8 s with the worker command to run; returns it. */
  async function startSilent(args: string[], queue: string): Promise<{ p: CliProcess; saidAfterMs: number }> {
    const t0 = Date.now();
    const p = startCli([...args, '--config', configFile, '--task-queue', queue, ...(args[0] === 'run' ? ['--workflow-id', `tablesync-${queue}-2026-01-01T00-00-00-000Z`] : [])], {
      TEMPORAL_ADDRESS: address,
    });
    const at = await printed(p, noWorker(queue), 8_000);
    assert.match(p.output(), new RegExp(`tablesync worker --config ${configFile.replace(/[.]/g, '\\.')} --task-queue ${queue}`));
    assert.match(p.output(), /--local/);
    return { p, saidAfterMs: at - t0 };
  }

  it('run --wait: says within seconds that no worker polls the queue; SIGTERM exits at once, naming the state and how to terminate', async () => {
    const queue = uniqueTaskQueue('noworker-run');
    const { p, saidAfterMs } = await startSilent(['run', '--wait'], queue);
    const workflowId = `tablesync-${queue}-2026-01-01T00-00-00-000Z`;
    started.push(workflowId);
    assert.ok(saidAfterMs < 8_000, `said after ${saidAfterMs} ms`);
    const t0 = Date.now();
    p.proc.kill('SIGTERM');
    const { code, at, stderr } = await exitWithin(p, 15_000);
    assert.equal(code, 143, stderr);
    assert.ok(at - t0 < 10_000, `exited ${at - t0} ms after SIGTERM`);
    assert.match(stderr, /left RUNNING with its cancellation requested \(no worker has run any of it: nothing was written\)/);
    assert.match(stderr, new RegExp(`temporal workflow terminate --workflow-id ${workflowId} --namespace default --address ${address}`));
    assert.equal((await client.workflow.getHandle(workflowId).describe()).status.name, 'RUNNING');
    // What the message promises: the first worker on the queue carries the cancellation out.

    const { worker, close } = await createWorker({
      connection: (await temporal()).nativeConnection,
      taskQueue: queue,
      connections: { src: { url: pgUrl(SRC) }, dst: { url: pgUrl(DST) } },
      workflowBundle: await workflowBundle(),
      env: {},
    });

    try {
      await worker.runUntil(
        waitFor('the run cancelled by the new worker', async () => (await client.workflow.getHandle(workflowId).describe()).status.name === 'CANCELLED', 30_000),
      );
    } finally {
      await close();
    }
  });

  it('run without --wait warns at once that nobody polls the queue', async () => {
    const queue = uniqueTaskQueue('noworker-nowait');
    const p = startCli(['run', '--config', configFile, '--task-queue', queue], { TEMPORAL_ADDRESS: address });
    const { code, stdout, stderr } = await exitWithin(p, 30_000);
    const id = workflowIdOf(stdout);
    if (id) started.push(id);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^Started tablesync-/);
    assert.match(stderr, noWorker(queue));
  });

  for (const args of [['reset-state', 'public.t'], ['set-mode', 'public.t', '--mode', 'full'], ['status']]) {
    it(`${args[0]}${args[0] === 'status' ? ' --config' : ''}: says so within seconds; SIGINT (no TTY) exits after the cancel is requested`, async () => {
      const queue = uniqueTaskQueue(`noworker-${args[0]}`);
      const { p } = await startSilent(args, queue);
      const id = /(tablesync-[\w-]+Z-[0-9a-f]{6})/.exec(p.output())?.[1];
      assert.ok(id, p.output());
      started.push(id);
      const t0 = Date.now();
      p.proc.kill('SIGINT');
      const { code, at, stderr } = await exitWithin(p, 15_000);
      assert.equal(code, 130, stderr);
      assert.ok(at - t0 < 10_000, `exited ${at - t0} ms after SIGINT`);
      assert.match(stderr, new RegExp(`temporal workflow terminate --workflow-id ${id}`));
    });
  }

  it('status --config waits on when told no worker polls, and goes on when one starts', async () => {
    const queue = uniqueTaskQueue('noworker-late');
    const { p } = await startSilent(['status'], queue);
    const { worker, close } = await createWorker({
      connection: (await temporal()).nativeConnection,
      taskQueue: queue,
      connections: { src: { url: pgUrl(SRC) }, dst: { url: pgUrl(DST) } },
      workflowBundle: await workflowBundle(),
      env: {},
    });
    try {
      const { code, stdout, stderr } = await worker.runUntil(exitWithin(p, 60_000));
      assert.equal(code, 0, stderr);
      assert.match(stdout, /public\.t → public\.t: mode/);
    } finally {
      await close();
    }
  });

  it('a worker that just stopped (still listed by the server): says the run\'s task is untaken within ~12 s; SIGTERM exits without waiting on it', async () => {
    const queue = uniqueTaskQueue('noworker-gone');
    const { worker, close } = await createWorker({
      connection: (await temporal()).nativeConnection,
      taskQueue: queue,
      connections: { src: { url: pgUrl(SRC) }, dst: { url: pgUrl(DST) } },
      workflowBundle: await workflowBundle(),
      env: {},
    });
    const running = worker.run();
    await waitFor('the worker listed on the queue', async () => {
      const r = await client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: queue }, taskQueueType: 1 });
      return (r.pollers ?? []).length > 0;
    }, 10_000);
    worker.shutdown();
    await running;
    await close();
    const workflowId = `tablesync-${queue}-2026-01-01T00-00-00-000Z`;
    started.push(workflowId);
    const p = startCli(['run', '--wait', '--config', configFile, '--task-queue', queue, '--workflow-id', workflowId], { TEMPORAL_ADDRESS: address });
    await printed(p, new RegExp(`no worker has taken sync ${workflowId}'s next task for \\d+ s: the worker last seen on task queue "${queue}"`), 20_000);
    assert.doesNotMatch(p.output(), noWorker(queue)); // the server still lists the stopped worker
    const t0 = Date.now();
    p.proc.kill('SIGTERM');
    const { code, at, stderr } = await exitWithin(p, 30_000);
    assert.equal(code, 143, stderr);
    assert.ok(at - t0 < 20_000, `exited ${at - t0} ms after SIGTERM`);
    assert.match(stderr, new RegExp(`temporal workflow terminate --workflow-id ${workflowId}`));
  });

  it('cdc start, status, pause and stop --no-wait with no worker: each says so at once, naming the queue and the worker to start', async () => {
    const queue = uniqueTaskQueue('noworker-cdc');
    const workflowId = `tablesync-${queue}-cdc`;
    const file = join(dir, 'cdc.yaml');
    writeFileSync(file, 'source: { connection: src }\ntarget: { connection: dst }\nmode: cdc\ntables: [public.t]\n');
    const env = { TEMPORAL_ADDRESS: address };
    const start = await exitWithin(startCli(['cdc', 'start', '--config', file, '--task-queue', queue, '--workflow-id', workflowId], env), 30_000);
    started.push(workflowId);
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, new RegExp(`^Started ${workflowId}`));
    assert.match(start.stderr, noWorker(queue));
    assert.match(start.stderr, new RegExp(`tablesync worker --config ${file.replace(/[.]/g, '\\.')} --task-queue ${queue}`));
    // A query only a worker answers: said at once instead of the server's timeout.
    const status = await exitWithin(startCli(['cdc', 'status', workflowId], env), 8_000);
    assert.equal(status.code, 1, status.stdout);
    assert.match(status.stderr, new RegExp(`${workflowId} is running, but no worker polls task queue "${queue}"; start one: (TEMPORAL_ADDRESS=\\S+ )?tablesync worker --config FILE --task-queue ${queue}`));
    for (const signal of [['pause'], ['stop', '--no-wait']]) {
      const r = await exitWithin(startCli(['cdc', ...signal.slice(0, 1), workflowId, ...signal.slice(1)], env), 15_000);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`${signal[0]} sent to ${workflowId}`));
      assert.match(r.stderr, new RegExp(`no worker polls task queue "${queue}".*the ${signal[0]} takes effect when one does`));
    }
  });

  it('status --watch of a run no worker polls for says so; tablesync cancel of it exits within seconds, saying how to terminate it', async () => {
    const queue = uniqueTaskQueue('noworker-cancel');
    const workflowId = `tablesync-${queue}-cancel`;
    await client.workflow.start('incrementalSyncWorkflow', {
      taskQueue: queue,
      workflowId,
      args: [{ source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.t'] }],
    });
    started.push(workflowId);
    // status --watch, which follows it, says first that nobody runs it.
    const watch = startCli(['status', workflowId, '--watch'], { TEMPORAL_ADDRESS: address });
    await printed(watch, noWorker(queue), 8_000);
    watch.proc.kill('SIGTERM');
    await exitWithin(watch, 10_000);
    const p = startCli(['cancel', workflowId], { TEMPORAL_ADDRESS: address });
    const { code, stderr } = await exitWithin(p, 15_000);
    assert.equal(code, 1, stderr);
    assert.match(stderr, new RegExp(`no worker on task queue "${queue}" carries out the cancellation`));
    assert.match(stderr, new RegExp(`temporal workflow terminate --workflow-id ${workflowId}`));
  });
});
