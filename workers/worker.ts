import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NativeConnection, Runtime, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities, defaultIdentity } from '../activities';
import { ConnectionRegistry } from '../activities/connections';
import type { ConnectionSpec } from '../lib/config';
import { connectWithSettings, temporalConnectionSettings } from '../client/temporal-connection';
import { logAttributesInterceptor, metricsInterceptor } from './interceptors';

export const DEFAULT_TASK_QUEUE = 'tablesync';

export interface CreateWorkerInput {
  /** Named connections; TABLESYNC_CONNECTION_<NAME> in the environment overrides each. */
  connections?: Record<string, ConnectionSpec>;
  address?: string;
  namespace?: string;
  taskQueue?: string;
  /** Partitions this worker copies at once; the pools are sized from it. */
  maxConcurrentActivities?: number;
  /** A bundle made once and shared (tests, several workers in one process). */
  workflowBundle?: WorkflowBundleWithSourceMap;
  connection?: NativeConnection;
  env?: Record<string, string | undefined>;
  /** Worker identity (default pid@host, as the SDK's). */
  identity?: string;
  /**
   * Run workflow code on this thread instead of a workflow thread of its
   * own. A one-shot --local worker saves the thread's start (~0.3 s: it
   * loads the SDK's protobuf definitions a second time); a long-lived worker
   * keeps the thread, so workflow tasks never queue behind activity work.
   */
  inlineWorkflows?: boolean;
}

export interface CreateWorkerResult {
  worker: Worker;
  /** Closes the database pools and the Temporal connection this call opened. */
  close(): Promise<void>;
}

export function workflowsPath(): string {
  return require.resolve('../workflows');
}

/** Where the build leaves the bundled workflow code (npm run build). */
export function prebuiltBundlePath(): string {
  return join(__dirname, '..', 'workflow-bundle.js');
}

/** The build's bundle, unless workflow code was compiled after it (then the worker bundles afresh). */
function prebuiltBundle(): { codePath: string } | null {
  const path = prebuiltBundlePath();
  if (!existsSync(path)) return null;
  const built = statSync(path).mtimeMs;
  const dir = dirname(workflowsPath());
  const stale = readdirSync(dir).some((f) => f.endsWith('.js') && statSync(join(dir, f)).mtimeMs > built);
  return stale ? null : { codePath: path };
}

export function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: workflowsPath(),
    logger: quietBundlerLogger,
    // Stack traces need the mappings, not the sources' text: the bundle halves (1.7 MB -> 0.9 MB) and every worker start reads, decodes and parses less.
    webpackConfigHook: (config) => ({ ...config, devtool: 'inline-nosources-source-map' }),
  });
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};

function workflowSource(given?: WorkflowBundleWithSourceMap) {
  if (given) return { workflowBundle: given };
  const prebuilt = prebuiltBundle();
  return prebuilt ? { workflowBundle: prebuilt } : { workflowsPath: workflowsPath() };
}

export async function createWorker(input: CreateWorkerInput = {}): Promise<CreateWorkerResult> {
  const env = input.env ?? process.env;
  const slots = input.maxConcurrentActivities ?? Number(env.TABLESYNC_MAX_ACTIVITIES ?? 8);
  const registry = new ConnectionRegistry(input.connections ?? {}, env, slots + 2);
  const identity = input.identity ?? defaultIdentity();
  // The Temporal CLI's settings (address, namespace, TLS, API key, profile): the same as the client's.
  const settings = temporalConnectionSettings(env, { address: input.address, namespace: input.namespace });
  const connection = input.connection ?? (await connectWithSettings(settings, () => NativeConnection.connect(settings.connectionOptions)));
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: input.taskQueue ?? env.TEMPORAL_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    identity,
    activities: createActivities({ connections: registry, identity, env }),
    // The runtime's meter is a no-op unless TABLESYNC_METRICS_ADDRESS installed the exporter (workers/logger.ts).
    interceptors: { activity: [logAttributesInterceptor, metricsInterceptor(Runtime.instance().metricMeter)] },
    ...workflowSource(input.workflowBundle),
    maxConcurrentActivityTaskExecutions: slots,
    // The SDK calls this mode debugMode; with the timeout given again, a workflow stuck in a loop still fails its task after 5 s.
    ...(input.inlineWorkflows && { debugMode: true, isolateExecutionTimeout: '5 seconds' }),
    // Cancellation reaches an activity only with a heartbeat's reply: at most 2 s late, not 0.8 × heartbeatSeconds.
    maxHeartbeatThrottleInterval: '2 seconds',
  });
  return {
    worker,
    close: async () => {
      await registry.close();
      if (!input.connection) await connection.close();
    },
  };
}
