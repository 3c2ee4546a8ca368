import { traitsOf } from '../lib/modes/names';
import { tableCountsText } from '../lib/summary';
import type { KeySample, SyncSummary, TableVerification } from '../lib/types';
import type { VerifyResult } from '../workflows/verify';

/** Lines that are not the result: on stderr under --json, whose stdout is the JSON document alone. */
export const note =
  (opts: { json?: boolean }) =>
  (line: string): void =>
    opts.json ? console.error(line) : console.log(line);

export function printVerify(result: VerifyResult): void {
  for (const t of result.tables) {
    const state = t.matches ? 'ok    ' : 'DIFFER';
    console.log(`  ${state} ${t.table} → ${t.target}: ${t.sourceRows} source rows, ${t.targetRows} target rows, ${t.ranges} ranges` +
      (t.repaired ? `, ${t.repaired} repaired` : ''));
    for (const r of t.differing) {
      const lo = r.range.lo ?? '-∞';
      const hi = r.range.hi ?? '+∞';
      console.log(`         key range (${lo}, ${hi}]: ${r.sourceRows} vs ${r.targetRows} rows${r.sourceSum !== r.targetSum ? ', checksums differ' : ''}`);
    }
    for (const line of rowLines(t)) console.log(`         ${line}`);
    for (const note of t.notes ?? []) console.log(`         ${note}`);
    const skippedColumns = t.differing[0]?.skippedColumns ?? [];
    if (skippedColumns.length) console.log(`         not checksummed: ${skippedColumns.join(', ')}`);
  }
  for (const s of result.skipped) console.log(`  NOT CHECKED ${s.table}: ${s.reason}`);
  console.log(result.message);
}

/** What a changed row means per mode: a cursor or log that did not say so is why the next run will not bring it. */
function sampleText(n: number, what: string, sample: KeySample): string {
  const more = sample.count > sample.keys.length ? ', …' : '';
  return `${n} ${what} (key${sample.count === 1 ? '' : 's'} ${sample.keys.join(', ')}${more})`;
}

/** The rows behind a table's differing ranges: anomalies first, then what the next run brings. */
export function rowLines(t: TableVerification): string[] {
  if (!t.rows) return [];
  const lines: string[] = [];
  const { changed, missing, extra, pending } = t.rows;
  const traits = t.mode ? traitsOf(t.mode) : undefined;
  const below = traits?.unreadChange ?? '';
  if (changed.count) lines.push(`rows ${sampleText(changed.count, traits?.changedBelow ?? 'changed', changed)}`);
  if (missing.count) lines.push(`rows ${sampleText(missing.count, `missing from the target${below}`, missing)}`);
  if (extra.count) lines.push(`rows ${sampleText(extra.count, 'only in the target', extra)}`);
  if (pending.count) lines.push(`pending ${sampleText(pending.count, 'rows the next run brings', pending)}`);
  return lines;
}

export function printSummary(summary: SyncSummary): void {
  for (const line of summary.plan ?? []) console.log(`  plan   ${line}`);
  for (const t of summary.tables) {
    if (t.status === 'failed' && t.errorType) {
      console.log(`  FAILED ${t.table}${t.target ? ` → ${t.target}` : ''}: ${t.errorType}: ${t.error}`);
      continue;
    }
    const counts = tableCountsText(t);
    console.log(`  ${t.status === 'completed' ? 'ok    ' : 'FAILED'} ${t.table} → ${t.target}: ${counts}${t.error ? ` (${t.error})` : ''}`);
    for (const w of t.warnings) console.log(`         warning: ${w}`);
    if (t.rowsSkipped) console.log(`         rows copied: ${t.rowsCopied} (${t.rowsSkipped} skipped: their key ranges' digests matched)`);
    if (t.copiedEveryRow) console.log(`         every row copied: ${t.copiedEveryRow}`);
  }
  for (const s of summary.skipped) console.log(`  skip   ${s.table}: ${s.reason}`);
  for (const w of summary.runWarnings ?? []) console.log(`  warning: ${w}`);
  console.log(summary.message);
  const line = failedTablesLine(summary);
  if (line) console.error(line);
}

/**
 * The last line of a run with failed tables: the first table and why it
 * failed, so the cause is what the user reads last, not a count.
 */
export function failedTablesLine(summary: SyncSummary): string | null {
  const failed = summary.tables.filter((t) => t.status === 'failed');
  if (!failed.length) return null;
  const [first] = failed;
  const more = failed.length > 1 ? ` (and ${failed.length - 1} more failed table${failed.length === 2 ? '' : 's'} above)` : '';
  return `tablesync: ${first.table} failed: ${first.errorType ? `${first.errorType}: ` : ''}${first.error ?? 'unknown error'}${more}`;
}

interface FailureNode {
  message?: string;
  type?: string;
  name?: string;
  cause?: unknown;
  activityType?: string;
  execution?: { workflowId?: string };
  workflowType?: string;
}

/** Wrappers whose message says only that something below failed. */
const WRAPPER = /^(Workflow execution failed|Activity task failed|Child Workflow execution failed|Activity task timed out)$/;

/**
 * One line for an error that ended a command: the innermost cause first (its
 * type and message: the table, the column, the config field), then where it
 * happened (activity, child workflow), never just "Activity task failed".
 */
export function failureLine(err: unknown, workflowId?: string): string {
  const chain: FailureNode[] = [];
  for (let e = err as FailureNode | undefined; e && chain.length < 20; e = e.cause as FailureNode | undefined) chain.push(e);
  const meaningful = chain.filter((e) => e.message && !WRAPPER.test(e.message));
  const root = meaningful[meaningful.length - 1] ?? chain[chain.length - 1] ?? {};
  const type = root.type ?? (root.name && root.name !== 'Error' && root.name !== 'ApplicationFailure' ? root.name : undefined);
  const message = root.message ?? String(err);
  const where: string[] = [];
  const activity = chain.find((e) => e.activityType)?.activityType;
  if (activity) where.push(`in ${activity}`);
  const child = chain.find((e) => e.execution?.workflowId)?.execution?.workflowId;
  if (child) where.push(`of ${child}`);
  else if (workflowId) where.push(`of ${workflowId}`);
  const prefix = type && !message.startsWith(`${type}:`) ? `${type}: ` : '';
  return `tablesync: ${prefix}${message}${where.length ? ` (${where.join(' ')})` : ''}`;
}
