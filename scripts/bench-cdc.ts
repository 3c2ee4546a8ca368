// Bench case cdc: tablesync's cdc mode beside PostgreSQL's own logical
// replication (a publication and a subscription into another database of the
// same server), on the wal_level=logical cluster (BENCH_PG_CDC, default the
// 5434 cluster scripts/services.sh starts).
//
// Throughput: both consumers paused (cdc pause; ALTER SUBSCRIPTION DISABLE),
// N changes (inserts, updates, deletes in source transactions of 1,000) are
// committed, a marker row after them; then each consumer in turn is let go
// and timed until the marker is in its target: changes/s = N / seconds.
// Latency: both consumers running, a steady RATE changes/s for SECONDS; each
// inserted or updated row carries clock_timestamp() of its write, and a
// trigger on each target stamps its arrival (same server, same clock):
// p50/p99 of arrival - write over the rows written in that phase.
import { performance } from 'node:perf_hooks';
import { Client as PgClient } from 'pg';
import type { CdcProgress } from '../workflows/cdc';
import type { BenchContext } from './bench-cases';
import { sleep } from './bench-env';
import { finishVariant, type CaseReport, type Variant } from './bench-report';

export const CDC_BASE = process.env.BENCH_PG_CDC ?? 'postgres://postgres@127.0.0.1:5434';
const SUFFIX = process.env.BENCH_DB_SUFFIX ?? '';
const SRC = `tablesync_bench_cdc_src${SUFFIX}`;
const TS = `tablesync_bench_cdc_dst${SUFFIX}`;
const NATIVE = `tablesync_bench_cdc_native${SUFFIX}`;
const SLOT = `bench_native${SUFFIX}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');

const IDLE_MS = 1_000;
/** Changes per batch, when not the workflow's default (BENCH_CDC_MAX_CHANGES: to compare batch sizes). */
const MAX_CHANGES = Number(process.env.BENCH_CDC_MAX_CHANGES) || undefined;

/** The worker's connections for this case. */
export const CDC_CONNECTIONS: Record<string, string> = { cdcsrc: `${CDC_BASE}/${SRC}`, cdcdst: `${CDC_BASE}/${TS}` };

export interface CdcBenchOptions {
  /** Changes in the throughput phase (default 1,000,000). */
  changes: number;
  /** Changes per second in the latency phase (default 1,000). */
  rate: number;
  /** Seconds of the latency phase (default 60). */
  seconds: number;
}

async function connect(db: string): Promise<PgClient> {
  const c = new PgClient({ connectionString: `${CDC_BASE}/${db}`, application_name: 'tablesync-bench-cdc' });
  await c.connect();
  await c.query('SET statement_timeout = 0');
  return c;
}

/** Fresh databases: the subscription and slots of an earlier bench dropped first (they would block DROP DATABASE). */
async function freshDatabases(): Promise<void> {
  const admin = await connect('postgres');
  try {
    const native = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [NATIVE]);
    if (native.rowCount) {
      const n = await connect(NATIVE);
      for (const sql of [`ALTER SUBSCRIPTION ${SLOT} DISABLE`, `ALTER SUBSCRIPTION ${SLOT} SET (slot_name = NONE)`, `DROP SUBSCRIPTION IF EXISTS ${SLOT}`]) {
        await n.query(sql).catch(() => undefined);
      }
      await n.end();
    }
    await admin.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active`, [SRC]);
    await admin.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, [SRC]);
    for (const db of [SRC, TS, NATIVE]) {
      await admin.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
      await admin.query(`CREATE DATABASE "${db}"`);
    }
  } finally {
    await admin.end();
  }
}

const TABLES = `CREATE TABLE bench_cdc (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL, ts timestamptz NOT NULL DEFAULT clock_timestamp());
  CREATE TABLE bench_cdc_marker (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())`;

/** The arrival stamp on a target: a column the source lacks, set by a trigger on every row written. */
const ARRIVAL = `ALTER TABLE bench_cdc ADD COLUMN arrived timestamptz;
  CREATE FUNCTION bench_arrived() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.arrived := clock_timestamp(); RETURN NEW; END $$;
  CREATE TRIGGER bench_arrived BEFORE INSERT OR UPDATE ON bench_cdc FOR EACH ROW EXECUTE FUNCTION bench_arrived()`;

const CHECKSUM = `SELECT count(*)::bigint::text AS rows, coalesce(sum(hashtextextended(id::text || '|' || v || '|' || n::text || '|' || ts::text, 0)), 0)::text AS digest FROM bench_cdc`;

async function checksum(c: PgClient): Promise<string> {
  const r = (await c.query(CHECKSUM)).rows[0];
  return `${r.rows} rows, digest ${r.digest}`;
}

/** Until the marker row `id` is in the target. */
async function markerIn(c: PgClient, id: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while ((await c.query('SELECT 1 FROM bench_cdc_marker WHERE id = $1', [id])).rowCount === 0) {
    if (Date.now() > until) throw new Error(`marker ${id} did not reach the target in ${timeoutMs / 1000} s`);
    await sleep(20);
  }
}

/**
 * Writes one source transaction of about `size` changes: 40% inserts of new
 * keys, 40% updates of live keys, 20% deletes of the oldest keys. Returns the
 * changes it made.
 */
class Workload {
  private nextId: number;
  private nextDelete = 1;
  private round = 0;
  constructor(private readonly src: PgClient, rows: number) {
    this.nextId = rows + 1;
  }
  async transaction(size: number): Promise<number> {
    const ins = Math.max(1, Math.round(size * 0.4));
    const del = Math.round(size * 0.2);
    const upd = size - ins - del;
    const live = Math.max(1, this.nextId - this.nextDelete - del - upd);
    const from = this.nextDelete + del + ((this.round++ * 7919) % live);
    const r = (await this.src.query(
      `BEGIN;
       INSERT INTO bench_cdc (id, v, n) SELECT g, 'row ' || g, 0 FROM generate_series(${this.nextId}, ${this.nextId + ins - 1}) g;
       UPDATE bench_cdc SET n = n + 1, ts = clock_timestamp() WHERE id BETWEEN ${from} AND ${from + upd - 1};
       DELETE FROM bench_cdc WHERE id BETWEEN ${this.nextDelete} AND ${this.nextDelete + del - 1};
       COMMIT`,
    )) as unknown as { rowCount: number | null }[];
    this.nextId += ins;
    this.nextDelete += del;
    return r.slice(1, 4).reduce((a, x) => a + (x.rowCount ?? 0), 0);
  }
}

async function latency(c: PgClient, since: string): Promise<{ p50: number; p99: number; rows: number }> {
  const r = await c.query(
    `SELECT count(*)::int AS rows, percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM arrived - ts)) AS p
     FROM bench_cdc WHERE ts >= $1::timestamptz AND arrived IS NOT NULL`,
    [since],
  );
  const p = (r.rows[0].p ?? [NaN, NaN]) as number[];
  return { p50: Number(p[0]), p99: Number(p[1]), rows: r.rows[0].rows };
}

export async function caseCdc(ctx: BenchContext, o: CdcBenchOptions): Promise<CaseReport> {
  const rows = ctx.opts.rows;
  await freshDatabases();
  const src = await connect(SRC);
  const ts = await connect(TS);
  const native = await connect(NATIVE);
  const workflowId = `bench-cdc-${process.pid}`;
  const handle = ctx.temporal.workflow.getHandle(workflowId);
  const variants: Variant[] = [
    { name: 'tablesync cdc', role: 'tablesync', rows: o.changes, runs: [] },
    { name: 'native logical replication', role: 'baseline', rows: o.changes, runs: [] },
  ];
  const notes: string[] = [];
  try {
    await src.query(TABLES);
    await src.query(`INSERT INTO bench_cdc (id, v, n) SELECT g, 'row ' || g, 0 FROM generate_series(1, ${rows}) g`);
    await src.query('ANALYZE bench_cdc');
    // Native: its own publication and slot (made apart: CREATE SUBSCRIPTION cannot make a slot on its own server), then the initial copy.
    await src.query(`CREATE PUBLICATION ${SLOT} FOR TABLE bench_cdc, bench_cdc_marker`);
    await src.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [SLOT]);
    await native.query(TABLES);
    await native.query(ARRIVAL);
    await native.query(`ALTER TABLE bench_cdc ENABLE ALWAYS TRIGGER bench_arrived`);
    const url = new URL(CDC_BASE);
    const conninfo = `host=${url.hostname} port=${url.port || 5432} user=${url.username || 'postgres'} dbname=${SRC}`;
    await native.query(`CREATE SUBSCRIPTION ${SLOT} CONNECTION '${conninfo}' PUBLICATION ${SLOT} WITH (create_slot = false, slot_name = '${SLOT}', copy_data = true)`);
    // tablesync: the cdc workflow's snapshot.
    const config = { source: { connection: 'cdcsrc' }, target: { connection: 'cdcdst' }, tables: ['public.bench_cdc', 'public.bench_cdc_marker'], mode: 'cdc' };
    // An idle batch returns within 1 s, so a pause takes hold within about a second.
    await ctx.temporal.workflow.start('cdcWorkflow', { taskQueue: ctx.taskQueue, workflowId, args: [{ config, waitMs: IDLE_MS, ...(MAX_CHANGES && { maxChanges: MAX_CHANGES }) }] });
    const t0 = performance.now();
    for (;;) {
      const p = await handle.query<CdcProgress>('cdcProgress');
      const copied = await native.query(`SELECT count(*) FILTER (WHERE srsubstate <> 'r')::int AS pending FROM pg_subscription_rel`);
      if (p.phase === 'streaming' && copied.rows[0].pending === 0) break;
      if (performance.now() - t0 > 3_600_000) throw new Error('the initial loads took over an hour');
      await sleep(200);
    }
    notes.push(`initial loads of ${rows.toLocaleString('en-US')} rows (both, side by side): ${((performance.now() - t0) / 1000).toFixed(1)} s (untimed)`);
    await ts.query(ARRIVAL);
    const workload = new Workload(src, rows);
    let marker = 0;

    for (let run = 1; run <= ctx.opts.runs; run++) {
      // Both paused: the changes wait in each slot.
      await handle.signal('cdcPause');
      await native.query(`ALTER SUBSCRIPTION ${SLOT} DISABLE`);
      for (;;) {
        const p = await handle.query<CdcProgress>('cdcProgress');
        // Both slots: tablesync's worker keeps its stream open a few seconds after the last batch, reading ahead meanwhile.
        const active = await src.query(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE database = current_database() AND active`);
        if (p.phase === 'paused' && active.rows[0].n === 0) break;
        await sleep(100);
      }
      // A batch under way when the pause came ends within its idle wait: none may apply the backlog before its timer starts.
      await sleep(IDLE_MS + 1_000);
      let written = 0;
      while (written < o.changes) written += await workload.transaction(Math.min(1_000, o.changes - written));
      await src.query('INSERT INTO bench_cdc_marker (id) VALUES ($1)', [++marker]);
      const expected = await checksum(src);
      // Each drains the same backlog alone.
      const drain = async (v: Variant, start: () => Promise<unknown>, target: PgClient) => {
        const began = performance.now();
        await start();
        await markerIn(target, marker, 3_600_000);
        const seconds = (performance.now() - began) / 1000;
        const got = await checksum(target);
        v.rows = written;
        v.runs.push({ run, seconds, valid: got === expected, ...(got !== expected && { note: `target ${got}, source ${expected}` }) });
        console.log(`  run ${run} ${v.name}: ${written.toLocaleString('en-US')} changes in ${seconds.toFixed(2)} s (${Math.round(written / seconds).toLocaleString('en-US')} changes/s)${got === expected ? '' : ` WRONG: ${got} vs ${expected}`}`);
      };
      const tsFirst = run % 2 === 1; // alternate who drains first: a warm cache favours the second
      const order: [Variant, () => Promise<unknown>, PgClient][] = [
        [variants[0], () => handle.signal('cdcResume'), ts],
        [variants[1], () => native.query(`ALTER SUBSCRIPTION ${SLOT} ENABLE`), native],
      ];
      for (const [v, start, target] of tsFirst ? order : order.reverse()) await drain(v, start, target);
      await handle.signal('cdcResume');
      await native.query(`ALTER SUBSCRIPTION ${SLOT} ENABLE`);
    }

    // Latency: both running, a steady rate in transactions every 100 ms.
    const since = (await src.query(`SELECT clock_timestamp()::text AS t`)).rows[0].t as string;
    const perTick = Math.max(1, Math.round(o.rate / 10));
    const began = performance.now();
    let ticks = 0;
    let steady = 0;
    while (performance.now() - began < o.seconds * 1000) {
      steady += await workload.transaction(perTick);
      ticks++;
      const next = began + ticks * 100;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
    }
    const achieved = steady / ((performance.now() - began) / 1000);
    await src.query('INSERT INTO bench_cdc_marker (id) VALUES ($1)', [++marker]);
    await markerIn(ts, marker, 600_000);
    await markerIn(native, marker, 600_000);
    const a = await latency(ts, since);
    const b = await latency(native, since);
    const ms = (s: number) => `${Math.round(s * 1000)} ms`;
    notes.push(
      `latency at a steady ${achieved.toFixed(0)} changes/s for ${o.seconds} s (${steady.toLocaleString('en-US')} changes), commit to target, ` +
        `over the rows inserted or updated then: tablesync p50 ${ms(a.p50)}, p99 ${ms(a.p99)} (${a.rows} rows); native p50 ${ms(b.p50)}, p99 ${ms(b.p99)} (${b.rows} rows)`,
    );
    notes.push(`throughput: ${o.changes.toLocaleString('en-US')} changes (40% inserts, 40% updates, 20% deletes, 1,000 a transaction) against ${rows.toLocaleString('en-US')} rows, each consumer alone draining the same backlog; rows/s = changes/s; native's time includes starting its apply worker after ENABLE`);
    variants[0].runs.forEach((r) => (r.steps = { latencyP50: a.p50, latencyP99: a.p99 }));
    variants[1].runs.forEach((r) => (r.steps = { latencyP50: b.p50, latencyP99: b.p99 }));
    console.log(`  ${notes[notes.length - 2]}`);
  } finally {
    await handle.signal('cdcStop', { dropSlot: true }).catch(() => undefined);
    await handle.result().catch(() => undefined);
    for (const sql of [`ALTER SUBSCRIPTION ${SLOT} DISABLE`, `ALTER SUBSCRIPTION ${SLOT} SET (slot_name = NONE)`, `DROP SUBSCRIPTION IF EXISTS ${SLOT}`]) {
      await native.query(sql).catch(() => undefined);
    }
    // The disabled subscription's walsender may hold the slot a moment longer: ended first, so no slot is left holding WAL.
    await src.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active`, [SLOT]).catch(() => undefined);
    await sleep(500);
    await src.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, [SLOT]).catch((err) => console.log(`  could not drop slot ${SLOT}: ${err.message}`));
    await Promise.all([src, ts, native].map((c) => c.end().catch(() => undefined)));
  }
  return {
    id: 'cdc',
    title: `PG -> PG cdc, ${o.changes.toLocaleString('en-US')} changes against ${rows.toLocaleString('en-US')} rows`,
    variants: variants.map(finishVariant),
    target: { baseline: 'native logical replication', max: 1.0, text: 'throughput >= 1.0x native logical replication (time ratio <= 1.0); p50 latency < 1 s (see the note)' },
    notes,
  };
}
