import type { Connection } from 'mysql2/promise';
import type { Pool } from 'pg';
import { freshMysqlDatabase } from './mysql';
import { freshDatabase } from './pg';

export interface DatabaseNames<P extends string, M extends string> {
  /** PostgreSQL databases by the name the suite uses for their pool; values are database names (from testDb()). */
  pg?: Record<P, string>;
  /** MariaDB databases, likewise; each gets one connection. */
  mysql?: Record<M, string>;
}

/**
 * Fresh databases for a suite: registers mocha hooks that drop and recreate
 * them (before the suite, or before each test with `perTest`) and close
 * their pools and connections after. Call it first in the `describe`, so a
 * suite's own `before` hooks run after it and find the databases there.
 *
 * It returns one handle per name at once, usable anywhere a test or hook
 * runs: a handle forwards to the pool (or connection) made by the latest
 * hook, so test bodies keep writing `src.query(…)`. Used outside the hooks'
 * reach it throws, naming the database.
 */
export function useDatabases<P extends string = never, M extends string = never>(
  names: DatabaseNames<P, M>,
  options: {
    /** Fresh databases for every test instead of once for the suite. */
    perTest?: boolean;
    /** Runs while they are still open, just before they close (a suite's own `after` would run after: mocha runs hooks in the order they were added). */
    beforeClose?: () => Promise<unknown>;
  } = {},
): Record<P, Pool> & Record<M, Connection> {
  const open = new Map<string, Pool | Connection>();
  const create = async () => {
    for (const [key, db] of Object.entries<string>(names.pg ?? {})) open.set(key, await freshDatabase(db));
    for (const [key, db] of Object.entries<string>(names.mysql ?? {})) open.set(key, await freshMysqlDatabase(db));
  };
  const close = async () => {
    if (open.size > 0) await options.beforeClose?.();
    for (const handle of open.values()) await handle.end();
    open.clear();
  };
  if (options.perTest) {
    beforeEach(create);
    afterEach(close);
  } else {
    before(create);
    after(close);
  }
  const handles: Record<string, unknown> = {};
  for (const [key, db] of [...Object.entries<string>(names.pg ?? {}), ...Object.entries<string>(names.mysql ?? {})]) {
    handles[key] = forward(() => {
      const handle = open.get(key);
      if (!handle) throw new Error(`database ${db} (${key}) is used outside the tests and hooks of the suite that made it`);
      return handle;
    });
  }
  return handles as Record<P, Pool> & Record<M, Connection>;
}

/** An object that stands for whatever `current()` returns when it is used. */
function forward<T extends object>(current: () => T): T {
  return new Proxy({} as T, {
    get(_, prop) {
      // Not a thenable: an async function may return a handle.
      if (prop === 'then') return undefined;
      const target = current();
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set: (_, prop, value) => Reflect.set(current(), prop, value),
    has: (_, prop) => Reflect.has(current(), prop),
    getPrototypeOf: () => Object.getPrototypeOf(current()),
  });
}
