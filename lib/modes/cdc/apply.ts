import { TablesyncError } from '../../errors';
import { splitPosition, type ChangeShape, type ChangeTransaction, type ChangeValue, type RowChange } from '../../sources/changes';
import type { TableState } from '../../state';
import { displayName } from '../../tables';
import { cdcDeleteSql, cdcUpdateSql, cdcUpsertSql } from '../../target';
import type { ColumnPlan, TablePlan, TableRef } from '../../types';
import { runState } from '../staging';
import type { Db } from '../types';

/** Changes applied, by kind; `skipped`: changes at or before the table's saved position (applied by an earlier attempt). */
export interface CdcCounts {
  inserted: number;
  updated: number;
  deleted: number;
  truncated: number;
  skipped: number;
}

export const noCounts = (): CdcCounts => ({ inserted: 0, updated: 0, deleted: 0, truncated: 0, skipped: 0 });

/** A cdc table as its batches apply it: its plan, its delete rule, its saved position. */
export interface CdcTable {
  plan: TablePlan;
  deletes: 'ignore' | 'hard' | 'soft';
  /** Where its state says it is applied up to (null: nothing saved); a piece's position (commit#applied) inside a large transaction. */
  position: string | null;
  /** The columns its saved state lists (what the target's rows hold values of). */
  synced?: string[];
  /** The last shape of the table's rows found to be its plan's (changes of one shape share the array). */
  shape?: ChangeShape;
}

/** Called when a change's shape differs from its table's plan: evolves the target and the plan, or refuses naming the column. */
export type ShapeChange = (name: string, table: CdcTable, shape: ChangeShape) => Promise<void>;

/** The plan's columns are the shape's, with the same types. */
export function sameShape(plan: TablePlan, shape: ChangeShape): boolean {
  return plan.columns.length === shape.length && shape.every((s) => plan.columns.some((c) => c.name === s.name && c.sourceType === s.type));
}

const schemaChange = (table: TablePlan, what: string) =>
  new TablesyncError(
    'CdcSchemaChange',
    `${displayName(table.source)}: ${what}; the log did not say the table's columns, so cdc cannot evolve them: run tablesync reset-state for the table, then the cdc workflow takes a new snapshot`,
  );

/** The plan's columns in the change's row (those it carries) and their values; refuses a row whose columns differ from the plan's. */
function carried(table: TablePlan, row: Record<string, ChangeValue>): { columns: ColumnPlan[]; values: (string | null)[] } {
  const known = new Set(table.columns.map((c) => c.name));
  const added = Object.keys(row).filter((n) => !known.has(n));
  if (added.length) throw schemaChange(table, `the source has column ${added.map((n) => `"${n}"`).join(', ')} the snapshot did not`);
  const gone = table.columns.filter((c) => !(c.name in row));
  if (gone.length) throw schemaChange(table, `the source no longer sends column ${gone.map((c) => `"${c.name}"`).join(', ')}`);
  const columns = table.columns.filter((c) => row[c.name] !== undefined);
  return { columns, values: columns.map((c) => row[c.name] as string | null) };
}

function keyColumns(table: TablePlan): ColumnPlan[] {
  return table.primaryKey.map((k) => table.columns.find((c) => c.name === k)!);
}

/**
 * Applies one source transaction's changes, in order, to the tables it
 * touches, skipping each table's changes at or before its saved position.
 * Runs inside the batch's target transaction; returns the tables it changed.
 */
export async function applyTransaction(
  db: Db,
  tables: Map<string, CdcTable>,
  txn: ChangeTransaction,
  compare: (a: string, b: string) => number,
  counts: CdcCounts,
  /** Called as work goes on (an activity's heartbeat): a big transaction takes a while. */
  beat: () => void = () => undefined,
  /** Schema changes (without it, a row whose columns differ from its plan is refused). */
  onShape?: ShapeChange,
): Promise<Set<string>> {
  const touched = new Set<string>();
  const find = (ref: TableRef): [string, CdcTable] => {
    const name = displayName(ref);
    const t = tables.get(name);
    // The publication lists exactly the stream's tables: anything else means it was changed behind tablesync's back.
    if (!t) throw new TablesyncError('CdcSetup', `the change stream carries table ${name}, which is not a cdc table of this config (was its publication altered?)`);
    return [name, t];
  };
  // Whether a change (its index in the whole transaction) is past the table's saved position.
  const applies = (t: CdcTable, index: number) => {
    if (t.position === null) return true;
    const saved = splitPosition(t.position);
    if (saved.applied !== null) {
      // Saved inside a large transaction: this one's first changes are applied; any other is before or after it.
      if (txn.commit !== undefined && compare(txn.commit, saved.at) === 0) return index >= saved.applied;
      return compare(txn.commit ?? txn.position, saved.at) > 0;
    }
    // A piece's own position is not where it ends: its commit, at or past the saved end of the one before, orders it.
    return txn.partial ? compare(txn.commit!, saved.at) >= 0 : compare(txn.position, saved.at) > 0;
  };
  // Consecutive whole rows of one table (inserts, updates that sent every column and kept their key) are
  // written by one multi-row statement: a row per key, the last image of a key winning, as it would one by one.
  let run: { t: CdcTable; rows: Map<string, (string | null)[]> } | null = null;
  const flush = async () => {
    if (!run) return;
    const { t, rows } = run;
    run = null;
    await db.query(cdcUpsertSql(t.plan.target, t.plan.columns, keyColumns(t.plan), [...rows.values()], t.plan.softDeleteColumn));
    beat();
  };
  for (const [i, change] of txn.changes.entries()) {
    const index = (txn.first ?? 0) + i;
    if (change.kind === 'truncate') {
      await flush();
      for (const ref of change.tables) {
        const [name, t] = find(ref);
        if (!applies(t, index)) {
          counts.skipped++;
          continue;
        }
        if (t.deletes === 'ignore') {
          throw new TablesyncError(
            'CdcTruncateRefused',
            `${name}: the source truncated the table, and its deletes are ignore, so cdc will not empty the target; set the table's deletes to hard or soft (then the truncate is applied), or reset-state for a new snapshot`,
          );
        }
        const r = await db.query(cdcDeleteSql(t.plan.target, keyColumns(t.plan), null, t.plan.softDeleteColumn));
        counts.truncated += r.rowCount ?? 0;
        touched.add(name);
      }
      continue;
    }
    const [name, t] = find(change.table);
    if (!applies(t, index)) {
      counts.skipped++;
      continue;
    }
    touched.add(name);
    if (change.kind !== 'delete' && change.shape && change.shape !== t.shape) {
      if (!sameShape(t.plan, change.shape) && onShape) {
        // Rows before this one have the old columns: written before the target changes.
        await flush();
        await onShape(name, t, change.shape);
      }
      if (sameShape(t.plan, change.shape)) t.shape = change.shape;
    }
    if (change.kind !== 'delete' && !(change.kind === 'update' && change.oldKey)) {
      const { columns, values } = carried(t.plan, change.row);
      if (columns.length === t.plan.columns.length) {
        if (run && run.t !== t) await flush();
        run ??= { t, rows: new Map() };
        const key = JSON.stringify(t.plan.primaryKey.map((k) => change.row[k]));
        run.rows.delete(key);
        run.rows.set(key, values);
        if (change.kind === 'insert') counts.inserted++;
        else counts.updated++;
        if (run.rows.size * columns.length >= MAX_PARAMS) await flush();
        continue;
      }
    }
    await flush();
    await applyRow(db, t, change, counts);
  }
  await flush();
  return touched;
}

/** Bound values per statement, under PostgreSQL's 65,535. */
const MAX_PARAMS = 30_000;

async function applyRow(db: Db, t: CdcTable, change: Exclude<RowChange, { kind: 'truncate' }>, counts: CdcCounts): Promise<void> {
  const { plan } = t;
  const key = keyColumns(plan);
  const flag = plan.softDeleteColumn;
  if (change.kind === 'delete') {
    if (t.deletes === 'ignore') return;
    const r = await db.query(cdcDeleteSql(plan.target, key, plan.primaryKey.map((k) => change.oldKey[k]), flag));
    counts.deleted += r.rowCount ?? 0;
    return;
  }
  const { columns, values } = carried(plan, change.row);
  if (change.kind === 'insert' || columns.length === plan.columns.length) {
    // Every column at hand: the row as it is now, whatever the target has (also a key that moved, see below).
    if (change.kind === 'update' && change.oldKey) {
      await db.query(cdcDeleteSql(plan.target, key, plan.primaryKey.map((k) => change.oldKey![k])));
    }
    await db.query(cdcUpsertSql(plan.target, columns, key, [values], flag));
    if (change.kind === 'insert') counts.inserted++;
    else counts.updated++;
    return;
  }
  // Some values unchanged and not sent (TOAST): update the columns sent, keep the target's others.
  const oldKey = change.oldKey ? plan.primaryKey.map((k) => change.oldKey![k]) : plan.primaryKey.map((k) => change.row[k] as string | null);
  const r = await db.query(cdcUpdateSql(plan.target, columns, values, key, oldKey, flag));
  if (r.rowCount === 0) {
    // Never write NULL over a value the log did not send: a row the target lacks here means a gap.
    throw new TablesyncError(
      'CdcGap',
      `${displayName(plan.source)}: an update of key ${JSON.stringify(oldKey)} keeps values the log does not repeat, but the target has no such row; run tablesync reset-state for the table for a new snapshot`,
    );
  }
  counts.updated++;
}

/** A cdc table's state: the stream (slot) it follows and the position it is applied up to, in the same transaction as its rows. */
export function cdcState(table: TablePlan, stream: string, position: string, positionType: string, run: { workflowId: string; runId: string }, counts: CdcCounts & { rowsCopied?: number }): TableState {
  const totals = { rowsCopied: counts.rowsCopied ?? 0, inserted: counts.inserted, updated: counts.updated, deleted: counts.deleted + counts.truncated };
  return runState(table, run, totals, { mode: 'cdc', write: null, cursorColumn: stream, cursorValue: position, cursorType: positionType });
}
