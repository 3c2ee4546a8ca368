import { TablesyncError } from '../../errors';
import { applySchemaChanges, stateColumnTypes, type SchemaChanges } from '../../schema-evolution';
import { displayName, parseTableName } from '../../tables';
import { planSoftDeletes, softDeleteColumns } from '../../target';
import type { SourceColumn, SourceConnection } from '../../sources/base';
import type { ColumnPlan, TablePlan, TableRef } from '../../types';
import { columnsNotes, createdTargetColumns, describeTarget, evolveColumns, integerKey, pairColumns, readState, tableConfig, withUserTypes } from '../plan-steps';
import type { PlanContext, PlanOutcome } from '../types';
import { keyFoldSql } from './read';
import type { KeyFold } from './types';

/** Text keys only: how the source compares them, when not exactly (asked of the source; see keyFoldSql). */
async function keyFoldOf(source: SourceConnection, ref: TableRef, key: SourceColumn, targetType: string): Promise<KeyFold | null> {
  if (!/char|text/i.test(targetType)) return null;
  const { sql, params } = keyFoldSql(source.dialect, ref, key);
  const [row] = await source.queryRows(sql, params);
  const fold = { lower: Number(row?.fold_case) === 1, rtrim: Number(row?.fold_spaces) === 1 };
  return fold.lower || fold.rtrim ? fold : null;
}

/**
 * A change-log table: its log must exist with the named columns, its key be
 * one column, its position order; a missing target is created by the first
 * run, which reads the whole table.
 */
export async function planChangelog(ctx: PlanContext): Promise<PlanOutcome> {
  const { source, target, described, settings } = ctx;
  // The config as this table's settings make it: its delete rule is the table's.
  const config = tableConfig(ctx);
  const name = displayName(described.ref);
  const field = settings.field('changelog');
  const log = settings.changelog;
  if (!log) throw new TablesyncError('InvalidConfig', `${name}: mode changelog needs ${field} (table, key, action, position)`);
  if (described.primaryKey.length !== 1) {
    throw new TablesyncError('InvalidConfig', `${name}: mode changelog needs a one-column primary key (the log names one key per change); this table's is (${described.primaryKey.join(', ')})`);
  }
  let logRef;
  try {
    logRef = parseTableName(log.table, described.ref.schema);
  } catch (err) {
    throw new TablesyncError('InvalidConfig', `${name}: ${field}.table: ${(err as Error).message}`);
  }
  const logTable = await source.describeTable(logRef);
  if (!logTable) throw new TablesyncError('UnknownTable', `${name}: ${field}.table ${displayName(logRef)} does not exist in "${config.source.connection}"`);
  const logColumn = (what: string, column: string) => {
    const c = logTable.columns.find((x) => x.name === column);
    if (!c) {
      throw new TablesyncError('UnknownColumn', `${name}: ${field}.${what} "${column}" is not a column of ${displayName(logRef)} (columns: ${logTable.columns.map((x) => x.name).join(', ')})`);
    }
    return c;
  };
  logColumn('key', log.key);
  logColumn('action', log.action);
  const position = logColumn('position', log.position);
  const filters = Object.entries(log.where).map(([column, value]): [string, string, string, string] => {
    const c = logColumn(`where.${column}`, column);
    return [column, String(value), c.type, c.dataType];
  });
  if (!source.dialect.cursor.kind(position)) {
    throw new TablesyncError('UnsupportedType', `${name}: ${field}.position "${position.name}" is ${position.type}, which cannot order a change log; use an integer or timestamp column`);
  }
  const key = described.columns.find((c) => c.name === described.primaryKey[0])!;
  const side = await describeTarget(ctx);
  const targetRef = side.ref;
  const targetTable = side.table;
  const notes = side.notes;
  const state = await readState(ctx, targetRef);
  // A target that is gone or empty is loaded again from the start, whatever the saved position says.
  const started = state?.mode === 'changelog' && state.cursorColumn === log.position && side.hasRows;
  const saved = started ? state.cursorValue : null;
  let columns: ColumnPlan[];
  let changes: SchemaChanges | null = null;
  if (!side.table) columns = createdTargetColumns(ctx, side);
  else {
    const existing = { ...side, table: side.table };
    const softColumns = settings.deletes === 'soft' ? softDeleteColumns(config.softDeleteColumn) : [];
    const { compared } = pairColumns(ctx, existing, softColumns, false);
    if (compared.missingKeys.length) {
      throw new TablesyncError('InvalidConfig', `${name}: target table ${displayName(targetRef)} lacks key column(s) ${compared.missingKeys.join(', ')}`);
    }
    // With a saved position, the state's columns are what the target's rows hold: others need a backfill.
    const previous = { synced: started ? state.columns : null, types: state?.columnTypes ?? null };
    changes = evolveColumns(ctx, existing, compared, previous, softColumns);
    columns = changes.columns;
    notes.push(...changes.notes);
  }
  notes.push(...columnsNotes(ctx, columns));
  if (!started) notes.push(`no saved log position: this run reads the whole table, then takes the log from the position it read first`);
  // Rows the source deleted before the log was read (another mode's target, a reset state) are no change to come in the log.
  const reconcile = !started && side.hasRows && settings.deletes !== 'ignore';
  if (reconcile) notes.push(`the target has rows and no saved log position: this run also ${settings.deletes === 'hard' ? 'deletes' : 'marks deleted'} the target rows the source does not have`);
  // A position that is the log's one-column key never ties; any other is read again from the saved value inclusive.
  const positionUnique = logTable.primaryKey.length === 1 && logTable.primaryKey[0] === position.name;
  const keyTarget = columns.find((c) => c.name === key.name)?.targetType ?? '';
  const keyFold = await keyFoldOf(source, described.ref, key, keyTarget);
  if (keyFold) {
    const how = [keyFold.lower && 'case', keyFold.rtrim && 'trailing spaces'].filter(Boolean).join(' and ');
    notes.push(`the source compares key ${key.name} ignoring ${how}: logged keys of deleted rows are matched in the target the same way`);
  }
  const plan: TablePlan = {
    source: described.ref,
    target: targetRef,
    mode: 'changelog',
    columns,
    primaryKey: described.primaryKey,
    integerKey: integerKey(ctx),
    ...(settings.deletes !== 'ignore' && { deletes: settings.deletes }),
    changelog: {
      table: logRef,
      key: log.key,
      action: log.action,
      position: position.name,
      positionType: position.type,
      positionDataType: position.dataType,
      positionUnique,
      keyType: key.type,
      keyDataType: key.dataType,
      ...(keyFold && { keyFold }),
      actions: log.actions,
      where: filters,
      saved,
      started,
      ...(reconcile && { reconcile }),
      ...(changes?.backfill.length && { backfill: changes.backfill }),
    },
    columnTypes: stateColumnTypes(source.dialect, described, columns, changes?.droppedTypes),
    notes,
  };
  const planned = await planSoftDeletes(target, config, await withUserTypes(ctx, plan), described, targetTable, ctx.write);
  // Last: they change the target, so only once nothing else can refuse the table.
  if (changes) await applySchemaChanges(target, changes);
  return { plan: planned };
}
