import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../helpers/cli';
import { lockPgTable } from '../helpers/guarantees';
import { useDatabases } from '../helpers/databases';
import { pgUrl, testDb } from '../helpers/pg';
import { temporal, uniqueTaskQueue } from '../helpers/temporal';
import { sleep } from '../helpers/worker-process';

const SRC = testDb('tablesync_it_interrupt_src');
const DST = testDb('tablesync_it_interrupt_dst');

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
// Bar characters and cursor-up moves: what a progress bar redraw writes (readline's own column moves are not).
const BAR_DRAWING = /[█░]|\x1b\[\d*A/;

describe('Ctrl-C at a terminal during run --local: the question is not drawn inside the bars', function () {
  this.timeout(120_000);
  const { src } = useDatabases({ pg: { src: SRC, dst: DST } });
  let dir: string;

  before(async function () {
    if (process.platform !== 'linux') this.skip(); // script(1) of util-linux gives the CLI a terminal
    await src.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
    await src.query(`INSERT INTO t SELECT g, 'x' FROM generate_series(1, 1000) g`);
    dir = mkdtempSync(join(tmpdir(), 'tablesync-interrupt-'));
  });

  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('stops the bars, says the sync is still running, and draws nothing while asking; "y" cancels', async () => {
    const file = join(dir, 'sync.json');
    writeFileSync(file, JSON.stringify({ connections: { src: pgUrl(SRC), dst: pgUrl(DST) }, source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.t'] }));
    // The source table locked: the run waits in its first read, bars on screen.
    const lock = await lockPgTable(src, 't');
    try {
      const { address } = await temporal();
      const cmd = [process.execPath, CLI, 'run', '--local', '--config', file, '--task-queue', uniqueTaskQueue('interrupt')].map(shellQuote).join(' ');
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('TABLESYNC_') && !k.startsWith('TEMPORAL_')) env[k] = v;
      Object.assign(env, { TEMPORAL_ADDRESS: address, TABLESYNC_LOG_LEVEL: 'WARN', COLUMNS: '160', LINES: '40' });
      const p = spawn('script', ['-qefc', cmd, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
      p.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
      const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
      const until = async (re: RegExp, ms: number) => {
        const deadline = Date.now() + ms;
        while (!re.test(out)) {
          if (Date.now() > deadline) throw new Error(`no ${re} within ${ms} ms:\n${out}`);
          await sleep(50);
        }
      };
      try {
        await until(/total/, 30_000); // the bars are drawn
        await sleep(500);
        p.stdin.write('\x03'); // Ctrl-C, through the terminal
        await until(/Cancel it\? \[Y\/n\]/, 10_000);
        const asked = out.lastIndexOf('Cancel it?');
        assert.match(out.slice(Math.max(0, asked - 200), asked), /sync tablesync-\S+ is still running\./);
        await sleep(1_500); // five frames at the bars' 5 fps
        const meanwhile = out.slice(asked);
        assert.doesNotMatch(meanwhile, BAR_DRAWING, `drawn while asking: ${JSON.stringify(meanwhile)}`);
        p.stdin.write('y\r');
        await lock.release();
        await until(/cancelled sync/, 30_000);
        assert.equal(await exited, 130, out);
      } finally {
        p.kill('SIGKILL');
      }
    } finally {
      await lock.release();
    }
  });
});
