// What the benchmark records, and the side-by-side table it prints.
import type { Timeline } from './bench-timeline';

export interface Run {
  run: number;
  seconds: number;
  /** False when the result was wrong (or the step failed): such a run never counts. */
  valid: boolean;
  note?: string;
  /** tablesync only: CPU seconds the worker process used during the run. */
  workerCpuSeconds?: number;
  /** tablesync only: partitions of the (largest) table, as planned. */
  partitions?: number;
  /** 1-minute load average when the run started (2 cores: > 0.5 means something else was running). */
  load1?: number;
  /** CPU seconds the whole machine was busy from prepare to verification (all processes, both cores). */
  machineCpuSeconds?: number;
  /** tablesync only: the workflow id, and where its time went according to Temporal's history. */
  workflowId?: string;
  timeline?: Timeline;
  /** Rows the run moved from source to target (what a network would carry), where the case says. */
  rowsCopied?: number;
  /** Extra timings of a run (e.g. the hand-run baseline's steps). */
  steps?: Record<string, number>;
}

export interface Variant {
  name: string;
  role: 'tablesync' | 'baseline';
  rows: number;
  runs: Run[];
  /** Why the variant did not run at all (missing tool, no MSSQL_URL, …). */
  skipped?: string;
  /** tablesync only: the worker's peak RSS (VmHWM) over the case. */
  peakRssMb?: number;
  medianSeconds?: number;
  rowsPerSecond?: number;
}

export interface Target {
  /** Baseline the ratio is taken against (ratio = tablesync median / baseline median). */
  baseline?: string;
  /** Largest acceptable ratio, or largest wall time in seconds when there is no baseline. */
  max: number;
  text: string;
}

export interface CaseReport {
  id: string;
  title: string;
  variants: Variant[];
  target?: Target;
  notes: string[];
}

export function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Medians over valid runs only: a fast wrong answer must not count. */
export function finishVariant(v: Variant): Variant {
  const ok = v.runs.filter((r) => r.valid).map((r) => r.seconds);
  v.medianSeconds = median(ok);
  v.rowsPerSecond = v.medianSeconds ? Math.round(v.rows / v.medianSeconds) : undefined;
  return v;
}

export function tablesyncOf(c: CaseReport): Variant | undefined {
  return c.variants.find((v) => v.role === 'tablesync');
}

export function ratio(c: CaseReport, baseline: Variant): number | undefined {
  const ts = tablesyncOf(c)?.medianSeconds;
  return ts && baseline.medianSeconds ? ts / baseline.medianSeconds : undefined;
}

/** "met", "MISSED" or "n/a" for the case's target. */
export function targetVerdict(c: CaseReport): { value?: number; met?: boolean } {
  if (!c.target) return {};
  const ts = tablesyncOf(c);
  if (!ts?.medianSeconds) return {};
  if (!c.target.baseline) return { value: ts.medianSeconds, met: ts.medianSeconds <= c.target.max };
  const base = c.variants.find((v) => v.name === c.target!.baseline);
  const r = base ? ratio(c, base) : undefined;
  return r === undefined ? {} : { value: r, met: r <= c.target.max };
}

const fmtInt = (n: number | undefined): string => (n === undefined ? '-' : Math.round(n).toLocaleString('en-US'));
const fmtSec = (n: number | undefined): string => (n === undefined ? '-' : n.toFixed(2));

function pad(cells: string[], widths: number[], right: boolean[]): string {
  return cells.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
}

/** The side-by-side table: one line per variant, the ratio on each baseline's line. */
export function renderTable(cases: CaseReport[]): string {
  const header = ['case', 'variant', 'rows', 'median s', 'rows/s', 'ts/this', 'valid', 'RSS MB', 'worker CPU s', 'rows copied'];
  const right = [false, false, true, true, true, true, true, true, true, true];
  const lines: string[][] = [];
  const footnotes: string[] = [];
  for (const c of cases) {
    c.variants.forEach((v, i) => {
      const caseCell = i === 0 ? `${c.id} ${c.title}` : '';
      if (v.skipped) {
        lines.push([caseCell, `${v.name}: NOT RUN (${v.skipped})`, '', '', '', '', '', '', '', '']);
        return;
      }
      const valid = `${v.runs.filter((r) => r.valid).length}/${v.runs.length}`;
      const r = v.role === 'baseline' ? ratio(c, v) : undefined;
      const marked = c.target?.baseline === v.name ? '*' : '';
      const cpu = median(v.runs.filter((x) => x.valid && x.workerCpuSeconds !== undefined).map((x) => x.workerCpuSeconds!));
      const copied = median(v.runs.filter((x) => x.valid && x.rowsCopied !== undefined).map((x) => x.rowsCopied!));
      lines.push([
        caseCell,
        v.name,
        fmtInt(v.rows),
        fmtSec(v.medianSeconds),
        fmtInt(v.rowsPerSecond),
        r === undefined ? (v.role === 'tablesync' ? '' : '-') : `${r.toFixed(2)}x${marked}`,
        valid,
        v.peakRssMb === undefined ? '' : fmtInt(v.peakRssMb),
        cpu === undefined ? '' : cpu.toFixed(1),
        copied === undefined ? '' : fmtInt(copied),
      ]);
    });
    if (c.target) {
      const { value, met } = targetVerdict(c);
      const shown = value === undefined ? 'no valid measurement' : c.target.baseline ? `${value.toFixed(2)}x` : `${value.toFixed(2)} s`;
      footnotes.push(`  ${c.id}: target ${c.target.text}: ${shown} -> ${met === undefined ? 'n/a' : met ? 'met' : 'MISSED'}`);
    }
    for (const n of c.notes) footnotes.push(`  ${c.id}: ${n}`);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  return [
    pad(header, widths, right),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...lines.map((l) => pad(l, widths, right)),
    '',
    '* = the baseline the target ratio uses; ts/this = tablesync median / this variant\'s median (< 1: tablesync faster)',
    ...footnotes,
  ].join('\n');
}
