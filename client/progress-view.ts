import type { MultiBar, SingleBar } from 'cli-progress';
import type { LiveProgress, LiveTableProgress } from './progress';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

export function bar(fraction: number, width: number): string {
  const done = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return '█'.repeat(done) + '░'.repeat(width - done);
}

/** Fraction of a table copied: rows of the estimate, or partitions when there is no estimate. */
export function tableFraction(t: LiveTableProgress): number {
  if (t.phase === 'done') return 1;
  if (t.estimatedRows > 0) return Math.min(1, t.rowsCopied / t.estimatedRows);
  return t.partitionsTotal ? t.partitionsDone / t.partitionsTotal : 0;
}

/** One running table: name, bar, rows of the estimate, rows/s, partitions, phase. */
export function tableLine(t: LiveTableProgress, rowsPerSecond: number | undefined, barWidth = 20, nameWidth = 24): string {
  const pct = Math.floor(tableFraction(t) * 100);
  const rows = `${fmt(t.rowsCopied)}/${t.estimatedRows ? `~${fmt(t.estimatedRows)}` : '?'} rows`;
  const rate = rowsPerSecond !== undefined ? `${fmt(rowsPerSecond)} rows/s` : '';
  const parts = `partitions ${t.partitionsDone}/${t.partitionsTotal}${t.partitionsRunning ? ` (${t.partitionsRunning} running)` : ''}`;
  return [t.table.padEnd(nameWidth), bar(tableFraction(t), barWidth), `${String(pct).padStart(3)}%`, rows, rate, parts, t.phase]
    .filter(Boolean)
    .join('  ');
}

export function overallFraction(p: LiveProgress): number {
  if (p.estimatedRows > 0) return Math.min(1, p.rowsCopied / p.estimatedRows);
  return p.tablesTotal ? (p.tablesDone + p.tablesFailed) / p.tablesTotal : 0;
}

export function overallLine(p: LiveProgress, rowsPerSecond: number | undefined, barWidth = 20, nameWidth = 24): string {
  const tables = p.phase === 'plan' ? 'planning' : `${p.tablesDone + p.tablesFailed}/${p.tablesTotal} tables${p.tablesFailed ? ` (${p.tablesFailed} failed)` : ''}`;
  const rate = rowsPerSecond !== undefined ? `${fmt(rowsPerSecond)} rows/s` : '';
  return ['total'.padEnd(nameWidth), bar(overallFraction(p), barWidth), `${String(Math.floor(overallFraction(p) * 100)).padStart(3)}%`,
    `${fmt(p.rowsCopied)}/~${fmt(p.estimatedRows)} rows`, rate, tables].filter(Boolean).join('  ');
}

/** A table that ended, for the lines that scroll above the bars. */
export function endedLine(t: LiveTableProgress): string {
  return t.phase === 'done'
    ? `  done   ${t.table} → ${t.target}: ${fmt(t.rowsCopied)} rows copied, ${t.partitionsTotal} partition${t.partitionsTotal === 1 ? '' : 's'}`
    : `  FAILED ${t.table} → ${t.target} (the summary says why)`;
}

/** Off a TTY: one plain line, for CI logs and log shippers. */
export function plainLine(p: LiveProgress, rates: Rates): string {
  if (p.phase === 'plan') return `progress ${p.workflowId}: planning`;
  const running = p.tables.filter((t) => t.phase !== 'done' && t.phase !== 'failed' && t.phase !== 'waiting');
  const head =
    `progress ${p.workflowId}: ${p.tablesDone}/${p.tablesTotal} tables done, ${p.tablesFailed} failed, ${running.length} running; ` +
    `${fmt(p.rowsCopied)} of ~${fmt(p.estimatedRows)} rows (${Math.floor(overallFraction(p) * 100)}%)` +
    (rates.total !== undefined ? `, ${fmt(rates.total)} rows/s` : '');
  const each = running.map(
    (t) => `${t.table} ${t.phase} ${Math.floor(tableFraction(t) * 100)}% ${fmt(t.rowsCopied)} rows, partitions ${t.partitionsDone}/${t.partitionsTotal}`,
  );
  return each.length ? `${head}; ${each.join('; ')}` : head;
}

export interface Rates {
  total?: number;
  tables: Map<string, number>;
}

/** The live view as lines (what the TTY shows at one moment): pure, for tests and the README's captured frame. */
export function renderFrame(p: LiveProgress, rates: Rates, barWidth = 20): string[] {
  const running = p.tables.filter((t) => t.phase !== 'done' && t.phase !== 'failed' && t.phase !== 'waiting');
  const nameWidth = Math.max(5, ...running.map((t) => t.table.length));
  return [
    ...p.tables.filter((t) => t.phase === 'done' || t.phase === 'failed').map(endedLine),
    ...running.map((t) => tableLine(t, rates.tables.get(t.table), barWidth, nameWidth)),
    overallLine(p, rates.total, barWidth, nameWidth),
  ];
}

/** Rows per second from two samples of the same run. */
export class RateMeter {
  private last: { at: number; total: number; tables: Map<string, number> } | null = null;

  sample(p: LiveProgress, at: number): Rates {
    const tables = new Map(p.tables.map((t) => [t.table, t.rowsCopied]));
    const prev = this.last;
    this.last = { at, total: p.rowsCopied, tables };
    if (!prev || at <= prev.at) return { tables: new Map() };
    const dt = (at - prev.at) / 1000;
    const rates = new Map<string, number>();
    for (const [name, rows] of tables) {
      const before = prev.tables.get(name);
      if (before !== undefined) rates.set(name, Math.max(0, (rows - before) / dt));
    }
    return { total: Math.max(0, (p.rowsCopied - prev.total) / dt), tables: rates };
  }
}

export interface ProgressOutput {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * The progress of a run while the CLI waits. On a TTY a cli-progress multibar
 * (it owns the redraw: cursor moves, lines cleared, log lines printed above
 * the bars): one bar per running table, an overall bar, ended tables
 * scrolling above. Off a TTY a plain line at most every `plainEveryMs`.
 */
export class ProgressView {
  private readonly meter = new RateMeter();
  private multi: MultiBar | null = null;
  private overall: SingleBar | null = null;
  private readonly bars = new Map<string, SingleBar>();
  private readonly ended = new Set<string>();
  private lastPlain = 0;

  constructor(
    private readonly out: ProgressOutput,
    private readonly plainEveryMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  get tty(): boolean {
    return this.out.isTTY === true;
  }

  update(p: LiveProgress): void {
    const at = this.now();
    const rates = this.meter.sample(p, at);
    if (!this.tty) {
      if (at - this.lastPlain >= this.plainEveryMs || this.lastPlain === 0) {
        this.lastPlain = at;
        this.out.write(`${plainLine(p, rates)}\n`);
      }
      return;
    }
    // cli-progress loads with the first bar: a run off a TTY, or one that ends before its first read, never needs it.
    const { MultiBar: Bars } = require('cli-progress') as typeof import('cli-progress');
    const multi = (this.multi ??= new Bars(
      {
        stream: this.out as NodeJS.WritableStream,
        format: (_options, _params, payload: { line: (width: number) => string }) => payload.line(20),
        hideCursor: true,
        clearOnComplete: false,
        linewrap: false,
        fps: 5,
        gracefulExit: false,
      },
    ));
    const running = p.tables.filter((t) => t.phase !== 'done' && t.phase !== 'failed' && t.phase !== 'waiting');
    const nameWidth = Math.max(5, ...running.map((t) => t.table.length));
    for (const t of p.tables) {
      if ((t.phase === 'done' || t.phase === 'failed') && !this.ended.has(t.table)) {
        this.ended.add(t.table);
        const b = this.bars.get(t.table);
        if (b) multi.remove(b);
        this.bars.delete(t.table);
        multi.log(`${endedLine(t)}\n`);
      }
    }
    // The overall bar stays last: created after the table bars, so it is recreated when a table starts.
    for (const t of running) {
      const payload = { line: (w: number) => tableLine(t, rates.tables.get(t.table), w, nameWidth) };
      const existing = this.bars.get(t.table);
      if (existing) existing.update(Math.floor(tableFraction(t) * 1000), payload);
      else {
        if (this.overall) multi.remove(this.overall);
        this.overall = null;
        this.bars.set(t.table, multi.create(1000, Math.floor(tableFraction(t) * 1000), payload));
      }
    }
    const overallPayload = { line: (w: number) => overallLine(p, rates.total, w, nameWidth) };
    if (this.overall) this.overall.update(Math.floor(overallFraction(p) * 1000), overallPayload);
    else this.overall = multi.create(1000, Math.floor(overallFraction(p) * 1000), overallPayload);
    multi.update();
  }

  stop(): void {
    this.multi?.stop();
    this.multi = null;
    // Bars of a stopped multibar are gone: a later update draws new ones below what was printed meanwhile.
    this.bars.clear();
    this.overall = null;
  }
}

/**
 * Follows a run: reads its progress every `everyMs` and shows it until
 * stopped. Errors reading it (no worker answering the query yet) are skipped.
 */
export function followProgress(
  read: () => Promise<LiveProgress>,
  view: ProgressView,
  everyMs: number,
): { stop(): void; pause(): void; resume(): void } {
  let stopped = false;
  let paused = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    void read().then(
      (p) => {
        if (!stopped && !paused) view.update(p);
      },
      () => undefined,
    ).finally(() => {
      if (!stopped) timer = setTimeout(tick, everyMs);
    });
  };
  timer = setTimeout(tick, Math.min(everyMs, 1_000));
  return {
    // Not waiting for a read in flight: its query may need the worker that just stopped.
    stop() {
      stopped = true;
      clearTimeout(timer);
      view.stop();
    },
    // While a question is asked below the bars: they stop drawing, the reads go on.
    pause() {
      paused = true;
      view.stop();
    },
    resume() {
      paused = false;
    },
  };
}
