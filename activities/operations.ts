import type { PoolClient } from 'pg';
import type { SyncConfig } from '../lib/config';
import { resolveConfigTables, type ResolvedTable } from '../lib/discovery';
import { TablesyncError } from '../lib/errors';
import { configTraits, settingsOf } from '../lib/modes';
import {
  resetTableState,
  setTableMode,
  type LocatedTable,
  type ResetStateInput,
  type SetModeInput,
  type TableOperationInput,
} from '../lib/modes/state-operations';
import type { SourceConnection } from '../lib/sources/base';
import type { StreamPosition } from '../lib/sources/changes';
import { lastRunSql, readTableStateSql, tableStateLockSql, type TableState } from '../lib/state';
import { targetRefOf } from '../lib/table-plan';
import { displayName, parseTableName } from '../lib/tables';
import type { TableRef } from '../lib/types';
import { inTransaction, type ActivityDeps } from './context';
import { classifyError, nonRetryable } from './errors';
import { followingStream } from '../lib/modes/cdc/state';


// Operations on a table's saved state: reset-state, set-mode, status. Each
// change runs in one target transaction that locks the state row (FOR
// UPDATE) and writes the new state with its history row; a dry run does the
// same reads and changes nothing. What each may do is the modes' (lib/modes/state-operations.ts).

export type { ResetStateInput, SetModeInput, SetModeResult, StateChange, TableOperationInput } from '../lib/modes/state-operations';

export interface TableStatusInput {
  config: SyncConfig;
  /** Source tables to show; default: every table of the config. */
  tables?: string[];
}

export interface TableStatus {
  table: string;
  target: string;
  mode: string;
  write: string | null;
  cursorColumn: string | null;
  cursorValue: string | null;
  cursorType: string | null;
  /** When the saved state last changed, and how (run, reset-state, set-mode). */
  stateChangedAt: string | null;
  /**
   * A cdc table's stream, as its state names it: the replication slot, the
   * workflow that last applied to the table, and the slot as the source has
   * it now (null: the slot is gone).
   */
  stream?: {
    name: string;
    workflowId: string | null;
    slot: StreamPosition | null;
    /** The source keeps its log for the stream (a PostgreSQL slot); false for a binlog, which keeps nothing per reader. */
    holdsLog?: boolean;
  };
  lastRun: {
    workflowId: string;
    runId: string;
    startedAt: string | null;
    endedAt: string | null;
    status: string;
    rowsCopied: number;
    inserted: number;
    updated: number;
    unchanged: number;
    deleted: number;
    error: string | null;
  } | null;
}

const invalid = (message: string) => new TablesyncError('InvalidConfig', message);

/** The config's entry for one table, its settings and its target; an unknown table is an error naming it. */
async function locate(source: SourceConnection, config: SyncConfig, spec: string) {
  const defaultSchema = config.source.schema ?? source.dialect.defaultSchema;
  let wanted: TableRef;
  try {
    wanted = parseTableName(spec, defaultSchema);
  } catch (err) {
    throw invalid((err as Error).message);
  }
  const rule = await source.nameRule();
  const { refs } = await resolveConfigTables(source, config);
  const key = (r: TableRef) => `${rule.key(r.schema)}.${rule.key(r.name)}`;
  const ref = refs.find((r) => key(r) === key(wanted));
  if (!ref) {
    throw new TablesyncError('UnknownTable', `${displayName(wanted)} is not one of the config's tables (${refs.map(displayName).join(', ') || 'none found'})`);
  }
  const described = await source.describeTable(ref);
  if (!described) throw new TablesyncError('UnknownTable', `Source table ${displayName(ref)} does not exist`);
  return { ref, described, settings: settingsOf(config, ref), target: targetRefOf(config, ref) };
}

async function lockedState(client: PoolClient, config: SyncConfig, target: TableRef): Promise<TableState | null> {
  // No row yet (a table never synced in cursor mode): the advisory lock serializes operations on it.
  await client.query(tableStateLockSql(target));
  return ((await client.query(readTableStateSql(config.target.stateSchema, target, true))).rows[0] as TableState | undefined) ?? null;
}

const stateOnly = (s: TableState | null): TableState | null =>
  s && {
    sourceSchema: s.sourceSchema,
    sourceTable: s.sourceTable,
    mode: s.mode,
    write: s.write,
    cursorColumn: s.cursorColumn,
    cursorValue: s.cursorValue,
    cursorType: s.cursorType,
    columns: s.columns,
    lastWorkflowId: s.lastWorkflowId,
    lastRunId: s.lastRunId,
    lastCounts: s.lastCounts,
  };

async function tableStatus(source: SourceConnection, deps: ActivityDeps, input: TableStatusInput): Promise<TableStatus[]> {
  const { config } = input;
  const { refs } = await resolveConfigTables(source, config);
  let chosen: ResolvedTable[] = refs;
  if (input.tables?.length) {
    chosen = [];
    for (const spec of input.tables) chosen.push((await locate(source, config, spec)).ref);
  }
  const pool = deps.connections.pg(config.target.connection);
  const out: TableStatus[] = [];
  for (const ref of chosen) {
    const target = targetRefOf(config, ref);
    const state = (await pool.query(readTableStateSql(config.target.stateSchema, target))).rows[0] as (TableState & { updatedAt: Date }) | undefined;
    const run = (await pool.query(lastRunSql(config.target.stateSchema, target))).rows[0];
    const settings = settingsOf(config, ref);
    // What the config would run it with when no state says otherwise: the options its mode takes.
    const takes = (option: 'write' | 'cursor') => configTraits(settings.mode).every((t) => t.options.includes(option));
    // The slot on the source as it is now: its lag, and whether it is there at all (a slot left behind holds WAL).
    const capture = source.changeCapture;
    const following = followingStream(state);
    const stream =
      following && capture
        ? {
            name: following.stream,
            workflowId: state?.lastWorkflowId ?? null,
            // A binlog keeps nothing per stream: its lag is measured from the position the table's state saved.
            slot: await capture.position(following.stream, following.position).catch((err) => {
              // A binlog purged past the saved position: status says so rather than fail (the stream fails with CdcGap).
              if (!capture.holdsLog && (err as { type?: string }).type === 'CdcGap') return null;
              throw err;
            }),
            holdsLog: capture.holdsLog,
          }
        : undefined;
    out.push({
      ...(stream && { stream }),
      table: displayName(ref),
      target: displayName(target),
      mode: state?.mode ?? settings.mode,
      write: state ? state.write : takes('write') ? settings.write : null,
      cursorColumn: state ? state.cursorColumn : takes('cursor') ? (settings.cursor ?? null) : null,
      cursorValue: state?.cursorValue ?? null,
      cursorType: state?.cursorType ?? null,
      stateChangedAt: state ? new Date(state.updatedAt).toISOString() : null,
      lastRun: run
        ? {
            workflowId: run.workflowId,
            runId: run.runId,
            startedAt: run.startedAt ? new Date(run.startedAt).toISOString() : null,
            endedAt: run.endedAt ? new Date(run.endedAt).toISOString() : null,
            status: run.status,
            rowsCopied: Number(run.rowsCopied),
            inserted: Number(run.inserted),
            updated: Number(run.updated),
            unchanged: Number(run.unchanged),
            deleted: Number(run.deleted),
            error: run.error,
          }
        : null,
    });
  }
  return out;
}

/** A change of a table's state in one target transaction, under the lock of its state row. */
async function changeState<I extends TableOperationInput, R>(
  source: SourceConnection,
  deps: ActivityDeps,
  input: I,
  change: (client: PoolClient, source: SourceConnection, located: LocatedTable, before: TableState | null, input: I) => Promise<R>,
): Promise<R> {
  const located = await locate(source, input.config, input.table);
  return inTransaction(deps.connections, input.config.target.connection, async (client) => {
    const before = stateOnly(await lockedState(client, input.config, located.target));
    return change(client, source, located, before, input);
  });
}

/** Runs an operation; its own refusals fail it for good, with their type and message. */
async function operation<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof TablesyncError) throw nonRetryable(err.type, err.message);
    throw classifyError(err, what);
  }
}

export function createOperationActivities(deps: ActivityDeps) {
  const source = (config: SyncConfig) => deps.connections.source(config.source.connection);
  return {
    resetTableState: (input: ResetStateInput) => operation(`reset-state ${input.table}`, () => changeState(source(input.config), deps, input, resetTableState)),
    setTableMode: (input: SetModeInput) => operation(`set-mode ${input.table}`, () => changeState(source(input.config), deps, input, setTableMode)),
    readTableStatus: (input: TableStatusInput) => operation('status', () => tableStatus(source(input.config), deps, input)),
  };
}
