import { DefaultLogger, Runtime } from '@temporalio/worker';
import { stopTemporal } from './helpers/temporal';

// Worker lifecycle chatter drowns the test report; warnings and errors still show.
Runtime.install({ logger: new DefaultLogger((process.env.TEST_LOG_LEVEL as 'WARN') ?? 'WARN') });

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopTemporal();
  },
};
