import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { mapLimit } from '../lib/concurrency';
import { tableSteps } from '../lib/modes/names';
import type { SyncConfig } from '../lib/config';
import { rootMessage } from '../lib/failures';
import { tableDoneDetails, tableLabel, tableResultOf, tableRunningDetails } from '../lib/summary';
import type { PartitionResult, SyncTask, TableResult } from '../lib/types';
import { refuseForeignRunClaim } from './run-claim';
import { activityOptions, catalogActivities, rawRetry } from './options';
import { planningProgress, tableProgress, tableProgressQuery, type TableProgress } from './progress';
import { verifyTable } from './verify';

export interface SyncTableInput {
  /** Normalised config from initializeState; raw config when started alone. */
  config: unknown;
  /** "schema.table": enough when this workflow is started on its own. */
  table?: string;
  /** The plan made by the parent; absent when started on its own. */
  task?: SyncTask;
  /** The sync this table belongs to, for _migration_state; defaults to this workflow. */
  syncWorkflowId?: string;
  syncRunId?: string;
}

export type SyncTableResult = TableResult;

/** Plans one table itself when started alone (e.g. from the Web UI). */
async function planAlone(input: SyncTableInput): Promise<{ config: SyncConfig; task: SyncTask }> {
  if (!input.table) {
    throw ApplicationFailure.nonRetryable('syncTableWorkflow needs either task or table in its input', 'InvalidConfig');
  }
  const raw = { ...(input.config as Record<string, unknown>), tables: [input.table] };
  const { config } = await catalogActivities(rawRetry(raw)).initializeState({ config: raw });
  const acts = catalogActivities(config);
  const info = workflowInfo();
  const { tables, skipped, failed } = await acts.discoverTables({
    config,
    syncWorkflowId: input.syncWorkflowId ?? info.workflowId,
    syncRunId: input.syncRunId ?? info.runId,
  });
  if (tables.length === 0) {
    const refused = failed?.[0];
    if (refused) throw ApplicationFailure.nonRetryable(`${input.table}: ${refused.reason}`, refused.type);
    const reason = skipped[0]?.reason ?? 'not found';
    throw ApplicationFailure.nonRetryable(`${input.table} skipped: ${reason}`, 'TableSkipped');
  }
  const [task] = await acts.createSyncTasks({ config, tables });
  if (task.failed) throw ApplicationFailure.nonRetryable(task.failed.reason, task.failed.type);
  return { config, task };
}

export async function syncTableWorkflow(input: SyncTableInput): Promise<SyncTableResult> {
  // A task is the plan a sync's worker made (its parent passes it down). One
  // given to a workflow started on its own came from whoever started it: it
  // is refused, never run. (No command unless refused: children replay as before.)
  if (input.task && !workflowInfo().parent && patched('refuse-hand-made-task')) {
    throw ApplicationFailure.nonRetryable(
      'syncTableWorkflow started on its own takes `table` ("schema.table") and plans it itself; `task` is made by the sync that starts it as a child, and is not accepted from workflow input',
      'InvalidInput',
    );
  }
  refuseForeignRunClaim('syncTableWorkflow', input.syncWorkflowId, input.syncRunId);
  let progress: TableProgress = input.task ? tableProgress(input.task) : planningProgress(input.table);
  setHandler(tableProgressQuery, () => progress);
  const { config, task } = input.task
    ? { config: input.config as SyncConfig, task: input.task }
    : await planAlone(input);
  progress = { ...tableProgress(task), phase: 'copy' };
  const info = workflowInfo();
  const runKey = { syncWorkflowId: input.syncWorkflowId ?? info.workflowId, syncRunId: input.syncRunId ?? info.runId };
  return runTableSteps(config, task, runKey, progress);
}

/**
 * One table's steps, as its syncTableWorkflow runs them (or the sync itself,
 * for a table it runs without a child): `progress` is kept up to date; a
 * table that failed throws TableSyncFailed carrying what did land.
 */
export async function runTableSteps(
  config: SyncConfig,
  task: SyncTask,
  runKey: { syncWorkflowId: string; syncRunId: string },
  progress: TableProgress,
  /** The Web UI's label of its partitions' activities (a table run without a child workflow). */
  summary?: string,
): Promise<SyncTableResult> {
  // The Web UI's current details: what the table is doing, then what it did (no command: replays as before).
  setCurrentDetails(`${tableLabel(task)}: ${tableRunningDetails(task)}`);
  // The mode decides the sequence: a load table filled, then swapped in; or each partition applied in place.
  const full = tableSteps(task.table.mode) === 'load-and-swap';
  const acts = catalogActivities(config);
  // A full load's state says what is in the target: on cancel, the workflow
  // waits for its partitions and its swap to end (each marks itself, the swap
  // cancels its key build) before it drops the load table, and a load not
  // swapped in marks its partitions' rows. patched(): runs started before
  // replay with the steps they had.
  const settled = full && patched('full-load-state-follows-swap');
  const transfer = activityOptions(config, 'transfer');
  const waiting = { ...transfer, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };
  const { syncPartition } = proxyActivities<Activities>({ ...(settled ? waiting : transfer), ...(summary && { summary }) });
  const { swapLoadTable } = settled ? proxyActivities<Activities>(waiting) : acts;
  const table = `${task.table.source.schema}.${task.table.source.name}`;
  // A small table loads in one activity: create, copy, key, swap in one transaction.
  // patched(): runs started before this change replay with three activities.
  const whole = full && task.partitions.length === 1 && task.estimatedRows <= config.batchSize && patched('whole-table-load');
  const errors: string[] = [];
  // A cancelled run (the CLI cancels the run it started when interrupted) ends cancelled, after its cleanup.
  let cancelled: unknown = null;
  const failed = (err: unknown, message = rootMessage(err)) => {
    if (isCancellation(err)) cancelled ??= err;
    errors.push(message);
  };
  let loadReady = true;
  // Block ranges (planned for PostgreSQL sources) read under one snapshot, which createLoadTable exports and
  // its worker holds until the swap. Tasks planned before had none: the same commands, with the same input.
  const byBlocks = task.partitions.some((p) => p.blocks);
  let snapshot: string | undefined;
  if (full && !whole && loadReady) {
    try {
      const created = await acts.createLoadTable({ config, table: task.table, ...runKey, ...(byBlocks && { holdSnapshot: true }) });
      snapshot = created?.snapshot;
    } catch (err) {
      loadReady = false;
      failed(err);
    }
  }
  const results = await mapLimit(loadReady ? task.partitions : [], config.maxParallelTransfers, async (range) => {
    try {
      const chunking = { min: task.keyMin ?? null, max: task.keyMax ?? null, estimatedRows: task.estimatedRows };
      const done = await syncPartition({ config, table: task.table, range, chunking, ...(whole && { wholeLoad: true }), ...(snapshot && { snapshot }), ...runKey });
      progress.partitionsDone++;
      progress.rowsCopied += done.rowsCopied;
      return done;
    } catch (err) {
      failed(err, `partition ${range.index + 1}/${range.count}: ${rootMessage(err)}`);
      return null;
    }
  });
  if (full && !whole && loadReady) {
    // Non-cancellable: a cancelled run still drops its load table. (No new command: same activity as before.)
    const dropLoad = () =>
      CancellationScope.nonCancellable(() =>
        acts.dropLoadTable({
          config,
          table: task.table,
          ...runKey,
          ...(settled && { outcome: cancelled ? { status: 'cancelled' as const, reason: 'run cancelled' } : { status: 'failed' as const, reason: errors[0] ?? 'failed' } }),
        }),
      );
    let swapping = false;
    try {
      // All partitions or nothing: a half-loaded table is never swapped in.
      if (errors.length) await dropLoad();
      else {
        swapping = true;
        progress.phase = 'swap';
        await swapLoadTable({ config, table: task.table, ...runKey });
      }
    } catch (err) {
      failed(err);
      // A swap that failed (Superseded, say) or was cancelled leaves the load table behind; drop it.
      // patched(): runs started before this change did not, and replay without the extra activity.
      if (swapping && patched('drop-load-after-failed-swap')) {
        await dropLoad().catch((e) => errors.push(rootMessage(e)));
      }
    }
  }
  const result = tableResultOf(task, results.filter((r): r is PartitionResult => r !== null), errors);
  if (!errors.length && config.verifyAfterSync) {
    progress.phase = 'verify';
    try {
      const v = await verifyTable(config, task.table, false, runKey);
      result.verification = v;
      // A table whose target differs from its source did not sync, whatever the upsert reported.
      if (!v.matches) {
        const rows = v.rows ? `: rows ${v.rows.changed.count} changed, ${v.rows.missing.count} missing, ${v.rows.extra.count} only in the target` : '';
        errors.push(
          `verify: ${v.differing.length} of ${v.ranges} key range${v.ranges === 1 ? '' : 's'} differ ` +
            `(${v.sourceRows} source rows, ${v.targetRows} target rows)${rows}`,
        );
      }
    } catch (err) {
      failed(err, `verify: ${rootMessage(err)}`);
    }
  }
  progress.phase = errors.length || cancelled ? 'failed' : 'done';
  if (cancelled) throw cancelled;
  if (errors.length) {
    result.status = 'failed';
    result.error = errors.join('; ');
    setCurrentDetails(`${tableLabel(task)}: ${tableDoneDetails(result)}`);
    // Fail visibly in the Web UI, carrying what did land for the parent's summary.
    throw ApplicationFailure.create({
      type: 'TableSyncFailed',
      message: `${table}: ${result.error}`,
      nonRetryable: true,
      details: [result],
    });
  }
  setCurrentDetails(`${tableLabel(task)}: ${tableDoneDetails(result)}`);
  return result;
}
