import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './cli';
import { sleep } from './worker-process';

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/**
 * `tablesync <args>` as a child process the test talks to while it runs:
 * waits for a line, sends it signals, times how long it takes to exit.
 * Only the given environment reaches it (plus PATH and the like), as in runCli.
 */
export class CliProcess {
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stdout = '';
  stderr = '';

  constructor(args: string[], env: Record<string, string>) {
    const childEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (v !== undefined && !k.startsWith('TABLESYNC_') && !k.startsWith('TEMPORAL_')) childEnv[k] = v;
    }
    Object.assign(childEnv, { TABLESYNC_LOG_LEVEL: 'WARN' }, env);
    this.proc = spawn(process.execPath, [CLI, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.proc);
    this.proc.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString('utf8')));
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString('utf8')));
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', (code, signal) => {
        live.delete(this.proc);
        resolve({ code, signal, at: Date.now() });
      }),
    );
  }

  /** Resolves with the time the pattern first appeared on stderr (or stdout); throws after timeoutMs. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.stderr) && !pattern.test(this.stdout)) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`tablesync exited (${this.proc.exitCode}) before printing ${pattern}:\n${this.stdout}${this.stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`tablesync printed no ${pattern} within ${timeoutMs} ms:\n${this.stdout}${this.stderr}`);
      await sleep(50);
    }
    return Date.now();
  }

  /** Waits for the exit; SIGKILL and throw if it takes longer than timeoutMs. */
  async exit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.proc.kill('SIGKILL');
        reject(new Error(`tablesync still running ${timeoutMs} ms later:\n${this.stdout}${this.stderr}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
