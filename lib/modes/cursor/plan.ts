import { applySchemaChanges, stateColumnTypes, withLatestView, type SchemaChanges } from '../../schema-evolution';
import { TablesyncError } from '../../errors';
import { displayName } from '../../tables';
import { APPEND_COLUMNS, LATEST_VIEW_RULE, latestViewCommentSql, latestViewName, latestViewSql } from '../../target';
import type { ColumnPlan, TablePlan } from '../../types';
import { columnsNotes, createdTargetColumns, describeTarget, evolveColumns, integerKey, invalid, pairColumns, readState, withUserTypes } from '../plan-steps';
import type { PlanContext, PlanOutcome } from '../types';
import { parseLookback } from './window';

/**
 * Whether a saved cursor read as `before` keeps its meaning as a value of
 * `after` (the column's type changed since): numbers stay the same number
 * whatever their width or scale, and a time keeps its text when only the
 * precision changed. Anything else (zone-less ↔ zoned time, MariaDB DATETIME
 * ↔ TIMESTAMP, a date ↔ a time, a kind change) would need the zone or the
 * rule the migration used, which the saved text does not carry: refused.
 */
export function cursorTypeChange(kind: string, before: string, after: string): 'keep' | 'refuse' {
  const base = (t: string) => t.toLowerCase().replace(/\(\d+(,\s*\d+)?\)/g, '').replace(/\s+/g, ' ').trim();
  if (kind === 'number') return NUMBER_TYPE.test(base(before)) && NUMBER_TYPE.test(base(after)) ? 'keep' : 'refuse';
  return base(before) === base(after) ? 'keep' : 'refuse';
}

// The number types of every dialect: a saved number is the same number in any of them.
const NUMBER_TYPE = /^(tinyint|smallint|mediumint|int|integer|bigint|numeric|decimal|number)( unsigned)?( zerofill)?$/;

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
  if (saved !== null && ownState?.cursorType && ownState.cursorType !== column.type) {
    const change = cursorTypeChange(kind, ownState.cursorType, column.type);
    if (change === 'refuse') {
      throw new TablesyncError(
        'TypeChange',
        `${name}: cursor "${column.name}" is now ${column.type}, but the saved cursor ${saved} was read as ${ownState.cursorType}; ` +
          `that value does not mean the same point in the new type (a change between a zoned and a zone-less time, or of kind, depends on settings the saved text does not carry), ` +
          `so rows could be skipped: nothing was read. Run tablesync reset-state without --cursor to read every row again (the target's rows below the cursor hold the old type's values too), ` +
          `or reset-state --cursor VALUE with the saved point written as ${column.type}`,
      );
    }
    notes.push(`cursor "${column.name}" is now ${column.type} (was ${ownState.cursorType}): the saved cursor ${saved} is the same value in it and is kept`);
  }
  let columns: ColumnPlan[];
  let changes: SchemaChanges | null = null;
  if (!side.table) columns = createdTargetColumns(ctx, side);
  else {
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
    if (isAppend && described.primaryKey.length) {
      const versionColumn = changes.columns.find((c) => c.name === column.name)!.targetName;
      changes = withLatestView(changes, targetRef, described.primaryKey, versionColumn);
      // A view made before the latest-read rule ordered by cursor: replaced once (its comment says which rule it follows).
      if (ctx.write && !changes.statements.length && (await target.query(latestViewCommentSql(targetRef))).rows[0]?.comment !== LATEST_VIEW_RULE) {
        changes = { ...changes, statements: latestViewSql(targetRef, changes.columns, described.primaryKey, versionColumn) };
        notes.push(`${displayName(latestViewName(targetRef))} now shows each key's version read last (it showed the largest cursor)`);
      }
    }
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
  const plan: TablePlan = await withUserTypes(ctx, {
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
