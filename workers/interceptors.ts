import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import type { MetricMeter } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { displayName } from '../lib/tables';
import type { SyncSmallTablesInput, SyncSmallTablesResult } from '../activities/transfer';
import type { ApplyCdcBatchResult } from '../activities/cdc';
import type { PartitionResult, TablePlan, TableRef } from '../lib/types';

/** Table and partition an activity works on, read from its input (all activities take one object). */
export function activityWhere(input: unknown): { table?: string; partition?: string } {
  const i = (input ?? {}) as { table?: unknown; range?: { index?: unknown; count?: unknown } };
  const source = (i.table as { source?: TableRef } | undefined)?.source;
  const table = source ? displayName(source) : typeof i.table === 'string' ? i.table : undefined;
  const r = i.range;
  const partition = r && typeof r.index === 'number' && typeof r.count === 'number' ? `${r.index + 1}/${r.count}` : undefined;
  return { ...(table && { table }), ...(partition && { partition }) };
}

/** Every log line of an activity names its table and partition (the JSON log format prints them). */
export const logAttributesInterceptor: ActivityInterceptorsFactory = () => {
  let where: Record<string, string> = {};
  return {
    inbound: {
      execute: (input, next) => {
        where = activityWhere(input.args[0]);
        return next(input);
      },
    },
    outbound: { getLogAttributes: (attrs, next) => next({ ...attrs, ...where }) },
  };
};

export const CURSOR_LAG = 'tablesync_cursor_lag_seconds';

/**
 * How far a time cursor is behind the clock once its run is applied: now
 * minus the saved cursor (the run's high-water mark). The source's text is
 * read as UTC when it carries no offset (sessions are pinned to UTC); null
 * for number cursors and tables that are not cursor tables.
 */
export function cursorLagSeconds(table: TablePlan | undefined, now: number): number | null {
  const c = table?.cursor;
  const saved = c?.window?.to ?? c?.saved;
  if (!c || c.kind !== 'time' || !saved) return null;
  const t = /^\d{4}-\d{2}-\d{2}$/.test(saved.trim()) ? `${saved.trim()} 00:00:00` : saved.trim();
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/.exec(t);
  if (!m) return null;
  let zone = m[4] ?? 'Z';
  if (/^[+-]\d{2}$/.test(zone)) zone += ':00';
  else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const at = Date.parse(`${m[1]}T${m[2]}${(m[3] ?? '').slice(0, 4)}${zone}`);
  return Number.isNaN(at) ? null : (now - at) / 1000;
}

// Partitions take from milliseconds to hours; the exporter's default buckets stop at 10.
export const PARTITION_DURATION = 'tablesync_partition_duration_seconds';
export const PARTITION_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];

/**
 * tablesync's own metrics, on the runtime's meter (the exporter that serves
 * the SDK's worker metrics). Counts come from the result of each completed
 * syncPartition: a retried partition's result carries what all its attempts
 * committed, and a failed attempt reports nothing, so rows are counted once.
 */
export function metricsInterceptor(meter: MetricMeter): ActivityInterceptorsFactory {
  const rows = {
    rowsCopied: meter.createCounter('tablesync_rows_copied_total', 'rows', 'Rows read from the source by completed partitions'),
    inserted: meter.createCounter('tablesync_rows_inserted_total', 'rows', 'Rows inserted into the target'),
    updated: meter.createCounter('tablesync_rows_updated_total', 'rows', 'Rows updated in the target (only rows that differ)'),
    deleted: meter.createCounter('tablesync_rows_deleted_total', 'rows', 'Target rows deleted because the source no longer has them'),
  };
  const duration = meter.createHistogram(PARTITION_DURATION, 'float', 's', 'Duration of syncPartition attempts, by outcome');
  const failures = meter.createCounter('tablesync_activity_failures_total', 'failures', 'Failed activity attempts, by error type');
  const lag = meter.createGauge(CURSOR_LAG, 'float', 's', 'Cursor tables with a time cursor: now minus the cursor just saved');
  const cdc = {
    changes: meter.createCounter('tablesync_cdc_changes_total', 'changes', 'Changes a cdc stream applied to the target, by kind (truncate: rows a TRUNCATE emptied or marked)'),
    lagSeconds: meter.createGauge('tablesync_cdc_lag_seconds', 'float', 's', 'Seconds a cdc stream is behind its source as of its last batch (0: caught up)'),
    lagBytes: meter.createGauge('tablesync_cdc_lag_bytes', 'int', 'By', "Bytes of the source's log past what a cdc stream has applied and acknowledged"),
  };
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const activity = ctx.info.activityType;
        const { table } = activityWhere(input.args[0]);
        const tags = { namespace: ctx.info.namespace, task_queue: ctx.info.taskQueue, ...(table && { table }) };
        const started = process.hrtime.bigint();
        const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
        try {
          const result = await next(input);
          if (activity === 'syncPartition') {
            const r = result as PartitionResult;
            for (const [key, counter] of Object.entries(rows)) counter.add(r[key as keyof typeof rows], tags);
            const behind = cursorLagSeconds((input.args[0] as { table?: TablePlan } | undefined)?.table, Date.now());
            if (behind !== null) lag.set(behind, tags);
            duration.record(seconds(), { ...tags, outcome: 'completed' });
          }
          if (activity === 'applyCdcBatch') {
            // Per stream (slot): a committed batch's changes are counted once, as its result reaches here once.
            const r = result as ApplyCdcBatchResult;
            const streamTags = { namespace: ctx.info.namespace, task_queue: ctx.info.taskQueue, stream: (input.args[0] as { stream: string }).stream };
            const kinds = { insert: r.inserted, update: r.updated, delete: r.deleted, truncate: r.truncated };
            for (const [kind, n] of Object.entries(kinds)) cdc.changes.add(n, { ...streamTags, kind });
            if (typeof r.lagSeconds === 'number') cdc.lagSeconds.set(r.lagSeconds, streamTags);
            if (typeof r.lagBytes === 'number') cdc.lagBytes.set(r.lagBytes, streamTags);
          }
          if (activity === 'syncSmallTables') {
            // Each table as its own partition would count it (the group's duration is no partition's).
            const { tasks } = input.args[0] as SyncSmallTablesInput;
            for (const [i, t] of (result as SyncSmallTablesResult).tables.entries()) {
              if (t.status !== 'completed') continue;
              const tableTags = { ...tags, table: t.table };
              for (const [key, counter] of Object.entries(rows)) counter.add(t[key as keyof typeof rows], tableTags);
              const behind = cursorLagSeconds(tasks[i]?.table, Date.now());
              if (behind !== null) lag.set(behind, tableTags);
            }
          }
          return result;
        } catch (err) {
          // A requested cancellation is not a failure.
          const cancelled = err instanceof CancelledFailure;
          if (activity === 'syncPartition') duration.record(seconds(), { ...tags, outcome: cancelled ? 'cancelled' : 'failed' });
          if (!cancelled) {
            const type = err instanceof ApplicationFailure && err.type ? err.type : ((err as Error)?.name ?? 'Error');
            failures.add(1, { ...tags, activity, error_type: type });
          }
          throw err;
        }
      },
    },
  });
}
