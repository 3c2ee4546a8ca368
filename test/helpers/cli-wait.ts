import type { CliProcess, CliRun } from './cli';
import { sleep } from './worker-process';

/** Resolves with the time `pattern` first showed in the command's output (stdout or stderr); throws past timeoutMs or if it exits first. */
export async function printed(cli: CliProcess, pattern: RegExp, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(cli.output())) {
    if (cli.proc.exitCode !== null || cli.proc.signalCode !== null) {
      throw new Error(`tablesync exited (${cli.proc.exitCode}) before printing ${pattern}:\n${cli.output()}`);
    }
    if (Date.now() > deadline) throw new Error(`tablesync printed no ${pattern} within ${timeoutMs} ms:\n${cli.output()}`);
    await sleep(50);
  }
  return Date.now();
}

/** The command's end and when it came; SIGKILL and throw if it is still running timeoutMs later. */
export async function exitWithin(cli: CliProcess, timeoutMs: number): Promise<CliRun & { at: number }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      cli.proc.kill('SIGKILL');
      reject(new Error(`tablesync still running ${timeoutMs} ms later:\n${cli.output()}`));
    }, timeoutMs);
  });
  try {
    const run = await Promise.race([cli.exited, late]);
    return { ...run, at: Date.now() };
  } finally {
    clearTimeout(timer);
  }
}
