import { CancelledFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { createInterface } from 'node:readline';
import type { CreateWorkerResult } from '../workers/worker';
import { inWorkflow } from './input-error';
import { livePollers, terminateHint, UNTAKEN_MS, watchPollers, workflowTaskWaitingMs, type WaitContext } from './pollers';

/** Exit code of a command interrupted by a signal, as shells report it (128 + signal number). */
export const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

export interface AwaitOptions {
  /** Without a local worker: the queue to watch for workers (no worker polling is said within seconds). */
  watch?: WaitContext;
  /** The live progress view, stopped while the Ctrl-C question is asked and resumed after a "no". */
  view?: { pause(): void; resume(): void };
  /** Where cancellation-only lines go: stdout unless a --json document owns it. */
  out?: (line: string) => void;
  /** What the result still needs from workflows the local worker runs (a sync of many tables: its per-table results), done before that worker stops. */
  finish?: (result: unknown) => Promise<unknown>;
}

/**
 * After a cancellation is requested with no worker of this process: how
 * often it checks whether a worker carries it out, before giving up waiting
 * (and saying how to end the run by hand).
 */
const CANCEL_GRACE_MS = 3_000;

/**
 * Waits for the workflow this command started (with the local worker, if
 * any). A run nobody waits for must not go on and finish later on its own:
 * Ctrl-C at a terminal asks whether to cancel (a run without a local worker
 * may be left running on purpose); otherwise on SIGINT/SIGTERM the workflow is cancelled and the wait goes on, the local
 * worker still running, until the cancelled run has dropped its load tables
 * (a second signal exits at once); on any other early exit (the worker or
 * the connection failed) it is cancelled too. A cancellation no worker
 * carries out (none polls the queue, or its task waits untaken) is not
 * waited for: the command says what state the run is left in and how to
 * end it, and exits.
 */
export async function awaitOrCancel<T>(
  handle: WorkflowHandle,
  hosted: CreateWorkerResult | null,
  what: string,
  options: AwaitOptions = {},
): Promise<{ result: T } | { exitCode: number }> {
  const out = options.out ?? ((line: string) => console.log(line));
  let signalled: NodeJS.Signals | null = null;
  let asking = false;
  let giveUp: (code: number) => void = () => undefined;
  let ended = false;
  const gaveUp = new Promise<number>((resolve) => (giveUp = resolve));
  const watch = !hosted && options.watch ? options.watch : null;
  const cancel = (signal: NodeJS.Signals) => {
    signalled = signal;
    console.error(`tablesync: ${signal}: cancelling ${what} ${handle.workflowId} (${signal} again to exit without waiting)`);
    handle.cancel().then(
      () => {
        if (watch) setTimeout(() => void checkCancellable(watch, signal), CANCEL_GRACE_MS).unref();
      },
      (err) => console.error(`tablesync: could not cancel ${handle.workflowId}: ${(err as Error).message}`),
    );
  };
  const checkCancellable = async (ctx: WaitContext, signal: NodeJS.Signals) => {
    // Carried out by a worker (its next task taken), or not: checked until one or the other.
    if (ended) return;
    if (!(await noWorkerTakes(ctx, handle))) {
      if (!ended) setTimeout(() => void checkCancellable(ctx, signal), CANCEL_GRACE_MS).unref();
      return;
    }
    // Started, its first task scheduled, the cancel request: no worker ever took it up.
    const untouched = await handle.describe().then((d) => d.historyLength <= 3, () => false);
    console.error(cancelStrandedText(ctx, what, handle.workflowId, untouched));
    giveUp(SIGNAL_EXIT[signal] ?? 1);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled || asking) {
      console.error(`tablesync: ${signal} again: exiting without waiting for ${what} ${handle.workflowId} to finish`);
      process.exit(SIGNAL_EXIT[signal] ?? 1);
    }
    // Someone at a terminal pressing Ctrl-C is asked; anything else (SIGTERM, no TTY) cancels.
    if (signal !== 'SIGINT' || !process.stdin.isTTY || !process.stderr.isTTY) return cancel(signal);
    asking = true;
    // The bars redraw over whatever is below them: stop them while asking.
    options.view?.pause();
    const keep = hosted ? 'keep waiting' : `leave it running (follow it with tablesync status --watch ${handle.workflowId})`;
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    rl.question(`\n${what} ${handle.workflowId} is still running. Cancel it? [Y/n] (n: ${keep}) `, (answer) => {
      rl.close();
      asking = false;
      if (!/^n/i.test(answer.trim())) return cancel(signal);
      if (hosted) {
        options.view?.resume();
        return; // this process hosts its worker: leaving would strand the run
      }
      console.error(`tablesync: left ${what} ${handle.workflowId} running`);
      process.exit(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const pollers = watch ? watchPollers(watch, what, handle) : null;
  try {
    const finish = options.finish ?? (async (r: unknown) => r);
    const finished = () => handle.result().then(finish);
    const result = hosted ? hosted.worker.runUntil(finished()) : finished();
    const first = await Promise.race([result.then((r) => ({ result: r as T })), gaveUp.then((exitCode) => ({ exitCode }))]);
    if ('exitCode' in first) result.catch(() => undefined);
    return first;
  } catch (err) {
    if (isCancelled(err)) {
      out(`cancelled ${what} ${handle.workflowId}`);
      return { exitCode: (signalled && SIGNAL_EXIT[signalled]) || 1 };
    }
    // A workflow that failed or was terminated has ended; anything else left it running.
    if (!(err instanceof WorkflowFailedError)) {
      await handle.cancel().then(
        () => console.error(`tablesync: cancelled ${what} ${handle.workflowId} (it goes on cleaning up on a worker of its queue)`),
        (e) => console.error(`tablesync: could not cancel ${handle.workflowId}: ${(e as Error).message}`),
      );
    }
    // The root cause first, and which workflow it came from.
    throw inWorkflow(err, handle.workflowId);
  } finally {
    ended = true;
    pollers?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Whether no worker will carry a cancellation out: none polls the queue, or
 * the workflow's task (the cancel request schedules one) has waited
 * untaken too long. An unreachable server counts as neither.
 */
export async function noWorkerTakes(ctx: WaitContext, handle: WorkflowHandle): Promise<boolean> {
  try {
    if ((await livePollers(ctx.client, ctx.taskQueue)).length === 0) return true;
    return (await workflowTaskWaitingMs(handle)) > UNTAKEN_MS;
  } catch {
    return false;
  }
}

/** What a cancellation no worker can carry out leaves behind, and how to end the run by hand. */
export function cancelStrandedText(ctx: WaitContext, what: string, workflowId: string, untouched: boolean): string {
  return (
    `tablesync: no worker on task queue "${ctx.taskQueue}" carries out the cancellation: not waiting for it.\n` +
    `  ${what} ${workflowId} is left RUNNING with its cancellation requested` +
    (untouched ? ' (no worker has run any of it: nothing was written). ' : '. ') +
    `The first worker to poll "${ctx.taskQueue}" carries the cancellation out (partitions roll back, staging and load tables are dropped).\n` +
    `  To end it now instead, without that cleanup: ${terminateHint(ctx.client, workflowId)}`
  );
}

export function isCancelled(err: unknown): boolean {
  return err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure;
}
