import { qualifyPg, quotePg } from './sql';
import type { ColumnPlan, TableRef } from '../types';
import { columnList, targetKey } from './columns';
import { pkeyName } from './names';

// DDL and COPY statements tablesync runs in the target: the tables it
// creates, loads, keys, swaps in and drops.

/** A new table with the mapped types and NOT NULLs; the key is added after the load. */
export function createTableSql(table: TableRef, columns: ColumnPlan[]): string {
  const defs = columns.map((c) => `${quotePg(c.targetName)} ${c.targetType}${c.nullable ? '' : ' NOT NULL'}`);
  return `CREATE TABLE ${qualifyPg(table)} (${defs.join(', ')})`;
}

/**
 * createTableSql with its primary key in the same statement: for a table that
 * is loaded with a few rows (a small table's load, one of many in a
 * transaction), where a key kept up per row costs less than a second statement
 * that builds it.
 */
export function createKeyedTableSql(table: TableRef, columns: ColumnPlan[], primaryKey: string[]): string {
  if (!primaryKey.length) return createTableSql(table, columns);
  const key = `CONSTRAINT ${quotePg(pkeyName(table.name))} PRIMARY KEY (${targetKey(columns, primaryKey).map(quotePg).join(', ')})`;
  return `${createTableSql(table, columns).slice(0, -1)}, ${key})`;
}

export function addPrimaryKeySql(table: TableRef, columns: ColumnPlan[], primaryKey: string[]): string {
  return `ALTER TABLE ${qualifyPg(table)} ADD CONSTRAINT ${quotePg(pkeyName(table.name))} PRIMARY KEY (${targetKey(columns, primaryKey)
    .map(quotePg)
    .join(', ')})`;
}

/**
 * Session settings for a key build: maintenance_work_mem raised to `mb` (a
 * server set higher keeps its own), so the sort stays in memory or in few
 * runs, and PostgreSQL may give the build parallel workers (it allows one per
 * 32 MB, up to max_parallel_maintenance_workers). Session-wide, not LOCAL:
 * ALTER TABLE ... ADD PRIMARY KEY runs outside a transaction block here;
 * resetKeyBuildSql puts the pooled session back.
 */
export function keyBuildSettingsSql(mb: number): { text: string; values: number[] } {
  return {
    text:
      `SELECT set_config('maintenance_work_mem', ` +
      `(greatest(pg_size_bytes(current_setting('maintenance_work_mem')) / 1024, $1::bigint * 1024))::text || 'kB', false)`,
    values: [mb],
  };
}

export const resetKeyBuildSql = 'RESET maintenance_work_mem';

/** keyBuildMemoryMB of runs planned before it existed. */
export const DEFAULT_KEY_BUILD_MB = 512;

/**
 * Statements that replace `target` with the loaded table inside one
 * transaction: readers see the old rows until COMMIT, then the new ones.
 */
export function swapTableSql(load: TableRef, target: TableRef, targetExists: boolean, keyed = true): string[] {
  const steps: string[] = [];
  if (targetExists) {
    steps.push(`LOCK TABLE ${qualifyPg(target)} IN ACCESS EXCLUSIVE MODE`, `DROP TABLE ${qualifyPg(target)}`);
  }
  steps.push(`ALTER TABLE ${qualifyPg(load)} RENAME TO ${quotePg(target.name)}`);
  // A table loaded without a key (the source has none) has no constraint to rename.
  if (keyed) steps.push(`ALTER TABLE ${qualifyPg(target)} RENAME CONSTRAINT ${quotePg(pkeyName(load.name))} TO ${quotePg(pkeyName(target.name))}`);
  return steps;
}

/** Staging takes the target's exact column types, so binary COPY lines up. No indexes: faster COPY. */
export function createStagingSql(staging: TableRef, target: TableRef, columns: ColumnPlan[], unlogged: boolean): string {
  return (
    `CREATE ${unlogged ? 'UNLOGGED ' : ''}TABLE IF NOT EXISTS ${qualifyPg(staging)} AS ` +
    `SELECT ${columnList(columns)} FROM ${qualifyPg(target)} WITH NO DATA`
  );
}

export function copyIntoSql(staging: TableRef, columns: ColumnPlan[], format: 'binary' | 'text'): string {
  return `COPY ${qualifyPg(staging)} (${columnList(columns)}) FROM STDIN (FORMAT ${format})`;
}

export function truncateTableSql(staging: TableRef): string {
  return `TRUNCATE ${qualifyPg(staging)}`;
}

export function dropTableSql(staging: TableRef): string {
  return `DROP TABLE IF EXISTS ${qualifyPg(staging)}`;
}

/** Whether a table (or schema) exists, without waiting on locks. */
export function tableExistsSql(table: TableRef): { text: string; values: string[] } {
  return { text: 'SELECT to_regclass($1) IS NOT NULL AS present', values: [qualifyPg(table)] };
}

/**
 * Read from pg_namespace itself, under the statement's snapshot: to_regnamespace()
 * answers from the backend's catalog cache, which keeps a "no such schema"
 * until the transaction ends, so after waiting for another transaction's
 * CREATE SCHEMA it still said absent and the CREATE failed on the duplicate.
 */
export function schemaExistsSql(schema: string): { text: string; values: string[] } {
  return { text: 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1) AS present', values: [schema] };
}

export function createSchemaSql(schema: string): string {
  return `CREATE SCHEMA IF NOT EXISTS ${quotePg(schema)}`;
}

export function hasPrimaryKeySql(table: TableRef): { text: string; values: string[] } {
  return { text: `SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'`, values: [qualifyPg(table)] };
}

/** ANALYZE of one table, or of several in one statement. */
export function analyzeSql(tables: TableRef | TableRef[]): string {
  return `ANALYZE ${(Array.isArray(tables) ? tables : [tables]).map(qualifyPg).join(', ')}`;
}

/** A transaction-scoped advisory lock on a name: serialises what must not run twice at once. */
export function advisoryXactLockSql(name: string): { text: string; values: string[] } {
  return { text: 'SELECT pg_advisory_xact_lock(hashtext($1))', values: [name] };
}

/** advisoryXactLockSql of many names in one statement, taken in name order (two takers of the same names never wait on each other). */
export function advisoryXactLocksSql(names: string[]): { text: string; values: string[][] } {
  return {
    text: 'SELECT count(pg_advisory_xact_lock(hashtext(n))) FROM (SELECT n FROM unnest($1::text[]) AS n ORDER BY n OFFSET 0) AS sorted',
    values: [names],
  };
}
