// Bench case cdcmaria: tablesync's cdc mode from the MariaDB binary log
// (BENCH_MYSQL_CDC, default the 3307 instance scripts/services.sh starts) into
// PostgreSQL. MariaDB has no native replication into PostgreSQL, so the
// baseline is the same changes applied by hand: every source transaction's
// statements, written as PostgreSQL's set-based SQL (INSERT ... SELECT
// generate_series, UPDATE / DELETE by key range), run in the target on a copy
// of the table, in the same transactions. It is the floor of applying those
// changes where they land (no binary log read, decoded or carried; a
// statement per transaction, not a row per change), not a competing tool.
//
// Throughput only: the stream paused, N changes (40% inserts, 40% updates,
// 20% deletes, 1,000 a transaction) committed at the source, a marker row
// after them; the stream resumed and timed until the marker is in the target,
// then the hand replay timed. Both targets are then compared with the source.
import { performance } from 'node:perf_hooks';
import { createConnection, type Connection } from 'mysql2/promise';
import type { CdcProgress } from '../workflows/cdc';
import type { BenchContext } from './bench-cases';
import { PG_BASE, pgConnect, sleep } from './bench-env';
import { finishVariant, type CaseReport, type Variant } from './bench-report';

export const MYSQL_CDC_BASE = process.env.BENCH_MYSQL_CDC ?? 'mysql://root@127.0.0.1:3307';
const SUFFIX = process.env.BENCH_DB_SUFFIX ?? '';
const SRC = `tablesync_bench_mcdc_src${SUFFIX}`;
const DST = `tablesync_bench_mcdc_dst${SUFFIX}`;

const IDLE_MS = 1_000;

/** The worker's connections for this case. */
export const MARIADB_CDC_CONNECTIONS: Record<string, string> = { mcdcsrc: `${MYSQL_CDC_BASE}/${SRC}`, mcdcdst: `${PG_BASE}/${DST}` };

async function mariadb(db?: string): Promise<Connection> {
  const u = new URL(MYSQL_CDC_BASE);
  return createConnection({ host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username || 'root'), password: decodeURIComponent(u.password), database: db, multipleStatements: true });
}

/** One source transaction's changes as key ranges (inclusive), so both sides can run them. */
interface Txn {
  insert: [number, number];
  update: [number, number];
  remove: [number, number];
}

/** Rows, and sums that any lost, doubled or misapplied change would move. */
const CHECK = 'SELECT count(*) AS c, coalesce(sum(id), 0) AS i, coalesce(sum(n), 0) AS n, coalesce(sum(length(v)), 0) AS l FROM ';
const checkText = (r: Record<string, unknown>) => `${r.c} rows, sum(id) ${r.i}, sum(n) ${r.n}, sum(length(v)) ${r.l}`;

export async function caseCdcMariadb(ctx: BenchContext, o: { changes: number }): Promise<CaseReport> {
  const rows = ctx.opts.rows;
  const admin = await mariadb();
  await admin.query(`DROP DATABASE IF EXISTS \`${SRC}\`; CREATE DATABASE \`${SRC}\``);
  await admin.end();
  const pgAdmin = await pgConnect('postgres');
  await pgAdmin.query(`DROP DATABASE IF EXISTS "${DST}" WITH (FORCE)`);
  await pgAdmin.query(`CREATE DATABASE "${DST}"`);
  await pgAdmin.end();
  const my = await mariadb(SRC);
  const dst = await pgConnect(DST);
  const workflowId = `bench-mcdc-${process.pid}`;
  const handle = ctx.temporal.workflow.getHandle(workflowId);
  const variants: Variant[] = [
    { name: 'tablesync cdc (binlog)', role: 'tablesync', rows: o.changes, runs: [] },
    { name: 'same changes as SQL in the target, by hand', role: 'baseline', rows: o.changes, runs: [] },
  ];
  const notes: string[] = [];
  try {
    await my.query(`CREATE TABLE bench_cdc (id bigint PRIMARY KEY, v varchar(100) NOT NULL, n int NOT NULL) ENGINE=InnoDB;
      CREATE TABLE bench_cdc_marker (id int PRIMARY KEY) ENGINE=InnoDB;
      INSERT INTO bench_cdc SELECT seq, CONCAT('row ', seq), 0 FROM seq_1_to_${rows}`);
    const config = { source: { connection: 'mcdcsrc' }, target: { connection: 'mcdcdst', schema: 'public' }, tables: ['bench_cdc', 'bench_cdc_marker'], mode: 'cdc' };
    await ctx.temporal.workflow.start('cdcWorkflow', { taskQueue: ctx.taskQueue, workflowId, args: [{ config, waitMs: IDLE_MS }] });
    const t0 = performance.now();
    while ((await handle.query<CdcProgress>('cdcProgress')).phase !== 'streaming') {
      if (performance.now() - t0 > 3_600_000) throw new Error('the snapshot took over an hour');
      await sleep(200);
    }
    notes.push(`snapshot of ${rows.toLocaleString('en-US')} rows: ${((performance.now() - t0) / 1000).toFixed(1)} s (untimed)`);
    // The hand baseline's table: the snapshot's rows, copied in the target (untimed).
    await dst.query(`CREATE SCHEMA hand; CREATE TABLE hand.bench_cdc (LIKE public.bench_cdc INCLUDING ALL); INSERT INTO hand.bench_cdc SELECT * FROM public.bench_cdc`);
    let nextId = rows + 1;
    let nextDelete = 1;
    let marker = 0;
    for (let run = 1; run <= ctx.opts.runs; run++) {
      await handle.signal('cdcPause');
      while ((await handle.query<CdcProgress>('cdcProgress')).phase !== 'paused') await sleep(100);
      await sleep(IDLE_MS + 1_000); // a batch under way when the pause came ends within its idle wait
      const txns: Txn[] = [];
      let written = 0;
      for (let round = 0; written < o.changes; round++) {
        const size = Math.min(1_000, o.changes - written);
        const ins = Math.max(1, Math.round(size * 0.4));
        const del = Math.round(size * 0.2);
        const upd = size - ins - del;
        const live = Math.max(1, nextId - nextDelete - del - upd);
        const from = nextDelete + del + ((round * 7919) % live);
        const t: Txn = { insert: [nextId, nextId + ins - 1], update: [from, from + upd - 1], remove: [nextDelete, nextDelete + del - 1] };
        await my.query(`START TRANSACTION;
          INSERT INTO bench_cdc SELECT seq, CONCAT('row ', seq), 0 FROM seq_${t.insert[0]}_to_${t.insert[1]};
          UPDATE bench_cdc SET n = n + 1 WHERE id BETWEEN ${t.update[0]} AND ${t.update[1]};
          ${del ? `DELETE FROM bench_cdc WHERE id BETWEEN ${t.remove[0]} AND ${t.remove[1]};` : ''}
          COMMIT`);
        txns.push(t);
        nextId += ins;
        nextDelete += del;
        written += size;
      }
      await my.query('INSERT INTO bench_cdc_marker VALUES (?)', [++marker]);
      const [[source]] = (await my.query(CHECK + 'bench_cdc')) as unknown as [Record<string, unknown>[]];
      const expected = checkText(source);
      const record = async (v: Variant, seconds: number, table: string) => {
        const got = checkText((await dst.query(CHECK + table)).rows[0]);
        v.runs.push({ run, seconds, valid: got === expected, ...(got !== expected && { note: `target ${got}, source ${expected}` }) });
        console.log(`  run ${run} ${v.name}: ${written.toLocaleString('en-US')} changes in ${seconds.toFixed(2)} s (${Math.round(written / seconds).toLocaleString('en-US')} changes/s)${got === expected ? '' : ` WRONG: ${got} vs ${expected}`}`);
      };
      let began = performance.now();
      await handle.signal('cdcResume');
      while ((await dst.query('SELECT 1 FROM public.bench_cdc_marker WHERE id = $1', [marker])).rowCount === 0) {
        if (performance.now() - began > 3_600_000) throw new Error(`marker ${marker} did not reach the target in an hour`);
        await sleep(20);
      }
      await record(variants[0], (performance.now() - began) / 1000, 'public.bench_cdc');
      began = performance.now();
      for (const t of txns) {
        await dst.query(`BEGIN;
          INSERT INTO hand.bench_cdc (id, v, n) SELECT g, 'row ' || g, 0 FROM generate_series(${t.insert[0]}, ${t.insert[1]}) g;
          UPDATE hand.bench_cdc SET n = n + 1 WHERE id BETWEEN ${t.update[0]} AND ${t.update[1]};
          DELETE FROM hand.bench_cdc WHERE id BETWEEN ${t.remove[0]} AND ${t.remove[1]};
          COMMIT`);
      }
      await record(variants[1], (performance.now() - began) / 1000, 'hand.bench_cdc');
    }
    notes.push(
      `${o.changes.toLocaleString('en-US')} changes a run (40% inserts, 40% updates, 20% deletes, 1,000 a source transaction) against ${rows.toLocaleString('en-US')} rows; ` +
        'tablesync drains the backlog from the binary log (read, decoded, applied per row in batches); the baseline runs the same transactions as three set-based statements each directly in the target, ' +
        'so it is the floor of applying these changes, not another replication tool (MariaDB has no native replication into PostgreSQL)',
    );
  } finally {
    await handle.signal('cdcStop', { dropSlot: true }).catch(() => undefined);
    await handle.result().catch(() => undefined);
    await Promise.all([my.end(), dst.end()].map((p) => p.catch(() => undefined)));
  }
  return {
    id: 'cdcmaria',
    title: `MariaDB -> PG cdc, ${o.changes.toLocaleString('en-US')} changes against ${rows.toLocaleString('en-US')} rows`,
    // No target: the baseline is a floor no log consumer reaches, and the issue sets none for MariaDB; ts/this is the measure.
    variants: variants.map(finishVariant),
    notes,
  };
}
