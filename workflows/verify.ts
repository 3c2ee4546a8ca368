import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities, RunKey } from '../activities';
import { mapLimit } from '../lib/concurrency';
import type { SyncConfig } from '../lib/config';
import type { RangeChecksum, SkippedTable, SyncTask, TablePlan, TableVerification } from '../lib/types';
import { activityOptions, catalogActivities, rawRetry } from './options';

export interface VerifyInput {
  config: unknown;
  /** Tables to check instead of the config's list. */
  tables?: string[];
  /** Re-sync the ranges that differ (upsert plus delete of rows the source lacks), then check them again. */
  repair?: boolean;
}

export interface VerifyResult {
  tables: TableVerification[];
  /** Tables that could not be compared, with why; any of them makes `matches` false. */
  skipped: SkippedTable[];
  matches: boolean;
  message: string;
}

const differs = (r: RangeChecksum) => r.sourceRows !== r.targetRows || r.sourceSum !== r.targetSum;

/** Key ranges of verifyRowsPerRange rows, planned by the same planner as sync partitions. */
async function verifyRanges(config: SyncConfig, table: TablePlan): Promise<SyncTask> {
  const rangeConfig = { ...config, partitionThreshold: 1, rowsPerPartition: config.verifyRowsPerRange, maxPartitionsPerTable: 256 };
  const [task] = await catalogActivities(config).createSyncTasks({ config: rangeConfig, tables: [table], targetRanges: true });
  return task;
}

/** Checks one table range by range; with repair, re-syncs the ranges that differ and checks them again. */
export async function verifyTable(config: SyncConfig, table: TablePlan, repair: boolean, runKey: RunKey): Promise<TableVerification> {
  const { checksumRanges, syncPartition } = proxyActivities<Activities>(activityOptions(config, 'transfer'));
  const task = await verifyRanges(config, table);
  const checks = await checksumRanges({ config, table, ranges: task.partitions });
  let differing = checks.filter(differs);
  let repaired = 0;
  if (repair && differing.length) {
    await mapLimit(differing, config.maxParallelTransfers, (r) =>
      syncPartition({ config: { ...config, deletes: 'hard' }, table, range: r.range, deleteMissing: true, ...runKey }),
    );
    repaired = differing.length;
    differing = (await checksumRanges({ config, table, ranges: differing.map((r) => r.range) })).filter(differs);
  }
  return {
    table: `${table.source.schema}.${table.source.name}`,
    target: `${table.target.schema}.${table.target.name}`,
    sourceRows: checks.reduce((n, r) => n + r.sourceRows, 0),
    targetRows: checks.reduce((n, r) => n + r.targetRows, 0),
    ranges: checks.length,
    differing,
    repaired,
    matches: differing.length === 0,
  };
}

/** Compares source and target per key range (counts and checksums) without changing anything unless asked to repair. */
export async function verifyWorkflow(input: VerifyInput): Promise<VerifyResult> {
  const given = input.config as Record<string, unknown>;
  // Every table is compared as it stands, whatever mode syncs it: entries become
  // their names (a cursor or change-log entry's settings say how to read, not what to compare).
  const entries = (input.tables?.length ? input.tables : (given?.tables as unknown[] | undefined)) ?? [];
  const raw = {
    ...given,
    tables: entries.map((t) => (t !== null && typeof t === 'object' && 'table' in t ? (t as { table: unknown }).table : t)),
    // Only tables that exist in the target can be compared.
    mode: 'compare',
  };
  const { config } = await catalogActivities(rawRetry(raw)).initializeState({ config: raw });
  const info = workflowInfo();
  const runKey = { syncWorkflowId: info.workflowId, syncRunId: info.runId };
  // Only a repair writes, so only a repair claims the tables.
  const discovered = await catalogActivities(config).discoverTables({ config, ...runKey, claim: Boolean(input.repair) });
  const { tables } = discovered;
  // A table that cannot be compared (target missing, empty, keyed differently, no key,
  // or a plan that failed) is not equal: it is listed with its reason and fails the verify.
  const failed = discovered.failed ?? [];
  const skipped: SkippedTable[] = [...discovered.skipped, ...failed.map((f) => ({ table: f.table, reason: f.reason }))];
  const results = await mapLimit(tables, config.maxParallelTransfers, (t) => verifyTable(config, t, Boolean(input.repair), runKey));
  const bad = results.filter((t) => !t.matches);
  const repaired = results.reduce((n, t) => n + t.repaired, 0);
  const message =
    `Verify complete: ${results.length} table${results.length === 1 ? '' : 's'} checked, ` +
    `${bad.length} differ${repaired ? `, ${repaired} range${repaired === 1 ? '' : 's'} repaired` : ''}` +
    (skipped.length ? `, ${skipped.length} could not be compared` : '');
  return { tables: results, skipped, matches: bad.length === 0 && skipped.length === 0, message };
}
