import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { ConnectionSpec } from '../../lib/config';
import { installLogger } from '../../workers/logger';
import { createWorker, type CreateWorkerResult } from '../../workers/worker';
import { connectWithSettings, temporalConnectionSettings } from '../temporal-connection';

export interface HostedWorker extends CreateWorkerResult {
  /**
   * A client over the worker's own connection: a workflow it starts with
   * `eager` gets its first task straight back in the start reply, to this
   * worker, instead of waiting in the server's queue for a poll (on a queue
   * nobody polled yet that wait was sometimes 2 s).
   */
  client: Client;
}

/**
 * A worker in this process for --local. The command handles SIGINT/SIGTERM
 * itself (cancel the workflow, let this worker clean up); the SDK's default
 * would shut the worker down and leave the workflow running.
 */
export async function hostWorker(
  connections: Record<string, ConnectionSpec> | undefined,
  taskQueue: string,
  /** --metrics: where its Prometheus exporter listens (default TABLESYNC_METRICS_ADDRESS). */
  metricsAddress?: string,
): Promise<HostedWorker> {
  // Its log lines on stderr: the command's stdout is its result alone (run --local --json | jq).
  installLogger(undefined, { shutdownSignals: [], stderrOnly: true, metricsAddress });
  const settings = temporalConnectionSettings();
  const connection = await connectWithSettings(settings, () => NativeConnection.connect(settings.connectionOptions));
  let created: CreateWorkerResult;
  try {
    created = await createWorker({ connections, taskQueue, connection, inlineWorkflows: true });
  } catch (err) {
    await connection.close();
    throw err;
  }
  return {
    ...created,
    client: new Client({ connection, namespace: settings.namespace }),
    close: async () => {
      await created.close();
      // A worker that never ran (the start failed) still holds the connection; exiting drops it.
      await connection.close().catch(() => undefined);
    },
  };
}

/** Ends a command's client: the local worker's close also ends the connection its client shares. */
export async function closeClient(client: Client, hosted: HostedWorker | null): Promise<void> {
  if (hosted) await hosted.close();
  else await client.connection.close();
}
