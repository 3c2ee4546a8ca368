import { createHash } from 'node:crypto';
import type { SyncConfig } from './config';
import { TablesyncError } from './errors';
import type { Dialect, SourceColumn, SourceTable } from './sources/base';
import { SOURCE_ONLY_NOTE } from './summary';
import { snakeCase } from './tables';
import type { ColumnPlan, TableRef } from './types';

type Naming = SyncConfig['target']['naming'];

/** PostgreSQL keeps NAMEDATALEN - 1 bytes of an identifier and silently drops the rest. */
export const PG_IDENTIFIER_BYTES = 63;
const HASH_CHARS = 8;

/**
 * A name PostgreSQL keeps whole: names of up to 63 bytes are unchanged; a
 * longer one becomes its first bytes (cut on a character boundary), "_" and
 * 8 hex digits of the SHA-256 of the whole name. Two long names that share
 * their first 54 bytes thus stay apart, where PostgreSQL would have cut both
 * to the same 63 bytes.
 */
export function pgIdentifier(name: string): string {
  if (Buffer.byteLength(name) <= PG_IDENTIFIER_BYTES) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, HASH_CHARS);
  let head = '';
  for (const ch of name) {
    if (Buffer.byteLength(head + ch) > PG_IDENTIFIER_BYTES - HASH_CHARS - 1) break;
    head += ch;
  }
  return `${head}_${hash}`;
}

/** The target name of a source table, schema or column: naming convention first, then PostgreSQL's length limit. */
export function targetName(naming: Naming, name: string): string {
  return pgIdentifier(naming === 'snake_case' ? snakeCase(name) : name);
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
  rejectColumnCollisions(naming, source);
  return columns;
}

/** Two source columns that would land in one target column: refused before anything is written. */
function rejectColumnCollisions(naming: Naming, source: SourceTable): void {
  const seen = new Map<string, string>();
  for (const c of source.columns) {
    const name = targetName(naming, c.name);
    const other = seen.get(name);
    if (other !== undefined) {
      throw new TablesyncError(
        'NameCollision',
        `${source.ref.schema}.${source.ref.name}: columns "${other}" and "${c.name}" both become "${name}" in the target`,
      );
    }
    seen.set(name, c.name);
  }
}

/** A note when a table's target name had to be shortened to fit PostgreSQL's limit. */
export function tableNameNotes(naming: Naming, source: TableRef): string[] {
  const conventional = naming === 'snake_case' ? snakeCase(source.name) : source.name;
  const name = targetName(naming, source.name);
  return name === conventional ? [] : [`table name is longer than PostgreSQL's 63 bytes: its target table is "${name}"`];
}

/** Notes for names the target cannot keep whole: the shortened form is used instead, and said. */
export function shortenedNameNotes(naming: Naming, source: SourceTable): string[] {
  return source.columns
    .filter((c) => targetName(naming, c.name) !== (naming === 'snake_case' ? snakeCase(c.name) : c.name))
    .map((c) => `column "${c.name}" is longer than PostgreSQL's 63 bytes: its target column is "${targetName(naming, c.name)}"`);
}

/**
 * Notes for a table's columns: names shortened for PostgreSQL, and generated
 * source columns among those copied, whose values land in an ordinary column.
 */
export function columnNotes(naming: Naming, source: SourceTable, copied: ColumnPlan[]): string[] {
  const names = new Set(copied.map((c) => c.name));
  const generated = source.columns
    .filter((c) => c.generated && names.has(c.name))
    .map((c) => `column "${c.name}" is generated in the source: its values are copied into an ordinary target column`);
  return [...shortenedNameNotes(naming, source), ...generated];
}

/**
 * Columns an incremental sync copies: those both sides have, in source order;
 * the rest become notes, except `targetOnly`: columns tablesync keeps itself
 * (deletes: soft), expected in the target only. A generated target column
 * cannot be written (the target computes it): it is left out and said so.
 */
export function planCompareColumns(
  naming: Naming,
  source: SourceTable,
  target: SourceTable,
  targetOnly: string[] = [],
): { columns: ColumnPlan[]; notes: string[]; missingKeys: string[] } {
  const targetTypes = new Map(target.columns.filter((c) => !c.generated).map((c) => [c.name, c.type]));
  const targetGenerated = new Set(target.columns.filter((c) => c.generated).map((c) => c.name));
  rejectColumnCollisions(naming, source);
  const mapped = new Set(source.columns.map((c) => targetName(naming, c.name)));
  const columns: ColumnPlan[] = [];
  const notes: string[] = [];
  for (const c of source.columns) {
    const name = targetName(naming, c.name);
    const targetType = targetTypes.get(name);
    if (targetGenerated.has(name)) notes.push(`column "${c.name}" is generated in the target, which computes its values: not written`);
    else if (targetType === undefined) notes.push(`column "${c.name}" ${SOURCE_ONLY_NOTE}`);
    else columns.push({ name: c.name, targetName: name, sourceType: c.type, targetType, nullable: c.nullable });
  }
  for (const c of target.columns) {
    if (mapped.has(c.name) || targetOnly.includes(c.name)) continue;
    notes.push(`column "${c.name}" is in the target only and ${c.generated ? 'is generated there' : 'keeps its values'}`);
  }
  const missingKeys = source.primaryKey.filter((k) => !targetTypes.has(targetName(naming, k)));
  return { columns, notes, missingKeys };
}

type Shape =
  | { kind: 'int'; bits: number }
  | { kind: 'numeric'; scale: number }
  | { kind: 'float'; mantissa: number }
  | { kind: 'time'; family: string; precision: number }
  | { kind: 'date' }
  | { kind: 'other' };

/** What of a PostgreSQL type decides whether a value can be rounded on the way in. */
function shapeOf(type: string): Shape {
  const t = type.toLowerCase().replace(/\s+/g, ' ').trim();
  const ints: Record<string, number> = { smallint: 16, int2: 16, integer: 32, int: 32, int4: 32, bigint: 64, int8: 64 };
  if (ints[t]) return { kind: 'int', bits: ints[t] };
  const num = /^(?:numeric|decimal)(?:\((\d+)(?:,\s*(\d+))?\))?$/.exec(t);
  if (num) return { kind: 'numeric', scale: num[1] === undefined ? Infinity : Number(num[2] ?? 0) };
  if (t === 'real' || t === 'float4') return { kind: 'float', mantissa: 24 };
  if (t === 'double precision' || t === 'float8') return { kind: 'float', mantissa: 53 };
  if (t === 'date') return { kind: 'date' };
  const time = /^(timestamptz|timestamp|timetz|time|interval)(?:\((\d+)\))?(.*)$/.exec(t);
  if (time) {
    const rest = time[3].replace(/\((\d+)\)/, '');
    const precision = Number(time[2] ?? /\((\d+)\)/.exec(time[3])?.[1] ?? 6);
    const family = /with time zone/.test(rest) || time[1].endsWith('tz') ? `${time[1].replace(/tz$/, '')}tz` : time[1];
    return { kind: 'time', family, precision };
  }
  return { kind: 'other' };
}

/**
 * Why a value of type `from` can be stored silently changed in a `to` column,
 * or null. Only what the target's input functions round without a word:
 * overflow, bad syntax and too-long strings are errors already.
 */
export function lossyPairing(from: string, to: string): string | null {
  const a = shapeOf(from);
  const b = shapeOf(to);
  if (b.kind === 'numeric' && Number.isFinite(b.scale)) {
    if (a.kind === 'numeric' && a.scale > b.scale) return `rounds to ${b.scale} decimal places`;
    if (a.kind === 'float') return `rounds floats to ${b.scale} decimal places`;
  }
  if (b.kind === 'float') {
    const bits = a.kind === 'float' ? a.mantissa : a.kind === 'int' ? a.bits - 1 : a.kind === 'numeric' ? Infinity : 0;
    if (bits > b.mantissa) return `rounds to ${b.mantissa === 24 ? 'single' : 'double'} precision`;
  }
  if (b.kind === 'time' && a.kind === 'time' && a.family === b.family && a.precision > b.precision) {
    return `rounds fractional seconds to ${b.precision} digits`;
  }
  if (b.kind === 'date' && a.kind === 'time' && a.family.startsWith('timestamp')) return 'drops the time of day';
  return null;
}

/**
 * Refuses an incremental table whose existing target column would round the
 * source's values (numeric → numeric(10,2), timestamp(6) → timestamp(0),
 * float8 → real, …), naming table, column and both types, unless the column
 * (or "*") is listed in allowLossyColumns. The source type compared is the one
 * a full load would create.
 */
export function refuseLossyColumns(
  dialect: Dialect,
  config: Pick<SyncConfig, 'typeMap' | 'allowLossyColumns'>,
  source: SourceTable,
  columns: ColumnPlan[],
): void {
  const allowed = new Set(config.allowLossyColumns);
  if (allowed.has('*')) return;
  const table = `${source.ref.schema}.${source.ref.name}`;
  const problems: string[] = [];
  for (const c of columns) {
    const column = source.columns.find((s) => s.name === c.name);
    if (!column || allowed.has(`${table}.${c.name}`)) continue;
    let natural: string;
    try {
      natural = mapColumnType(dialect, config.typeMap, source.ref, column);
    } catch {
      continue; // no natural PostgreSQL type to compare with; the target's input function decides
    }
    const why = lossyPairing(natural, c.targetType);
    if (why) problems.push(`column "${c.name}" ${c.sourceType} → target ${c.targetType} ${why}`);
  }
  if (problems.length) {
    throw new TablesyncError(
      'LossyColumn',
      `${table}: ${problems.join('; ')}; widen the target column, or allow it with allowLossyColumns: ["${table}.<column>"]`,
    );
  }
}
