import type { SyncConfig } from '../../config';
import { TablesyncError } from '../../errors';
import { narrows, typeChange } from '../../schema-evolution';
import type { Dialect, SourceTable } from '../../sources/base';
import type { ChangeShape } from '../../sources/changes';
import { mapColumnType, targetName } from '../../table-plan';
import { displayName } from '../../tables';
import { qualifyPg, quotePg } from '../../target/sql';
import type { ColumnPlan, TablePlan } from '../../types';

// Schema changes in a change stream. The log says a table's columns where
// they change (PostgreSQL sends a relation message before the first change
// of the new shape), so they are met in commit order, inside a batch: the
// rows before have the old columns, the rows after the new. The rules are
// the other modes' (lib/schema-evolution.ts): a column added is added to the
// target (and backfilled), a lossless widening is applied, anything else
// (a drop, a rename, a narrowing, another type) stops the stream naming the
// table and column, before any of it is applied.

export interface CdcEvolution {
  /** The plan's columns from now on, in the source's order. */
  columns: ColumnPlan[];
  /** The target's ALTERs, in order (run in the batch's transaction). */
  statements: string[];
  /** Source names of the columns added: the target's existing rows get their values by a backfill. */
  added: string[];
  notes: string[];
}

const refuse = (table: string, what: string, todo: string) => new TablesyncError('CdcSchemaChange', `${table}: ${what}; ${todo}`);

/**
 * The target changes a new shape of a cdc table asks for, or the refusal
 * naming the table and column. `described` is the source's catalog now: it
 * maps an added or retyped column as a load would (typeMap included), and
 * must still agree with the log's type for it.
 */
export function evolveCdcColumns(
  dialect: Dialect,
  config: Pick<SyncConfig, 'target' | 'typeMap' | 'schemaChanges' | 'allowLossyColumns'>,
  plan: TablePlan,
  shape: ChangeShape,
  described: SourceTable | null,
): CdcEvolution {
  const table = displayName(plan.source);
  const reset = 'run tablesync reset-state for the table (the cdc workflow then takes a new snapshot), or change the target yourself first';
  const gone = plan.columns.filter((c) => !shape.some((s) => s.name === c.name));
  const fresh = shape.filter((s) => !plan.columns.some((c) => c.name === s.name));
  if (gone.length) {
    const names = (cs: { name: string }[]) => cs.map((c) => `"${c.name}"`).join(', ');
    const what = fresh.length
      ? `column ${names(gone)} is gone from the source and ${names(fresh)} is new (a rename looks like this)`
      : `column ${names(gone)} was dropped at the source`;
    throw refuse(table, what, `cdc never drops or renames a target column (its values would be lost silently): ${reset}`);
  }
  const retyped = plan.columns.filter((c) => shape.find((s) => s.name === c.name)!.type !== c.sourceType);
  if (config.schemaChanges === 'fail' && (fresh.length || retyped.length)) {
    const what = [...fresh.map((s) => `column "${s.name}" (${s.type}) was added`), ...retyped.map((c) => `column "${c.name}" changed type`)].join('; ');
    throw refuse(table, what, 'schemaChanges: fail stops here (set schemaChanges: evolve to let tablesync change the target)');
  }
  // The log's type, mapped as a load maps it: from the catalog's column, which must still be the one the log describes.
  const sourceColumn = (name: string, type: string) => {
    const column = described?.columns.find((c) => c.name === name);
    if (!column || column.type !== type) {
      throw refuse(
        table,
        `column "${name}" is ${type} in the change log but ${column ? column.type : 'gone'} in the source's catalog now (changed again since)`,
        'cdc maps a column from the catalog, so it stops rather than guess; ' + reset,
      );
    }
    return column;
  };
  const allowed = new Set(config.allowLossyColumns);
  const statements: string[] = [];
  const notes: string[] = [];
  const problems: string[] = [];
  const columns: ColumnPlan[] = [];
  for (const s of shape) {
    const c = plan.columns.find((p) => p.name === s.name);
    if (!c) {
      const type = mapColumnType(dialect, config.typeMap, plan.source, sourceColumn(s.name, s.type));
      const name = targetName(config.target.naming, s.name);
      // Nullable, as other modes add it: the backfill writes the existing rows' values in the same transaction.
      statements.push(`ALTER TABLE ${qualifyPg(plan.target)} ADD COLUMN IF NOT EXISTS ${quotePg(name)} ${type}`);
      notes.push(`column "${s.name}" was added to the source: added to the target as ${type}, its values for existing rows backfilled from the source`);
      columns.push({ name: s.name, targetName: name, sourceType: s.type, targetType: type, nullable: true });
      continue;
    }
    if (s.type === c.sourceType) {
      columns.push(c);
      continue;
    }
    // As the other modes judge a type the state saved: a narrowing, or a change of kind, is refused.
    if (narrows(c.sourceType, s.type)) {
      problems.push(`column "${c.name}" ${typeChange(c.sourceType, s.type) === 'wider' ? 'narrowed' : 'changed type'} in the source from ${c.sourceType} to ${s.type}`);
      continue;
    }
    const natural = mapColumnType(dialect, config.typeMap, plan.source, sourceColumn(s.name, s.type));
    const change = typeChange(natural, c.targetType);
    if (change === 'wider' && !allowed.has('*') && !allowed.has(`${table}.${c.name}`)) {
      statements.push(`ALTER TABLE ${qualifyPg(plan.target)} ALTER COLUMN ${quotePg(c.targetName)} TYPE ${natural}`);
      notes.push(`column "${c.name}" widened in the source from ${c.sourceType} to ${s.type}: widened in the target from ${c.targetType} to ${natural}`);
      columns.push({ ...c, sourceType: s.type, targetType: natural });
      continue;
    }
    // Kept only when the target's column holds every value of the new type (it is that type, or wider).
    const holds = change === 'wider' || natural.toLowerCase() === c.targetType.toLowerCase() || typeChange(c.targetType, natural) === 'wider';
    if (!holds) {
      problems.push(`column "${c.name}" changed type from ${c.sourceType} to ${s.type}, which its target column (${c.targetType}) cannot hold`);
      continue;
    }
    notes.push(`column "${c.name}" is ${s.type} in the source now (was ${c.sourceType}); its target column ${c.targetType} holds every value`);
    columns.push({ ...c, sourceType: s.type });
  }
  if (problems.length) throw refuse(table, problems.join('; '), `only added columns and lossless widenings are applied, so nothing of this batch was: ${reset}`);
  return { columns, statements, added: fresh.map((s) => s.name), notes };
}
