import { CancelledFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { createInterface } from 'node:readline';
import type { CreateWorkerResult } from '../workers/worker';
import { inWorkflow } from './input-error';

/** Exit code of a command interrupted by a signal, as shells report it (128 + signal number). */
export const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Waits for the workflow this command started (with the local worker, if
 * any). A run nobody waits for must not go on and finish later on its own:
 * Ctrl-C at a terminal asks whether to cancel (a run without a local worker
 * may be left running on purpose); otherwise on SIGINT/SIGTERM the workflow is cancelled and the wait goes on, the local
 * worker still running, until the cancelled run has dropped its load tables
 * (a second signal exits at once); on any other early exit (the worker or
 * the connection failed) it is cancelled too.
 */
export async function awaitOrCancel<T>(
  handle: WorkflowHandle,
  hosted: CreateWorkerResult | null,
  what: string,
): Promise<{ result: T } | { exitCode: number }> {
  let signalled: NodeJS.Signals | null = null;
  let asking = false;
  const cancel = (signal: NodeJS.Signals) => {
    signalled = signal;
    console.error(`tablesync: ${signal}: cancelling ${what} ${handle.workflowId} (${signal} again to exit without waiting)`);
    handle.cancel().catch((err) => console.error(`tablesync: could not cancel ${handle.workflowId}: ${(err as Error).message}`));
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled || asking) {
      console.error(`tablesync: ${signal} again: exiting without waiting for ${what} ${handle.workflowId} to finish`);
      process.exit(SIGNAL_EXIT[signal] ?? 1);
    }
    // Someone at a terminal pressing Ctrl-C is asked; anything else (SIGTERM, no TTY) cancels.
    if (signal !== 'SIGINT' || !process.stdin.isTTY || !process.stderr.isTTY) return cancel(signal);
    asking = true;
    const keep = hosted ? 'keep waiting' : `leave it running (follow it with tablesync status --watch ${handle.workflowId})`;
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    rl.question(`\nCancel ${what} ${handle.workflowId}? [Y/n] (n: ${keep}) `, (answer) => {
      rl.close();
      asking = false;
      if (!/^n/i.test(answer.trim())) return cancel(signal);
      if (hosted) return; // this process hosts its worker: leaving would strand the run
      console.error(`tablesync: left ${what} ${handle.workflowId} running`);
      process.exit(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = (hosted ? await hosted.worker.runUntil(handle.result()) : await handle.result()) as T;
    return { result };
  } catch (err) {
    if (isCancelled(err)) {
      console.log(`cancelled ${what} ${handle.workflowId}`);
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
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function isCancelled(err: unknown): boolean {
  return err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure;
}
