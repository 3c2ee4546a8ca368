import { installLogger } from '../workers/logger';
import { stopTemporal } from './helpers/temporal';

// Expected retries still log as warnings; TEST_LOG_LEVEL=INFO shows everything.
installLogger((process.env.TEST_LOG_LEVEL as 'WARN') ?? 'WARN');

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopTemporal();
  },
};
