import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** The built CLI, as a user runs it. */
export const CLI = join(__dirname, '..', '..', 'client', 'cli.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `tablesync <args>` as a child process, asynchronously, so a worker hosted
 * by the test process keeps polling meanwhile. Only the given environment
 * reaches it (plus PATH and the like): no TEMPORAL_* or TABLESYNC_* of the shell.
 */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<CliRun> {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('TABLESYNC_') && !k.startsWith('TEMPORAL_')) childEnv[k] = v;
  }
  Object.assign(childEnv, { TABLESYNC_LOG_LEVEL: 'WARN' }, env);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`tablesync ${args.join(' ')} still running after ${timeoutMs} ms:\n${stdout}${stderr}`));
    }, timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
