import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { sleep } from './worker-process';

const root = join(__dirname, '..', '..', '..');

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** A TCP port nothing listens on right now (the OS picks it, then we let go of it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A Temporal dev server of its own (not the shared one of test/helpers/temporal.ts),
 * persisted to a SQLite file so it can be killed and started again with its state.
 */
export class DevServer {
  private proc: ChildProcess | null = null;
  private out = '';
  readonly address: string;

  constructor(
    readonly port: number,
    readonly dbFile: string,
    /** Serves the Web UI on this port (http://127.0.0.1:<uiPort>); headless without it. */
    readonly uiPort?: number,
  ) {
    this.address = `127.0.0.1:${port}`;
  }

  static async create(dbFile: string, options: { ui?: boolean } = {}): Promise<DevServer> {
    return new DevServer(await freePort(), dbFile, options.ui ? await freePort() : undefined);
  }

  logs(): string {
    return this.out;
  }

  /** Starts the server and waits until its frontend answers. */
  async start(timeoutMs = 60_000): Promise<void> {
    const cli = execFileSync('bash', [join(root, 'scripts', 'temporal-cli.sh')], { encoding: 'utf8' }).trim();
    const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(this.port)];
    args.push(...(this.uiPort ? ['--ui-ip', '127.0.0.1', '--ui-port', String(this.uiPort)] : ['--headless']));
    args.push('--db-filename', this.dbFile, '--log-level', 'error');
    const proc = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    live.add(proc);
    proc.stdout!.on('data', (d: Buffer) => (this.out += d.toString('utf8')));
    proc.stderr!.on('data', (d: Buffer) => (this.out += d.toString('utf8')));
    proc.once('exit', () => live.delete(proc));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`temporal dev server exited:\n${this.out}`);
      try {
        const conn = await Connection.connect({ address: this.address, connectTimeout: 1_000 });
        try {
          await conn.workflowService.describeNamespace({ namespace: 'default' });
          return;
        } finally {
          await conn.close();
        }
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`temporal dev server not ready after ${timeoutMs} ms: ${err}\n${this.out}`);
        await sleep(200);
      }
    }
  }

  /** Stops the process (SIGKILL by default: a crash, nothing flushed on the way out). */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
