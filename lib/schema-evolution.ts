import type { Pool } from 'pg';
import type { SyncConfig } from './config';
import { TablesyncError } from './errors';
import type { Dialect, SourceColumn, SourceTable } from './sources/base';
import { qualifyPg, quotePg } from './target/sql';
import { DROPPED_NOTE, SOURCE_ONLY_NOTE } from './summary';
import { mapColumnType, targetName } from './table-plan';
import { latestViewName, latestViewSql } from './target';
import type { ColumnPlan, ColumnTypes, TableRef } from './types';

// Schema evolution: at discovery, a table's source columns are compared with
// its target's and with the columns its state says were synced last time.
// Added columns are added to the target (and backfilled by cursor tables),
// lossless widenings are applied, anything else fails the table untouched.
// Planning computes everything first and only then runs the ALTERs, so a
// refusal leaves the target as it was.


export interface SchemaChanges {
  /** The columns the table syncs once the changes are made (added ones included, widened types). */
  columns: ColumnPlan[];
  /** ALTER statements, in order, to run (none when the run writes nothing). */
  statements: string[];
  /** What a writing run would run (dry run output). */
  plannedStatements: string[];
  notes: string[];
  /** Source names of columns a cursor table must backfill (in the target, not yet synced). */
  backfill: string[];
  /** Synced columns the source dropped, still in the target: the state keeps them, so every run warns. */
  dropped: string[];
  /** Their types, marked dropped, for the state: a column that returns is then backfilled. */
  droppedTypes: Record<string, ColumnTypes>;
}

type Family = { kind: 'int'; size: number } | { kind: 'string'; size: number } | { kind: 'numeric'; precision: number; scale: number } | { kind: 'time'; family: string; precision: number };

/** The families whose widenings are known lossless; null for every other type (left as it is). */
function familyOf(type: string): Family | null {
  const t = type.toLowerCase().replace(/\s+/g, ' ').trim();
  const ints: Record<string, number> = { smallint: 16, int2: 16, integer: 32, int: 32, int4: 32, bigint: 64, int8: 64 };
  if (ints[t]) return { kind: 'int', size: ints[t] };
  if (t === 'text') return { kind: 'string', size: Infinity };
  const str = /^(?:character varying|varchar)(?:\((\d+)\))?$/.exec(t);
  if (str) return { kind: 'string', size: str[1] === undefined ? Infinity : Number(str[1]) };
  const num = /^(?:numeric|decimal)(?:\((\d+)(?:,\s*(\d+))?\))?$/.exec(t);
  if (num) return { kind: 'numeric', precision: num[1] === undefined ? Infinity : Number(num[1]), scale: num[1] === undefined ? Infinity : Number(num[2] ?? 0) };
  const time = /^(timestamp|timestamptz)(?:\((\d)\))?( with time zone| without time zone)?$/.exec(t);
  if (time) {
    const family = time[1] === 'timestamptz' || time[3] === ' with time zone' ? 'timestamptz' : 'timestamp';
    return { kind: 'time', family, precision: Number(time[2] ?? 6) };
  }
  return null;
}

/**
 * How a source column's type (as a full load would create it) relates to its
 * existing target column:
 * - wider: the target must widen to hold every value, and can losslessly
 *   (varchar(n) → varchar(m > n) or text, smallint → integer → bigint,
 *   numeric(p, s) → numeric(q > p, s), timestamp(p) → timestamp(q > p));
 * - changed: the target's type cannot hold the source's values at all
 *   (text → integer, numeric → integer, timestamp → numeric, …);
 * - same: equal, or a target that already holds every value (a deliberately
 *   wider column, or a source that narrowed), or a pairing left to the
 *   lossy-pairing check (numeric scale, unbounded numeric) and the target's
 *   input functions. Without the type the source had before, a narrowed
 *   source and a wider target look alike: both keep the target as it is.
 */
export function typeChange(sourceType: string, targetType: string): 'same' | 'wider' | 'changed' {
  const a = familyOf(sourceType);
  const b = familyOf(targetType);
  if (!a || !b) return 'same';
  if (a.kind !== b.kind) {
    const holds: Record<Family['kind'], Family['kind'][]> = { int: ['numeric', 'string'], numeric: ['string'], time: ['string'], string: [] };
    return holds[a.kind].includes(b.kind) ? 'same' : 'changed';
  }
  if (a.kind === 'numeric' && b.kind === 'numeric') {
    const bounded = a.precision !== Infinity && b.precision !== Infinity;
    return bounded && a.scale === b.scale && a.precision > b.precision ? 'wider' : 'same';
  }
  if (a.kind === 'time' && b.kind === 'time' && a.family !== b.family) return 'same';
  const size = (f: Family) => (f.kind === 'int' || f.kind === 'string' ? f.size : f.kind === 'time' ? f.precision : 0);
  return size(a) > size(b) ? 'wider' : 'same';
}

/**
 * The schema changes of one incremental table (compare or cursor), or the
 * refusal that fails it. `compared` is planCompareColumns' result; `synced`
 * the columns the table state says were synced last time, when it says so.
 */
export function planSchemaChanges(
  dialect: Dialect,
  config: Pick<SyncConfig, 'target' | 'typeMap' | 'allowLossyColumns' | 'schemaChanges'>,
  source: SourceTable,
  target: SourceTable,
  compared: { columns: ColumnPlan[]; notes: string[] },
  /**
   * From the table state: `synced`, the columns the target's rows hold values
   * of (null: the run reads every row anyway); `types`, what each was synced
   * with (null: unknown, as in states saved before types were kept).
   */
  previous: { synced: string[] | null; types: Record<string, ColumnTypes> | null },
  /** Columns tablesync keeps itself in the target (soft deletes, append metadata): never "dropped". */
  targetOnly: readonly string[],
  /** false: verify without repair, or a dry run: the changes are said, the plan keeps the target as it is. */
  write: boolean,
): SchemaChanges {
  const naming = config.target.naming;
  const { synced, types } = previous;
  const table = `${source.ref.schema}.${source.ref.name}`;
  const evolve = config.schemaChanges !== 'fail';
  const refuse = (what: string) =>
    new TablesyncError('SchemaChange', `${table}: ${what}; schemaChanges: fail stops here (set schemaChanges: evolve to let tablesync change the target)`);
  const targetNames = new Set(target.columns.map((c) => c.name));
  const added = source.columns.filter((c) => !targetNames.has(targetName(naming, c.name)));
  const dropped = target.columns.filter(
    (c) => !c.generated && !targetOnly.includes(c.name) && !source.columns.some((s) => targetName(naming, s.name) === c.name),
  );
  const statements: string[] = [];
  const notes = compared.notes.filter((n) => !added.some((c) => n === `column "${c.name}" ${SOURCE_ONLY_NOTE}`));
  const allowed = new Set(config.allowLossyColumns);
  const problems: string[] = [];
  const refused: string[] = [];
  const columns: ColumnPlan[] = [];
  for (const c of compared.columns) {
    const column = source.columns.find((s) => s.name === c.name)!;
    const was = types?.[c.name];
    // A column typeMap names is the user's call; a dropped column that returns is judged against the target alone.
    if (was?.mapped && !was.dropped && was.source !== column.type && config.typeMap[`${table}.${c.name}`] === undefined) {
      const now = mappedType(dialect, source.ref, column);
      if (now !== null && narrows(was.mapped, now)) {
        refused.push(c.name);
        problems.push(`column "${c.name}" narrowed in the source from ${was.source} to ${column.type}${now === column.type ? '' : ` (→ ${now})`}`);
        columns.push(c);
        continue;
      }
    }
    let natural: string;
    try {
      natural = mapColumnType(dialect, config.typeMap, source.ref, column);
    } catch {
      columns.push(c);
      continue; // no natural PostgreSQL type to compare with
    }
    const change = typeChange(natural, c.targetType);
    // A column whose rounding the user accepted keeps its target type.
    if (change === 'wider' && !allowed.has('*') && !allowed.has(`${table}.${c.name}`)) {
      if (!evolve) throw refuse(`column "${c.name}" is ${c.sourceType} in the source, wider than its target ${c.targetType}`);
      statements.push(`ALTER TABLE ${qualifyPg(target.ref)} ALTER COLUMN ${quotePg(c.targetName)} TYPE ${natural}`);
      notes.push(`column "${c.name}" ${write ? 'widened' : 'to be widened'} in the target from ${c.targetType} to ${natural} (lossless; source type ${c.sourceType})`);
      columns.push(write ? { ...c, targetType: natural } : c);
      continue;
    }
    if (change === 'changed') {
      refused.push(c.name);
      problems.push(`column "${c.name}" changed type: the target has ${c.targetType}, the source now ${c.sourceType}${natural === c.sourceType ? '' : ` (→ ${natural})`}`);
    }
    columns.push(c);
  }
  if (problems.length) {
    throw new TablesyncError(
      'TypeChange',
      `${table}: ${problems.join('; ')}; only lossless widenings are applied, so nothing was changed; ` +
        `say what to do with typeMap: { ${refused.map((n) => `"${table}.${n}": "<target type>"`).join(', ')} }, or change the target column yourself`,
    );
  }
  for (const c of added) {
    if (!evolve) throw refuse(`column "${c.name}" (${c.type}) was added to the source`);
    const type = mapColumnType(dialect, config.typeMap, source.ref, c);
    const name = targetName(naming, c.name);
    // Nullable: the target's existing rows have no value until the backfill (or the compare run) writes one.
    statements.push(`ALTER TABLE ${qualifyPg(target.ref)} ADD COLUMN IF NOT EXISTS ${quotePg(name)} ${type}`);
    notes.push(`column "${c.name}" was added to the source: ${write ? 'added' : 'to be added'} to the target as ${type}`);
    if (write) columns.push({ name: c.name, targetName: name, sourceType: c.type, targetType: type, nullable: true });
  }
  const order = source.columns.map((c) => c.name);
  columns.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  // Only the state knows a target-only column was synced before; without one it stays a plain note.
  const sourceNameOf = (targetColumn: string) =>
    [...(synced ?? []), ...Object.keys(types ?? {})].find((s) => targetName(naming, s) === targetColumn);
  const gone = dropped.filter((c) => sourceNameOf(c.name) !== undefined);
  for (const c of gone) {
    const plain = notes.findIndex((n) => n.startsWith(`column "${c.name}" is in the target only`));
    if (plain >= 0) notes.splice(plain, 1);
    notes.push(`column "${c.name}" ${DROPPED_NOTE}; drop it from the target (or re-add it to the source) to silence this`);
  }
  // A column no longer written gets no value in the rows inserted from now
  // on: NOT NULL without a default would fail every insert, so it becomes
  // nullable (its existing values stay).
  for (const c of dropped.filter((d) => !d.nullable && !d.hasDefault)) {
    if (!evolve) throw refuse(`column "${c.name}" is NOT NULL in the target but no longer in the source, so no new row could be inserted`);
    statements.push(`ALTER TABLE ${qualifyPg(target.ref)} ALTER COLUMN ${quotePg(c.name)} DROP NOT NULL`);
    notes.push(`column "${c.name}" ${write ? 'made' : 'to be made'} nullable in the target: no longer written, so rows inserted from now on have no value for it`);
  }
  if (added.length && gone.length) {
    notes.push(
      `columns ${gone.map((c) => `"${c.name}"`).join(', ')} gone and ${added.map((c) => `"${c.name}"`).join(', ')} new: ` +
        `a renamed column looks like this (a drop plus an add); the old column keeps its values, the new one is filled from the source`,
    );
  }
  // What the state says was synced with a saved cursor: columns beyond it hold no values yet.
  if (!write) notes.push(...statements.map((sql) => `a run would execute: ${sql}`));
  const fresh = added.filter((c) => !write).map((c) => c.name);
  const candidates = synced === null ? [] : [...columns.map((c) => c.name), ...fresh].filter((n) => !source.primaryKey.includes(n));
  const unsynced = candidates.filter((n) => !synced!.includes(n));
  // Kept in the target while the source had dropped it: its target values stopped at the drop.
  const back = candidates.filter((n) => synced!.includes(n) && types?.[n]?.dropped);
  const backfill = [...unsynced, ...back];
  const runs = write ? 'this run backfills' : 'a run would backfill';
  const rows = (n: number) =>
    `the key and ${n > 1 ? 'these columns' : 'this column'} of every source row (whatever the cursor or log position; an append table's every version of the key)`;
  if (unsynced.length) {
    notes.push(`column${unsynced.length > 1 ? 's' : ''} ${unsynced.map((n) => `"${n}"`).join(', ')} not synced before: ${runs} ${rows(unsynced.length)}, then reads the changes as usual`);
  }
  if (back.length) {
    notes.push(
      `column${back.length > 1 ? 's' : ''} ${back.map((n) => `"${n}"`).join(', ')} back in the source after being dropped: the target's values are stale since the drop, so ${runs} ${rows(back.length)}`,
    );
  }
  const droppedTypes: Record<string, ColumnTypes> = {};
  for (const c of gone) {
    const name = sourceNameOf(c.name)!;
    droppedTypes[name] = { ...(types?.[name] ?? { source: null, mapped: null, target: c.type }), dropped: true };
  }
  return {
    columns,
    statements: write ? statements : [],
    plannedStatements: statements,
    notes,
    backfill: write ? backfill : [],
    dropped: Object.keys(droppedTypes),
    droppedTypes,
  };
}

/** A source column's type mapped to PostgreSQL by its dialect alone (no typeMap); null when it has no mapping. */
function mappedType(dialect: Dialect, table: TableRef, column: SourceColumn): string | null {
  try {
    return dialect.mapType(column, table);
  } catch {
    return null;
  }
}

/**
 * Whether a source type changed from `before` to `after` (both as mapped to
 * PostgreSQL) so that some value the old type held no longer fits: a
 * narrowing (varchar(50) → varchar(10), bigint → integer, numeric(12,2) →
 * numeric(8,2), timestamp(6) → timestamp(3)) or a change of kind (text →
 * integer). Widenings and unknown pairings are not.
 */
export function narrows(before: string, after: string): boolean {
  if (before.toLowerCase() === after.toLowerCase()) return false;
  return typeChange(before, after) !== 'same' && typeChange(after, before) !== 'wider';
}

/**
 * What the state of a cursor or change-log table keeps of its columns' types
 * (see ColumnTypes), with the dropped columns it still remembers.
 */
export function stateColumnTypes(dialect: Dialect, source: SourceTable, columns: ColumnPlan[], dropped: Record<string, ColumnTypes> = {}): Record<string, ColumnTypes> {
  const types: Record<string, ColumnTypes> = {};
  for (const c of columns) {
    const column = source.columns.find((s) => s.name === c.name);
    types[c.name] = { source: c.sourceType, mapped: column ? mappedType(dialect, source.ref, column) : null, target: c.targetType };
  }
  return { ...types, ...dropped };
}

/**
 * An append table's `<table>_latest` view names its columns: it is dropped
 * before the ALTERs (a column a view uses cannot change type) and re-created
 * over the new columns after them, in the same transaction.
 */
export function withLatestView(changes: SchemaChanges, target: TableRef, primaryKey: string[], cursorColumn: string): SchemaChanges {
  if (!changes.statements.length) return changes;
  const view = `DROP VIEW IF EXISTS ${qualifyPg(latestViewName(target))}`;
  return { ...changes, statements: [view, ...changes.statements, ...latestViewSql(target, changes.columns, primaryKey, cursorColumn)] };
}

/** Runs the planned ALTERs in one transaction (all or none); a run that writes nothing runs none. */
export async function applySchemaChanges(pool: Pick<Pool, 'connect'>, changes: SchemaChanges): Promise<void> {
  if (!changes.statements.length) return;
  const db = await pool.connect();
  try {
    await db.query('BEGIN');
    for (const sql of changes.statements) await db.query(sql);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    db.release();
  }
}
