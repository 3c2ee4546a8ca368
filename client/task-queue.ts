import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * The task queue a command uses. A --local run hosts its own worker, which
 * resolves connection names with this process's config: on a shared queue,
 * other processes' workers would take its tasks and run them against their
 * own databases (and this worker theirs). So unless a queue is named
 * explicitly, a local run gets a queue no other process uses.
 */
export function chooseTaskQueue(
  given: string | undefined,
  fileQueue: string | undefined,
  env: Record<string, string | undefined>,
  local: boolean,
): string {
  if (given) return given;
  const explicit = fileQueue ?? env.TEMPORAL_TASK_QUEUE;
  if (explicit) return explicit;
  return local ? `tablesync-local-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}` : 'tablesync';
}
