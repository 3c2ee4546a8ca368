import { log } from '@temporalio/activity';
import { stepLaps } from '../lib/step-laps';

/**
 * Times the steps of one activity and logs them at debug level
 * (TABLESYNC_LOG_LEVEL=debug): where a run's time goes, inside the worker.
 */
export function stepTimer(what: string): { lap(step: string): void; done(): void } {
  const laps = stepLaps();
  return {
    lap: laps.lap,
    done: () => log.debug(`${what}: ${laps.text()} (${laps.total()} ms in all)`),
  };
}
