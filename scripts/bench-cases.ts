// The benchmark cases: each runs tablesync next to its baselines on the same
// data, run after run, and checks every result against the source.
import { writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Client as TemporalClient } from '@temporalio/client';
import type { Connection as MysqlConnection } from 'mysql2/promise';
import type { Client as PgClient } from 'pg';
import { completeSummary } from '../client/results';
import { startSync } from '../client/start';
import type { SyncConfigInput } from '../lib/config';
import type { SyncSummary } from '../lib/types';
import {
  checksumMismatch,
  COLUMN_LIST,
  COLUMNS,
  MANY_ROWS,
  MANY_TABLES,
  manyTableName,
  mutatePgSource,
  mysqlChecksum,
  PG_FROM_MYSQL_TYPES,
  PG_SOURCE_TYPES,
  pgChecksum,
  pgChecksumWith,
  pgTableDdl,
  type Checksum,
} from './bench-data';
import { BenchWorker, commandExists, machineBusySeconds, DST_DB, mariadbCli, myUrl, pgConnect, pgUrl, psql, ROOT, sh, shq, SRC_DB } from './bench-env';
import { MSSQL_URL } from './bench-mssql';
import { finishVariant, type CaseReport, type Run, type Variant } from './bench-report';
import { timelineLine, timelineOf } from './bench-timeline';

export interface BenchOptions {
  rows: number;
  /** Rows of case 3d's table (public.bench_big). */
  bigRows: number;
  runs: number;
  cases: Set<string>;
  out: string;
  maxParallel?: number;
  partitionThreshold?: number;
  rowsPerPartition?: number;
  maxPartitions?: number;
  batchSize?: number;
  profileDir?: string;
  /** Case cdc's sizes (scripts/bench-cdc.ts). */
  cdc?: import('./bench-cdc').CdcBenchOptions;
}

export interface BenchContext {
  opts: BenchOptions;
  /** Admin connections to the source and target databases (setup, VACUUM, CHECKPOINT). */
  src: PgClient;
  dst: PgClient;
  my?: MysqlConnection;
  temporal: TemporalClient;
  taskQueue: string;
  worker: BenchWorker;
}

/** Connection names in the workflow input; the worker maps them to URLs from its environment. */
export const CONNECTIONS: Record<string, string> = {
  pgsrc: pgUrl(SRC_DB),
  mysrc: myUrl(SRC_DB),
  dst: pgUrl(DST_DB),
  ...(MSSQL_URL && { mssqlsrc: MSSQL_URL }),
};

const srcConnect = () => pgConnect(SRC_DB);
const dstConnect = () => pgConnect(DST_DB);

// ------------------------------------------------------------------ helpers

/** The workflow input: connection names, tables, mode auto, partitioning only where a flag says so. */
export function syncConfig(ctx: BenchContext, source: string, targetSchema: string, tables: string[]): SyncConfigInput {
  const o = ctx.opts;
  return {
    source: { connection: source },
    target: { connection: 'dst', schema: targetSchema },
    tables,
    mode: 'auto',
    ...(o.maxParallel !== undefined && { maxParallelTransfers: o.maxParallel }),
    ...(o.partitionThreshold !== undefined && { partitionThreshold: o.partitionThreshold }),
    ...(o.rowsPerPartition !== undefined && { rowsPerPartition: o.rowsPerPartition }),
    ...(o.maxPartitions !== undefined && { maxPartitionsPerTable: o.maxPartitions }),
    ...(o.batchSize !== undefined && { batchSize: o.batchSize }),
  };
}

/**
 * Every timed step starts from the same place: dirty pages from the previous
 * step written out, so no step pays for another's checkpoint.
 */
async function quiesce(ctx: BenchContext): Promise<void> {
  await ctx.dst.query('CHECKPOINT');
}

let syncSeq = 0;

/** Times one sync from workflow start to result, on the warm worker. Throws when the workflow fails. */
async function timeSync(ctx: BenchContext, config: SyncConfigInput, label: string) {
  const workflowId = `bench-${label}-${process.pid}-${Date.now()}-${++syncSeq}`;
  const cpu0 = ctx.worker.cpuSeconds();
  const busy0 = machineBusySeconds();
  const t0 = performance.now();
  const handle = await startSync(config, { client: ctx.temporal, taskQueue: ctx.taskQueue, workflowId });
  // Every table listed, as `tablesync run` prints them: a sync of many tables reads them back from the state.
  const summary: SyncSummary = await completeSummary(ctx.temporal, config, await handle.result(), ctx.taskQueue);
  const seconds = (performance.now() - t0) / 1000;
  const machineCpuSeconds = machineBusySeconds() - busy0;
  return { workflowId, seconds, summary, workerCpuSeconds: ctx.worker.cpuSeconds() - cpu0, machineCpuSeconds };
}

/** A summary that says anything but "all tables done, expected counts" is a wrong answer. */
function summaryProblem(s: SyncSummary, expect: { tables: number; rowsCopied?: number; inserted?: number; updated?: number }): string | null {
  if (s.tablesFailed > 0) return `failed: ${s.tables.find((t) => t.status === 'failed')?.error ?? 'unknown'}`;
  if (s.tablesSynced !== expect.tables) return `${s.tablesSynced} tables synced, expected ${expect.tables} (${s.skipped.map((k) => k.reason).join('; ')})`;
  for (const key of ['rowsCopied', 'inserted', 'updated'] as const) {
    if (expect[key] !== undefined && s[key] !== expect[key]) return `summary says ${key} = ${s[key]}, expected ${expect[key]}`;
  }
  return null;
}

interface TablesyncStep {
  label: string;
  config: SyncConfigInput;
  prepare: () => Promise<void>;
  /** Checks the summary and the target; returns why the run is wrong, or null. */
  verify: (summary: SyncSummary) => Promise<string | null>;
}

async function runTablesync(ctx: BenchContext, run: number, step: TablesyncStep): Promise<Run> {
  await step.prepare();
  await quiesce(ctx);
  try {
    const { workflowId, seconds, summary, workerCpuSeconds, machineCpuSeconds } = await timeSync(ctx, step.config, step.label);
    const problem = await step.verify(summary).catch((err: Error) => `verification failed: ${err.message}`);
    const partitions = Math.max(0, ...summary.tables.map((t) => t.partitions));
    const timeline = await timelineOf(ctx.temporal, workflowId).catch((err: Error) => {
      console.log(`  (no timeline of ${workflowId}: ${err.message})`);
      return undefined;
    });
    return {
      run,
      seconds,
      valid: problem === null,
      workerCpuSeconds,
      machineCpuSeconds,
      partitions,
      workflowId,
      timeline,
      rowsCopied: summary.rowsCopied,
      ...(problem && { note: problem }),
    };
  } catch (err) {
    return { run, seconds: NaN, valid: false, note: `sync failed: ${rootCause(err)}` };
  }
}

function rootCause(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  let msg = String(err);
  while (e) {
    if (e.message) msg = e.message;
    e = e.cause as typeof e;
  }
  return msg;
}

interface ShellStep {
  prepare: () => Promise<void>;
  /** Timed scripts, run one after the other; the run's time is their sum. */
  scripts: Record<string, string>;
  env?: Record<string, string>;
  verify: () => Promise<string | null>;
}

async function runShell(ctx: BenchContext, run: number, step: ShellStep): Promise<Run> {
  await step.prepare();
  await quiesce(ctx);
  const steps: Record<string, number> = {};
  const busy0 = machineBusySeconds();
  try {
    for (const [name, script] of Object.entries(step.scripts)) steps[name] = (await sh(script, step.env)).ms / 1000;
  } catch (err) {
    return { run, seconds: NaN, valid: false, note: (err as Error).message.slice(0, 300) };
  }
  const machineCpuSeconds = machineBusySeconds() - busy0;
  const seconds = Object.values(steps).reduce((a, b) => a + b, 0);
  const problem = await step.verify().catch((err: Error) => `verification failed: ${err.message}`);
  return {
    run,
    seconds,
    valid: problem === null,
    machineCpuSeconds,
    ...(Object.keys(steps).length > 1 && { steps }),
    ...(problem && { note: problem }),
  };
}

interface VariantSpec {
  name: string;
  role: Variant['role'];
  rows: number;
  skipped?: string;
  run: (run: number) => Promise<Run>;
}

/**
 * Runs every variant once per round, `runs` rounds, so drift (autovacuum,
 * page cache) spreads over all variants instead of landing on one.
 * `beforeRound` prepares what all variants of a round share.
 */
async function runRounds(
  ctx: BenchContext,
  caseId: string,
  specs: VariantSpec[],
  beforeRound?: (round: number) => Promise<void>,
): Promise<Variant[]> {
  const variants: Variant[] = specs.map((s) => ({ name: s.name, role: s.role, rows: s.rows, runs: [], ...(s.skipped && { skipped: s.skipped }) }));
  ctx.worker.resetPeakRss();
  for (let round = 1; round <= ctx.opts.runs; round++) {
    await beforeRound?.(round);
    for (const [i, spec] of specs.entries()) {
      if (spec.skipped) continue;
      // Other processes on the machine skew a run; the load average says how much.
      const load = loadavg()[0];
      const r: Run = { ...(await spec.run(round)), load1: Math.round(load * 100) / 100 };
      variants[i].runs.push(r);
      const cpu = `machine CPU ${r.machineCpuSeconds?.toFixed(1)} s`;
      const extra = r.partitions ? `, ${r.partitions} partition(s), worker CPU ${r.workerCpuSeconds?.toFixed(1)} s, ${cpu}` : `, ${cpu}`;
      console.log(`  [${caseId}] run ${round} ${spec.name}: ${r.seconds.toFixed(2)} s${r.valid ? '' : ` INVALID: ${r.note}`}${extra}`);
      if (r.timeline) console.log(`      ${timelineLine(r.timeline)}`);
    }
  }
  const peak = ctx.worker.peakRssMb();
  for (const v of variants) if (v.role === 'tablesync') v.peakRssMb = peak;
  return variants.map(finishVariant);
}

async function verifyPgTarget(table: string, expected: Checksum): Promise<string | null> {
  return checksumMismatch(expected, await pgChecksum(dstConnect, table));
}

const copyOutOf = (select: string) => `${psql(SRC_DB)} -c ${shq(`COPY (${select}) TO STDOUT (FORMAT binary)`)}`;
const copyIn = (table: string, options = 'FORMAT binary') => `${psql(DST_DB)} -c ${shq(`COPY ${table} (${COLUMN_LIST}) FROM STDIN (${options})`)}`;
const onDst = (sql: string) => `${psql(DST_DB)} -c ${shq(sql)}`;
const SELECT_SOURCE = `SELECT ${COLUMN_LIST} FROM public.bench`;

async function recreate(ctx: BenchContext, table: string, types: string[], key: boolean): Promise<void> {
  await ctx.dst.query(`DROP TABLE IF EXISTS ${table}`);
  await ctx.dst.query(pgTableDdl(table, types, key));
}

// ------------------------------------------------------------ 1. PG → PG full

export async function caseFullPg(ctx: BenchContext): Promise<CaseReport> {
  const n = ctx.opts.rows;
  const expected = await pgChecksum(srcConnect, 'public.bench');
  await ctx.dst.query('CREATE SCHEMA IF NOT EXISTS pipe');
  const pipe = (table: string) => `${copyOutOf(SELECT_SOURCE)} | ${copyIn(table)}`;
  const specs: VariantSpec[] = [
    {
      name: 'tablesync',
      role: 'tablesync',
      rows: n,
      run: (run) =>
        runTablesync(ctx, run, {
          label: 'full-pg',
          config: syncConfig(ctx, 'pgsrc', 'ts_full', ['public.bench']),
          // Target absent: mode auto does a full load.
          prepare: async () => void (await ctx.dst.query('DROP SCHEMA IF EXISTS ts_full CASCADE')),
          verify: async (s) =>
            summaryProblem(s, { tables: 1, rowsCopied: n }) ??
            (s.tables[0].mode !== 'full' ? `mode ${s.tables[0].mode}, expected full` : null) ??
            (await verifyPgTarget('ts_full.bench', expected)),
        }),
    },
    {
      name: 'psql binary pipe, key after',
      role: 'baseline',
      rows: n,
      run: (run) =>
        runShell(ctx, run, {
          prepare: () => recreate(ctx, 'pipe.bench_key_after', PG_SOURCE_TYPES, false),
          scripts: { copy: pipe('pipe.bench_key_after'), key: onDst('ALTER TABLE pipe.bench_key_after ADD PRIMARY KEY (id)') },
          verify: () => verifyPgTarget('pipe.bench_key_after', expected),
        }),
    },
    {
      name: 'psql binary pipe, keyed',
      role: 'baseline',
      rows: n,
      run: (run) =>
        runShell(ctx, run, {
          prepare: () => recreate(ctx, 'pipe.bench_keyed', PG_SOURCE_TYPES, true),
          scripts: { copy: pipe('pipe.bench_keyed') },
          verify: () => verifyPgTarget('pipe.bench_keyed', expected),
        }),
    },
  ];
  const variants = await runRounds(ctx, '1', specs);
  await ctx.dst.query('DROP SCHEMA IF EXISTS pipe CASCADE');
  return {
    id: '1',
    title: 'PG -> PG first sync',
    variants,
    target: { baseline: 'psql binary pipe, key after', max: 1.0, text: 'at most 1.0x the psql pipe (issue 12; 10M rows: 0.9x)' },
    notes: [
      'ratio against the key-after pipe: a tablesync full load also COPYs into a keyless table and adds the key after ' +
        '(then ANALYZEs and swaps the table in, which the pipe does not)',
    ],
  };
}

// ------------------------------- 1cli. PG → PG first sync through run --local

/**
 * The first sync as a user runs it: `tablesync run --local` in a new process
 * (node, the CLI's modules, a worker, the sync, the exit) against the psql
 * binary pipe into a keyed table, the table a user ends up with. Both from
 * an absent target each run. TABLESYNC_LOG_LEVEL=debug makes the CLI print
 * its phases (process start, worker, sync, close), and the worker its
 * partitions' chunks and the swap's key build, ANALYZE and swap: kept in
 * the run's output file for where the time went.
 */
export async function caseFirstSyncCli(ctx: BenchContext): Promise<CaseReport> {
  const n = ctx.opts.rows;
  const expected = await pgChecksum(srcConnect, 'public.bench');
  const file = join(tmpdir(), `tablesync-bench-first-${process.pid}.json`);
  const o = ctx.opts;
  const settings = {
    ...(o.maxParallel !== undefined && { maxParallelTransfers: o.maxParallel }),
    ...(o.partitionThreshold !== undefined && { partitionThreshold: o.partitionThreshold }),
    ...(o.rowsPerPartition !== undefined && { rowsPerPartition: o.rowsPerPartition }),
    ...(o.maxPartitions !== undefined && { maxPartitionsPerTable: o.maxPartitions }),
    ...(o.batchSize !== undefined && { batchSize: o.batchSize }),
  };
  writeFileSync(
    file,
    JSON.stringify({
      connections: { pgsrc: { url: pgUrl(SRC_DB) }, dst: { url: pgUrl(DST_DB) } },
      source: { connection: 'pgsrc' },
      target: { connection: 'dst', schema: 'ts_first_cli' },
      tables: ['public.bench'],
      ...settings,
    }),
  );
  const address = (ctx.temporal.connection as unknown as { options: { address: string } }).options.address;
  const log = join(tmpdir(), `tablesync-bench-first-${process.pid}.log`);
  const cli = `node ${shq(join(ROOT, 'dist', 'client', 'cli.js'))} run --local --no-progress --config ${shq(file)} > /dev/null 2>> ${shq(log)}`;
  await ctx.dst.query('CREATE SCHEMA IF NOT EXISTS pipe');
  const specs: VariantSpec[] = [
    {
      name: 'tablesync run --local (new process)',
      role: 'tablesync',
      rows: n,
      run: (run) =>
        runShell(ctx, run, {
          prepare: async () => void (await ctx.dst.query('DROP SCHEMA IF EXISTS ts_first_cli CASCADE')),
          scripts: { cli },
          env: { TEMPORAL_ADDRESS: address, TABLESYNC_LOG_LEVEL: 'DEBUG' },
          verify: () => verifyPgTarget('ts_first_cli.bench', expected),
        }),
    },
    {
      name: 'psql binary pipe, keyed',
      role: 'baseline',
      rows: n,
      run: (run) =>
        runShell(ctx, run, {
          prepare: () => recreate(ctx, 'pipe.bench_keyed_cli', PG_SOURCE_TYPES, true),
          scripts: { copy: `${copyOutOf(SELECT_SOURCE)} | ${copyIn('pipe.bench_keyed_cli')}` },
          verify: () => verifyPgTarget('pipe.bench_keyed_cli', expected),
        }),
    },
  ];
  const variants = await runRounds(ctx, '1cli', specs);
  await ctx.dst.query('DROP SCHEMA IF EXISTS pipe CASCADE');
  return {
    id: '1cli',
    title: 'PG -> PG first sync through run --local',
    variants,
    target: { baseline: 'psql binary pipe, keyed', max: 1.25, text: 'at most 1.25x the psql binary pipe into a keyed table (issue 20)' },
    notes: [`the CLI's phase and step timings (TABLESYNC_LOG_LEVEL=debug) are in ${log}`],
  };
}

// ------------------------------------- 8. PG → PG first sync, uuid and composite keys

/**
 * The bench rows keyed by a uuid and by (qty, name), each synced beside the
 * bigint-keyed table in the same rounds: what splitting on sampled cut points
 * costs against equal-width integer ranges.
 */
export async function caseKeyedPg(ctx: BenchContext): Promise<CaseReport[]> {
  const n = ctx.opts.rows;
  // Each table against its own checksum: case 3 updates public.bench, and the keyed copies are made from it only once.
  const expected = new Map<string, Awaited<ReturnType<typeof pgChecksum>>>();
  for (const t of ['public.bench', 'public.bench_uuid', 'public.bench_comp']) expected.set(t, await pgChecksum(srcConnect, t));
  const sync = (name: string, table: string, schema: string): VariantSpec => ({
    name,
    role: 'tablesync',
    rows: n,
    run: (run) =>
      runTablesync(ctx, run, {
        label: `keyed-${schema}`,
        config: syncConfig(ctx, 'pgsrc', schema, [table]),
        prepare: async () => void (await ctx.dst.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)),
        verify: async (s) =>
          summaryProblem(s, { tables: 1, rowsCopied: n }) ?? (await verifyPgTarget(`${schema}.${table.split('.')[1]}`, expected.get(table)!)),
      }),
  });
  const integer = { ...sync('tablesync, bigint key (id)', 'public.bench', 'ts_key_int'), role: 'baseline' as const };
  const specs = [integer, sync('tablesync, uuid key', 'public.bench_uuid', 'ts_key_uuid'), sync('tablesync, composite key (qty, name)', 'public.bench_comp', 'ts_key_comp')];
  const [int, uuid, comp] = await runRounds(ctx, '8', specs);
  const target = { baseline: integer.name, max: 1.2, text: 'within 1.2x of the bigint-keyed table' };
  const note = 'the bigint variant is the same table keyed by id, synced in the same rounds; uuid rows lie in no key order on disk';
  return [
    { id: '8u', title: 'PG -> PG first sync, uuid key', variants: [uuid, int], target, notes: [note] },
    { id: '8c', title: 'PG -> PG first sync, composite key', variants: [comp, int], target, notes: [] },
  ];
}

// ------------------------------------------------------- 2. MariaDB → PG full

const PGLOADER_COMMANDS = `LOAD DATABASE
  FROM ${myUrl(SRC_DB)}
  INTO ${pgUrl(DST_DB)}
WITH include drop, create tables, create indexes, reset sequences
SET PostgreSQL PARAMETERS timezone = 'UTC'
CAST type datetime to timestamp drop default drop not null using zero-dates-to-null
INCLUDING ONLY TABLE NAMES MATCHING 'bench'
ALTER SCHEMA '${SRC_DB}' RENAME TO 'pgloader';
`;

export async function caseFullMysql(ctx: BenchContext): Promise<CaseReport> {
  const n = ctx.opts.rows;
  const expected = await mysqlChecksum(ctx.my!, 'bench');
  await ctx.dst.query('CREATE SCHEMA IF NOT EXISTS mypipe');
  const loadFile = join(tmpdir(), `tablesync-bench-${process.pid}.load`);
  writeFileSync(loadFile, PGLOADER_COMMANDS);
  // --batch escapes tab, newline and backslash as \t \n \\ (which COPY text
  // reads the same way) and prints SQL NULL as the word NULL, which COPY is
  // told to read as NULL; the generated data has no column whose value is the
  // string 'NULL'. TIMESTAMPs are printed in UTC and read as UTC.
  const mariadbPipe =
    `${mariadbCli(SRC_DB)} --quick --batch --skip-column-names ` +
    `-e ${shq(`SET time_zone = '+00:00'; SELECT ${COLUMN_LIST} FROM bench`)} | ` +
    `PGTZ=UTC ${copyIn('mypipe.bench', "FORMAT text, NULL 'NULL'")}`;
  const specs: VariantSpec[] = [
    {
      name: 'tablesync',
      role: 'tablesync',
      rows: n,
      run: (run) =>
        runTablesync(ctx, run, {
          label: 'full-mysql',
          config: syncConfig(ctx, 'mysrc', 'ts_mysql', ['bench']),
          prepare: async () => void (await ctx.dst.query('DROP SCHEMA IF EXISTS ts_mysql CASCADE')),
          verify: async (s) => summaryProblem(s, { tables: 1, rowsCopied: n }) ?? (await verifyPgTarget('ts_mysql.bench', expected)),
        }),
    },
    {
      name: 'pgloader',
      role: 'baseline',
      rows: n,
      ...(!commandExists('pgloader') && { skipped: 'pgloader is not installed; run scripts/bench-setup.sh as root' }),
      run: (run) =>
        runShell(ctx, run, {
          prepare: async () => void (await ctx.dst.query('DROP SCHEMA IF EXISTS pgloader CASCADE')),
          scripts: { load: `pgloader --on-error-stop ${shq(loadFile)} > ${shq(join(ROOT, 'bench-pgloader.log'))} 2>&1` },
          verify: () => verifyPgTarget('pgloader.bench', expected),
        }),
    },
    {
      name: 'mariadb --batch | psql COPY, key after',
      role: 'baseline',
      rows: n,
      run: (run) =>
        runShell(ctx, run, {
          prepare: () => recreate(ctx, 'mypipe.bench', PG_FROM_MYSQL_TYPES, false),
          scripts: { copy: mariadbPipe, key: onDst('ALTER TABLE mypipe.bench ADD PRIMARY KEY (id)') },
          verify: () => verifyPgTarget('mypipe.bench', expected),
        }),
    },
  ];
  const variants = await runRounds(ctx, '2', specs);
  await ctx.dst.query('DROP SCHEMA IF EXISTS mypipe CASCADE; DROP SCHEMA IF EXISTS pgloader CASCADE');
  return {
    id: '2',
    title: 'MariaDB -> PG first sync',
    variants,
    target: { baseline: 'pgloader', max: 1 / 3, text: 'at least 3x faster than pgloader (ratio <= 0.33)' },
    notes: [
      'pgloader: default workers/concurrency; datetime cast to timestamp (its default is timestamptz) so the target matches the source; ' +
        'TIMESTAMP read in the MariaDB server\'s zone (pgloader quotes a time_zone setting wrongly); time includes its start-up',
      "mariadb pipe: --batch output read as COPY text with NULL 'NULL' (data has no tabs, newlines, backslashes or literal 'NULL'); key added after the load",
    ],
  };
}

// ------------------------------------ 3. incremental, 0.1 % (3b: 10 %, 3c: 50 %)

/** The seed's step 2, as one statement: write only rows that differ. */
function handUpsertSql(target: string, staging: string): string {
  const nonKey = COLUMNS.filter((c) => c !== 'id');
  return (
    `INSERT INTO ${target} AS t (${COLUMN_LIST}) SELECT ${COLUMN_LIST} FROM ${staging} ` +
    `ON CONFLICT (id) DO UPDATE SET ${nonKey.map((c) => `${c} = EXCLUDED.${c}`).join(', ')} ` +
    `WHERE ${nonKey.map((c) => `t.${c} IS DISTINCT FROM EXCLUDED.${c}`).join(' OR ')}`
  );
}

/** A keyed copy of the source in the target database, loaded untimed. */
async function loadKeyedCopy(ctx: BenchContext, table: string, select = SELECT_SOURCE): Promise<void> {
  await recreate(ctx, table, PG_SOURCE_TYPES, false);
  await sh(`${copyOutOf(select)} | ${copyIn(table)}`);
  await ctx.dst.query(`ALTER TABLE ${table} ADD PRIMARY KEY (id)`);
  await ctx.dst.query(`VACUUM (ANALYZE) ${table}`);
}

/** Case 3 and its variants: how much of the table changes before each round, in thousandths. */
export const INCREMENTAL_CASES: Record<string, { permille: number; max: number; big?: boolean }> = {
  '3': { permille: 1, max: 0.3 },
  '3b': { permille: 100, max: 1.0 },
  '3c': { permille: 500, max: 1.0 },
  // public.bench_big (--big-rows, 10M by default), 0.1 % changed.
  '3d': { permille: 1, max: 0.2, big: true },
};

export async function caseIncremental(ctx: BenchContext, id = '3'): Promise<CaseReport> {
  const { permille, max, big } = INCREMENTAL_CASES[id];
  const n = big ? ctx.opts.bigRows : ctx.opts.rows;
  const name = big ? 'bench_big' : 'bench';
  const source = `public.${name}`;
  const select = `SELECT ${COLUMN_LIST} FROM ${source}`;
  const percent = `${permille / 10}%`;
  await ctx.dst.query('CREATE SCHEMA IF NOT EXISTS ts_inc; CREATE SCHEMA IF NOT EXISTS hand');
  await loadKeyedCopy(ctx, `ts_inc.${name}`, select);
  await loadKeyedCopy(ctx, `hand.${name}`, select);
  let changed = 0;
  let expected: Checksum = { rows: 0, digest: '' };
  // Each round changes a different share of the source (id % 1000 in a run
  // of slots); both targets were in step with the source before it.
  const beforeRound = async (round: number) => {
    changed = await mutatePgSource(ctx.src, source, (round * 7) % 1000, permille);
    await ctx.src.query(`VACUUM (ANALYZE) ${source}`);
    expected = await pgChecksum(srcConnect, source);
  };
  const specs: VariantSpec[] = [
    {
      name: 'tablesync',
      role: 'tablesync',
      rows: n,
      run: (run) =>
        runTablesync(ctx, run, {
          label: 'incremental',
          config: syncConfig(ctx, 'pgsrc', 'ts_inc', [source]),
          prepare: async () => void (await ctx.dst.query(`VACUUM (ANALYZE) ts_inc.${name}`)),
          // Every source row is copied, or skipped because its range's digests matched.
          verify: async (s) =>
            summaryProblem(s, { tables: 1, inserted: 0, updated: changed }) ??
            (s.rowsCopied + (s.rowsSkipped ?? 0) === n ? null : `copied ${s.rowsCopied} + skipped ${s.rowsSkipped ?? 0} rows, expected ${n}`) ??
            (await verifyPgTarget(`ts_inc.${name}`, expected)),
        }),
    },
    {
      name: 'hand-run SQL: COPY pipe to staging + upsert',
      role: 'baseline',
      rows: n,
      run: (run) =>
        runShell(ctx, run, {
          prepare: async () => void (await ctx.dst.query(`VACUUM (ANALYZE) hand.${name}`)),
          scripts: {
            staging_copy:
              onDst(`DROP TABLE IF EXISTS hand.stg; CREATE UNLOGGED TABLE hand.stg AS SELECT * FROM hand.${name} WITH NO DATA`) +
              ` && ${copyOutOf(select)} | ${copyIn('hand.stg')}`,
            upsert: onDst(`${handUpsertSql(`hand.${name}`, 'hand.stg')}; DROP TABLE hand.stg`),
          },
          verify: () => verifyPgTarget(`hand.${name}`, expected),
        }).then((r) => ({ ...r, rowsCopied: n })),
    },
  ];
  const variants = await runRounds(ctx, id, specs, beforeRound);
  await ctx.dst.query('DROP SCHEMA IF EXISTS hand CASCADE');
  return {
    id,
    title: `PG -> PG incremental${big ? ` of ${n.toLocaleString('en-US')} rows` : ''}, ${percent} changed (${changed.toLocaleString('en-US')} rows)`,
    variants,
    target: { baseline: variants[1].name, max, text: `at most ${max}x the hand-run SQL` },
    notes: [
      `before each round: UPDATE of ${permille}/1000 of the source rows (qty, updated_at, note NULL<->value), ` +
        'then VACUUM ANALYZE of source and targets (untimed)',
      'rows copied: rows the run moved from source to target (compare skips key ranges whose digests match on both sides)',
    ],
  };
}

// ------------------------------------------------- 4. 100 tables × 1,000 rows

async function manyChecksums(connect: () => Promise<PgClient>, schema: string): Promise<Checksum[]> {
  const c = await connect();
  try {
    const sums: Checksum[] = [];
    for (let i = 1; i <= MANY_TABLES; i++) sums.push(await pgChecksumWith([c], `${schema}.${manyTableName(i)}`));
    return sums;
  } finally {
    await c.end();
  }
}

async function verifyMany(schema: string, expected: Checksum[]): Promise<string | null> {
  const actual = await manyChecksums(dstConnect, schema).catch((err) => err as Error);
  if (actual instanceof Error) return actual.message;
  const bad = expected.map((e, i) => checksumMismatch(e, actual[i])).findIndex((p) => p !== null);
  return bad === -1 ? null : `${schema}.${manyTableName(bad + 1)}: ${checksumMismatch(expected[bad], actual[bad])}`;
}

export async function caseManyTables(ctx: BenchContext): Promise<CaseReport[]> {
  const total = MANY_TABLES * MANY_ROWS;
  const expected = await manyChecksums(srcConnect, 'many');
  const config = syncConfig(ctx, 'pgsrc', 'ts_many', ['many.*']);
  const pipes = Array.from({ length: MANY_TABLES }, (_, i) => {
    const t = manyTableName(i + 1);
    return `${copyOutOf(`SELECT ${COLUMN_LIST} FROM many.${t}`)} | ${copyIn(`pipe_many.${t}`)}`;
  }).join('\n');
  const full: VariantSpec[] = [
    {
      name: 'tablesync, first sync (full loads)',
      role: 'tablesync',
      rows: total,
      run: (run) =>
        runTablesync(ctx, run, {
          label: 'many-full',
          config,
          prepare: async () => void (await ctx.dst.query('DROP SCHEMA IF EXISTS ts_many CASCADE')),
          verify: async (s) => summaryProblem(s, { tables: MANY_TABLES, rowsCopied: total }) ?? (await verifyMany('ts_many', expected)),
        }),
    },
    {
      name: '100 psql binary pipes, one after another, keyed',
      role: 'baseline',
      rows: total,
      run: (run) =>
        runShell(ctx, run, {
          prepare: async () => {
            await ctx.dst.query('DROP SCHEMA IF EXISTS pipe_many CASCADE; CREATE SCHEMA pipe_many');
            for (let i = 1; i <= MANY_TABLES; i++) await ctx.dst.query(pgTableDdl(`pipe_many.${manyTableName(i)}`, PG_SOURCE_TYPES, true));
          },
          scripts: { pipes },
          verify: () => verifyMany('pipe_many', expected),
        }),
    },
  ];
  const fullVariants = await runRounds(ctx, '4', full);
  await ctx.dst.query('DROP SCHEMA IF EXISTS pipe_many CASCADE');
  // The last full run left every target loaded: now nothing has changed.
  const unchanged: VariantSpec[] = [
    {
      name: 'tablesync, incremental, nothing changed',
      role: 'tablesync',
      rows: total,
      run: (run) =>
        runTablesync(ctx, run, {
          label: 'many-inc',
          config,
          prepare: async () => undefined,
          verify: async (s) =>
            summaryProblem(s, { tables: MANY_TABLES, rowsCopied: total, inserted: 0, updated: 0 }) ?? (await verifyMany('ts_many', expected)),
        }),
    },
  ];
  const incVariants = await runRounds(ctx, '4b', unchanged);
  const target = { max: 10, text: 'under 10 s wall' };
  return [
    { id: '4', title: `${MANY_TABLES} tables x ${MANY_ROWS.toLocaleString('en-US')} rows`, variants: fullVariants, target, notes: [] },
    { id: '4b', title: `${MANY_TABLES} tables, again (no changes)`, variants: incVariants, target, notes: [] },
  ];
}

// ---------------------------------------------------- 5. SQL Server → PG full

export async function caseFullMssql(ctx: BenchContext): Promise<CaseReport> {
  const n = ctx.opts.rows;
  const specs: VariantSpec[] = [
    {
      name: 'tablesync',
      role: 'tablesync',
      rows: n,
      run: (run) =>
        runTablesync(ctx, run, {
          label: 'full-mssql',
          config: syncConfig(ctx, 'mssqlsrc', 'ts_mssql', ['dbo.bench']),
          prepare: async () => void (await ctx.dst.query('DROP SCHEMA IF EXISTS ts_mssql CASCADE')),
          verify: async (s) => {
            const problem = summaryProblem(s, { tables: 1, rowsCopied: n });
            if (problem) return problem;
            const r = await ctx.dst.query('SELECT count(*)::bigint AS n FROM ts_mssql.bench');
            return Number(r.rows[0].n) === n ? null : `target has ${r.rows[0].n} rows, source ${n}`;
          },
        }),
    },
    {
      name: 'mssql stream | COPY',
      role: 'baseline',
      rows: n,
      run: (run) =>
        runShell(ctx, run, {
          prepare: async () =>
            void (await ctx.dst.query(`DROP TABLE IF EXISTS hand_mssql.bench; CREATE SCHEMA IF NOT EXISTS hand_mssql;
              CREATE TABLE hand_mssql.bench (id bigint PRIMARY KEY, name varchar(100) NOT NULL, qty integer NOT NULL, created_at timestamptz(6) NOT NULL,
                updated_at timestamp(6) NOT NULL, amount numeric(12,2) NOT NULL, note text, flag boolean NOT NULL)`)),
          scripts: { copy: `node ${shq(join(ROOT, 'dist/scripts/bench-mssql-copy.js'))} ${shq(MSSQL_URL!)} ${shq(pgUrl(DST_DB))} hand_mssql.bench` },
          verify: async () => {
            const r = await ctx.dst.query('SELECT count(*)::bigint AS n FROM hand_mssql.bench');
            return Number(r.rows[0].n) === n ? null : `target has ${r.rows[0].n} rows, source ${n}`;
          },
        }),
    },
  ];
  return {
    id: '5',
    title: 'SQL Server -> PG first sync',
    variants: await runRounds(ctx, '5', specs),
    notes: ['verified by row count only (no checksum computed on the SQL Server side)'],
  };
}

// ------------------------------------------- 6. cursor mode, 1,000 changed rows

/**
 * Cursor mode (upsert on updated_at) after 1,000 source rows changed, next to
 * the same by hand: COPY of the rows at or past the saved cursor into staging,
 * then the seed's upsert. Both targets start in step with the source.
 */
export async function caseCursor(ctx: BenchContext): Promise<CaseReport> {
  const n = ctx.opts.rows;
  const CHANGED = 1_000;
  await ctx.dst.query('DROP SCHEMA IF EXISTS ts_cur CASCADE; DROP SCHEMA IF EXISTS hand_cur CASCADE; CREATE SCHEMA hand_cur');
  await loadKeyedCopy(ctx, 'hand_cur.bench');
  const cursorConfig = (): SyncConfigInput => ({
    ...syncConfig(ctx, 'pgsrc', 'ts_cur', []),
    tables: [{ table: 'public.bench', mode: 'cursor', cursor: 'updated_at' }],
  });
  // The first cursor sync loads the table and saves the cursor (untimed).
  await timeSync(ctx, cursorConfig(), 'cursor-setup');
  const maxCursor = async () => (await ctx.src.query(`SELECT max(updated_at)::text AS m FROM public.bench`)).rows[0].m as string;
  let handSaved = await maxCursor();
  let expected: Checksum = { rows: 0, digest: '' };
  // Each round moves 1,000 rows past the current maximum, as an application stamping now() would.
  const beforeRound = async (round: number) => {
    await ctx.src.query(
      `UPDATE public.bench SET qty = qty + 1, updated_at = (SELECT max(updated_at) FROM public.bench) + interval '1 second'
        WHERE id IN (SELECT id FROM public.bench ORDER BY id OFFSET $1 LIMIT $2)`,
      [(round * 7919) % Math.max(1, n - CHANGED), CHANGED],
    );
    await ctx.src.query('VACUUM (ANALYZE) public.bench');
    expected = await pgChecksum(srcConnect, 'public.bench');
  };
  const specs: VariantSpec[] = [
    {
      name: 'tablesync cursor (upsert)',
      role: 'tablesync',
      rows: CHANGED,
      run: (run) =>
        runTablesync(ctx, run, {
          label: 'cursor',
          config: cursorConfig(),
          prepare: async () => void (await ctx.dst.query('VACUUM (ANALYZE) ts_cur.bench')),
          verify: async (s) => summaryProblem(s, { tables: 1, updated: CHANGED }) ?? (await verifyPgTarget('ts_cur.bench', expected)),
        }),
    },
    {
      name: 'hand-run SQL: COPY WHERE updated_at >= saved + upsert',
      role: 'baseline',
      rows: CHANGED,
      run: async (run) => {
        const since = handSaved;
        const r = await runShell(ctx, run, {
          prepare: async () => void (await ctx.dst.query('VACUUM (ANALYZE) hand_cur.bench')),
          scripts: {
            staging_copy:
              onDst('DROP TABLE IF EXISTS hand_cur.stg; CREATE UNLOGGED TABLE hand_cur.stg AS SELECT * FROM hand_cur.bench WITH NO DATA') +
              ` && ${copyOutOf(`${SELECT_SOURCE} WHERE updated_at >= '${since}'`)} | ${copyIn('hand_cur.stg')}`,
            upsert: onDst(`${handUpsertSql('hand_cur.bench', 'hand_cur.stg')}; DROP TABLE hand_cur.stg`),
          },
          verify: () => verifyPgTarget('hand_cur.bench', expected),
        });
        handSaved = await maxCursor();
        return r;
      },
    },
  ];
  const variants = await runRounds(ctx, '6', specs, beforeRound);
  await ctx.dst.query('DROP SCHEMA IF EXISTS hand_cur CASCADE');
  return {
    id: '6',
    title: `PG -> PG cursor mode, ${CHANGED.toLocaleString('en-US')} changed rows of ${n.toLocaleString('en-US')}`,
    variants,
    notes: ['before each round: 1,000 source rows get updated_at past the current maximum (untimed); the hand-run side reads from the maximum it saw last'],
  };
}

// ----------------------------------------- many1k / many10k: one-row tables

/** Source schema `scale<n>` with n one-row tables t00001… (t000001… from 100,000), made once (commits every 500: one transaction would run out of locks). */
async function ensureOneRowTables(ctx: BenchContext, n: number): Promise<string> {
  const schema = `scale${n}`;
  const width = Math.max(5, String(n).length);
  const have = await ctx.src.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1`, [schema]);
  if (have.rows[0].n === n) return schema;
  await ctx.src.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await ctx.src.query(`CREATE SCHEMA ${schema}`);
  for (let from = 1; from <= n; from += 500) {
    const to = Math.min(n, from + 499);
    await ctx.src.query(
      `DO $$ BEGIN FOR i IN ${from}..${to} LOOP
         EXECUTE format('CREATE TABLE ${schema}.%I (id int PRIMARY KEY, v text); INSERT INTO ${schema}.%I VALUES (1, ''x'')', 't' || lpad(i::text, ${width}, '0'), 't' || lpad(i::text, ${width}, '0'));
       END LOOP; END $$`,
    );
  }
  return schema;
}

/** n one-row tables, first sync: the orchestration cost per table, and (over 200) the batch workflows. Every history of the sync stays under these (issue 20). */
const MAX_HISTORY_EVENTS = 10_000;
const MAX_HISTORY_BYTES = 10_000_000;

/** Drops a schema of thousands of tables: 500 a statement, since one DROP of them all runs out of lock slots. */
async function dropManyTables(ctx: BenchContext, schema: string): Promise<void> {
  for (;;) {
    const { rows } = await ctx.dst.query(`SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname = $1 LIMIT 500`, [schema]);
    if (!rows.length) break;
    await ctx.dst.query(`DROP TABLE ${rows.map((r) => r.t).join(', ')} CASCADE`);
  }
  await ctx.dst.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}

/** maxSeconds: the wall-time target; null: the case is met by completing with every history within bounds (many100k). */
export async function caseOneRowTables(ctx: BenchContext, id: string, n: number, maxSeconds: number | null): Promise<CaseReport> {
  const schema = await ensureOneRowTables(ctx, n);
  const target = `ts_${schema}`;
  const specs: VariantSpec[] = [
    {
      name: `tablesync, first sync of ${n.toLocaleString('en-US')} one-row tables`,
      role: 'tablesync',
      rows: n,
      run: (run) =>
        runTablesync(ctx, run, {
          label: schema,
          config: syncConfig(ctx, 'pgsrc', target, [`${schema}.*`]),
          prepare: () => dropManyTables(ctx, target),
          verify: async (s) => {
            const problem = summaryProblem(s, { tables: n, rowsCopied: n });
            if (problem) return problem;
            if (s.tables.length !== n) return `the summary lists ${s.tables.length} tables, expected ${n}`;
            const landed = await ctx.dst.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1`, [target]);
            return landed.rows[0].n === n ? null : `${landed.rows[0].n} target tables, expected ${n}`;
          },
        }),
    },
  ];
  const variants = await runRounds(ctx, id, specs);
  // Temporal terminates a workflow past 51,200 events or 50 MB and advises staying far below: issues 12 and 20 ask for at most 10,000 events and 10 MB.
  const timelines = variants.flatMap((v) => v.runs.flatMap((r) => (r.timeline ? [r.timeline] : [])));
  const longest = Math.max(0, ...timelines.map((t) => t.largestHistory.events));
  const biggest = timelines.reduce((b, t) => (t.biggestHistory.bytes > b.bytes ? t.biggestHistory : b), { workflowId: '', events: 0, bytes: 0 });
  const notes = timelines.length
    ? [
        `longest workflow history of the sync: ${longest} events (at most ${MAX_HISTORY_EVENTS.toLocaleString('en-US')} asked); ` +
          `largest: ${biggest.bytes.toLocaleString('en-US')} bytes, ${biggest.workflowId} (at most ${MAX_HISTORY_BYTES.toLocaleString('en-US')} asked); ${timelines[0].workflows} workflows`,
      ]
    : ['workflow histories not measured (no timeline)'];
  for (const r of variants.flatMap((v) => v.runs)) {
    if (r.timeline && r.timeline.largestHistory.events > MAX_HISTORY_EVENTS) {
      r.valid = false;
      r.note = `${r.timeline.largestHistory.workflowId} has ${r.timeline.largestHistory.events} history events`;
    }
    if (r.timeline && r.timeline.biggestHistory.bytes > MAX_HISTORY_BYTES) {
      r.valid = false;
      r.note = `${r.timeline.biggestHistory.workflowId} has a history of ${r.timeline.biggestHistory.bytes} bytes`;
    }
  }
  variants.forEach(finishVariant);
  const wall = maxSeconds === null ? undefined : { max: maxSeconds, text: `under ${maxSeconds} s wall` };
  return { id, title: `${n.toLocaleString('en-US')} one-row tables`, variants, ...(wall && { target: wall }), notes };
}

// ------------------------------------------ cold: run --local of one row

/**
 * `tablesync run --local` as a user types it: a new process that loads the
 * CLI, starts a worker, syncs one one-row table (incrementally: the target is
 * loaded by the first round) and exits; against `psql -c` of the same upsert.
 */
export async function caseColdStart(ctx: BenchContext): Promise<CaseReport> {
  await ctx.src.query('CREATE TABLE IF NOT EXISTS public.cold (id int PRIMARY KEY, v text)');
  await ctx.src.query(`INSERT INTO public.cold VALUES (1, 'x') ON CONFLICT DO NOTHING`);
  const file = join(tmpdir(), `tablesync-bench-cold-${process.pid}.json`);
  writeFileSync(
    file,
    JSON.stringify({ connections: { pgsrc: { url: pgUrl(SRC_DB) }, dst: { url: pgUrl(DST_DB) } }, source: { connection: 'pgsrc' }, target: { connection: 'dst', schema: 'ts_cold' }, tables: ['public.cold'] }),
  );
  const address = (ctx.temporal.connection as unknown as { options: { address: string } }).options.address;
  const cli = `node ${shq(join(ROOT, 'dist', 'client', 'cli.js'))} run --local --no-progress --config ${shq(file)} > /dev/null`;
  const upsert = `INSERT INTO ts_cold.cold (id, v) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v WHERE ts_cold.cold.v IS DISTINCT FROM EXCLUDED.v`;
  const oneRow = async () => {
    const r = await ctx.dst.query('SELECT count(*)::int AS n FROM ts_cold.cold').catch((err: Error) => ({ rows: [{ n: err.message }] }));
    return r.rows[0].n === 1 ? null : `ts_cold.cold has ${r.rows[0].n} rows, expected 1`;
  };
  await ctx.dst.query('DROP SCHEMA IF EXISTS ts_cold CASCADE');
  await sh(cli, { TEMPORAL_ADDRESS: address }); // the first run loads the table; the timed ones find it loaded
  const specs: VariantSpec[] = [
    { name: 'tablesync run --local (new process)', role: 'tablesync', rows: 1, run: (run) => runShell(ctx, run, { prepare: async () => undefined, scripts: { cli }, env: { TEMPORAL_ADDRESS: address }, verify: oneRow }) },
    { name: 'psql -c of the same upsert', role: 'baseline', rows: 1, run: (run) => runShell(ctx, run, { prepare: async () => undefined, scripts: { psql: `${psql(DST_DB)} -c ${shq(upsert)}` }, verify: oneRow }) },
  ];
  const variants = await runRounds(ctx, 'cold', specs);
  return { id: 'cold', title: 'run --local cold start, one one-row table', variants, target: { max: 1, text: 'under 1 s wall' }, notes: [] };
}

// ---------------------------------------- 7. change-log mode, 1,000 logged changes

/**
 * Change-log mode after 1,000 logged changes to the 1M-row table, next to
 * the same by hand: COPY of the rows whose ids the log names past the saved
 * position into staging, then the seed's upsert.
 */
export async function caseChangelog(ctx: BenchContext): Promise<CaseReport> {
  const n = ctx.opts.rows;
  const CHANGED = 1_000;
  await ctx.src.query('DROP TABLE IF EXISTS public.bench_log; CREATE TABLE public.bench_log (id bigserial PRIMARY KEY, object_id text NOT NULL, action text NOT NULL)');
  await ctx.dst.query('DROP SCHEMA IF EXISTS ts_log CASCADE; DROP SCHEMA IF EXISTS hand_log CASCADE; CREATE SCHEMA hand_log');
  await ctx.dst.query(`DELETE FROM public._tablesync_tables WHERE target_schema = 'ts_log'`).catch(() => undefined);
  await loadKeyedCopy(ctx, 'hand_log.bench');
  const logConfig = (): SyncConfigInput => ({
    ...syncConfig(ctx, 'pgsrc', 'ts_log', []),
    tables: [{ table: 'public.bench', mode: 'changelog', deletes: 'ignore', changelog: { table: 'public.bench_log', key: 'object_id', position: 'id' } }],
  });
  // The first change-log sync loads the table and takes the log position (untimed).
  await timeSync(ctx, logConfig(), 'changelog-setup');
  const maxPosition = async () => (await ctx.src.query('SELECT coalesce(max(id), 0)::text AS m FROM public.bench_log')).rows[0].m as string;
  let handSaved = await maxPosition();
  let expected: Checksum = { rows: 0, digest: '' };
  const beforeRound = async (round: number) => {
    const ids = await ctx.src.query(
      `UPDATE public.bench SET qty = qty + 1 WHERE id IN (SELECT id FROM public.bench ORDER BY id OFFSET $1 LIMIT $2) RETURNING id`,
      [(round * 7919) % Math.max(1, n - CHANGED), CHANGED],
    );
    await ctx.src.query(`INSERT INTO public.bench_log (object_id, action) SELECT unnest($1::text[]), 'changed'`, [ids.rows.map((r) => String(r.id))]);
    await ctx.src.query('VACUUM (ANALYZE) public.bench');
    expected = await pgChecksum(srcConnect, 'public.bench');
  };
  const specs: VariantSpec[] = [
    {
      name: 'tablesync changelog',
      role: 'tablesync',
      rows: CHANGED,
      run: (run) =>
        runTablesync(ctx, run, {
          label: 'changelog',
          config: logConfig(),
          prepare: async () => void (await ctx.dst.query('VACUUM (ANALYZE) ts_log.bench')),
          verify: async (s) => summaryProblem(s, { tables: 1, updated: CHANGED }) ?? (await verifyPgTarget('ts_log.bench', expected)),
        }),
    },
    {
      name: 'hand-run SQL: COPY WHERE id IN (logged ids) + upsert',
      role: 'baseline',
      rows: CHANGED,
      run: async (run) => {
        const since = handSaved;
        const r = await runShell(ctx, run, {
          prepare: async () => void (await ctx.dst.query('VACUUM (ANALYZE) hand_log.bench')),
          scripts: {
            staging_copy:
              onDst('DROP TABLE IF EXISTS hand_log.stg; CREATE UNLOGGED TABLE hand_log.stg AS SELECT * FROM hand_log.bench WITH NO DATA') +
              ` && ${copyOutOf(`${SELECT_SOURCE} WHERE id IN (SELECT object_id::bigint FROM public.bench_log WHERE id > ${Number(since)})`)} | ${copyIn('hand_log.stg')}`,
            upsert: onDst(`${handUpsertSql('hand_log.bench', 'hand_log.stg')}; DROP TABLE hand_log.stg`),
          },
          verify: () => verifyPgTarget('hand_log.bench', expected),
        });
        handSaved = await maxPosition();
        return r;
      },
    },
  ];
  const variants = await runRounds(ctx, '7', specs, beforeRound);
  await ctx.dst.query('DROP SCHEMA IF EXISTS hand_log CASCADE');
  return {
    id: '7',
    title: `PG -> PG change-log mode, ${CHANGED.toLocaleString('en-US')} logged changes against ${n.toLocaleString('en-US')} rows`,
    variants,
    notes: ['before each round: 1,000 source rows updated and logged (untimed); the hand-run side reads the ids logged past the position it saw last'],
  };
}
