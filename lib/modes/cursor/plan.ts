import { applySchemaChanges, stateColumnTypes, withLatestView, type SchemaChanges } from '../../schema-evolution';
import { TablesyncError } from '../../errors';
import { displayName } from '../../tables';
import { APPEND_COLUMNS } from '../../target';
import type { ColumnPlan, TablePlan } from '../../types';
import { columnsNotes, describeTarget, evolveColumns, fullColumns, integerKey, invalid, pairColumns, readState, withUserTypes } from '../plan-steps';
import type { PlanContext, PlanOutcome } from '../types';
import { parseLookback } from './window';

/**
 * A cursor table: the cursor column must exist and order (timestamps, dates,
 * integers, numerics, rowversion); its saved value comes from the table
 * state; a missing target is created by the first run, which reads
 * everything.
 */
export async function planCursor(ctx: PlanContext): Promise<PlanOutcome> {
  const { source, target, config, described, settings } = ctx;
  const name = displayName(described.ref);
  const field = settings.field('cursor');
  if (!settings.cursor) {
    throw invalid(ctx, `mode cursor needs a cursor column (${field}: e.g. updated_at)${settings.write === 'append' ? '; write: append keeps versions by cursor' : ''}`);
  }
  const column = described.columns.find((c) => c.name === settings.cursor);
  if (!column) {
    throw new TablesyncError('UnknownColumn', `${name}: ${field} "${settings.cursor}" is not a column of the table (columns: ${described.columns.map((c) => c.name).join(', ')})`);
  }
  const kind = source.dialect.cursor.kind(column);
  if (!kind) {
    throw new TablesyncError(
      'UnsupportedType',
      `${name}: ${field} "${column.name}" is ${column.type}, which cannot order a cursor; use a timestamp, date, integer, numeric or rowversion column`,
    );
  }
  if (settings.lookback && !parseLookback(settings.lookback, kind)) {
    throw invalid(ctx, `${settings.field('lookback')} "${settings.lookback}" does not fit a ${kind} cursor (${kind === 'time' ? 'e.g. "5 minutes"' : 'a number, e.g. "100"'})`);
  }
  const side = await describeTarget(ctx);
  const targetRef = side.ref;
  const notes = side.notes;
  const state = await readState(ctx, targetRef);
  // A saved cursor only means something for the rows it covered: a target that is gone or empty
  // (dropped, truncated) is read again from the start, never from the saved cursor.
  const ownState = state?.mode === 'cursor' ? state : undefined;
  if (ownState?.cursorValue != null && !side.hasRows) {
    notes.push(`the saved cursor is ignored: target table ${displayName(targetRef)} is ${side.table ? 'empty' : 'missing'}, so every row is read`);
  }
  const saved = ownState && side.hasRows ? ownState.cursorValue : null;
  let columns: ColumnPlan[];
  let changes: SchemaChanges | null = null;
  if (!side.table) {
    columns = fullColumns(ctx);
    notes.push(`target table ${displayName(targetRef)} is missing: this run creates it and reads every row`);
  } else {
    const existing = { ...side, table: side.table };
    const isAppend = APPEND_COLUMNS.every((m) => existing.table.columns.some((c) => c.name === m));
    const { compared, mismatch } = pairColumns(ctx, existing, [], !isAppend);
    // The key columns first: an append table's own shape is told apart below.
    if (compared.missingKeys.length) throw invalid(ctx, mismatch!);
    if (isAppend !== (settings.write === 'append')) {
      throw invalid(
        ctx,
        `target table ${displayName(targetRef)} is ${isAppend ? 'an append table' : 'not an append table'} but the config says write: ${settings.write}; ` +
          `change it with tablesync set-mode, which rewrites the table and keeps the saved cursor`,
      );
    }
    if (mismatch) throw invalid(ctx, mismatch);
    // With a saved cursor, the state's columns are what the target's rows hold: others need a backfill.
    changes = evolveColumns(ctx, existing, compared, { synced: saved === null ? null : state!.columns, types: state?.columnTypes ?? null }, APPEND_COLUMNS);
    if (isAppend && described.primaryKey.length) changes = withLatestView(changes, targetRef, described.primaryKey, changes.columns.find((c) => c.name === column.name)!.targetName);
    columns = changes.columns;
    notes.push(...changes.notes.filter((n) => !APPEND_COLUMNS.some((m) => n.includes(`"${m}"`))));
  }
  if (ownState && (ownState.cursorColumn !== column.name || ownState.write !== settings.write)) {
    throw invalid(
      ctx,
      `the saved state is cursor "${ownState.cursorColumn}" with write: ${ownState.write}, the config says cursor "${column.name}" with write: ${settings.write}; ` +
        `run tablesync set-mode (keeps what can be kept) or reset-state (reads everything again) first`,
    );
  }
  notes.push(...columnsNotes(ctx, columns));
  if (column.nullable) notes.push(`cursor "${column.name}" is nullable: rows whose cursor is NULL are read only by a first run`);
  const plan: TablePlan = await withUserTypes(source, target, config, {
    source: described.ref,
    target: targetRef,
    mode: 'cursor',
    columns,
    primaryKey: described.primaryKey,
    integerKey: integerKey(ctx),
    cursor: {
      column: column.name,
      targetColumn: columns.find((c) => c.name === column.name)!.targetName,
      sourceType: column.type,
      dataType: column.dataType,
      kind,
      write: settings.write,
      ...(settings.lookback && { lookback: settings.lookback }),
      nullable: column.nullable,
      saved,
      stateVersion: state?.stateVersion ?? null,
      ...(changes?.backfill.length && { backfill: changes.backfill }),
      ...(changes?.dropped.length && { dropped: changes.dropped }),
    },
    columnTypes: stateColumnTypes(source.dialect, described, columns, changes?.droppedTypes),
    notes,
  });
  // Last: they change the target, so only once nothing else can refuse the table.
  if (changes) await applySchemaChanges(target, changes);
  return { plan };
}
