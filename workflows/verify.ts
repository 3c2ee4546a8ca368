import { ApplicationFailure, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities, RunKey } from '../activities';
import { mapLimit } from '../lib/concurrency';
import { asCompare, keepsVersions } from '../lib/modes/plans';
import { verifyKeepsMode } from '../lib/modes/names';
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
  const [task] = await catalogActivities(config).createSyncTasks({ config: rangeConfig, tables: [asCompare(table)], targetRanges: true });
  // Planning its ranges failed for this table alone: it fails, as an activity failure would.
  if (task.failed) throw ApplicationFailure.nonRetryable(task.failed.reason, task.failed.type);
  return task;
}

/** Rows that fail verify: changed, missing or extra (pending rows do not). */
export function anomalies(v: Pick<TableVerification, 'rows' | 'differing'>): number {
  return v.rows ? v.rows.changed.count + v.rows.missing.count + v.rows.extra.count : v.differing.length;
}

/**
 * Checks one table range by range; with repair, re-syncs the ranges that
 * differ and checks them again; then finds the rows behind what still
 * differs, and for cursor and change-log tables which of them are pending.
 */
export async function verifyTable(config: SyncConfig, table: TablePlan, repair: boolean, runKey: RunKey): Promise<TableVerification> {
  const { checksumRanges, syncPartition, findDifferences } = proxyActivities<Activities>(activityOptions(config, 'transfer'));
  const task = await verifyRanges(config, table);
  const checks = await checksumRanges({ config, table, ranges: task.partitions });
  let differing = checks.filter(differs);
  let repaired = 0;
  const notes: string[] = [];
  if (repair && differing.length && keepsVersions(table)) {
    // Its rows are versions, not one row per key: a range re-sync would add or delete versions, not repair them.
    notes.push('not repaired: an append table keeps every version it read; reset-state and run again to re-read it');
  } else if (repair && differing.length && !table.primaryKey.length) {
    notes.push('not repaired: a table without a primary key is repaired by a full load (mode: full)');
  } else if (repair && differing.length) {
    // Rows the source lacks leave the target by the table's own delete rule:
    // marked with deletes: soft (never deleted), deleted otherwise. A soft
    // table without its flag column keeps them and says so.
    let repairConfig: SyncConfig = { ...config, deletes: 'hard' };
    let deleteMissing = true;
    if (patched('verify-repair-delete-rule')) {
      repairConfig = config;
      if ((table.deletes ?? config.deletes) === 'soft' && !table.softDeleteColumn) {
        deleteMissing = false;
        notes.push('rows the source lacks are not removed: the table has deletes: soft, and its target has no soft-delete flag column to mark them with');
      }
    }
    await mapLimit(differing, config.maxParallelTransfers, (r) =>
      syncPartition({ config: repairConfig, table: asCompare(table), range: r.range, deleteMissing, ...runKey }),
    );
    repaired = differing.length;
    differing = (await checksumRanges({ config, table, ranges: differing.map((r) => r.range) })).filter(differs);
  }
  // Rows are told apart by key: a keyless table is compared whole, by its row count and the order-free digest of its rows.
  if (differing.length && !table.primaryKey.length) notes.push('no primary key: compared whole, by row count and an order-free digest of the rows; which rows differ is not told');
  const rows = differing.length && table.primaryKey.length && patched('verify-row-differences') ? await findDifferences({ config, table, ranges: differing }) : undefined;
  const bad = anomalies({ rows, differing });
  return {
    table: `${table.source.schema}.${table.source.name}`,
    target: `${table.target.schema}.${table.target.name}`,
    mode: table.mode,
    sourceRows: checks.reduce((n, r) => n + r.sourceRows, 0),
    targetRows: checks.reduce((n, r) => n + r.targetRows, 0),
    ranges: checks.length,
    differing,
    repaired,
    ...(rows && { rows }),
    ...(notes.length && { notes }),
    matches: bad === 0,
  };
}

/** Compares source and target per key range (counts and checksums) without changing anything unless asked to repair. */
export async function verifyWorkflow(input: VerifyInput): Promise<VerifyResult> {
  const given = input.config as Record<string, unknown>;
  // Every table is compared row for row as it stands. A cursor or change-log
  // table keeps its settings: its saved cursor or position says which
  // differences the next run brings (pending) and which it never will. Every
  // other table is compared like compare mode: only targets with rows.
  const keeps = verifyKeepsMode;
  const isEntry = (t: unknown): t is Record<string, unknown> => t !== null && typeof t === 'object' && 'table' in t;
  const configured = (given?.tables as unknown[] | undefined) ?? [];
  // Tables named on the command line take the settings of the config entry that names them so.
  const entries = input.tables?.length ? input.tables.map((name) => configured.find((e) => isEntry(e) && e.table === name) ?? name) : configured;
  const raw = {
    ...given,
    tables: entries.map((t) => (isEntry(t) && t.mode !== undefined && !keeps(t.mode) ? { ...t, mode: 'compare' } : t)),
    mode: keeps(given?.mode) ? given.mode : 'compare',
  };
  const { config } = await catalogActivities(rawRetry(raw)).initializeState({ config: raw });
  const info = workflowInfo();
  const runKey = { syncWorkflowId: info.workflowId, syncRunId: info.runId };
  // Only a repair writes, so only a repair claims the tables.
  const discovered = await catalogActivities(config).discoverTables({ config, ...runKey, claim: Boolean(input.repair), verify: true });
  const { tables } = discovered;
  // A table that cannot be compared (target missing, empty, keyed differently, no key,
  // or a plan that failed) is not equal: it is listed with its reason and fails the verify.
  const failed = discovered.failed ?? [];
  const skipped: SkippedTable[] = [...discovered.skipped, ...failed.map((f) => ({ table: f.table, reason: f.reason }))];
  const results = await mapLimit(tables, config.maxParallelTransfers, (t) => verifyTable(config, t, Boolean(input.repair), runKey));
  const bad = results.filter((t) => !t.matches);
  const repaired = results.reduce((n, t) => n + t.repaired, 0);
  const pending = results.reduce((n, t) => n + (t.rows?.pending.count ?? 0), 0);
  const message =
    `Verify complete: ${results.length} table${results.length === 1 ? '' : 's'} checked, ` +
    `${bad.length} differ${repaired ? `, ${repaired} range${repaired === 1 ? '' : 's'} repaired` : ''}` +
    (pending ? `, ${pending} row${pending === 1 ? '' : 's'} pending (the next run brings them)` : '') +
    (skipped.length ? `, ${skipped.length} could not be compared` : '');
  return { tables: results, skipped, matches: bad.length === 0 && skipped.length === 0, message };
}
