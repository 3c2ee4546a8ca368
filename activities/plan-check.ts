import { createHash } from 'node:crypto';
import type { SyncConfig } from '../lib/config';
import { refKey, type SourceTable } from '../lib/sources/base';
import { targetRefOf } from '../lib/table-plan';
import { displayName } from '../lib/tables';
import { savedColumnTypesSql } from '../lib/state';
import type { ColumnTypes, TablePlan } from '../lib/types';
import type { ConnectionRegistry } from './connections';
import { nonRetryable } from './errors';

// A table plan travels through workflow history between the activity that
// made it and the ones that run it, and the source types in it are spliced
// into casts on the source. A plan this worker made (discoverTables,
// createSyncTasks) is remembered by digest; any other is checked against the
// source catalog once before it is used: its source types must be the
// catalog's, its key the table's key, its target the table the config names.
// A cdc batch's plan may instead be one the table's saved state holds (see
// CheckOptions.saved): memory does not outlive the worker, the state does.

/** What of a plan is spliced into SQL as text (names are always quoted; values always bound). */
function typeFacts(table: TablePlan): unknown {
  const log = table.changelog;
  return [
    table.source,
    table.target,
    table.primaryKey,
    table.columns?.map((c) => [c.name, c.sourceType, c.targetType]),
    table.cursor && [table.cursor.column, table.cursor.sourceType, table.cursor.dataType],
    log && [log.table, log.key, log.position, log.positionType, log.positionDataType, log.keyType, log.keyDataType, log.where?.map(([c, , t, d]) => [c, t, d])],
    table.rowFilter,
  ];
}

const LIMIT = 100_000;

export interface CheckOptions {
  /**
   * A plan whose columns the source catalog no longer has may still be one
   * this worker ran: its columns and types are those the table's state saved
   * (now, or before its last save) in the same mode. For a stream's batches,
   * whose plans outlive the worker process that made them: the source may
   * have changed shape since, which the batch itself must meet.
   */
  saved?: boolean;
}

export class PlanCheck {
  private readonly known = new Set<string>();

  constructor(private readonly connections: ConnectionRegistry) {}

  private digest(config: SyncConfig, table: TablePlan): string {
    const facts = JSON.stringify([config.source.connection, config.target.connection, typeFacts(table)]);
    return createHash('sha256').update(facts).digest('hex');
  }

  /** A plan this worker made (or checked): later steps that carry it need no catalog query. */
  remember(config: SyncConfig, table: TablePlan): void {
    if (this.known.size >= LIMIT) this.known.clear();
    this.known.add(this.digest(config, table));
  }

  /**
   * check() of every plan of a step's input: the source tables of those this
   * worker does not know are described at once first (a step of a batch
   * carries hundreds), each then checked as alone.
   */
  async checkAll(config: SyncConfig, tables: TablePlan[], where: string, options: CheckOptions = {}): Promise<void> {
    const unknown = tables.filter((t) => t?.source && !this.known.has(this.digest(config, t)));
    let described = new Map<string, SourceTable>();
    if (unknown.length > 1) {
      const refs = unknown.map((t) => ({ schema: t.source.schema, name: t.source.name }));
      described = await this.connections.source(config.source.connection).describeTables(refs).catch(() => described);
    }
    for (const t of tables) await this.check(config, t, where, described, options);
  }

  /**
   * The plan's columns, with their source and target types, are exactly those
   * the target's state for its table saved now or before its last save, in
   * the plan's mode and for its source table. Only a worker writes that state
   * (in the transaction that wrote the rows by the plan), so a plan found
   * there is one a worker ran, not one workflow input made up.
   */
  private async savedPlan(config: SyncConfig, table: TablePlan): Promise<boolean> {
    type Saved = { mode: string | null; schema: string | null; name: string | null; types: Record<string, ColumnTypes> | null } | null;
    let saved: { now: Saved; before: Saved } | undefined;
    try {
      saved = (await this.connections.pg(config.target.connection).query(savedColumnTypesSql(config.target.stateSchema, table.target))).rows[0];
    } catch (err) {
      // No state tables (yet): nothing was saved. Anything else is retried with the step.
      if ((err as { code?: string }).code === '42P01') return false;
      throw err;
    }
    const same = (s: Saved) => {
      if (!s?.types || s.mode !== table.mode || s.schema !== table.source.schema || s.name !== table.source.name) return false;
      const kept = Object.entries(s.types).filter(([, t]) => !t.dropped);
      return (
        kept.length === table.columns.length &&
        table.columns.every((c) => {
          const t = Object.hasOwn(s.types!, c?.name) ? s.types![c.name] : undefined;
          return t !== undefined && !t.dropped && t.source === c.sourceType && t.target === c.targetType;
        })
      );
    };
    return Boolean(saved && (same(saved.now) || same(saved.before)));
  }

  async check(config: SyncConfig, table: TablePlan, where: string, described?: Map<string, SourceTable>, options: CheckOptions = {}): Promise<void> {
    const name = table?.source ? displayName(table.source) : '(no source table)';
    const refuse = (what: string) =>
      nonRetryable(
        'InvalidInput',
        `${where}: the plan of ${name} ${what}. A plan is made by the sync's own planning step; one that does not match ` +
          `the source catalog is not run (if the source changed since the sync was planned, run it again)`,
      );
    if (!table?.source || !table.target || !Array.isArray(table.columns) || !Array.isArray(table.primaryKey)) throw refuse('is incomplete');
    const target = targetRefOf(config, table.source);
    if (target.schema !== table.target.schema || target.name !== table.target.name) {
      throw refuse(`names target ${displayName(table.target)}, but the config makes it ${displayName(target)}`);
    }
    const digest = this.digest(config, table);
    if (this.known.has(digest)) return;
    const source = this.connections.source(config.source.connection);
    const found = described?.get(refKey(table.source)) ?? (await source.describeTable(table.source));
    if (!found) throw refuse('names a table the source does not have');
    const columns = new Map(found.columns.map((c) => [c.name, c]));
    const unlike = table.columns.findIndex((c) => columns.get(c?.name)?.type !== c?.sourceType || typeof c?.sourceType !== 'string');
    if (unlike >= 0 && !(options.saved && (await this.savedPlan(config, table)))) {
      const c = table.columns[unlike];
      throw refuse(`has columns[${unlike}] "${c?.name}" ${c?.sourceType}, which the source table does not have`);
    }
    if (table.primaryKey.join('\u0000') !== found.primaryKey.join('\u0000')) throw refuse(`has key (${table.primaryKey.join(', ')}), not the table's (${found.primaryKey.join(', ')})`);
    const cursor = table.cursor;
    if (cursor) {
      const s = columns.get(cursor.column);
      if (!s || s.type !== cursor.sourceType || s.dataType !== cursor.dataType) throw refuse(`has cursor "${cursor.column}" ${cursor.sourceType}, which the source table does not have`);
    }
    const filter = table.rowFilter;
    if (filter && 'equals' in filter) {
      // Its columns' types are spliced into casts, as the cursor's are.
      for (const [column, , type, dataType] of filter.equals) {
        const s = columns.get(column);
        if (!s || s.type !== type || s.dataType !== dataType) throw refuse(`has a where on "${column}" ${type}, which the source table does not have`);
      }
    }
    const log = table.changelog;
    if (log) {
      const logTable = log.table && (await source.describeTable(log.table));
      if (!logTable) throw refuse('names a change log the source does not have');
      const logColumns = new Map(logTable.columns.map((c) => [c.name, c]));
      const same = (column: string, type: string, dataType: string) => {
        const s = logColumns.get(column);
        return s !== undefined && s.type === type && s.dataType === dataType;
      };
      const key = columns.get(found.primaryKey[0]);
      if (!same(log.position, log.positionType, log.positionDataType)) throw refuse(`has a change-log position "${log.position}" ${log.positionType} the log does not have`);
      if (!key || key.type !== log.keyType || key.dataType !== log.keyDataType) throw refuse(`has a change-log key type ${log.keyType} that is not the table key's`);
      for (const [column, , type, dataType] of log.where ?? []) {
        if (!same(column, type, dataType)) throw refuse(`has a change-log filter on "${column}" ${type} the log does not have`);
      }
    }
    this.remember(config, table);
  }
}
