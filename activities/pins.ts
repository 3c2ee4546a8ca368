import { hostname } from 'node:os';
import type { SyncConfig } from '../lib/config';
import type { ConnectionRegistry } from './connections';
import { nonRetryable } from './errors';

/** The identity the SDK gives a worker by default. */
export function defaultIdentity(): string {
  return `${process.pid}@${hostname()}`;
}

/**
 * Wraps every activity so that, before it touches a database, it checks that
 * this worker means by each connection name what the worker that started the
 * sync meant (config.pins). Two workers on one queue with different
 * definitions of "dst" (a stale config on one host) would otherwise write one
 * sync's rows into two databases.
 */
export function withPinnedConnections<T extends Record<string, (input: never) => Promise<unknown>>>(
  activities: T,
  connections: ConnectionRegistry,
  identity: string,
): T {
  const check = (config: unknown) => {
    const pins = (config as SyncConfig | undefined)?.pins;
    if (!pins) return; // started before pins existed, or the step that sets them
    for (const [name, pin] of Object.entries(pins)) {
      const mine = connections.fingerprint(name);
      if (mine !== pin.fingerprint) {
        throw nonRetryable(
          'ConnectionMismatch',
          `Connection "${name}" means another database on worker ${identity} than on worker ${pin.worker}, which started this sync ` +
            `(driver, host, port, database or user differ; fingerprints ${mine} and ${pin.fingerprint}). ` +
            `Nothing was done here: give every worker on this task queue the same connection definitions.`,
        );
      }
    }
  };
  const wrapped: Record<string, (input: never) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (input: never) => {
      check((input as { config?: unknown } | undefined)?.config);
      return fn(input);
    };
  }
  return wrapped as T;
}
