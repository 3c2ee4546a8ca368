#!/usr/bin/env node
// Only commander is loaded up front: each command loads what it needs (the
// worker, the Temporal client) when it runs, so `--help` answers at once.
import { Command, CommanderError, Option } from 'commander';

// Node 22.1+ keeps V8's compiled code of the modules a command loads (the
// Temporal SDK's are most of a `run --local`'s start) in a cache directory, so
// the next start skips compiling them; older Node has no such call.
(require('node:module') as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const ENVIRONMENT = `
Environment: TEMPORAL_ADDRESS (localhost:7233), TEMPORAL_NAMESPACE (default),
TEMPORAL_TASK_QUEUE (tablesync); for a cluster or Temporal Cloud, as the Temporal CLI:
TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY (client certificate files), TEMPORAL_TLS_CA,
TEMPORAL_TLS_SERVER_NAME, TEMPORAL_TLS (true: TLS with the system CAs), TEMPORAL_API_KEY,
TEMPORAL_PROFILE and TEMPORAL_CONFIG_FILE (environment-configuration profiles);
TABLESYNC_CONNECTION_<NAME>=url,
TABLESYNC_METRICS_ADDRESS (a worker's Prometheus metrics at HOST:PORT, as --metrics),
TABLESYNC_LOG_LEVEL (INFO), TABLESYNC_LOG_FORMAT (human | json),
TABLESYNC_MAX_ACTIVITIES (8: partitions a worker copies at once), and the
config overrides INCLUDE_TABLES, DEFAULT_INCREMENTAL_BATCH_SIZE, PARTITION_THRESHOLD,
MAX_PARTITIONS_PER_TABLE, MAX_PARALLEL_TRANSFERS, USE_BINARY_COPY, USE_UNLOGGED_STAGING.

Exit codes: 0 ok, 1 a table failed (or the command did), 2 bad config or arguments,
130/143 interrupted (the run is cancelled first).`;

const taskQueueOption = () =>
  new Option('--task-queue <name>', "task queue (default: the config's taskQueue, TEMPORAL_TASK_QUEUE or tablesync)");
const metricsOption = (of = "the worker's") =>
  new Option('--metrics <address>', `serve ${of} Prometheus metrics at HOST:PORT (127.0.0.1:9464; :9464 all interfaces; default TABLESYNC_METRICS_ADDRESS)`);
const overlapOption = () =>
  new Option('--overlap <policy>', 'what a run due while the last one still runs does').choices(['skip', 'buffer-one', 'cancel-other', 'allow-all']);

/** Runs a command's exit code through to the process; set by each action. */
let exitCode = 0;
const action =
  <A extends unknown[]>(load: (...args: A) => Promise<number>) =>
  async (...args: A): Promise<void> => {
    exitCode = await load(...args);
  };

export function buildProgram(): Command {
  const program = new Command('tablesync')
    .description('Incremental table sync into PostgreSQL as Temporal workflows')
    .addHelpText('after', ENVIRONMENT)
    .showHelpAfterError('(tablesync --help lists the commands; tablesync <command> --help shows its options)')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`tablesync: ${text.replace(/^error: /, '')}`) });

  program
    .command('worker')
    .description('run a worker on the task queue: it executes the syncs started on it')
    .option('--config <file>', 'YAML or JSON config: the connections this worker resolves names with')
    .addOption(new Option('--task-queue <name>', 'task queue to poll (default TEMPORAL_TASK_QUEUE or tablesync)'))
    .addOption(metricsOption())
    .action(action(async (opts) => (await import('./commands/worker')).workerCommand(opts)));

  program
    .command('init')
    .description('look at a source and write a commented starter config: per table a mode and why, type hints, the commands to run next')
    .requiredOption('--source <url>', 'the source database URL (postgres://, mysql://, mssql://); its password is not written')
    .requiredOption('--target <url>', 'the PostgreSQL target URL; its password is not written')
    .option('--out <file>', 'the config file to write', 'sync.yaml')
    .option('--schema <name>', "the source schema to list (default: public, dbo, or the URL's MariaDB database)")
    .option('--force', 'overwrite --out if it exists')
    .action(action(async (opts) => (await import('./commands/init')).initCommand(opts)));

  program
    .command('run')
    .description('start a sync; with --wait or --local, wait for it and print the summary')
    .requiredOption('--config <file>', 'YAML or JSON config')
    .option('--wait', 'wait for the result and print the summary (a live progress view on a TTY)')
    .option('--local', 'also host a worker in this process, on a queue of its own (implies --wait)')
    .option('--workflow-id <id>', 'workflow id (default tablesync-<time>)')
    .addOption(taskQueueOption())
    .option('--json', 'print the summary as JSON')
    .option('--no-progress', 'no progress view or progress lines while waiting')
    .option('--dry-run', 'print the schema changes and backfills a run would make, and change nothing')
    .addOption(metricsOption('the --local worker\'s'))
    .action(action(async (opts) => (await import('./commands/run')).runCommand(opts)));

  program
    .command('verify')
    .description('compare source and target per key range (counts, checksums); --repair re-syncs the ranges that differ')
    .argument('[tables...]', 'tables to check instead of the config\'s list')
    .requiredOption('--config <file>', 'YAML or JSON config')
    .option('--repair', 're-sync only the ranges that differ, then check them again')
    .option('--local', 'also host a worker in this process')
    .option('--workflow-id <id>', 'workflow id (default tablesync-verify-<time>)')
    .addOption(taskQueueOption())
    .option('--json', 'print the result as JSON')
    .action(action(async (tables, opts) => (await import('./commands/run')).verifyCommand(tables, opts)));

  program
    .command('status')
    .description("the progress of a sync started anywhere (status WORKFLOW_ID); with --config, each table's saved state and last run")
    .argument('[workflow-id-or-tables...]', 'the sync workflow id; with --config, tables to show (default: all of the config)')
    .option('--config <file>', "YAML or JSON config: show its tables' mode, cursor, saved value and last run")
    .option('--watch', 'follow the sync until it ends, then print its summary (exit codes as run)')
    .option('--interval <seconds>', 'seconds between progress lines off a TTY', '5')
    .option('--json', 'print the progress (or, with --watch, the summary; with --config, the tables) as JSON')
    .option('--local', 'with --config: also host a worker in this process')
    .addOption(taskQueueOption())
    .action(
      action(async (args: string[], opts) => {
        if (opts.config) return (await import('./commands/table-state')).tableStatusCommand(args, opts);
        if (args.length !== 1) {
          const { InputError } = await import('./input-error');
          throw new InputError(
            'InvalidArguments',
            args.length === 0
              ? "missing required argument 'workflow-id' (status WORKFLOW_ID, or status --config FILE [TABLE...])"
              : "too many arguments for 'status': it takes one workflow id (status WORKFLOW_ID), or --config FILE [TABLE...]",
          );
        }
        return (await import('./commands/status')).statusCommand(args[0], opts);
      }),
    );

  const stateOptions = (c: Command) =>
    c
      .requiredOption('--config <file>', 'YAML or JSON config')
      .option('--dry-run', 'print what would change; change nothing')
      .option('--local', 'also host a worker in this process')
      .option('--workflow-id <id>', 'workflow id')
      .addOption(taskQueueOption())
      .option('--json', 'print the result as JSON');
  stateOptions(
    program
      .command('reset-state')
      .description("forget a cursor table's saved cursor (the next run reads every row), or set it with --cursor; prints the old and new state")
      .argument('<table>', 'the source table, as the config names it')
      .option('--cursor <value>', "the new saved cursor, a value of the cursor column's type (checked on the source)"),
  ).action(action(async (table, opts) => (await import('./commands/table-state')).resetStateCommand(table, opts)));
  stateOptions(
    program
      .command('set-mode')
      .description('move a table to another mode, keeping its saved state where sound (state_action: preserve | reset)')
      .argument('<table>', 'the source table, as the config names it')
      .addOption(new Option('--mode <mode>', 'the new mode').choices(['auto', 'full', 'compare', 'incremental', 'cursor']).makeOptionMandatory())
      .addOption(new Option('--write <write>', 'cursor mode: upsert (latest per key) or append (every version)').choices(['upsert', 'append']))
      .option('--cursor <column>', 'cursor mode: the cursor column')
      .option('--primary-keys <a,b>', "the key (must be the source's primary key)")
      .option('--force', 'make a change that cannot keep the saved state (it is reset)'),
  ).action(action(async (table, opts) => (await import('./commands/table-state')).setModeCommand(table, opts)));

  program
    .command('cancel')
    .description('cancel a sync started anywhere: partitions roll back and say cancelled, staging and load tables are dropped')
    .argument('<workflow-id>', 'the sync workflow id')
    .option('--no-wait', 'return once the cancellation is requested')
    .action(action(async (id, opts) => (await import('./commands/cancel')).cancelCommand(id, opts)));

  const cdc = program.command('cdc').description("cdc mode: a change stream from the source's own log (PostgreSQL logical replication, MariaDB/MySQL binary log): start, status, pause, resume, stop");
  const cdcCommands = () => import('./commands/cdc');
  cdc
    .command('start')
    .description("start the config's change stream (its tables with mode: cdc): a snapshot, then every change")
    .requiredOption('--config <file>', 'YAML or JSON config')
    .option('--workflow-id <id>', 'workflow id (default tablesync-cdc-<source connection>); it names the replication slot')
    .addOption(taskQueueOption())
    .action(action(async (opts) => (await cdcCommands()).cdcStartCommand(opts)));
  cdc
    .command('status')
    .description('the position applied, the lag in bytes of the log and the changes applied; for an ended stream, the slot it left')
    .argument('<workflow-id>', 'the cdc workflow id')
    .option('--json', 'print as JSON')
    .action(action(async (id, opts) => (await cdcCommands()).cdcStatusCommand(id, opts)));
  for (const signal of ['pause', 'resume'] as const) {
    cdc
      .command(signal)
      .description(signal === 'pause' ? 'stop applying changes (a PostgreSQL slot keeps them: the source holds its WAL meanwhile)' : 'apply changes again')
      .argument('<workflow-id>', 'the cdc workflow id')
      .action(action(async (id, opts) => (await cdcCommands()).cdcSignalCommand(signal, id, opts)));
  }
  cdc
    .command('stop')
    .description('end the stream after its current batch; the slot is kept (and holds WAL) unless --drop-slot')
    .argument('<workflow-id>', 'the cdc workflow id')
    .option('--drop-slot', 'also drop the replication slot and publication (a later start takes a new snapshot)')
    .option('--no-wait', 'return once the stop is sent')
    .action(action(async (id, opts) => (await cdcCommands()).cdcSignalCommand('stop', id, opts)));

  const schedule = program
    .command('schedule')
    .description('Temporal Schedules that start syncs: create, list, describe, pause, unpause, trigger, update, delete');
  const schedules = () => import('./commands/schedule');
  schedule
    .command('create')
    .description('create a schedule whose runs are syncs of the config (workflow ids tablesync-<id>-<time>)')
    .requiredOption('--config <file>', 'YAML or JSON config (the schedule keeps its connection names, never URLs)')
    .requiredOption('--cron <expr>', 'cron: 5 fields ("0 3 * * *"), 7 with seconds and year, @hourly, @daily, "@every 30m", or @once (one run now, no schedule)')
    .option('--id <id>', "schedule id (default: the config file's name)")
    .addOption(overlapOption().default('skip'))
    .option('--paused', 'create it paused')
    .option('--note <text>', 'a note shown with the schedule')
    .addOption(taskQueueOption())
    .action(action(async (opts) => (await schedules()).createCommand(opts)));
  schedule
    .command('list')
    .description('the schedules that start tablesync syncs')
    .option('--json', 'as JSON')
    .action(action(async (opts) => (await schedules()).listCommand(opts)));
  schedule
    .command('describe')
    .description('a schedule: its cron, policy, next runs and recent runs with their summaries')
    .argument('<id>', 'schedule id')
    .option('--json', 'as JSON')
    .action(action(async (id, opts) => (await schedules()).describeCommand(id, opts)));
  schedule
    .command('pause')
    .description('pause a schedule (no runs until unpaused)')
    .argument('<id>', 'schedule id')
    .option('--note <text>', 'why')
    .action(action(async (id, opts) => (await schedules()).pauseCommand(id, opts, true)));
  schedule
    .command('unpause')
    .description('unpause a schedule')
    .argument('<id>', 'schedule id')
    .option('--note <text>', 'why')
    .action(action(async (id, opts) => (await schedules()).pauseCommand(id, opts, false)));
  schedule
    .command('trigger')
    .description("run a schedule's sync now (under its overlap policy)")
    .argument('<id>', 'schedule id')
    .action(action(async (id) => (await schedules()).triggerCommand(id)));
  schedule
    .command('update')
    .description('change a schedule: what is given changes, the rest stays')
    .argument('<id>', 'schedule id')
    .option('--cron <expr>', 'new cron expression')
    .addOption(overlapOption())
    .option('--config <file>', 'new config: the runs sync what it says')
    .addOption(taskQueueOption())
    .option('--note <text>', 'new note')
    .action(action(async (id, opts) => (await schedules()).updateCommand(id, opts)));
  schedule
    .command('delete')
    .description('delete a schedule (runs it started go on)')
    .argument('<id>', 'schedule id')
    .action(action(async (id) => (await schedules()).deleteCommand(id)));
  return program;
}

/** The exit code of a command line: the command's own, 0 for help, 2 for usage and config errors. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length === 0) {
    program.outputHelp();
    return 0;
  }
  exitCode = 0;
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version end with code 0; every usage error (unknown command or flag, missing value) with 2.
      return err.exitCode === 0 ? 0 : 2;
    }
    const { failureLine } = await import('./report');
    const e = err as { type?: string; exitCode?: number; workflowId?: string };
    console.error(failureLine(err, e.workflowId));
    return e.exitCode === 2 || e.type === 'InvalidConfig' ? 2 : 1;
  }
}

/**
 * Resolves once everything written to the stream so far has left the
 * process. Writes to a pipe are asynchronous: what the reader has not taken
 * yet waits in the process, and process.exit() drops it (a summary cut off
 * at 64 kB). A write's callback runs after every earlier write's; a reader
 * that went away (EPIPE) ends the wait too.
 */
export function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || !stream.writable) return Promise.resolve();
  return new Promise((resolve) => {
    // The callback runs with the error too (a reader gone: EPIPE), so the wait ends either way.
    stream.write('', () => resolve());
  });
}

if (require.main === module) {
  // A reader that stops early (`| head`) is not this command's failure: the
  // rest of its output is dropped, the work (a run, its worker) goes on to
  // its end and its exit code, instead of a crash on an unhandled EPIPE.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  main(process.argv.slice(2))
    .then(async (code) => {
      await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
      return code;
    })
    // process.exit, not a natural end: a connection or pool left open must not keep a finished command alive.
    .then((code) => process.exit(code));
}
