import { installLogger } from '../../workers/logger';
import { createWorker } from '../../workers/worker';
import { loadWorkerConfigFile } from '../config-file';
import { chooseTaskQueue } from '../task-queue';

export async function workerCommand(opts: { config?: string; taskQueue?: string; metrics?: string }): Promise<number> {
  installLogger(undefined, { metricsAddress: opts.metrics });
  const file = opts.config ? loadWorkerConfigFile(opts.config) : undefined;
  const taskQueue = chooseTaskQueue(opts.taskQueue, file?.taskQueue, process.env, false);
  const { worker, close } = await createWorker({ connections: file?.connections, taskQueue });
  process.once('SIGINT', () => worker.shutdown());
  process.once('SIGTERM', () => worker.shutdown());
  console.log(`tablesync worker polling task queue "${taskQueue}"`);
  await worker.run();
  await close();
  return 0;
}
