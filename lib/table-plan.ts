import type { SyncConfig } from './config';
import type { Dialect, SourceColumn, SourceTable } from './sources/base';
import { snakeCase } from './tables';
import type { ColumnPlan, TableRef } from './types';

type Naming = SyncConfig['target']['naming'];

export function targetName(naming: Naming, name: string): string {
  return naming === 'snake_case' ? snakeCase(name) : name;
}

export function targetRefOf(config: Pick<SyncConfig, 'target'>, source: TableRef): TableRef {
  const { naming, schema } = config.target;
  return { schema: schema ?? targetName(naming, source.schema), name: targetName(naming, source.name) };
}

/** Target type of a source column: typeMap by "schema.table.column", then by source type, then the dialect. */
export function mapColumnType(dialect: Dialect, typeMap: Record<string, string>, table: TableRef, column: SourceColumn): string {
  return (
    typeMap[`${table.schema}.${table.name}.${column.name}`] ??
    typeMap[column.type.toLowerCase()] ??
    typeMap[column.dataType.toLowerCase()] ??
    dialect.mapType(column, table)
  );
}

/** Columns of a table a full load creates: every source column, mapped. */
export function planFullColumns(
  dialect: Dialect,
  config: Pick<SyncConfig, 'target' | 'typeMap'>,
  source: SourceTable,
): ColumnPlan[] {
  const naming = config.target.naming;
  const columns = source.columns.map((c) => ({
    name: c.name,
    targetName: targetName(naming, c.name),
    sourceType: c.type,
    targetType: mapColumnType(dialect, config.typeMap, source.ref, c),
    nullable: c.nullable,
  }));
  const seen = new Map<string, string>();
  for (const c of columns) {
    const other = seen.get(c.targetName);
    if (other !== undefined) {
      throw new Error(`columns "${other}" and "${c.name}" both become "${c.targetName}" in the target`);
    }
    seen.set(c.targetName, c.name);
  }
  return columns;
}

/** Columns an incremental sync copies: those both sides have, in source order; the rest become notes. */
export function planCompareColumns(
  naming: Naming,
  source: SourceTable,
  target: SourceTable,
): { columns: ColumnPlan[]; notes: string[]; missingKeys: string[] } {
  const targetTypes = new Map(target.columns.map((c) => [c.name, c.type]));
  const mapped = new Set(source.columns.map((c) => targetName(naming, c.name)));
  const columns: ColumnPlan[] = [];
  const notes: string[] = [];
  for (const c of source.columns) {
    const name = targetName(naming, c.name);
    const targetType = targetTypes.get(name);
    if (targetType === undefined) notes.push(`column "${c.name}" is in the source only and is not synced`);
    else columns.push({ name: c.name, targetName: name, sourceType: c.type, targetType, nullable: c.nullable });
  }
  for (const c of target.columns) {
    if (!mapped.has(c.name)) notes.push(`column "${c.name}" is in the target only and keeps its values`);
  }
  const missingKeys = source.primaryKey.filter((k) => !targetTypes.has(targetName(naming, k)));
  return { columns, notes, missingKeys };
}
