// npm run bench [-- --rows N --runs N --cases 1,3 --out FILE ...]
//
// Side-by-side benchmark of tablesync against plain tools on the same data:
// builds its own source tables, starts one warm tablesync worker (a separate
// process, as in production) against a Temporal dev server, times each sync
// from workflow start to result, times each baseline the same way, checks
// every result against the source, and prints medians, rows/s and ratios.
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Client as TemporalClient } from '@temporalio/client';
import { startSync } from '../client/start';
import { ensureMysqlTable, ensurePgKeyedTable, ensurePgManyTables, ensurePgTable, KEYED_TABLES } from './bench-data';
import {
  BenchWorker,
  DST_DB,
  ensurePgDatabase,
  ensureTemporal,
  machineInfo,
  machineLine,
  mysqlConnect,
  pgConnect,
  ROOT,
  SRC_DB,
  temporalClient,
  type TemporalServer,
} from './bench-env';
import {
  caseFullMssql,
  caseFullMysql,
  caseFirstSyncCli,
  caseFullPg,
  caseKeyedPg,
  caseIncremental,
  caseCursor,
  caseChangelog,
  INCREMENTAL_CASES,
  caseManyTables,
  caseColdStart,
  caseOneRowTables,
  CONNECTIONS,
  syncConfig,
  type BenchContext,
  type BenchOptions,
} from './bench-cases';
import { ensureMssqlTable, MSSQL_URL, skippedMssqlCase } from './bench-mssql';
import { caseCdc, CDC_BASE, CDC_CONNECTIONS } from './bench-cdc';
import { caseCdcMariadb, MARIADB_CDC_CONNECTIONS, MYSQL_CDC_BASE } from './bench-cdc-mariadb';
import { renderProfile, summarizeProfile } from './bench-profile';
import { renderTable, targetVerdict, type CaseReport } from './bench-report';

const USAGE = `npm run bench -- [options]
  --rows N                  rows in the big source table (default 1000000)
  --big-rows N              rows in case 3d's source table (default 10000000)
  --runs N                  runs of each variant; medians are reported (default 3)
  --cases LIST              cases to run, e.g. 1,3 (default 1,1cli,2,3,3b,3c,4,5,6,7,8); also 3d, many100, many1k, many10k, many100k, cold, cdc, cdcmaria
  --out FILE                where the figures go (default bench-results.json)
  --max-parallel N          config maxParallelTransfers (default: tablesync's)
  --partition-threshold N   config partitionThreshold (default: tablesync's)
  --rows-per-partition N    config rowsPerPartition (default: tablesync's)
  --max-partitions N        config maxPartitionsPerTable (default: tablesync's)
  --batch-size N            config batchSize: rows per committed chunk (default: tablesync's)
  --profile DIR             run the worker under node --cpu-prof, profiles into DIR
  --cdc-changes N           case cdc, cdcmaria: changes in the throughput phase (default 1000000)
  --cdc-rate N              case cdc: changes/s in the latency phase (default 1000)
  --cdc-seconds N           case cdc: seconds of the latency phase (default 60)
Cases: 1 PG->PG first sync (1cli: through run --local in a new process), 2 MariaDB->PG first sync,
       3 PG->PG incremental 0.1% changed (3b: 10%, 3c: 50%; 3d: 0.1% of the --big-rows table),
       4 100 small tables, 5 SQL Server->PG (only with MSSQL_URL);
       cdc (not in the default set): PG->PG cdc mode beside native logical replication, on the
       wal_level=logical server BENCH_PG_CDC (default postgres://postgres@127.0.0.1:5434); --rows sizes its table.
       A quick check at a small size: --cases cdc --rows 10000 --cdc-changes 10000 --cdc-seconds 5 --runs 1;
       cdcmaria (not in the default set): MariaDB->PG cdc from the binary log (BENCH_MYSQL_CDC, default
       mysql://root@127.0.0.1:3307) beside the same changes run as SQL in the target by hand (throughput only)`;

function parseOptions(argv: string[]): BenchOptions {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}\n${USAGE}`);
    const [name, inline] = a.slice(2).split('=', 2);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    flags.set(name, value);
  }
  const known = ['rows', 'big-rows', 'runs', 'cases', 'out', 'max-parallel', 'partition-threshold', 'rows-per-partition', 'max-partitions', 'batch-size', 'profile', 'cdc-changes', 'cdc-rate', 'cdc-seconds'];
  for (const k of flags.keys()) if (!known.includes(k)) throw new Error(`unknown option --${k}\n${USAGE}`);
  const int = (name: string): number | undefined => {
    const v = flags.get(name);
    if (v === undefined) return undefined;
    const n = Number(v.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
    return n;
  };
  const cases = new Set((flags.get('cases') ?? '1,1cli,2,3,3b,3c,4,5,6,7,8').split(',').map((s) => s.trim()).filter(Boolean));
  for (const c of cases) if (!['1', '1cli', '2', '3', '3b', '3c', '3d', '4', '5', '6', '7', '8', 'many100', 'many1k', 'many10k', 'many100k', 'cold', 'cdc', 'cdcmaria'].includes(c)) throw new Error(`--cases: no case ${c}`);
  return {
    rows: int('rows') ?? 1_000_000,
    bigRows: int('big-rows') ?? 10_000_000,
    runs: int('runs') ?? 3,
    cases,
    out: resolve(flags.get('out') ?? join(ROOT, 'bench-results.json')),
    maxParallel: int('max-parallel'),
    partitionThreshold: int('partition-threshold'),
    rowsPerPartition: int('rows-per-partition'),
    maxPartitions: int('max-partitions'),
    batchSize: int('batch-size'),
    profileDir: flags.has('profile') ? resolve(flags.get('profile')!) : undefined,
    cdc: { changes: int('cdc-changes') ?? 1_000_000, rate: int('cdc-rate') ?? 1_000, seconds: int('cdc-seconds') ?? 60 },
  };
}

/** Builds (or finds, from an earlier invocation) the source data the selected cases read. */
async function prepareData(opts: BenchOptions): Promise<Record<string, number>> {
  const took: Record<string, number> = {};
  const timed = async (what: string, build: () => Promise<boolean>) => {
    const t0 = Date.now();
    if (await build()) {
      took[what] = (Date.now() - t0) / 1000;
      console.log(`  built ${what} in ${took[what].toFixed(1)} s`);
    } else console.log(`  ${what}: already there`);
  };
  await ensurePgDatabase(SRC_DB);
  await ensurePgDatabase(DST_DB);
  const pg = await pgConnect(SRC_DB);
  try {
    await timed('PG public.warmup (1,000 rows)', () => ensurePgTable(pg, 'public.warmup', 1_000));
    if (['1', '1cli', '3', '3b', '3c', '6', '7', '8'].some((c) => opts.cases.has(c))) {
      await timed(`PG public.bench (${opts.rows.toLocaleString('en-US')} rows)`, () => ensurePgTable(pg, 'public.bench', opts.rows));
    }
    if (opts.cases.has('3d')) {
      await timed(`PG public.bench_big (${opts.bigRows.toLocaleString('en-US')} rows)`, () => ensurePgTable(pg, 'public.bench_big', opts.bigRows));
    }
    if (opts.cases.has('8')) {
      for (const t of Object.keys(KEYED_TABLES) as (keyof typeof KEYED_TABLES)[]) {
        await timed(`PG ${t} (${opts.rows.toLocaleString('en-US')} rows)`, () => ensurePgKeyedTable(pg, t, opts.rows));
      }
    }
    if (opts.cases.has('4')) await timed('PG many.t001..t100', () => ensurePgManyTables(pg));
  } finally {
    await pg.end();
  }
  if (opts.cases.has('2')) {
    const admin = await mysqlConnect();
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${SRC_DB}`);
    await admin.end();
    const my = await mysqlConnect(SRC_DB);
    try {
      await timed('MariaDB warmup (1,000 rows)', () => ensureMysqlTable(my, 'warmup', 1_000));
      await timed(`MariaDB bench (${opts.rows.toLocaleString('en-US')} rows)`, () => ensureMysqlTable(my, 'bench', opts.rows));
    } finally {
      await my.end();
    }
  }
  if (opts.cases.has('5') && MSSQL_URL) {
    await timed('SQL Server dbo.bench', async () => (await ensureMssqlTable(opts.rows), true));
  }
  return took;
}

/**
 * The worker bundles its workflow code with webpack at start (~70 MB more
 * RSS) unless dist/workflow-bundle.js exists and is newer than every compiled
 * workflow file; `npm run build` writes it, a bare `tsc` leaves it stale.
 */
function workflowBundleState(): string {
  const bundle = join(ROOT, 'dist', 'workflow-bundle.js');
  const dir = join(ROOT, 'dist', 'workflows');
  if (!existsSync(bundle)) return 'no prebuilt workflow bundle: the worker runs webpack at start';
  const built = statSync(bundle).mtimeMs;
  const stale = readdirSync(dir).some((f) => f.endsWith('.js') && statSync(join(dir, f)).mtimeMs > built);
  return stale ? 'prebuilt workflow bundle is stale (run npm run build): the worker runs webpack at start' : 'prebuilt workflow bundle';
}

/**
 * Untimed syncs of a tiny table through each source the cases use, so the
 * timed runs meet a worker whose code is compiled and whose pools are open.
 */
async function warmUp(ctx: BenchContext): Promise<void> {
  const sources = [['pgsrc', 'public.warmup'], ...(ctx.opts.cases.has('2') ? [['mysrc', 'warmup']] : [])];
  await ctx.dst.query('DROP SCHEMA IF EXISTS ts_warm CASCADE');
  for (const [source, table] of sources) {
    for (let i = 0; i < 2; i++) {
      const handle = await startSync(syncConfig(ctx, source, 'ts_warm', [table]), {
        client: ctx.temporal,
        taskQueue: ctx.taskQueue,
        workflowId: `bench-warmup-${source}-${process.pid}-${i}`,
      });
      const s = await handle.result();
      if (s.tablesFailed) throw new Error(`warm-up sync from ${source} failed: ${s.tables[0]?.error}`);
    }
  }
}

async function runCases(ctx: BenchContext): Promise<CaseReport[]> {
  const reports: CaseReport[] = [];
  const want = (c: string) => ctx.opts.cases.has(c);
  const announce = (title: string) => console.log(`\n== ${title}`);
  if (want('1')) {
    announce('case 1: PG -> PG first sync');
    reports.push(await caseFullPg(ctx));
  }
  if (want('1cli')) {
    announce('case 1cli: PG -> PG first sync through run --local');
    reports.push(await caseFirstSyncCli(ctx));
  }
  if (want('8')) {
    announce('case 8: PG -> PG first sync, uuid and composite keys beside the bigint key');
    reports.push(...(await caseKeyedPg(ctx)));
  }
  if (want('2')) {
    announce('case 2: MariaDB -> PG first sync');
    reports.push(await caseFullMysql(ctx));
  }
  for (const [id, { permille, big }] of Object.entries(INCREMENTAL_CASES)) {
    if (!want(id)) continue;
    announce(`case ${id}: PG -> PG incremental${big ? ` of ${ctx.opts.bigRows.toLocaleString('en-US')} rows` : ''}, ${permille / 10}% changed`);
    reports.push(await caseIncremental(ctx, id));
  }
  if (want('4')) {
    announce('case 4: 100 tables x 1,000 rows');
    reports.push(...(await caseManyTables(ctx)));
  }
  if (want('5')) {
    if (!MSSQL_URL) {
      console.log('\ncase 5 (SQL Server -> PG) skipped: MSSQL_URL is not set');
      reports.push(skippedMssqlCase());
    } else {
      announce('case 5: SQL Server -> PG first sync');
      reports.push(await caseFullMssql(ctx));
    }
  }
  if (want('6')) {
    announce('case 6: PG -> PG cursor mode, 1,000 changed rows');
    reports.push(await caseCursor(ctx));
  }
  if (want('7')) {
    announce('case 7: PG -> PG change-log mode, 1,000 logged changes');
    reports.push(await caseChangelog(ctx));
  }
  // Not in the default set: many1k takes seconds, many10k under a minute, many100k many minutes.
  if (want('many100')) {
    announce('case many100: 100 one-row tables');
    reports.push(await caseOneRowTables(ctx, 'many100', 100, 3));
  }
  if (want('many1k')) {
    announce('case many1k: 1,000 one-row tables');
    reports.push(await caseOneRowTables(ctx, 'many1k', 1_000, 30));
  }
  if (want('many10k')) {
    announce('case many10k: 10,000 one-row tables');
    reports.push(await caseOneRowTables(ctx, 'many10k', 10_000, 30));
  }
  // 100,000 tables: met by completing with every history under 10 MB and 10,000 events (the source takes ~6 GB of disk with the target).
  if (want('many100k')) {
    announce('case many100k: 100,000 one-row tables');
    reports.push(await caseOneRowTables(ctx, 'many100k', 100_000, null));
  }
  if (want('cdc')) {
    announce(`case cdc: PG -> PG cdc mode beside native logical replication (${CDC_BASE})`);
    reports.push(await caseCdc(ctx, ctx.opts.cdc!));
  }
  if (want('cdcmaria')) {
    announce(`case cdcmaria: MariaDB -> PG cdc mode beside the same changes as SQL in the target (${MYSQL_CDC_BASE})`);
    reports.push(await caseCdcMariadb(ctx, ctx.opts.cdc!));
  }
  if (want('cold')) {
    announce('case cold: run --local cold start of a one-row table');
    reports.push(await caseColdStart(ctx));
  }
  return reports;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const machine = await machineInfo();
  console.log(machineLine(machine));
  console.log(`rows ${opts.rows.toLocaleString('en-US')}, runs ${opts.runs}, cases ${[...opts.cases].join(',')}`);
  console.log('source data:');
  const dataBuildSeconds = await prepareData(opts);

  let server: TemporalServer | undefined;
  let worker: BenchWorker | undefined;
  let temporal: TemporalClient | undefined;
  const clients: { end(): Promise<unknown> }[] = [];
  const startedAt = new Date().toISOString();
  try {
    server = await ensureTemporal();
    console.log(`Temporal: ${server.origin}`);
    const taskQueue = `tablesync-bench-${process.pid}`;
    if (opts.profileDir) mkdirSync(opts.profileDir, { recursive: true });
    worker = await BenchWorker.start({
      address: server.address,
      taskQueue,
      connections: { ...CONNECTIONS, ...(opts.cases.has('cdc') && CDC_CONNECTIONS), ...(opts.cases.has('cdcmaria') && MARIADB_CDC_CONNECTIONS) },
      profileDir: opts.profileDir,
      logFile: join(ROOT, 'bench-worker.log'),
    });
    const bundleState = workflowBundleState();
    console.log(`worker pid ${worker.pid} polls task queue ${taskQueue} (${bundleState}; log: bench-worker.log)`);
    if (bundleState !== 'prebuilt workflow bundle') console.log('WARNING: worker RSS figures include webpack\'s start-up heap (~70 MB)');
    temporal = await temporalClient(server.address);
    const src = await pgConnect(SRC_DB);
    const dst = await pgConnect(DST_DB);
    clients.push(src, dst);
    const my = opts.cases.has('2') ? await mysqlConnect(SRC_DB) : undefined;
    if (my) clients.push(my);
    const ctx: BenchContext = { opts, src, dst, my, temporal, taskQueue, worker };
    await warmUp(ctx);
    console.log(`warm-up done; worker RSS ${worker.rssMb().toFixed(0)} MB`);

    const reports = await runCases(ctx);
    const table = renderTable(reports);
    console.log(`\n${table}\n\n${machineLine(machine)}`);
    writeFileSync(
      opts.out,
      JSON.stringify(
        {
          startedAt,
          finishedAt: new Date().toISOString(),
          options: { ...opts, cases: [...opts.cases] },
          machine,
          temporal: server.origin,
          workerWorkflowCode: bundleState,
          dataBuildSeconds,
          cases: reports.map((c) => ({ ...c, verdict: targetVerdict(c) })),
          table,
        },
        null,
        2,
      ),
    );
    console.log(`figures written to ${opts.out}`);
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await temporal?.connection.close().catch(() => undefined);
    await worker?.stop();
    await server?.stop();
  }
  if (opts.profileDir) {
    // Only this invocation's profiles (one per worker thread that ran JS).
    const fresh = readdirSync(opts.profileDir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(opts.profileDir!, f))
      .filter((f) => statSync(f).mtimeMs >= Date.parse(startedAt));
    for (const f of fresh) console.log(renderProfile(summarizeProfile(f)));
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
