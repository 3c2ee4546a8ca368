import type { FailedTable, PartitionResult, SkippedTable, SyncSummary, TableResult } from './types';

const fmt = (n: number): string => n.toLocaleString('en-US');

export function sumPartitions(
  parts: PartitionResult[],
): Pick<TableResult, 'rowsCopied' | 'inserted' | 'updated' | 'unchanged' | 'deleted' | 'warnings'> {
  return parts.reduce(
    (acc, p) => ({
      rowsCopied: acc.rowsCopied + p.rowsCopied,
      inserted: acc.inserted + p.inserted,
      updated: acc.updated + p.updated,
      unchanged: acc.unchanged + p.unchanged,
      deleted: acc.deleted + p.deleted,
      warnings: [...acc.warnings, ...p.warnings],
    }),
    { rowsCopied: 0, inserted: 0, updated: 0, unchanged: 0, deleted: 0, warnings: [] as string[] },
  );
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
  const full = tried.filter((t) => t.mode === 'full').length;
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
  const total = (key: 'inserted' | 'updated' | 'unchanged' | 'deleted' | 'rowsCopied') =>
    tables.reduce((acc, t) => acc + t[key], 0);
  const summary = {
    tablesSynced: done.length,
    tablesFailed: failed.length,
    tablesUnchanged: done.filter((t) => t.inserted === 0 && t.updated === 0 && t.deleted === 0).length,
    tablesSkipped: skipped.length,
    inserted: total('inserted'),
    updated: total('updated'),
    unchanged: total('unchanged'),
    deleted: total('deleted'),
    rowsCopied: total('rowsCopied'),
    warnings: tables.reduce((acc, t) => acc + t.warnings.length, 0),
    tables,
    skipped,
    ...(plan.length ? { plan } : {}),
  };
  const plural = (n: number, word: string) => `${fmt(n)} ${word}${n === 1 ? '' : 's'}`;
  const verified = tables.filter((t) => t.verification);
  const mismatched = verified.filter((t) => !t.verification!.matches);
  const message =
    `${runHeadline(tables)} ${plural(summary.tablesSynced, 'table')} synced, ` +
    `${fmt(summary.tablesFailed)} failed, ${fmt(summary.tablesUnchanged)} had no changes` +
    (skipped.length ? `, ${fmt(skipped.length)} skipped` : '') +
    `. Total: ${fmt(summary.inserted)} inserted, ${fmt(summary.updated)} updated` +
    (summary.deleted ? `, ${fmt(summary.deleted)} deleted` : '') +
    (summary.warnings ? `, ${plural(summary.warnings, 'warning')}` : '') +
    (verified.length ? `. Verified ${plural(verified.length, 'table')}: ${mismatched.length ? `${fmt(mismatched.length)} differ` : 'all match'}` : '');
  return { ...summary, message };
}
