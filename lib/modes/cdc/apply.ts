import { TablesyncError } from '../../errors';
import { splitPosition, type ChangeShape, type ChangeTransaction, type ChangeValue, type RowChange } from '../../sources/changes';
import type { TableState } from '../../state';
import { displayName } from '../../tables';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';
import { createHash } from 'node:crypto';
import { cdcCopyLine, cdcDeleteKeysSql, cdcDeleteSql, cdcStagingSql, cdcUpdateSql, cdcUpsertFromSql, cdcUpsertSql, copyIntoSql, truncateTableSql } from '../../target';
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

/**
 * carried(), without its checks for the common change: a row of the shape
 * already found to be its plan's (its keys are the shape's names, see
 * RowChange) carrying every column. Null otherwise: carried() decides.
 */
function wholeRow(t: CdcTable, change: { row: Record<string, ChangeValue>; shape?: ChangeShape }): (string | null)[] | null {
  if (!change.shape || change.shape !== t.shape) return null;
  const { columns } = t.plan;
  const values = new Array<string | null>(columns.length);
  for (let i = 0; i < columns.length; i++) {
    const v = change.row[columns[i].name];
    if (v === undefined) return null;
    values[i] = v;
  }
  return values;
}

/** A key's identity in a batch's pending maps: a one-column key's value itself (null apart from any text), several as JSON. */
type KeyId = string | null;
const keyId = (key: (string | null)[]): KeyId => (key.length === 1 ? key[0] : JSON.stringify(key));

function keyColumns(table: TablePlan): ColumnPlan[] {
  return table.primaryKey.map((k) => table.columns.find((c) => c.name === k)!);
}

/** A table's changes of a batch not yet written: each key in at most one of the maps (see BatchApply). */
interface Pending {
  /** Whole rows to upsert (plan column order), by key. */
  writes: Map<KeyId, (string | null)[]>;
  /** Updates that keep the key and carry only some columns (unchanged TOAST values left out), merged, by key. */
  patches: Map<KeyId, Record<string, ChangeValue>>;
  /**
   * Keys to delete: `rule` by the table's delete rule (counted by what its statement finds), `counted` the same
   * counted already (a hard delete of a row written earlier in the batch), `moved` the old key of an update that
   * changed it (always hard, never counted).
   */
  deletes: Map<KeyId, { key: (string | null)[]; kind: 'rule' | 'counted' | 'moved' }>;
  /**
   * Keys of `writes` whose first change in the batch was an insert: the log says the source had no such row, so
   * neither should the target, and their rows are COPYed straight into it (see insertFresh).
   */
  fresh: Set<KeyId>;
}

/**
 * Applies a batch's source transactions set-based: each table's changes are
 * gathered per key and written in a few statements (one upsert of many rows,
 * one delete of many keys) instead of one per change. The target ends as if
 * every change were applied one by one in commit order: a later whole row of
 * a key replaces an earlier one, an update carrying only some columns merges
 * into the row before it; whenever a change of a key needs what is pending
 * for it written first (a write after a delete, a delete after a write, a key
 * moved with values the log did not repeat), the table's pending changes are
 * written first. Runs inside the batch's target transaction.
 */
export class BatchApply {
  private readonly pending = new Map<CdcTable, Pending>();
  /** Temporary tables this batch's transaction filled (stagedUpsert). */
  private readonly staged = new Set<string>();
  constructor(
    private readonly db: Db,
    private readonly tables: Map<string, CdcTable>,
    private readonly compare: (a: string, b: string) => number,
    private readonly counts: CdcCounts,
    /** Called as work goes on (an activity's heartbeat): a big batch takes a while. */
    private readonly beat: () => void = () => undefined,
    /** Schema changes (without it, a row whose columns differ from its plan is refused). */
    private readonly onShape?: ShapeChange,
  ) {}

  /** The table the last change was of (a batch's changes mostly run in one table): found again without a name built. */
  private last: { ref: TableRef; found: [string, CdcTable] } | null = null;
  /** Each table's saved position split, and what it says of the transaction last asked about (see applies). */
  private readonly saved = new Map<CdcTable, { from: string; at: string; applied: number | null; txn?: ChangeTransaction; inside?: boolean; after?: boolean }>();

  private find(ref: TableRef): [string, CdcTable] {
    const last = this.last;
    if (last && last.ref.schema === ref.schema && last.ref.name === ref.name) return last.found;
    const name = displayName(ref);
    const t = this.tables.get(name);
    // The publication lists exactly the stream's tables: anything else means it was changed behind tablesync's back.
    if (!t) throw new TablesyncError('CdcSetup', `the change stream carries table ${name}, which is not a cdc table of this config (was its publication altered?)`);
    this.last = { ref, found: [name, t] };
    return this.last.found;
  }

  /** Whether a change (its index in the whole transaction) is past the table's saved position. */
  private applies(t: CdcTable, txn: ChangeTransaction, index: number): boolean {
    if (t.position === null) return true;
    let s = this.saved.get(t);
    if (!s || s.from !== t.position) this.saved.set(t, (s = { from: t.position, ...splitPosition(t.position) }));
    if (s.txn !== txn) {
      // The same for every change of a transaction, so decided once: only where a large one was saved in part does the index matter.
      s.txn = txn;
      // Saved inside a large transaction: this one's first changes are applied; any other is before or after it.
      s.inside = s.applied !== null && txn.commit !== undefined && this.compare(txn.commit, s.at) === 0;
      // A piece's own position is not where it ends: its commit, at or past the saved end of the one before, orders it.
      s.after =
        s.applied !== null ? this.compare(txn.commit ?? txn.position, s.at) > 0 : txn.partial ? this.compare(txn.commit!, s.at) >= 0 : this.compare(txn.position, s.at) > 0;
    }
    return s.inside ? index >= s.applied! : s.after!;
  }

  private pendingOf(t: CdcTable): Pending {
    let p = this.pending.get(t);
    if (!p) this.pending.set(t, (p = { writes: new Map(), patches: new Map(), deletes: new Map(), fresh: new Set() }));
    return p;
  }

  /** Gathers one source transaction's changes, skipping each table's at or before its saved position; returns the tables it changes. */
  async transaction(txn: ChangeTransaction): Promise<Set<string>> {
    const touched = new Set<string>();
    const first = txn.first ?? 0;
    for (let i = 0; i < txn.changes.length; i++) {
      const change = txn.changes[i];
      const index = first + i;
      if (change.kind === 'truncate') {
        await this.flush();
        for (const ref of change.tables) {
          const [name, t] = this.find(ref);
          if (!this.applies(t, txn, index)) {
            this.counts.skipped++;
            continue;
          }
          if (t.deletes === 'ignore') {
            throw new TablesyncError(
              'CdcTruncateRefused',
              `${name}: the source truncated the table, and its deletes are ignore, so cdc will not empty the target; set the table's deletes to hard or soft (then the truncate is applied), or reset-state for a new snapshot`,
            );
          }
          const r = await this.db.query(cdcDeleteSql(t.plan.target, keyColumns(t.plan), null, t.plan.softDeleteColumn));
          this.counts.truncated += r.rowCount ?? 0;
          touched.add(name);
        }
        continue;
      }
      const [name, t] = this.find(change.table);
      if (!this.applies(t, txn, index)) {
        this.counts.skipped++;
        continue;
      }
      touched.add(name);
      if (change.kind !== 'delete' && change.shape && change.shape !== t.shape) {
        if (!sameShape(t.plan, change.shape) && this.onShape) {
          // Rows before this one have the old columns: written before the target changes.
          await this.flushTable(t);
          await this.onShape(name, t, change.shape);
        }
        if (sameShape(t.plan, change.shape)) t.shape = change.shape;
      }
      // Most changes are gathered without waiting (a promise and a turn of the event loop each would cost more than
      // the gathering): only one that needs the table's pending changes written first waits.
      const writing = this.gather(t, change);
      if (writing) await writing;
    }
    return touched;
  }

  /** Adds a change to its table's pending ones; returns a promise only when it writes what is pending first. */
  private gather(t: CdcTable, change: Exclude<RowChange, { kind: 'truncate' }>): Promise<void> | undefined {
    const { plan } = t;
    if (change.kind === 'delete') return t.deletes === 'ignore' ? undefined : this.remove(t, plan.primaryKey.map((k) => change.oldKey[k]), 'rule');
    const whole = wholeRow(t, change);
    const { columns, values } = whole ? { columns: plan.columns, values: whole } : carried(plan, change.row);
    if (columns.length !== plan.columns.length && (change.kind === 'insert' || change.oldKey)) {
      // A key moved keeping values the log did not repeat: an update of the row at the old key, in order.
      return this.flushTable(t).then(async () => {
        await applyRow(this.db, t, change, this.counts);
        this.beat();
      });
    }
    const moving = change.kind === 'update' && change.oldKey ? this.remove(t, plan.primaryKey.map((k) => change.oldKey![k]), 'moved') : undefined;
    return moving ? moving.then(() => this.write(t, change, columns, values)) : this.write(t, change, columns, values);
  }

  /**
   * A key's row goes: by the table's delete rule, or `moved` (the old key of an update that changed it, always
   * hard). Returns a promise only when the table's pending changes are written first.
   */
  private remove(t: CdcTable, key: (string | null)[], kind: 'rule' | 'moved'): Promise<void> | undefined {
    const k = keyId(key);
    const p = this.pendingOf(t);
    if (p.writes.has(k) || p.patches.has(k)) {
      if (kind === 'rule' && t.plan.softDeleteColumn) {
        // A soft-deleted row keeps the values it had: they are written first.
        return this.flushTable(t).then(() => void this.pendingOf(t).deletes.set(k, { key, kind }));
      }
      // A hard delete leaves nothing of what was written before it: the write is dropped. The row was there
      // after it, so a delete by the rule counts one now, whatever its statement finds in the target.
      p.writes.delete(k);
      p.patches.delete(k);
      p.fresh.delete(k);
      p.deletes.set(k, { key, kind: kind === 'rule' ? 'counted' : kind });
      if (kind === 'rule') this.counts.deleted++;
      return undefined;
    }
    // A key deleted already (or moved away) has no row: deleting it again changes and counts nothing.
    if (!p.deletes.has(k)) p.deletes.set(k, { key, kind });
    return undefined;
  }

  /** An insert or update (its carried columns and values, plan order) pending by its key; a key deleted earlier in the batch is written first. */
  private write(t: CdcTable, change: Extract<RowChange, { kind: 'insert' | 'update' }>, columns: ColumnPlan[], values: (string | null)[]): Promise<void> | undefined {
    const k = keyId(t.plan.primaryKey.map((c) => change.row[c] as string | null));
    if (change.kind === 'insert') this.counts.inserted++;
    else this.counts.updated++;
    const { deletes } = this.pendingOf(t);
    const insert = change.kind === 'insert';
    if (deletes.size && deletes.has(k)) return this.flushTable(t).then(() => this.put(t, k, columns, values, insert));
    this.put(t, k, columns, values, insert);
    return undefined;
  }

  private put(t: CdcTable, k: KeyId, columns: ColumnPlan[], values: (string | null)[], insert: boolean): void {
    const { plan } = t;
    const p = this.pendingOf(t);
    if (columns.length === plan.columns.length) {
      // The key's first change in the batch (nothing pending for it): an insert's row is fresh; anything later keeps it so.
      if (insert && !plan.softDeleteColumn && !p.writes.has(k) && !(p.patches.size && p.patches.has(k))) p.fresh.add(k);
      if (p.patches.size) p.patches.delete(k);
      p.writes.set(k, values);
      return;
    }
    const row = p.writes.get(k);
    if (row) {
      // The whole row is pending: the update's values go into it, its other values stay.
      columns.forEach((c, i) => (row[plan.columns.indexOf(c)] = values[i]));
      return;
    }
    p.patches.set(k, { ...p.patches.get(k), ...Object.fromEntries(columns.map((c, i) => [c.name, values[i]])) });
  }

  /** Writes every table's pending changes. */
  async flush(): Promise<void> {
    for (const t of [...this.pending.keys()]) await this.flushTable(t);
  }

  private async flushTable(t: CdcTable): Promise<void> {
    const p = this.pending.get(t);
    if (!p) return;
    this.pending.delete(t);
    const { plan } = t;
    const key = keyColumns(plan);
    const flag = plan.softDeleteColumn;
    // Keys are in one map only, so the order of these statements does not matter.
    // One array parameter for a one-column key (see cdcDeleteKeysSql), else parameters under MAX_PARAMS.
    const per = key.length === 1 ? ARRAY_KEYS : Math.max(1, Math.floor(MAX_PARAMS / key.length));
    for (const kind of ['rule', 'counted', 'moved'] as const) {
      const keys = [...p.deletes.values()].filter((d) => d.kind === kind).map((d) => d.key);
      for (let i = 0; i < keys.length; i += per) {
        // `counted` is only ever hard (a soft delete writes first): by the rule, or flag undefined, the same here.
        const r = await this.db.query(cdcDeleteKeysSql(plan.target, key, keys.slice(i, i + per), kind === 'rule' ? flag : undefined));
        if (kind === 'rule') this.counts.deleted += r.rowCount ?? 0;
        this.beat();
      }
    }
    for (const row of p.patches.values()) {
      await patchRow(this.db, plan, row);
      this.beat();
    }
    let rows: (string | null)[][];
    if (p.fresh.size >= COPY_ROWS) {
      const fresh: (string | null)[][] = [];
      rows = [];
      for (const [k, row] of p.writes) (p.fresh.has(k) ? fresh : rows).push(row);
      // A key the target has after all (a row written there by hand, say) fails the COPY: then they are upserted.
      if (!(await insertFresh(this.db, plan, fresh))) rows.push(...fresh);
      this.beat();
    } else rows = [...p.writes.values()];
    if (!rows.length) return;
    if (rows.length >= COPY_ROWS || rows.length * plan.columns.length > MAX_PARAMS) {
      await stagedUpsert(this.db, plan, rows, this.staged);
      this.beat();
      return;
    }
    await this.db.query(cdcUpsertSql(plan.target, plan.columns, key, rows, flag));
    this.beat();
  }
}

/** Bound values per statement, under PostgreSQL's 65,535. */
const MAX_PARAMS = 30_000;
/** Keys of a one-column key deleted per statement (one array parameter). */
const ARRAY_KEYS = 100_000;
/** Rows from which an upsert goes through a COPYed temporary table (fewer are bound as parameters, under MAX_PARAMS). */
const COPY_ROWS = 100;

/** PostgreSQL's unique_violation. */
const UNIQUE_VIOLATION = '23505';

/**
 * Inserts rows of keys the log says are new straight into the target with
 * COPY: the fastest way in, with no temporary table and no conflict check
 * per row (an upsert probes the key first). A key the target has after all
 * fails the COPY, which a savepoint undoes: false, and the rows are to be
 * upserted instead.
 */
async function insertFresh(db: Db, plan: TablePlan, rows: (string | null)[][]): Promise<boolean> {
  await db.query('SAVEPOINT tablesync_cdc_fresh');
  try {
    await pipeline(Readable.from(lines(rows)), db.query(copyFrom(copyIntoSql(plan.target, plan.columns, 'text'))));
  } catch (err) {
    if ((err as { code?: string }).code !== UNIQUE_VIOLATION) throw err;
    await db.query('ROLLBACK TO SAVEPOINT tablesync_cdc_fresh');
    return false;
  }
  await db.query('RELEASE SAVEPOINT tablesync_cdc_fresh');
  return true;
}

/**
 * Upserts many whole rows: COPYed into a temporary table of the target's
 * column types, then one INSERT ... SELECT. The temporary table is made once
 * per session and shape (its name says the columns and types) and emptied by
 * each commit, so a stream does not create and drop a table per batch (the
 * catalog would bloat); `used`: tables this transaction filled already.
 */
async function stagedUpsert(db: Db, plan: TablePlan, rows: (string | null)[][], used: Set<string>): Promise<void> {
  const shape = plan.columns.map((c) => `${c.targetName} ${c.targetType}`).join(',');
  const staging: TableRef = { schema: 'pg_temp', name: `tablesync_cdc_${createHash('sha256').update(`${displayName(plan.target)}|${shape}`).digest('hex').slice(0, 16)}` };
  if (used.has(staging.name)) await db.query(truncateTableSql(staging));
  else await db.query(cdcStagingSql(staging, plan.target, plan.columns));
  used.add(staging.name);
  const copy = db.query(copyFrom(copyIntoSql(staging, plan.columns, 'text')));
  await pipeline(Readable.from(lines(rows)), copy);
  await db.query(cdcUpsertFromSql(plan.target, staging, plan.columns, keyColumns(plan), plan.softDeleteColumn));
}

/** COPY text of the rows, in slices of about 1 MB rather than one string per row or one for all. */
function* lines(rows: (string | null)[][]): Generator<string> {
  let chunk = '';
  for (const row of rows) {
    chunk += cdcCopyLine(row);
    if (chunk.length >= 1 << 20) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/** One change alone, in order: an insert without every column, or an update that moved its key keeping values the log did not repeat. */
async function applyRow(db: Db, t: CdcTable, change: Extract<RowChange, { kind: 'insert' | 'update' }>, counts: CdcCounts): Promise<void> {
  const { plan } = t;
  const { columns, values } = carried(plan, change.row);
  if (change.kind === 'insert') {
    await db.query(cdcUpsertSql(plan.target, columns, keyColumns(plan), [values], plan.softDeleteColumn));
    counts.inserted++;
    return;
  }
  // Some values unchanged and not sent (TOAST): update the columns sent, keep the target's others.
  await updateRow(db, plan, columns, values, plan.primaryKey.map((k) => change.oldKey?.[k] ?? (change.row[k] as string | null)));
  counts.updated++;
}

/** An update that keeps its key and carries some columns (the others unchanged TOAST values): the target's others stay. */
async function patchRow(db: Db, plan: TablePlan, row: Record<string, ChangeValue>): Promise<void> {
  const { columns, values } = carried(plan, Object.fromEntries(plan.columns.map((c) => [c.name, row[c.name]])));
  await updateRow(db, plan, columns, values, plan.primaryKey.map((k) => row[k] as string | null));
}

async function updateRow(db: Db, plan: TablePlan, columns: ColumnPlan[], values: (string | null)[], oldKey: (string | null)[]): Promise<void> {
  const r = await db.query(cdcUpdateSql(plan.target, columns, values, keyColumns(plan), oldKey, plan.softDeleteColumn));
  if (r.rowCount === 0) {
    // Never write NULL over a value the log did not send: a row the target lacks here means a gap.
    throw new TablesyncError(
      'CdcGap',
      `${displayName(plan.source)}: an update of key ${JSON.stringify(oldKey)} keeps values the log does not repeat, but the target has no such row; run tablesync reset-state for the table for a new snapshot`,
    );
  }
}

/** A cdc table's state: the stream (slot) it follows and the position it is applied up to, in the same transaction as its rows. */
export function cdcState(table: TablePlan, stream: string, position: string, positionType: string, run: { workflowId: string; runId: string }, counts: CdcCounts & { rowsCopied?: number }): TableState {
  const totals = { rowsCopied: counts.rowsCopied ?? 0, inserted: counts.inserted, updated: counts.updated, deleted: counts.deleted + counts.truncated };
  return runState(table, run, totals, { mode: 'cdc', write: null, cursorColumn: stream, cursorValue: position, cursorType: positionType });
}
