import type { SyncModeName } from '../lib/modes/names';
import { defineQuery } from '@temporalio/workflow';
import type { FailedTable, SyncTask } from '../lib/types';

/**
 * What a table's sync is doing. copy: partitions running (in an incremental
 * table each chunk copies and applies its upsert in one transaction); swap: a
 * full load's table being swapped in; verify: verifyAfterSync checks.
 */
export type TablePhase = 'waiting' | 'copy' | 'apply' | 'swap' | 'verify' | 'done' | 'failed';

export interface TableProgress {
  table: string;
  target: string;
  mode: SyncModeName;
  phase: TablePhase;
  estimatedRows: number;
  partitionsTotal: number;
  partitionsDone: number;
  /** Rows of the partitions that completed; rows of running ones are in their activities' heartbeat details. */
  rowsCopied: number;
  /** Runs inside a syncSmallTables activity of its batch (or sync): no syncTableWorkflow of its own to ask. */
  grouped?: boolean;
  /** Run by the sync workflow itself (no syncTableWorkflow): this entry is live, its partition heartbeats on the sync. */
  here?: boolean;
}

export interface SyncProgress {
  /** plan: initializeState, discoverTables, createSyncTasks; sync: tables running; collect: summary. */
  phase: 'plan' | 'sync' | 'collect' | 'done';
  tablesTotal: number;
  tablesDone: number;
  tablesFailed: number;
  tablesRunning: number;
  tables: TableProgress[];
  /** A sync of many tables: the batch workflows running now, each answering this query for its own tables. */
  batches?: string[];
  /**
   * A sync of many tables whose `tables` lists none (batches in the state):
   * the counts above cover the batches that ended and discovery's refusals,
   * the running batches answer for their own; these rows were copied by the
   * batches that ended.
   */
  rowsCopied?: number;
}

/** On incrementalSyncWorkflow: the run as a whole. A query adds no command, so histories replay unchanged. */
export const syncProgressQuery = defineQuery<SyncProgress>('progress');
/** On syncTableWorkflow: one table (the parent's view of it lags until the child ends). */
export const tableProgressQuery = defineQuery<TableProgress>('progress');

export function tableProgress(task: SyncTask): TableProgress {
  return {
    table: `${task.table.source.schema}.${task.table.source.name}`,
    target: `${task.table.target.schema}.${task.table.target.name}`,
    mode: task.table.mode,
    phase: 'waiting',
    estimatedRows: task.estimatedRows,
    partitionsTotal: task.partitions.length,
    partitionsDone: 0,
    rowsCopied: 0,
  };
}

/** A table whose syncTableWorkflow was started alone and is still planning. */
export function planningProgress(table = ''): TableProgress {
  return { table, target: '', mode: 'compare', phase: 'waiting', estimatedRows: 0, partitionsTotal: 0, partitionsDone: 0, rowsCopied: 0 };
}

/** A table refused at discovery: failed before any row moved. */
export function refusedProgress(f: FailedTable): TableProgress {
  return { table: f.table, target: f.target ?? '', mode: 'compare', phase: 'failed', estimatedRows: 0, partitionsTotal: 0, partitionsDone: 0, rowsCopied: 0 };
}

export function newSyncProgress(): SyncProgress {
  return { phase: 'plan', tablesTotal: 0, tablesDone: 0, tablesFailed: 0, tablesRunning: 0, tables: [] };
}

/** The parent's answer, counted from its table entries. */
export function counted(p: SyncProgress): SyncProgress {
  const n = (pred: (t: TableProgress) => boolean) => p.tables.filter(pred).length;
  return {
    ...p,
    tablesTotal: p.tables.length,
    tablesDone: n((t) => t.phase === 'done'),
    tablesFailed: n((t) => t.phase === 'failed'),
    tablesRunning: n((t) => t.phase !== 'done' && t.phase !== 'failed' && t.phase !== 'waiting'),
  };
}
