import { sumCounts, type Counts } from './counts';
import { traitsOf } from './modes/names';
import type { FailedTable, PartitionResult, SkippedTable, SyncSummary, SyncTask, TableResult } from './types';

const fmt = (n: number): string => n.toLocaleString('en-US');

/** The note planCompareColumns gives a source column the target lacks; see tableWarnings. */
export const SOURCE_ONLY_NOTE = 'is in the source only and is not synced';
/** The note schema evolution gives a synced column the source dropped: a warning every run until the user acts. */
export const DROPPED_NOTE = 'was dropped from the source: kept in the target with its values, no longer written';

/**
 * The plan notes a run reports as warnings, every run: a source column the
 * target lacks is not copied at all (schemaChanges could not add it: verify
 * without repair), and a synced column the source dropped is no longer
 * written, which a log line alone would hide.
 */
export function tableWarnings(notes: readonly string[] | undefined): string[] {
  return (notes ?? []).filter((n) => n.includes(SOURCE_ONLY_NOTE) || n.includes(DROPPED_NOTE));
}

export function sumPartitions(parts: PartitionResult[]): Counts & Pick<TableResult, 'warnings'> {
  return { ...sumCounts(parts), warnings: parts.flatMap((p) => p.warnings) };
}

/**
 * A table's result from the partitions that completed and the errors of the
 * rest; the same whether its own workflow or a small-table group ran it.
 */
export function tableResultOf(task: SyncTask, done: PartitionResult[], errors: string[]): TableResult {
  const sums = sumPartitions(done);
  return {
    table: `${task.table.source.schema}.${task.table.source.name}`,
    target: `${task.table.target.schema}.${task.table.target.name}`,
    status: errors.length ? 'failed' : 'completed',
    mode: task.table.mode,
    partitions: task.partitions.length,
    ...sums,
    // Said on every run until the column is synced: a plan note alone is easy to miss.
    warnings: [...tableWarnings(task.table.notes), ...sums.warnings],
    ...(task.table.rangeDigests && 'fallback' in task.table.rangeDigests ? { copiedEveryRow: task.table.rangeDigests.fallback } : {}),
    ...(errors.length ? { error: errors.join('; ') } : {}),
  };
}

/** A table's counts as the run's summary prints them: a full load's rows, or what changed in place. */
export function tableCountsText(t: TableResult): string {
  return traitsOf(t.mode).runKind === 'full load'
    ? `full load, ${t.inserted} rows`
    : `${t.inserted} inserted, ${t.updated} updated, ${t.unchanged} unchanged${t.deleted ? `, ${t.deleted} deleted` : ''}`;
}

// Labels for the Temporal Web UI, where every table's child would otherwise
// read "syncTableWorkflow": its static summary (set when the child starts)
// and its current details (what it is doing, then what it did).

const listed = (names: string[], max = 3): string =>
  !names.length ? 'no tables' : names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${fmt(names.length - max)} more`;

/** A table workflow's summary: the table, its target when the name differs, its mode. */
export function tableLabel(task: Pick<SyncTask, 'table'>): string {
  const source = `${task.table.source.schema}.${task.table.source.name}`;
  const target = `${task.table.target.schema}.${task.table.target.name}`;
  return `${source}${target === source ? '' : ` → ${target}`} · ${task.table.mode}`;
}

/** A table workflow's details while it runs. */
export function tableRunningDetails(task: Pick<SyncTask, 'partitions' | 'estimatedRows'>): string {
  const parts = task.partitions.length;
  return `syncing: ${fmt(parts)} partition${parts === 1 ? '' : 's'}, about ${fmt(task.estimatedRows)} rows in the source`;
}

/** A table workflow's details once it ended: its counts, warnings, error. */
export function tableDoneDetails(t: TableResult): string {
  const warned = t.warnings.length ? `; ${fmt(t.warnings.length)} warning${t.warnings.length === 1 ? '' : 's'}` : '';
  return `${t.status}: ${tableCountsText(t)}${warned}${t.error ? ` (${t.error})` : ''}`;
}

/**
 * A sync's summary as it is started (client, schedule): connections, tables
 * as configured (or `tables` given instead), mode. Read defensively: the
 * input is not validated yet.
 */
export function runLabel(config: unknown, verb = 'sync', tables?: string[]): string {
  const c = (config ?? {}) as { source?: { connection?: unknown }; target?: { connection?: unknown }; mode?: unknown; tables?: unknown };
  const entries = Array.isArray(c.tables) ? c.tables : [];
  const names = tables?.length ? tables : entries.map((t) => String(typeof t === 'object' && t !== null ? (t as { table?: unknown }).table : t));
  return `${verb} ${String(c.source?.connection ?? '?')} → ${String(c.target?.connection ?? '?')}: ${listed(names)} (mode ${String(c.mode ?? 'auto')})`;
}

/** A batch workflow's summary (syncs of more tables than tablesPerBatch). */
export function batchLabel(index: number, count: number, tables: string[]): string {
  return `batch ${fmt(index + 1)} of ${fmt(count)}: ${fmt(tables.length)} tables (${tables[0]} … ${tables[tables.length - 1]})`;
}

/** A table refused at discovery, as a failed table of the run: nothing of it was copied. */
export function failedTableResult(f: FailedTable): TableResult {
  return {
    table: f.table,
    target: f.target ?? '',
    status: 'failed',
    mode: 'compare',
    partitions: 0,
    rowsCopied: 0,
    inserted: 0,
    updated: 0,
    unchanged: 0,
    deleted: 0,
    warnings: [],
    error: f.reason,
    errorType: f.type,
  };
}

/**
 * What the run was, by the mode of the tables it tried (synced or failed;
 * tables refused at discovery have none): "Full load complete", "Incremental
 * sync complete", or "Sync complete: 2 full loads, 5 incremental"; "failed"
 * instead of "complete" when no table synced and some failed.
 */
export function runHeadline(tables: TableResult[]): string {
  const tried = tables.filter((t) => !t.errorType);
  const full = tried.filter((t) => traitsOf(t.mode).runKind === 'full load').length;
  const incremental = tried.length - full;
  const ended = tables.some((t) => t.status === 'completed') || !tables.some((t) => t.status === 'failed') ? 'complete' : 'failed';
  if (full && !incremental) return `Full load ${ended}:`;
  if (incremental && !full) return `Incremental sync ${ended}:`;
  if (!tried.length) return `Sync ${ended}:`;
  return `Sync ${ended}: ${fmt(full)} full load${full === 1 ? '' : 's'}, ${fmt(incremental)} incremental;`;
}

export function summarize(tables: TableResult[], skipped: SkippedTable[], plan: string[] = []): SyncSummary {
  const done = tables.filter((t) => t.status === 'completed');
  const failed = tables.filter((t) => t.status === 'failed');
  const summary = {
    tablesSynced: done.length,
    tablesFailed: failed.length,
    tablesUnchanged: done.filter((t) => t.inserted === 0 && t.updated === 0 && t.deleted === 0).length,
    tablesSkipped: skipped.length,
    ...sumCounts(tables),
    warnings: tables.reduce((acc, t) => acc + t.warnings.length, 0),
    tables,
    skipped,
    ...(plan.length ? { plan } : {}),
  };
  return { ...summary, message: summaryMessage(summary) };
}

/** The summary's one line: what ran, the totals, the warnings, verification. */
function summaryMessage(summary: Omit<SyncSummary, 'message'>): string {
  const { tables, skipped } = summary;
  const plural = (n: number, word: string) => `${fmt(n)} ${word}${n === 1 ? '' : 's'}`;
  const verified = tables.filter((t) => t.verification);
  const mismatched = verified.filter((t) => !t.verification!.matches);
  return (
    `${runHeadline(tables)} ${plural(summary.tablesSynced, 'table')} synced, ` +
    `${fmt(summary.tablesFailed)} failed, ${fmt(summary.tablesUnchanged)} had no changes` +
    (skipped.length ? `, ${fmt(skipped.length)} skipped` : '') +
    `. Total: ${fmt(summary.inserted)} inserted, ${fmt(summary.updated)} updated` +
    (summary.deleted ? `, ${fmt(summary.deleted)} deleted` : '') +
    (summary.warnings ? `, ${plural(summary.warnings, 'warning')}` : '') +
    (verified.length ? `. Verified ${plural(verified.length, 'table')}: ${mismatched.length ? `${fmt(mismatched.length)} differ` : 'all match'}` : '') +
    // The rows a network carried, where compare's digests left equal key ranges behind.
    (summary.rowsSkipped ? `. Rows copied: ${fmt(summary.rowsCopied)} (${fmt(summary.rowsSkipped)} skipped as equal)` : '')
  );
}

/**
 * The summary with warnings of the run as a whole (a webhook that could not
 * be told), counted with the tables' warnings and said in its message.
 */
export function withRunWarnings(summary: SyncSummary, warnings: string[]): SyncSummary {
  if (!warnings.length) return summary;
  const { message: _m, ...rest } = summary;
  const next = { ...rest, warnings: summary.warnings + warnings.length, runWarnings: [...(summary.runWarnings ?? []), ...warnings] };
  return { ...next, message: summaryMessage(next) };
}

/** Entries of each list a summary of a sync of many tables carries itself (see SyncSummary.listed). */
export const SUMMARY_LISTED = 100;

/**
 * A summary cut to what may travel through a workflow's history whatever
 * the number of tables: its counts and message whole, its failed tables,
 * skipped tables and plan lines (at most SUMMARY_LISTED each), and where the
 * rest is.
 */
export function listedSummary(summary: SyncSummary, listed: NonNullable<SyncSummary['listed']>): SyncSummary {
  const { plan, ...rest } = summary;
  return {
    ...rest,
    tables: summary.tables.filter((t) => t.status === 'failed').slice(0, SUMMARY_LISTED),
    skipped: summary.skipped.slice(0, SUMMARY_LISTED),
    ...(plan?.length && { plan: plan.slice(0, SUMMARY_LISTED) }),
    listed,
  };
}

/** What a batch of a sync of many tables (or, as batch 0, its discovery) reports of its tables. */
export interface BatchResult {
  tables: TableResult[];
  skipped: SkippedTable[];
  failed: FailedTable[];
  plan: string[];
}

/**
 * The summary of a sync of many tables from its batches' results, in the
 * order the batches were cut (discovery's first): what summarize() gives a
 * sync that carried them all.
 */
export function summaryOfBatches(results: BatchResult[]): SyncSummary {
  const failed = results.flatMap((r) => r.failed);
  return summarize(
    [...failed.map(failedTableResult), ...results.flatMap((r) => r.tables)],
    results.flatMap((r) => r.skipped),
    results.flatMap((r) => r.plan),
  );
}
