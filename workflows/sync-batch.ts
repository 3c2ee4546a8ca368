import { ChildWorkflowFailure, ApplicationFailure, executeChild, isCancellation, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities, BatchTotals, RunKey, SyncSmallTablesResult } from '../activities';
import { mapLimit } from '../lib/concurrency';
import type { SyncConfig } from '../lib/config';
import { rootMessage } from '../lib/failures';
import { groupSmallTasks, MAX_GROUP_TABLES_BEFORE } from '../lib/planner';
import { tableLabel, tableResultOf } from '../lib/summary';
import type { FailedTable, SkippedTable, SyncTask, TableResult } from '../lib/types';
import { activityOptions, catalogActivities } from './options';
import { counted, newSyncProgress, syncProgressQuery, tableProgress, type TableProgress } from './progress';
import { refuseForeignRunClaim } from './run-claim';
import { syncTableWorkflow } from './sync-table';

/**
 * Runs each task as its child syncTableWorkflow, `limit` at once, keeping
 * `entries[i]` (task i's progress) up to date. A child that fails gives a
 * failed result with what it did land; the others go on. When more small
 * tables wait than `limit` slots run, they go in groups of a syncSmallTables
 * activity each instead (see groupSmallTasks); a table the group could not
 * finish for a reason a retry may fix, or every table of a group whose
 * activity failed, then runs as its own child, with the configured retries.
 * (A group's committed tables are found in _migration_state by that child.)
 */
export async function syncTables(
  config: SyncConfig,
  tasks: SyncTask[],
  entries: TableProgress[],
  runKey: Required<Pick<RunKey, 'syncWorkflowId' | 'syncRunId'>>,
  limit: number,
): Promise<TableResult[]> {
  // Each child labelled with its table and mode in the Web UI (not just "syncTableWorkflow").
  // patched(): runs started before labels replay their children's start commands as they were.
  const labelled = patched('web-ui-summaries');
  const runOne = async (i: number): Promise<TableResult> => {
    const task = tasks[i];
    const table = `${task.table.source.schema}.${task.table.source.name}`;
    const entry = entries[i];
    entry.phase = 'copy';
    delete entry.grouped;
    try {
      const done = await executeChild(syncTableWorkflow, {
        workflowId: `${runKey.syncWorkflowId}/${table}`,
        args: [{ config, task, ...runKey }],
        ...(labelled && { staticSummary: tableLabel(task) }),
      });
      Object.assign(entry, { phase: 'done', partitionsDone: entry.partitionsTotal, rowsCopied: done.rowsCopied });
      return done;
    } catch (err) {
      entry.phase = 'failed';
      return tableFailure(task, err);
    }
  };
  let plan = groupSmallTasks(tasks, config, limit, MAX_GROUP_TABLES_BEFORE);
  // patched(): runs started before groups replay with a child per table.
  if (!plan.groups.length || !patched('small-table-groups')) return mapLimit(tasks, limit, (_, i) => runOne(i));
  // Groups of up to 50 tables (two target transactions of 25): half the activities where slots are few
  // (a batch's 200 tables in 4 slots). patched(): runs started before keep groups of 25.
  if (patched('small-groups-of-50')) plan = groupSmallTasks(tasks, config, limit);
  const results = new Array<TableResult>(tasks.length);
  const runGroup = async (group: number[]): Promise<void> => {
    for (const i of group) Object.assign(entries[i], { phase: 'copy', grouped: true });
    const names = group.map((i) => entries[i].table);
    const { syncSmallTables } = proxyActivities<Activities>({
      ...activityOptions(config, 'transfer'),
      // No retry here: a table that needs one gets it as its own workflow, below.
      retry: { maximumAttempts: 1 },
      summary: `${names.length} tables: ${names.join(', ')}`,
    });
    let done: SyncSmallTablesResult;
    try {
      done = await syncSmallTables({ config, tasks: group.map((i) => tasks[i]), ...runKey });
    } catch (err) {
      if (isCancellation(err)) {
        for (const i of group) {
          entries[i].phase = 'failed';
          results[i] = tableResultOf(tasks[i], [], [rootMessage(err)]);
        }
        return;
      }
      for (const i of group) results[i] = await runOne(i);
      return;
    }
    for (const [k, i] of group.entries()) {
      if (done.again.includes(k)) {
        results[i] = await runOne(i);
        continue;
      }
      const r = done.tables[k];
      Object.assign(entries[i], { phase: r.status === 'failed' ? 'failed' : 'done', partitionsDone: r.status === 'failed' ? 0 : r.partitions, rowsCopied: r.rowsCopied });
      results[i] = r;
    }
  };
  // Tables alone first: they are the big ones, and small groups fill the slots around them.
  const units: Array<() => Promise<void>> = [
    ...plan.alone.map((i) => async () => void (results[i] = await runOne(i))),
    ...plan.groups.map((g) => () => runGroup(g)),
  ];
  await mapLimit(units, limit, (unit) => unit());
  return results;
}

/** A table whose steps failed (TableSyncFailed, from its child or run in the sync itself), with what did land. */
export function tableFailure(task: SyncTask, err: unknown): TableResult {
  const cause = err instanceof ChildWorkflowFailure ? err.cause : err;
  const partial = cause instanceof ApplicationFailure && cause.details?.length ? (cause.details[0] as TableResult) : undefined;
  return {
    ...tableResultOf(task, [], []),
    status: 'failed',
    warnings: partial?.warnings ?? [],
    rowsCopied: partial?.rowsCopied ?? 0,
    inserted: partial?.inserted ?? 0,
    updated: partial?.updated ?? 0,
    unchanged: partial?.unchanged ?? 0,
    deleted: partial?.deleted ?? 0,
    error: partial?.error ?? rootMessage(err),
    ...(partial?.verification && { verification: partial.verification }),
  };
}

export interface SyncBatchInput {
  /** Normalised config from the parent's initializeState. */
  config: SyncConfig;
  /** The batch's tables, "schema.table", as the parent's discoverTables named them (runs from before batches in the state). */
  tables?: string[];
  /** The batch's number: its tables' names are in the state, where its results go (see activities/batches.ts). */
  batch?: number;
  syncWorkflowId: string;
  syncRunId: string;
  /** Tables of this batch synced at once. */
  maxParallel: number;
}

export interface SyncBatchResult {
  tables: TableResult[];
  skipped: SkippedTable[];
  failed: FailedTable[];
  plan: string[];
}

/**
 * Tasks to run, and tables whose planning failed (createSyncTasks reports
 * those instead of failing every table; histories from before it never have any).
 */
export function splitRefused(planned: SyncTask[]): { tasks: SyncTask[]; refused: FailedTable[] } {
  return { tasks: planned.filter((t) => !t.failed), refused: planned.flatMap((t) => (t.failed ? [t.failed] : [])) };
}

/**
 * One batch of a sync of many tables: plans its tables and runs each as a
 * child syncTableWorkflow, so the parent's history grows with the number of
 * batches, not of tables. Answers the same `progress` query as the parent,
 * for its own tables.
 */
export async function syncBatchWorkflow(input: SyncBatchInput): Promise<SyncBatchResult | BatchTotals> {
  const progress = newSyncProgress();
  setHandler(syncProgressQuery, () => counted(progress));
  const { config, syncWorkflowId, syncRunId, batch } = input;
  refuseForeignRunClaim('syncBatchWorkflow', syncWorkflowId, syncRunId);
  const acts = catalogActivities(config);
  // The input says which kind of run started the batch, so a history replays down the path it took.
  const which = batch !== undefined ? { batch } : { only: input.tables ?? [] };
  // The batch's discovery plans its tasks too, and returns only those: one activity and one copy of every plan
  // fewer in the batch's history. patched(): batches started before replay with createSyncTasks.
  const planned = patched('batch-tasks-in-discovery');
  const discovered = await acts.discoverTables({ config, ...which, syncWorkflowId, syncRunId, ...(planned && { withTasks: true, onlyTasks: true }) });
  const { tables, skipped, failed = [], plan = [] } = discovered;
  const { tasks, refused } = splitRefused(discovered.tasks ?? (tables.length ? await acts.createSyncTasks({ config, tables }) : []));
  failed.push(...refused);
  progress.tables = tasks.map(tableProgress);
  progress.phase = 'sync';
  const results = await syncTables(config, tasks, progress.tables, { syncWorkflowId, syncRunId }, input.maxParallel);
  const result = { tables: results, skipped, failed, plan };
  // Its results go into the state; the sync gets counts, so its history does not grow with the tables.
  const outcome = batch !== undefined ? await acts.saveBatchResult({ config, syncWorkflowId, syncRunId, batch, result }) : result;
  progress.phase = 'done';
  return outcome;
}
