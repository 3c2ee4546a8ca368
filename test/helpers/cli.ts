import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envConnectionName } from '../../activities/connections';
import { temporal, uniqueTaskQueue } from './temporal';

/** The built CLI, as a user runs it. */
export const CLI = join(__dirname, '..', '..', 'client', 'cli.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout then stderr, for messages and for output that may land on either. */
  out: string;
}

export interface CliProcess {
  proc: ChildProcess;
  /** What it printed so far: stdout then stderr. */
  output(): string;
  exited: Promise<CliRun>;
}

/**
 * `tablesync <args>` as a child process, asynchronously, so a worker hosted
 * by the test process keeps polling meanwhile. Only the given environment
 * reaches it (plus PATH and the like): no TEMPORAL_* or TABLESYNC_* of the shell.
 * The caller ends it (a signal, or waiting for `exited`).
 */
export function startCli(args: string[], env: Record<string, string>): CliProcess {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('TABLESYNC_') && !k.startsWith('TEMPORAL_')) childEnv[k] = v;
  }
  Object.assign(childEnv, { TABLESYNC_LOG_LEVEL: 'WARN' }, env);
  const proc = spawn(process.execPath, [CLI, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<CliRun>((resolve, reject) => {
    proc.once('error', reject);
    // 'close', not 'exit': the output is complete only once both pipes have ended.
    proc.once('close', (code) => resolve({ code, stdout, stderr, out: stdout + stderr }));
  });
  // A caller that stops waiting (its test failed first) must not turn a spawn error into an unhandled rejection.
  exited.catch(() => undefined);
  return { proc, output: () => stdout + stderr, exited };
}

/** `tablesync <args>` run to its end, killed (and the test failed) past timeoutMs. */
export async function runCli(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<CliRun> {
  const cli = startCli(args, env);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      cli.proc.kill('SIGKILL');
      reject(new Error(`tablesync ${args.join(' ')} still running after ${timeoutMs} ms:\n${cli.output()}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([cli.exited, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** The environment that gives a worker these named connections, as a user sets it. */
export function connectionEnv(connections: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(connections).map(([name, url]) => [envConnectionName(name), url]));
}

/**
 * `tablesync <args> --config <config> --local` against the test dev server on
 * a fresh task queue, with exactly these connections in its environment.
 */
export async function runLocalCli(args: string[], config: unknown, connections: Record<string, string>): Promise<CliRun> {
  const env = await temporal();
  const dir = mkdtempSync(join(tmpdir(), 'tablesync-cli-'));
  try {
    const file = join(dir, 'sync.json');
    writeFileSync(file, JSON.stringify(config));
    return await runCli([...args, '--config', file, '--local'], {
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_TASK_QUEUE: uniqueTaskQueue('cli'),
      ...connectionEnv(connections),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `tablesync <args> --config <file> --local` for a config file as written
 * (an example, or one `init` wrote), against the test dev server on a fresh
 * task queue, its connection names resolved from the environment.
 */
export async function runConfigFile(args: string[], file: string, connections: Record<string, string>): Promise<CliRun> {
  const env = await temporal();
  return runCli([...args, '--config', file, '--local'], {
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_TASK_QUEUE: uniqueTaskQueue('file'),
    ...connectionEnv(connections),
  });
}
