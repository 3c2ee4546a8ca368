import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli, type CliProcess } from '../helpers/cli';
import { exitWithin, printed } from '../helpers/cli-wait';
import { useDatabases } from '../helpers/databases';
import { lockPgTable, waitFor } from '../helpers/guarantees';
import { pgUrl, testDb } from '../helpers/pg';
import { freePort } from '../helpers/temporal-server';
import { temporal, uniqueTaskQueue } from '../helpers/temporal';

const SRC = testDb('tablesync_it_rough_src');
const DST = testDb('tablesync_it_rough_dst');

async function metricsText(address: string): Promise<string | null> {
  try {
    const r = await fetch(`http://${address}/metrics`);
    return r.ok ? await r.text() : null;
  } catch {
    return null;
  }
}

describe('CLI rough edges (issue 22)', function () {
  this.timeout(120_000);
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });
  let dir: string;
  let address: string;
  const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };

  before(async () => {
    await src.query('CREATE TABLE artist (id int PRIMARY KEY, name text)');
    await src.query(`INSERT INTO artist SELECT g, 'a' || g FROM generate_series(1, 20) g`);
    dir = mkdtempSync(join(tmpdir(), 'tablesync-rough-'));
    address = (await temporal()).address;
  });

  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const write = (name: string, content: unknown) => {
    const file = join(dir, name);
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  };
  const sync = (tables: unknown[], extra: object = {}) => ({ source: { connection: 'src' }, target: { connection: 'dst' }, tables, ...extra });

  it('schedule describe lists object table entries by name and settings, not [object Object]', async () => {
    const id = `rough-${process.pid}`;
    const file = write('sched.json', sync([{ table: 'public.artist', mode: 'full' }, 'public.other']));
    const env = { TEMPORAL_ADDRESS: address };
    const created = await runCli(['schedule', 'create', '--config', file, '--cron', '0 3 * * *', '--paused', '--id', id, '--task-queue', uniqueTaskQueue('rough-sched')], env);
    assert.equal(created.code, 0, created.stderr);
    try {
      const r = await runCli(['schedule', 'describe', id], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^ {2}tables {4}public\.artist \(mode: full\), public\.other$/m);
      assert.doesNotMatch(r.stdout, /object Object/);
    } finally {
      await runCli(['schedule', 'delete', id], env);
    }
  });

  it('worker --config takes a file with only connections:, and --metrics serves its metrics; a run through it syncs', async () => {
    const queue = uniqueTaskQueue('rough-worker');
    const metrics = `127.0.0.1:${await freePort()}`;
    const connFile = write('worker.yaml', `connections:\n  src: ${connections.src}\n  dst: ${connections.dst}\n`);
    const worker = startCli(['worker', '--config', connFile, '--task-queue', queue, '--metrics', metrics], { TEMPORAL_ADDRESS: address, TABLESYNC_LOG_LEVEL: 'INFO' });
    try {
      await printed(worker, /tablesync worker polling task queue/, 60_000);
      const text = await waitFor('the metrics endpoint', () => metricsText(metrics), 10_000);
      assert.match(text, /^temporal_/m);
      const r = await runCli(['run', '--wait', '--config', write('run.json', sync(['public.artist'])), '--task-queue', queue], { TEMPORAL_ADDRESS: address });
      assert.equal(r.code, 0, `${r.out}\n${worker.output()}`);
      assert.equal((await dst.query('SELECT count(*)::int AS n FROM artist')).rows[0].n, 20);
    } finally {
      worker.proc.kill('SIGTERM');
      await exitWithin(worker, 15_000);
    }
    // A file with other keys is checked as a whole sync config, as before.
    const partial = write('partial.yaml', `connections:\n  src: ${connections.src}\nsource: { connection: src }\n`);
    const bad = await runCli(['worker', '--config', partial, '--task-queue', queue], { TEMPORAL_ADDRESS: address }, 30_000);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /target|tables/);
  });

  it('run --local --metrics serves the local worker\'s metrics while it runs; --metrics without --local is refused; --help names TABLESYNC_METRICS_ADDRESS', async () => {
    const metrics = `127.0.0.1:${await freePort()}`;
    const file = write('local.json', { connections, ...sync(['public.artist']) });
    const lock = await lockPgTable(src, 'artist');
    let p: CliProcess | undefined;
    try {
      p = startCli(['run', '--local', '--config', file, '--metrics', metrics], { TEMPORAL_ADDRESS: address });
      const text = await waitFor('the --local worker\'s metrics endpoint', () => metricsText(metrics), 30_000);
      assert.match(text, /^temporal_/m);
    } finally {
      await lock.release();
    }
    const { code, stderr } = await exitWithin(p, 60_000);
    assert.equal(code, 0, stderr);

    const refused = await runCli(['run', '--config', file, '--metrics', metrics], { TEMPORAL_ADDRESS: address });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--metrics .*needs --local/);
    const help = await runCli(['--help'], {});
    assert.match(help.stdout, /TABLESYNC_METRICS_ADDRESS/);
    const workerHelp = await runCli(['worker', '--help'], {});
    assert.match(workerHelp.stdout, /--metrics <address>/);
  });

  it('a YAML syntax error says the line, column and reason on one line, not a caret', async () => {
    const file = write('bad.yaml', 'source:\n  connection: src\n tables: [a]\n');
    const r = await runCli(['run', '--config', file], { TEMPORAL_ADDRESS: address });
    assert.equal(r.code, 2);
    const last = r.stderr.trim().split('\n').pop() ?? '';
    assert.match(last, /is not valid YAML: line 3, column 1: All mapping items must start at the same column \(line 3 is " tables: \[a\]"\)/);
  });

  it('a typo\'d table name fails naming the closest existing table', async () => {
    const file = write('typo.json', { connections, ...sync(['public.artsit']) });
    const r = await runCli(['run', '--local', '--config', file], { TEMPORAL_ADDRESS: address });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout + r.stderr, /Source table public\.artsit does not exist in "src"; did you mean public\.artist\?/);
  });
});
