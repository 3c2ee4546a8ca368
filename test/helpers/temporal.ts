import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { ConnectionSpec } from '../../lib/config';
import { bundleWorkflows, createWorker } from '../../workers/worker';

const root = join(__dirname, '..', '..', '..');
let env: Promise<TestWorkflowEnvironment> | null = null;
let bundle: Promise<WorkflowBundleWithSourceMap> | null = null;

/** One real Temporal dev server for the whole test run, from the CLI binary the setup script builds. */
export function temporal(): Promise<TestWorkflowEnvironment> {
  env ??= (async () => {
    const path = execFileSync('bash', [join(root, 'scripts', 'temporal-cli.sh')], { encoding: 'utf8' }).trim();
    return TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path }, ip: '127.0.0.1', extraArgs: ['--log-level', 'error'] },
    });
  })();
  return env;
}

/** Workflow code bundled once and shared by every test worker. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflows();
  return bundle;
}

export async function stopTemporal(): Promise<void> {
  if (env) await (await env).teardown();
  env = null;
}

let queue = 0;
export function uniqueTaskQueue(name: string): string {
  return `test-${name}-${process.pid}-${++queue}`;
}

/** A real worker on the shared dev server, on a fresh task queue, with the given named connections (and environment). */
export async function testWorker(connections: Record<string, string | ConnectionSpec>, prefix: string, workerEnv: Record<string, string> = {}) {
  const env = await temporal();
  const taskQueue = uniqueTaskQueue(prefix);
  const { worker, close } = await createWorker({
    connection: env.nativeConnection,
    taskQueue,
    connections: Object.fromEntries(Object.entries(connections).map(([k, spec]) => [k, typeof spec === 'string' ? { url: spec } : spec])),
    workflowBundle: await workflowBundle(),
    env: workerEnv,
  });
  return { env, taskQueue, worker, close };
}
