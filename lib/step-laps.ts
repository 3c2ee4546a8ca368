import { performance } from 'node:perf_hooks';

export interface StepLaps {
  /** Ends the step running since the last lap (or the start), named `step`. */
  lap(step: string): void;
  /** "step 12 ms, step 40 ms" so far. */
  text(): string;
  /** Milliseconds since the start. */
  total(): number;
}

/**
 * The durations of a run of steps, measured where they run, so that runs on a
 * busy machine compare by shares of the whole rather than by wall clock.
 * `first` names the time before `startedAt` (say, the process's own start).
 */
export function stepLaps(startedAt = performance.now(), first?: string): StepLaps {
  const laps = first ? [`${first} ${Math.round(startedAt)} ms`] : [];
  let last = startedAt;
  return {
    lap(step) {
      const now = performance.now();
      laps.push(`${step} ${Math.round(now - last)} ms`);
      last = now;
    },
    text: () => laps.join(', '),
    total: () => Math.round(performance.now() - startedAt),
  };
}
