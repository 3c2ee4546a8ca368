import { log } from '@temporalio/activity';
import { performance } from 'node:perf_hooks';

/**
 * Times the steps of one activity and logs them at debug level
 * (TABLESYNC_LOG_LEVEL=debug): where a run's time goes, measured inside the
 * worker, so it can be compared between runs on a busy machine by shares of
 * the whole rather than by wall clock.
 */
export function stepTimer(what: string): { lap(step: string): void; done(): void } {
  const start = performance.now();
  let last = start;
  const laps: string[] = [];
  return {
    lap(step) {
      const now = performance.now();
      laps.push(`${step} ${Math.round(now - last)} ms`);
      last = now;
    },
    done() {
      log.debug(`${what}: ${laps.join(', ')} (${Math.round(performance.now() - start)} ms in all)`, { steps: laps });
    },
  };
}
