import type { Pool } from 'pg';
import type { SyncConfig } from '../config';
import { TablesyncError } from '../errors';
import type { SourceTable } from '../sources/base';
import { qualifyPg, quotePg } from './sql';
import { tableSteps } from '../modes/names';
import { targetName } from '../table-plan';
import type { TablePlan, TableRef } from '../types';

// deletes: soft: two target-only columns say that a row is gone from the
// source (the flag, softDeleteColumn) and since when. They are never in the
// plan's columns: the source has neither, so nothing copies or compares them.

export const DELETED_AT_COLUMN = '_tablesync_deleted_at';

const WANTED: Record<string, string> = { flag: 'boolean', deletedAt: 'timestamp with time zone' };

export function softDeleteColumns(flag: string): string[] {
  return [flag, DELETED_AT_COLUMN];
}

/** Adds both columns where missing. Rows already there are live: the flag defaults to false (no table rewrite). */
export function addSoftDeleteColumnsSql(table: TableRef, flag: string): string {
  return (
    `ALTER TABLE ${qualifyPg(table)} ADD COLUMN IF NOT EXISTS ${quotePg(flag)} boolean NOT NULL DEFAULT false, ` +
    `ADD COLUMN IF NOT EXISTS ${quotePg(DELETED_AT_COLUMN)} timestamptz`
  );
}

/**
 * The soft-delete columns the target lacks. A source column that would land
 * in one of them, or a target column of that name and another type, fails
 * the table (NameCollision), naming both.
 */
export function missingSoftDeleteColumns(
  naming: SyncConfig['target']['naming'],
  source: SourceTable,
  target: SourceTable | null,
  flag: string,
): string[] {
  const table = `${source.ref.schema}.${source.ref.name}`;
  const roles = [
    { name: flag, type: WANTED.flag, what: `the flag of deletes: soft (softDeleteColumn "${flag}")` },
    { name: DELETED_AT_COLUMN, type: WANTED.deletedAt, what: `the deletion time of deletes: soft ("${DELETED_AT_COLUMN}")` },
  ];
  for (const c of source.columns) {
    const role = roles.find((r) => r.name === targetName(naming, c.name));
    if (role) {
      throw new TablesyncError(
        'NameCollision',
        `${table}: source column "${c.name}" would land in target column "${role.name}", ${role.what}; set softDeleteColumn to a name the source does not use`,
      );
    }
  }
  const missing: string[] = [];
  for (const role of roles) {
    const existing = target?.columns.find((c) => c.name === role.name);
    if (!existing) missing.push(role.name);
    else if (existing.type !== role.type) {
      throw new TablesyncError(
        'NameCollision',
        `${table}: target column "${role.name}" is ${existing.type}, but it is ${role.what}, which must be ${role.type}; set softDeleteColumn to another name`,
      );
    }
  }
  return missing;
}

/**
 * The flag column of soft deletes when the target has both soft-delete
 * columns with their types (a deletes: soft run made them, perhaps under
 * another mode or delete rule than now), else undefined.
 */
export function carriedFlag(target: SourceTable | null, flag: string): string | undefined {
  const has = (name: string, type: string) => target?.columns.some((c) => c.name === name && c.type === type);
  return has(flag, WANTED.flag) && has(DELETED_AT_COLUMN, WANTED.deletedAt) ? flag : undefined;
}

/**
 * Plans a table's soft deletes: checks the names, and adds the columns to an
 * existing target that lacks them, once, here, before any partition runs (so
 * parallel partitions never race on the ALTER, and no chunk holds its lock).
 * A full load creates them in its new table instead. A run that writes
 * nothing (verify without --repair) leaves a target without them alone: none
 * of its rows can be marked yet.
 */
export async function planSoftDeletes(
  db: Pick<Pool, 'query'>,
  config: SyncConfig,
  plan: TablePlan,
  source: SourceTable,
  target: SourceTable | null,
  write: boolean,
): Promise<TablePlan> {
  if (config.deletes !== 'soft') return plan;
  const flag = config.softDeleteColumn;
  // A full load, or a first run that creates its target, makes the columns with the table.
  const creates = tableSteps(plan.mode) === 'load-and-swap' || target === null;
  const missing = missingSoftDeleteColumns(config.target.naming, source, creates ? null : target, flag);
  if (!creates && missing.length) {
    if (!write) return plan;
    await db.query(addSoftDeleteColumnsSql(plan.target, flag));
  }
  return { ...plan, softDeleteColumn: flag };
}
