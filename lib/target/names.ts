import { createHash } from 'node:crypto';
import { pgIdentifier } from '../table-plan';
import type { TableRef } from '../types';

// Names of the tables tablesync itself creates in the target: fixed per run,
// table and partition, so a retried attempt finds its own; readable prefix,
// hashed suffix, within PostgreSQL's 63-byte identifier limit.

export const STAGING_PREFIX = '_ts_stg_';
function shortHash(...parts: (string | number)[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 12);
}

/**
 * Staging table name, fixed for (workflow run, table, partition) so a retried
 * attempt finds and reuses its own table. Readable prefix, hashed suffix,
 * within PostgreSQL's 63-byte identifier limit.
 */
export function stagingName(runKey: string, table: TableRef, partitionIndex: number): string {
  const readable = table.name.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 30);
  return `${STAGING_PREFIX}${readable}_p${partitionIndex}_${shortHash(runKey, table.schema, table.name, partitionIndex)}`;
}

export const KEYS_PREFIX = '_ts_keys_';

/** The start of every key table name of one target table, whatever the run. */
export function keysTablePrefix(target: TableRef): string {
  const readable = target.name.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 24);
  return `${KEYS_PREFIX}${readable}_${shortHash(target.schema, target.name).slice(0, 8)}_`;
}

/** The table of keys a partition staged (deletes on keys ordered otherwise in the target); fixed per run, table and partition. */
export function keysTableName(runKey: string, target: TableRef, partitionIndex: number): string {
  return `${keysTablePrefix(target)}${shortHash(runKey, partitionIndex)}`;
}

export const LOAD_PREFIX = '_ts_load_';

/** The table a full load fills before it is swapped in; fixed per run and table. */
export function loadTableName(runKey: string, target: TableRef): string {
  const readable = target.name.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 30);
  return `${LOAD_PREFIX}${readable}_${shortHash(runKey, target.schema, target.name)}`;
}


/**
 * PostgreSQL's own naming for a table's key; shortened with a hash when too
 * long, so two long table names of one schema never share a key (index) name.
 */
export function pkeyName(table: string): string {
  return pgIdentifier(`${table}_pkey`);
}
