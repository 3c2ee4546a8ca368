import type { ConnectionSpec } from '../../lib/config';
import { installLogger } from '../../workers/logger';
import { createWorker, type CreateWorkerResult } from '../../workers/worker';

/**
 * A worker in this process for --local. The command handles SIGINT/SIGTERM
 * itself (cancel the workflow, let this worker clean up); the SDK's default
 * would shut the worker down and leave the workflow running.
 */
export async function hostWorker(connections: Record<string, ConnectionSpec> | undefined, taskQueue: string): Promise<CreateWorkerResult> {
  installLogger(undefined, { shutdownSignals: [] });
  return createWorker({ connections, taskQueue });
}
