import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { envConnectionName } from '../../activities/connections';

/** The built CLI: a worker process started exactly as an operator would start one. */
const CLI = join(__dirname, '..', '..', 'client', 'cli.js');

// Children outlive mocha's process.exit unless killed: SIGKILL whatever is left.
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export interface WorkerProcessOptions {
  /** host:port of the Temporal frontend. */
  address: string;
  taskQueue: string;
  /** Connection name → URL, passed as TABLESYNC_CONNECTION_<NAME> (never in a file or argv). */
  connections: Record<string, string>;
  /** Extra environment (TABLESYNC_MAX_ACTIVITIES, TABLESYNC_LOG_LEVEL, …). */
  env?: Record<string, string>;
}

/** `node dist/client/cli.js worker` as a child process, with its stdout and stderr captured. */
export class WorkerProcess {
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private out = '';

  constructor(readonly options: WorkerProcessOptions) {
    const env: Record<string, string> = {};
    // Only what this test says: no connection or Temporal settings leak in from the shell.
    for (const [k, v] of Object.entries(process.env)) {
      if (v !== undefined && !k.startsWith('TABLESYNC_') && !k.startsWith('TEMPORAL_')) env[k] = v;
    }
    env.TEMPORAL_ADDRESS = options.address;
    env.TEMPORAL_TASK_QUEUE = options.taskQueue;
    env.TABLESYNC_LOG_LEVEL = 'INFO';
    for (const [name, url] of Object.entries(options.connections)) env[envConnectionName(name)] = url;
    Object.assign(env, options.env ?? {});
    this.proc = spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.proc);
    this.proc.stdout!.on('data', (d: Buffer) => (this.out += d.toString('utf8')));
    this.proc.stderr!.on('data', (d: Buffer) => (this.out += d.toString('utf8')));
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', (code, signal) => {
        live.delete(this.proc);
        resolve({ code, signal });
      }),
    );
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** The SDK's default worker identity, as recorded in ActivityTaskStarted events. */
  get identity(): string {
    return `${this.pid}@${hostname()}`;
  }

  /** Everything the process printed so far (stdout and stderr interleaved). */
  logs(): string {
    return this.out;
  }

  /** Resolves once the worker is created and about to poll (workflow code bundled, Temporal connected). */
  async ready(timeoutMs = 60_000): Promise<this> {
    const deadline = Date.now() + timeoutMs;
    while (!/tablesync worker polling task queue/.test(this.out)) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`worker process exited before polling:\n${this.out}`);
      }
      if (Date.now() > deadline) throw new Error(`worker process not ready after ${timeoutMs} ms:\n${this.out}`);
      await sleep(50);
    }
    return this;
  }

  /** Sends a signal and waits for the process to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    await this.exited;
  }

  /** Graceful stop, then SIGKILL if it takes too long (tests must not hang on cleanup). */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export async function startWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  const worker = new WorkerProcess(options);
  try {
    return await worker.ready();
  } catch (err) {
    await worker.kill();
    throw err;
  }
}

/** Workers started one after another on one queue (a crash test's first worker, then its replacements); `killAll` in the test's finally. */
export function workerProcesses(options: WorkerProcessOptions): { start(): Promise<WorkerProcess>; killAll(): Promise<void> } {
  const started: WorkerProcess[] = [];
  return {
    async start() {
      const w = await startWorkerProcess(options);
      started.push(w);
      return w;
    },
    async killAll() {
      for (const w of started) await w.kill();
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
