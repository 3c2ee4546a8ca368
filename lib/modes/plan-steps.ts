import type { SyncConfig } from '../config';
import { TablesyncError } from '../errors';
import { planUserTypes, readColumnTypes } from '../sources/postgres/user-types';
import { planSchemaChanges, type SchemaChanges } from '../schema-evolution';
import { refKey, type SourceTable } from '../sources/base';
import { PostgresSource } from '../sources/postgres';
import { pgCatalog } from '../sources/postgres/catalog';
import { readTableStateSql, type TableState } from '../state';
import { planCompareColumns, planFullColumns, refuseLossyColumns, columnNotes, tableNameNotes, targetRefOf } from '../table-plan';
import { displayName } from '../tables';
import { targetKey } from '../target';
import type { ColumnPlan, TablePlan, TableRef } from '../types';
import type { PlanContext } from './types';

// The steps every mode's planner takes, in the same order: the target as it
// is, its columns against the source's, schema changes, the lossy check,
// notes. Each mode's plan.ts strings them together with its own rules.

/** The target table as planning finds it. */
export interface TargetSide {
  ref: TableRef;
  table: SourceTable | null;
  hasRows: boolean;
  /** Remarks on the table's target name (shortened, renamed by the naming rule). */
  notes: string[];
}

export async function describeTarget({ config, target, described, catalog }: Pick<PlanContext, 'config' | 'target' | 'described' | 'catalog'>): Promise<TargetSide> {
  const ref = targetRefOf(config, described.ref);
  const key = refKey(ref);
  const table = catalog?.target.has(key) ? catalog.target.get(key)! : await pgCatalog.describeTable(target, ref);
  const hasRows = table !== null && (catalog?.targetRows.get(key) ?? (await pgCatalog.hasRows(target, ref)));
  return { ref, table, hasRows, notes: tableNameNotes(config.target.naming, described.ref) };
}

/** The table's saved state (_tablesync_tables), if any. */
export async function readState(ctx: Pick<PlanContext, 'config' | 'target'>, ref: TableRef): Promise<TableState | undefined> {
  try {
    return (await ctx.target.query(readTableStateSql(ctx.config.target.stateSchema, ref))).rows[0] as TableState | undefined;
  } catch (err) {
    // A dry run plans without creating the state tables: on a new target there is no state yet.
    if ((err as { code?: string }).code === '42P01') return undefined;
    throw err;
  }
}

/** Every source column, mapped: a table this run creates or loads anew. */
export function fullColumns({ source, config, described }: PlanContext): ColumnPlan[] {
  return planFullColumns(source.dialect, config, described);
}

/** The columns of a target this run creates (every source column), said in the table's notes. */
export function createdTargetColumns(ctx: PlanContext, side: TargetSide): ColumnPlan[] {
  side.notes.push(`target table ${displayName(side.ref)} is missing: this run creates it and reads every row`);
  return fullColumns(ctx);
}

/**
 * The source's columns paired with an existing target's; why the target
 * cannot take this table's rows in place (a key column missing, another
 * primary key), or null. `keyed` false: an append table, which has no key.
 */
export function pairColumns(ctx: PlanContext, side: TargetSide & { table: SourceTable }, targetOnly: readonly string[], keyed = true) {
  const { config, described } = ctx;
  const compared = planCompareColumns(config.target.naming, described, side.table, [...targetOnly]);
  let mismatch: string | null = null;
  if (compared.missingKeys.length) mismatch = `target table ${displayName(side.ref)} lacks key column(s) ${compared.missingKeys.join(', ')}`;
  else if (keyed) {
    const wanted = targetKey(compared.columns, described.primaryKey);
    const have = side.table.primaryKey;
    if (have.length !== wanted.length || !wanted.every((k) => have.includes(k))) {
      mismatch = `target primary key (${have.join(', ') || 'none'}) differs from source primary key (${described.primaryKey.join(', ')})`;
    }
  }
  return { compared, mismatch };
}

/**
 * Schema changes against the target (added, dropped, widened columns), the
 * lossy-pairing refusal, and their notes. `previous` is what the table state
 * says the target's rows hold (see planSchemaChanges).
 */
export function evolveColumns(
  ctx: PlanContext,
  side: TargetSide & { table: SourceTable },
  compared: ReturnType<typeof planCompareColumns>,
  previous: Parameters<typeof planSchemaChanges>[5],
  targetOnly: readonly string[],
): SchemaChanges {
  const { source, config, described, write } = ctx;
  const changes = planSchemaChanges(source.dialect, config, described, side.table, compared, previous, targetOnly, write);
  refuseLossyColumns(source.dialect, config, described, changes.columns);
  // The target will change: what the catalog read of it before no longer holds.
  if (changes.statements.length) ctx.catalog?.target.delete(refKey(side.ref));
  return changes;
}

/** Notes on columns: renamed by the naming rule, left out, typed otherwise. */
export function columnsNotes({ config, described }: PlanContext, columns: ColumnPlan[]): string[] {
  return columnNotes(config.target.naming, described, columns);
}

/** Whether the table's single key column is an integer (split into ranges of equal width). */
export function integerKey({ source, described }: Pick<PlanContext, 'source' | 'described'>): boolean {
  if (described.primaryKey.length !== 1) return false;
  const keyType = described.columns.find((c) => c.name === described.primaryKey[0])!.type;
  return source.dialect.isIntegerType(keyType);
}

/** A PostgreSQL source's user types: created in the target by full loads, checked against it here. */
export async function withUserTypes({ source, target, config, catalog }: Pick<PlanContext, 'source' | 'target' | 'config' | 'catalog'>, plan: TablePlan): Promise<TablePlan> {
  if (!(source instanceof PostgresSource)) return plan;
  const types = catalog?.userTypes.get(refKey(plan.source)) ?? (await readColumnTypes(source.pool, plan.source));
  return planUserTypes(types, target, config, plan);
}

/** The config as this table's own settings make it (its delete rule). */
export function tableConfig({ config, settings }: Pick<PlanContext, 'config' | 'settings'>): SyncConfig {
  return { ...config, deletes: settings.deletes };
}

/** A table whose own settings refuse what the config asks, as planning reports it. */
export function invalid(ctx: Pick<PlanContext, 'described'>, message: string): TablesyncError {
  return new TablesyncError('InvalidConfig', `${displayName(ctx.described.ref)}: ${message}`);
}
