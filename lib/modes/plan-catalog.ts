import { log } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { SyncConfig } from '../config';
import { refKey, type SourceConnection, type SourceTable } from '../sources/base';
import { PostgresSource } from '../sources/postgres';
import { pgCatalog } from '../sources/postgres/catalog';
import { readColumnTypesMany, type PgColumnTypes } from '../sources/postgres/user-types';
import { targetRefOf } from '../table-plan';
import type { TableRef } from '../types';

// What planning reads of the catalogs, read for many tables at once before
// any table is planned: a sync of thousands of tables otherwise spends most
// of its planning on one round trip per table per question. Planning asks
// here first and the database itself for anything missing here, so what a
// table's plan says is the same either way (see the describeTables tests).

export interface PlanCatalog {
  /** Source tables found, by refKey of their source name; one missing is asked for alone. */
  source: Map<string, SourceTable>;
  /** Target tables by refKey of their target name: null for one the target lacks. One not in the map is asked for alone. */
  target: Map<string, SourceTable | null>;
  /** Whether each existing target table has rows. */
  targetRows: Map<string, boolean>;
  /** A PostgreSQL source: the user types of each table's columns. */
  userTypes: Map<string, PgColumnTypes>;
}

/** An empty catalog: every question goes to the database. */
export const NO_CATALOG: PlanCatalog = { source: new Map(), target: new Map(), targetRows: new Map(), userTypes: new Map() };

/**
 * Reads what planning `refs` will ask. A read that fails leaves its part
 * empty, with a log line: each table then asks alone, where an error is
 * that table's (or, for a lost connection, the step's) as it always was.
 */
export async function readPlanCatalog(source: SourceConnection, target: Pool, config: SyncConfig, refs: TableRef[]): Promise<PlanCatalog> {
  const names = refs.map((r) => ({ schema: r.schema, name: r.name }));
  const targets = names.map((r) => targetRefOf(config, r));
  const attempt = async <T>(what: string, read: () => Promise<T>, none: T): Promise<T> => {
    try {
      return await read();
    } catch (err) {
      log.warn(`Reading ${what} of ${refs.length} tables at once failed (${(err as Error).message}); asking table by table`);
      return none;
    }
  };
  const sourceTables = await attempt('the source catalog', () => source.describeTables(names), new Map<string, SourceTable>());
  const targetTables = await attempt(
    'the target catalog',
    async () => {
      const found = await pgCatalog.describeTables(target, targets);
      return new Map<string, SourceTable | null>(targets.map((t) => [refKey(t), found.get(refKey(t)) ?? null]));
    },
    new Map<string, SourceTable | null>(),
  );
  const existing = targets.filter((t) => targetTables.get(refKey(t)));
  const targetRows = existing.length ? await attempt('the target tables for rows', () => pgCatalog.hasRowsMany(target, existing), new Map<string, boolean>()) : new Map<string, boolean>();
  const userTypes =
    source instanceof PostgresSource ? await attempt('the source user types', () => readColumnTypesMany(source.pool, names), new Map<string, PgColumnTypes>()) : new Map<string, PgColumnTypes>();
  return { source: sourceTables, target: targetTables, targetRows, userTypes };
}
