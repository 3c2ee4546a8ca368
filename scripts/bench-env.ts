// Process plumbing for the benchmark: shell pipelines with wall-clock timing,
// database clients, the Temporal dev server, the one long-running worker
// process, and a description of the machine. No benchmark logic here.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { createConnection, type Connection as MysqlConnection } from 'mysql2/promise';
import { Client as PgClient } from 'pg';

export const ROOT = join(__dirname, '..', '..');
export const PG_BASE = process.env.BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432';
export const MY_BASE = process.env.BENCH_MYSQL ?? 'mysql://root@127.0.0.1:3306';
// BENCH_DB_SUFFIX keeps benches run side by side (other worktrees) off each other's databases.
const DB_SUFFIX = process.env.BENCH_DB_SUFFIX ?? '';
export const SRC_DB = `tablesync_bench_src${DB_SUFFIX}`;
export const DST_DB = `tablesync_bench_dst${DB_SUFFIX}`;
export const pgUrl = (db: string): string => `${PG_BASE}/${db}`;
export const myUrl = (db: string): string => `${MY_BASE}/${db}`;

const pgHost = new URL(PG_BASE);
const myHost = new URL(MY_BASE);
/** psql arguments for a database: connection parts spelled out so libpq env vars do not interfere. */
export const psql = (db: string): string =>
  `psql -X -q -v ON_ERROR_STOP=1 -h ${pgHost.hostname} -p ${pgHost.port || 5432} -U ${pgHost.username || 'postgres'} -d ${db}`;
export const mariadbCli = (db: string): string =>
  `mariadb -h ${myHost.hostname} -P ${myHost.port || 3306} -u ${myHost.username || 'root'}` +
  `${myHost.password ? ` -p${decodeURIComponent(myHost.password)}` : ''} ${db}`;

/** Quotes a string for bash. */
export const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export interface ShellResult {
  ms: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a bash script with pipefail (a failing producer in `a | b` fails the
 * whole step) and returns its wall time. Throws with stderr on failure.
 */
export function sh(script: string, env: Record<string, string> = {}): Promise<ShellResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('bash', ['-o', 'pipefail', '-e', '-c', script], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      if (code === 0) resolve({ ms, stdout, stderr });
      else reject(new Error(`exit ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ') || script.slice(0, 200)}`));
    });
  });
}

export function commandExists(cmd: string): boolean {
  return spawnSync('bash', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export function tcpAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- databases

export async function pgConnect(db: string): Promise<PgClient> {
  const c = new PgClient({ connectionString: pgUrl(db), application_name: 'tablesync-bench' });
  await c.connect();
  // Checksums and setup may run long; never cut them off.
  await c.query('SET statement_timeout = 0');
  return c;
}

export async function ensurePgDatabase(name: string): Promise<void> {
  const admin = await pgConnect('postgres');
  try {
    const r = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (r.rowCount === 0) await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
}

export async function mysqlConnect(db?: string): Promise<MysqlConnection> {
  const u = new URL(MY_BASE);
  const c = await createConnection({
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password),
    database: db,
    multipleStatements: true,
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  // Same reading as tablesync's: TIMESTAMP values as UTC instants.
  await c.query("SET time_zone = '+00:00'");
  return c;
}

// ----------------------------------------------------------------- temporal

export interface TemporalServer {
  address: string;
  /** Human-readable origin, for the report. */
  origin: string;
  stop(): Promise<void>;
}

/**
 * Uses TEMPORAL_ADDRESS when it answers; otherwise starts a private,
 * in-memory dev server on port 7299 (so the bench neither depends on nor
 * disturbs a dev server somebody else is using) and stops it at the end.
 */
export async function ensureTemporal(): Promise<TemporalServer> {
  const given = process.env.TEMPORAL_ADDRESS;
  if (given) {
    const [host, port] = [given.replace(/:\d+$/, ''), Number(given.split(':').pop())];
    if (await tcpAnswers(host, port)) return { address: given, origin: `TEMPORAL_ADDRESS ${given}`, stop: async () => undefined };
    console.log(`TEMPORAL_ADDRESS ${given} does not answer; starting a private dev server instead`);
  }
  const port = Number(process.env.BENCH_TEMPORAL_PORT ?? 7299);
  const address = `127.0.0.1:${port}`;
  if (await tcpAnswers('127.0.0.1', port)) {
    throw new Error(`port ${port} is taken by something else; set BENCH_TEMPORAL_PORT or TEMPORAL_ADDRESS`);
  }
  const cli = spawnSync('bash', [join(ROOT, 'scripts', 'temporal-cli.sh')], { encoding: 'utf8' }).stdout.trim();
  if (!cli) throw new Error('no Temporal CLI: scripts/temporal-cli.sh found none and could not build one');
  const log = createWriteStream(join(ROOT, 'bench-temporal.log'));
  const child = spawn(
    cli,
    ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'error'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  for (let i = 0; i < 120 && !(await tcpAnswers('127.0.0.1', port)); i++) {
    if (child.exitCode !== null) throw new Error(`temporal dev server exited (${child.exitCode}); see bench-temporal.log`);
    await sleep(500);
  }
  // The frontend answers TCP before the default namespace is usable.
  const client = await temporalClient(address);
  for (let i = 0; i < 60; i++) {
    try {
      await client.workflowService.describeNamespace({ namespace: 'default' });
      break;
    } catch {
      await sleep(500);
    }
  }
  await client.connection.close();
  return {
    address,
    origin: `private dev server ${address} (in-memory, started by the bench)`,
    stop: () => stopChild(child),
  };
}

export async function temporalClient(address: string): Promise<TemporalClient> {
  // A sync of 10,000 tables has a parent history of several MB: the bench reads it whole for its timeline.
  const connection = await Connection.connect({ address, channelArgs: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 } });
  return new TemporalClient({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
}

function stopChild(child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// ------------------------------------------------------------------- worker

export interface WorkerOptions {
  address: string;
  taskQueue: string;
  /** Connection name → URL, passed as TABLESYNC_CONNECTION_<NAME>. */
  connections: Record<string, string>;
  /** Directory for `node --cpu-prof` output; no profiling when absent. */
  profileDir?: string;
  logFile: string;
}

/**
 * The one tablesync worker the bench measures: a separate, long-running
 * `node dist/client/cli.js worker` process, as in production, so its RSS and
 * CPU are its own and not the bench's.
 */
export class BenchWorker {
  private constructor(
    private readonly child: ChildProcess,
    readonly pid: number,
  ) {}

  static async start(opts: WorkerOptions): Promise<BenchWorker> {
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      TEMPORAL_ADDRESS: opts.address,
      TEMPORAL_TASK_QUEUE: opts.taskQueue,
    };
    for (const [name, url] of Object.entries(opts.connections)) {
      env[`TABLESYNC_CONNECTION_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = url;
    }
    const nodeArgs = opts.profileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] : [];
    const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'dist', 'client', 'cli.js'), 'worker'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = createWriteStream(opts.logFile);
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const worker = new BenchWorker(child, child.pid!);
    await worker.waitForLine(/polling task queue/, 120_000);
    await worker.waitForPollers(opts.address, opts.taskQueue);
    return worker;
  }

  private waitForLine(pattern: RegExp, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`worker did not print ${pattern} within ${timeoutMs} ms`)), timeoutMs);
      const onData = (d: Buffer) => {
        seen = (seen + d.toString()).slice(-4096);
        if (pattern.test(seen)) {
          clearTimeout(timer);
          this.child.stdout!.off('data', onData);
          resolve();
        }
      };
      this.child.stdout!.on('data', onData);
      this.child.once('exit', (code) => reject(new Error(`worker exited (${code}) before polling; see its log`)));
    });
  }

  /** "Polls" means Temporal sees a poller on both the workflow and the activity task queue. */
  private async waitForPollers(address: string, taskQueue: string): Promise<void> {
    const client = await temporalClient(address);
    try {
      for (let i = 0; i < 100; i++) {
        const counts = await Promise.all(
          [1, 2].map(async (taskQueueType) => {
            const r = await client.workflowService.describeTaskQueue({
              namespace: client.options.namespace,
              taskQueue: { name: taskQueue },
              taskQueueType,
            });
            return r.pollers?.length ?? 0;
          }),
        );
        if (counts.every((n) => n > 0)) return;
        await sleep(200);
      }
      throw new Error(`no worker polls task queue ${taskQueue}`);
    } finally {
      await client.connection.close();
    }
  }

  private status(field: string): number {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  }

  /** Restarts the peak-RSS counter (VmHWM), so each case reports its own peak. */
  resetPeakRss(): void {
    try {
      writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
    } catch {
      // Not permitted on this kernel: peaks then accumulate from worker start.
    }
  }

  peakRssMb(): number {
    return this.status('VmHWM');
  }

  rssMb(): number {
    return this.status('VmRSS');
  }

  /** User + system CPU seconds the worker has used so far (all threads). */
  cpuSeconds(): number {
    const fields = readFileSync(`/proc/${this.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  }

  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGINT: the worker drains and exits, which also writes its CPU profile. */
  async stop(): Promise<void> {
    if (!this.alive()) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 60_000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.child.kill('SIGINT');
    });
  }
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

// ------------------------------------------------------------------ machine

/** CPU seconds all cores spent busy since boot (everything but idle and iowait), from /proc/stat. */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return (user + nice + system + irq + softirq + (steal ?? 0)) / CLOCK_TICKS;
}

export interface MachineInfo {
  nproc: number;
  memoryGb: number;
  cpuModel: string;
  kernel: string;
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  mariadb: string | null;
  pgloader: string | null;
  gitCommit: string;
  gitDirty: boolean;
}

export async function machineInfo(): Promise<MachineInfo> {
  const pg = await pgConnect('postgres');
  let postgres: string;
  const postgresSettings: Record<string, string> = {};
  try {
    postgres = (await pg.query('SHOW server_version')).rows[0].server_version;
    const r = await pg.query(
      `SELECT name, current_setting(name) AS value FROM pg_settings WHERE name IN
        ('shared_buffers', 'max_wal_size', 'synchronous_commit', 'work_mem', 'maintenance_work_mem', 'fsync')`,
    );
    for (const row of r.rows) postgresSettings[row.name] = row.value;
  } finally {
    await pg.end();
  }
  let mariadb: string | null = null;
  try {
    const my = await mysqlConnect();
    const [rows] = await my.query('SELECT VERSION() AS v');
    mariadb = (rows as { v: string }[])[0].v;
    await my.end();
  } catch {
    // Reported as absent.
  }
  const git = (args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const pgloader = commandExists('pgloader')
    ? spawnSync('pgloader', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0].trim()
    : null;
  return {
    nproc: cpus().length,
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    kernel: existsSync('/proc/version') ? readFileSync('/proc/version', 'utf8').split(' ')[2] : process.platform,
    node: process.version,
    postgres,
    postgresSettings,
    mariadb,
    pgloader,
    // BENCH_GIT_COMMIT names the code when the bench runs from an exported tree.
    gitCommit: process.env.BENCH_GIT_COMMIT ?? (git(['rev-parse', '--short=12', 'HEAD']) || 'unknown (not a git checkout)'),
    gitDirty: !process.env.BENCH_GIT_COMMIT && git(['status', '--porcelain', '--untracked-files=no']).length > 0,
  };
}

export function machineLine(m: MachineInfo): string {
  return (
    `machine: ${m.nproc} cores (${m.cpuModel}), ${m.memoryGb} GB RAM, Linux ${m.kernel}, Node ${m.node}, ` +
    `PostgreSQL ${m.postgres} (shared_buffers ${m.postgresSettings.shared_buffers}, max_wal_size ${m.postgresSettings.max_wal_size}), ` +
    `MariaDB ${m.mariadb ?? 'absent'}, ${m.pgloader ?? 'pgloader absent'}, git ${m.gitCommit}${m.gitDirty ? ' (with local changes)' : ''}`
  );
}
