import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, WorkflowFailedError } from '@temporalio/client';

const RetryState = { NON_RETRYABLE_FAILURE: 'NON_RETRYABLE_FAILURE' } as const;
import { ConfigError } from '../../lib/config';
import type { SyncSummary } from '../../lib/types';
import type { LiveProgress } from '../../client/progress';
import { ProgressView, RateMeter, plainLine, renderFrame } from '../../client/progress-view';
import { failedTablesLine, failureLine } from '../../client/report';
import { runCli } from '../helpers/cli';

const cli = (...args: string[]) => runCli(args, { TEMPORAL_ADDRESS: '127.0.0.1:1' }, 30_000);

describe('CLI: commands, help and usage errors', () => {
  it('tablesync --help lists every command and exits 0', async () => {
    const r = await cli('--help');
    assert.equal(r.code, 0, r.stderr);
    for (const c of ['worker', 'run', 'verify', 'status', 'cancel', 'schedule']) assert.match(r.stdout, new RegExp(`^  ${c}\\b`, 'm'), c);
  });

  it('every command has --help', async () => {
    for (const c of [['worker'], ['run'], ['verify'], ['status'], ['reset-state'], ['set-mode'], ['cancel'], ['schedule'], ...['create', 'list', 'describe', 'pause', 'unpause', 'trigger', 'update', 'delete'].map((s) => ['schedule', s])]) {
      const r = await cli(...c, '--help');
      assert.equal(r.code, 0, `${c.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: tablesync ${c.join(' ')}`), c.join(' '));
    }
  });

  it('an unknown command, an unknown flag, a missing value or a bad choice exits 2 saying which', async () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['run', '--config', 'x.yaml', '--bogus'], /unknown option '--bogus'/],
      [['run'], /required option '--config <file>' not specified/],
      [['cancel'], /missing required argument 'workflow-id'/],
      [['schedule', 'create', '--config', 'x.yaml', '--cron', '@daily', '--overlap', 'sometimes'], /argument 'sometimes' is invalid/],
      [['status', 'a', 'b'], /too many arguments/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
  });

  it('a bad --cron is a config error naming --cron (exit 2), before any server is asked', async () => {
    const config = join(__dirname, '..', '..', '..', 'examples', 'demo.yaml');
    const r = await cli('schedule', 'create', '--config', config, '--cron', '61 * * *');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--cron: "61 \* \* \*" is not a cron expression/);
  });
});

describe('CLI: the last line says what failed and why, root cause first', () => {
  it('a workflow failure is told by its innermost cause and where, never "Activity task failed"', () => {
    const root = ApplicationFailure.create({ type: 'UnknownDatabase', message: 'initialize_state: database "nope" does not exist', nonRetryable: true });
    const activity = new ActivityFailure('Activity task failed', 'initializeState', '1', RetryState.NON_RETRYABLE_FAILURE, 'w', root);
    const err = new WorkflowFailedError('Workflow execution failed', activity, RetryState.NON_RETRYABLE_FAILURE);
    assert.equal(
      failureLine(err, 'tablesync-x'),
      'tablesync: UnknownDatabase: initialize_state: database "nope" does not exist (in initializeState of tablesync-x)',
    );
  });

  it('a child workflow failure names the child', () => {
    const root = ApplicationFailure.create({ type: 'TableSyncFailed', message: 'public.t: partition 1/1: column "v": value too long' });
    const child = new ChildWorkflowFailure('default', { workflowId: 'tablesync-x/public.t' }, 'syncTableWorkflow', RetryState.NON_RETRYABLE_FAILURE, root);
    const err = new WorkflowFailedError('Workflow execution failed', child, RetryState.NON_RETRYABLE_FAILURE);
    assert.equal(failureLine(err), 'tablesync: TableSyncFailed: public.t: partition 1/1: column "v": value too long (of tablesync-x/public.t)');
  });

  it('a config error names its field', () => {
    assert.equal(failureLine(new ConfigError('config file s.yaml: batchSize: Expected number')), 'tablesync: InvalidConfig: config file s.yaml: batchSize: Expected number');
  });

  it('a run with failed tables ends with the first one and its reason', () => {
    const summary = {
      tables: [
        { table: 'public.ok', status: 'completed' },
        { table: 'public.users', status: 'failed', errorType: 'NameCollision', error: 'columns "UserId" and "user_id" both become "user_id" in the target' },
        { table: 'public.b', status: 'failed', error: 'partition 1/1: boom' },
      ],
    } as unknown as SyncSummary;
    assert.equal(
      failedTablesLine(summary),
      'tablesync: public.users failed: NameCollision: columns "UserId" and "user_id" both become "user_id" in the target (and 1 more failed table above)',
    );
  });
});

function progress(rows: number): LiveProgress {
  return {
    workflowId: 'tablesync-x',
    status: 'RUNNING',
    phase: 'sync',
    tablesTotal: 3,
    tablesDone: 1,
    tablesFailed: 0,
    tablesRunning: 1,
    rowsCopied: 1000 + rows,
    estimatedRows: 11000,
    tables: [
      { table: 'public.small', target: 'public.small', mode: 'full', phase: 'done', estimatedRows: 1000, partitionsTotal: 1, partitionsDone: 1, partitionsRunning: 0, rowsCopied: 1000 },
      { table: 'public.big', target: 'public.big', mode: 'compare', phase: 'copy', estimatedRows: 10000, partitionsTotal: 4, partitionsDone: 1, partitionsRunning: 2, rowsCopied: rows },
      { table: 'public.later', target: 'public.later', mode: 'compare', phase: 'waiting', estimatedRows: 0, partitionsTotal: 1, partitionsDone: 0, partitionsRunning: 0, rowsCopied: 0 },
    ],
  };
}

describe('progress view', () => {
  it('renders a frame: ended tables above, a bar per running table with rows/s and partitions, an overall bar', () => {
    const meter = new RateMeter();
    meter.sample(progress(2000), 0);
    const frame = renderFrame(progress(5000), meter.sample(progress(5000), 1000), 10);
    assert.deepEqual(frame, [
      '  done   public.small → public.small: 1,000 rows copied, 1 partition',
      'public.big  █████░░░░░   50%  5,000/~10,000 rows  3,000 rows/s  partitions 1/4 (2 running)  copy',
      'total       █████░░░░░   54%  6,000/~11,000 rows  3,000 rows/s  1/3 tables',
    ]);
  });

  it('off a TTY: one plain line, at most every interval', () => {
    let now = 0;
    const out: string[] = [];
    const view = new ProgressView({ write: (s: string) => out.push(s), isTTY: false }, 5_000, () => now);
    for (now = 1; now < 12_000; now += 1_000) view.update(progress(now));
    assert.equal(out.length, 3);
    assert.match(out[0], /^progress tablesync-x: 1\/3 tables done, 0 failed, 1 running; 1,001 of ~11,000 rows \(9%\); public.big copy 0% 1 rows, partitions 1\/4\n$/);
    assert.equal(plainLine({ ...progress(0), phase: 'plan' }, { tables: new Map() }), 'progress tablesync-x: planning');
  });

  it('on a TTY: cli-progress draws the bars without crashing, tables coming and going', () => {
    let written = '';
    const stream = { write: (s: string) => ((written += s), true), isTTY: true, columns: 120, on: () => stream, removeListener: () => stream };
    let now = 0;
    const view = new ProgressView(stream, 5_000, () => now);
    view.update(progress(100));
    now = 1_000;
    view.update(progress(3000));
    now = 2_000;
    const next = progress(3000);
    next.tables[1] = { ...next.tables[1], phase: 'done', rowsCopied: 10000 };
    next.tables[2] = { ...next.tables[2], phase: 'copy', estimatedRows: 50 };
    view.update(next);
    view.stop();
    assert.match(written, /public\.big {2}█/);
    assert.match(written, /done {3}public\.big → public\.big: 10,000 rows copied/);
    assert.match(written, /public\.later/);
    assert.match(written, /total/);
  });
});
