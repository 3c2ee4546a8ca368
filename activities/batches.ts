import { log } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { SyncConfig } from '../lib/config';
import {
  batchesTableSql,
  batchResultsSql,
  batchTablesSql,
  BATCHES_TABLE,
  pruneBatchesSql,
  saveBatchesSql,
  saveBatchResultSql,
} from '../lib/state';
import { listedSummary, summaryOfBatches, type BatchResult } from '../lib/summary';
import type { SyncSummary, TableRef } from '../lib/types';
import { ensureStateTable, type ActivityDeps } from './context';
import { classifyError, nonRetryable } from './errors';

// A sync of many tables keeps its batches' table names and results in the
// target's state (_tablesync_batches), and only counts travel through its
// workflows: see lib/state/batches.ts.

export type { BatchResult };

/** What a batch workflow returns to the sync: counts only, so the sync's history does not grow with its tables. */
export interface BatchTotals {
  tables: number;
  done: number;
  failed: number;
  rowsCopied: number;
}

export interface BatchRunInput {
  config: SyncConfig;
  syncWorkflowId: string;
  syncRunId: string;
}

export interface SaveBatchResultInput extends BatchRunInput {
  batch: number;
  result: BatchResult;
}

export interface CollectBatchResultsInput extends BatchRunInput {
  /** Batches of the run (numbered 1…batches; 0 is discovery's). */
  batches: number;
}

export interface ReadBatchResultsInput extends BatchRunInput {
  /** First batch to read (0: discovery's). */
  from: number;
  batches: number;
}

export interface ReadBatchResultsResult {
  results: BatchResult[];
  /** The batch to read next, or null when batch `batches` was read. */
  next: number | null;
}

/** Results read a call: well under Temporal's 2 MB payload limit. */
const PAGE_BYTES = 1_000_000;

/**
 * Discovery of a sync of many tables: saves each batch's table names (1…n)
 * and what discovery itself refused, skipped and planned (batch 0), and
 * drops what runs a week ago left.
 */
export async function saveBatches(target: Pool, config: SyncConfig, run: { workflowId: string; runId: string }, batches: TableRef[][], discovered: BatchResult): Promise<void> {
  const stateSchema = config.target.stateSchema;
  try {
    await ensureStateTable(target, stateSchema, BATCHES_TABLE, batchesTableSql(stateSchema));
    await target.query(pruneBatchesSql(stateSchema));
    const numbers = [0, ...batches.map((_, i) => i + 1)];
    const names = [[], ...batches].map((b) => JSON.stringify(b));
    await target.query(saveBatchesSql(stateSchema), [run.workflowId, run.runId, numbers, names, JSON.stringify(discovered)]);
  } catch (err) {
    throw classifyError(err, `discover_tables: saving the batches in target "${config.target.connection}"`);
  }
}

/** A batch's tables, as discovery saved them (by their catalog names). */
export async function batchTables(target: Pool, config: SyncConfig, run: { workflowId: string; runId: string }, batch: number): Promise<TableRef[]> {
  let r;
  try {
    r = await target.query(batchTablesSql(config.target.stateSchema), [run.workflowId, run.runId, batch]);
  } catch (err) {
    throw classifyError(err, `discover_tables: reading batch ${batch} in target "${config.target.connection}"`);
  }
  if (!r.rows.length) {
    throw nonRetryable('MissingBatch', `batch ${batch} of sync ${run.workflowId} (run ${run.runId}) is not in ${config.target.stateSchema}.${BATCHES_TABLE}: its discovery saved none, or it was dropped`);
  }
  return r.rows[0].tables as TableRef[];
}

export function totalsOf(result: BatchResult): BatchTotals {
  return {
    tables: result.tables.length + result.failed.length,
    done: result.tables.filter((t) => t.status === 'completed').length,
    failed: result.tables.filter((t) => t.status === 'failed').length + result.failed.length,
    rowsCopied: result.tables.reduce((n, t) => n + t.rowsCopied, 0),
  };
}

export function createBatchActivities({ connections }: ActivityDeps) {
  const readPage = async ({ config, syncWorkflowId, syncRunId, from, batches }: ReadBatchResultsInput): Promise<ReadBatchResultsResult> => {
    const target = connections.pg(config.target.connection);
    const results: BatchResult[] = [];
    let bytes = 0;
    let next = from;
    // A page of batches at a time, kept under PAGE_BYTES (but never empty).
    while (next <= batches) {
      const r = await target.query(batchResultsSql(config.target.stateSchema), [syncWorkflowId, syncRunId, next, Math.min(batches + 1, next + 50)]);
      if (!r.rows.length) break;
      for (const row of r.rows) {
        if (row.batch !== next) throw nonRetryable('MissingBatch', `batch ${next} of sync ${syncWorkflowId} (run ${syncRunId}) has no result in ${config.target.stateSchema}.${BATCHES_TABLE}`);
        const size = (row.result ?? '').length;
        if (results.length && bytes + size > PAGE_BYTES) return { results, next };
        if (row.result === null) throw nonRetryable('MissingBatch', `batch ${next} of sync ${syncWorkflowId} (run ${syncRunId}) has not ended`);
        results.push(JSON.parse(row.result) as BatchResult);
        bytes += size;
        next++;
      }
    }
    if (next <= batches) throw nonRetryable('MissingBatch', `batch ${next} of sync ${syncWorkflowId} (run ${syncRunId}) is not in ${config.target.stateSchema}.${BATCHES_TABLE} (dropped a week after its run)`);
    return { results, next: null };
  };

  return {
    /** A batch's last step: its results into the state, its counts back to the batch workflow. */
    async saveBatchResult({ config, syncWorkflowId, syncRunId, batch, result }: SaveBatchResultInput): Promise<BatchTotals> {
      try {
        const r = await connections.pg(config.target.connection).query(saveBatchResultSql(config.target.stateSchema), [syncWorkflowId, syncRunId, batch, JSON.stringify(result)]);
        if (r.rowCount !== 1) throw nonRetryable('MissingBatch', `batch ${batch} of sync ${syncWorkflowId} (run ${syncRunId}) is not in ${config.target.stateSchema}.${BATCHES_TABLE}`);
      } catch (err) {
        throw classifyError(err, `save_batch_result in target "${config.target.connection}"`);
      }
      return totalsOf(result);
    },

    /**
     * collect_results of a sync of many tables: the summary of every batch's
     * results, read from the state; what it lists is cut to its failed tables
     * (see listedSummary), the rest is read with readBatchResults.
     */
    async collectBatchResults(input: CollectBatchResultsInput): Promise<SyncSummary> {
      const results: BatchResult[] = [];
      for (let from: number | null = 0; from !== null; ) {
        const page: ReadBatchResultsResult = await readPage({ ...input, from });
        results.push(...page.results);
        from = page.next;
      }
      const summary = summaryOfBatches(results);
      for (const t of summary.tables.filter((t) => t.status === 'failed' && !t.errorType)) log.error(`${t.table} failed: ${t.error}`);
      log.info(summary.message);
      return listedSummary(summary, { syncWorkflowId: input.syncWorkflowId, syncRunId: input.syncRunId, batches: input.batches });
    },

    /** Batches' results from `from` on, a page at a time: what the client reads to list every table of a sync of many. */
    readBatchResults(input: ReadBatchResultsInput): Promise<ReadBatchResultsResult> {
      return readPage(input);
    },
  };
}
