import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSchedule, deleteSchedule, triggerSchedule } from '../../client/schedules';
import type { NotifyPayload } from '../../lib/notify';
import type { SyncSummary } from '../../lib/types';
import { connectionEnv, runCli } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import { waitFor } from '../helpers/guarantees';
import { fetchHistory, historyText } from '../helpers/history';
import { pgUrl, testDb } from '../helpers/pg';
import { FAST_RETRY, failureChain, runSyncInProcess, syncOk } from '../helpers/run';
import { temporal, testWorker, uniqueTaskQueue } from '../helpers/temporal';

// notify: webhooks told of a run's end, each URL read from the worker's
// environment. A real HTTP server in this process plays the receiver.
const SRC = testDb('tablesync_it_notify_src');
const DST = testDb('tablesync_it_notify_dst');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };
const base = { source: { connection: 'src' }, target: { connection: 'dst' }, ...FAST_RETRY };
// The token a real webhook URL carries: it must never reach the history.
const TOKEN = 'hook-token-5c1e';

interface Receiver {
  url: string;
  calls: NotifyPayload[];
  /** Requests seen, answered or not. */
  hits: number;
  close(): Promise<void>;
}

/** A webhook receiver whose n-th request (from 0) gets answers[n] (the last one after that). */
async function receiver(answers: number[] = [200]): Promise<Receiver> {
  const calls: NotifyPayload[] = [];
  const state = { hits: 0 };
  const read = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await read(req);
      const status = answers[Math.min(state.hits, answers.length - 1)];
      state.hits++;
      assert.equal(req.method, 'POST');
      assert.equal(req.url, `/hooks/${TOKEN}`);
      assert.match(req.headers['content-type'] ?? '', /application\/json/);
      if (status === 200) calls.push(JSON.parse(body) as NotifyPayload);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'busy');
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/${TOKEN}`,
    calls,
    get hits() {
      return state.hits;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A URL nothing listens on: a server started and closed again. */
async function deadUrl(): Promise<string> {
  const r = await receiver();
  await r.close();
  return r.url;
}

describe('notify: webhooks at the end of a sync (Temporal, a local HTTP receiver)', function () {
  this.timeout(120_000);
  const { src } = useDatabases({ pg: { src: SRC, dst: DST } });
  let hook: Receiver | null = null;

  before(async () => {
    await src.query('CREATE TABLE orders (id int PRIMARY KEY, note text)');
    await src.query(`INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 20) g`);
  });
  afterEach(async () => {
    await hook?.close();
    hook = null;
  });

  it('on: failure calls the webhook with the summary when a table fails; the URL is in no history', async () => {
    hook = await receiver();
    const config = { ...base, tables: ['orders', 'no_such_table'], notify: [{ urlEnv: 'TABLESYNC_WEBHOOK' }] };
    const summary = await syncOk(connections, config, { prefix: 'notify-fail', env: { TABLESYNC_WEBHOOK: hook.url } });
    assert.equal(summary.tablesFailed, 1);
    assert.equal(hook.calls.length, 1);
    const [call] = hook.calls;
    assert.equal(call.status, 'failed');
    assert.equal(call.workflowId, summary.workflowId);
    assert.ok(call.runId);
    // The summary as run --json prints it: the same counts and tables.
    const { workflowId: _id, ...printed } = summary;
    assert.deepEqual(call.summary, printed);
    assert.deepEqual(summary.runWarnings, undefined);
    const env = await temporal();
    const history = historyText(await fetchHistory(env.client, summary.workflowId));
    assert.ok(history.includes('TABLESYNC_WEBHOOK'), 'the history names the variable');
    assert.ok(!history.includes(TOKEN) && !history.includes(hook.url), 'the history holds the URL');
  });

  it('on: failure does not call on success; on: always does, with status completed', async () => {
    hook = await receiver();
    const quiet = await syncOk(connections, { ...base, tables: ['orders'], notify: { urlEnv: 'TABLESYNC_WEBHOOK', on: 'failure' } }, { prefix: 'notify-ok', env: { TABLESYNC_WEBHOOK: hook.url } });
    assert.equal(quiet.tablesFailed, 0);
    assert.equal(hook.hits, 0);
    const told = await syncOk(connections, { ...base, tables: ['orders'], notify: [{ urlEnv: 'TABLESYNC_WEBHOOK', on: 'always' }] }, { prefix: 'notify-always', env: { TABLESYNC_WEBHOOK: hook.url } });
    assert.equal(hook.calls.length, 1);
    assert.equal(hook.calls[0].status, 'completed');
    assert.equal(hook.calls[0].workflowId, told.workflowId);
    assert.equal(hook.calls[0].summary?.tablesSynced, 1);
    assert.equal(hook.calls[0].summary?.message, told.message);
  });

  it('a webhook that answers 500 twice is retried and gets the call; the run has no warning', async () => {
    hook = await receiver([500, 500, 200]);
    const summary = await syncOk(connections, { ...base, tables: ['orders'], notify: [{ urlEnv: 'TABLESYNC_WEBHOOK', on: 'always' }] }, { prefix: 'notify-retry', env: { TABLESYNC_WEBHOOK: hook.url } });
    assert.equal(hook.hits, 3);
    assert.equal(hook.calls.length, 1);
    assert.equal(summary.runWarnings, undefined);
    assert.equal(summary.warnings, 0);
  });

  it('a webhook always down, one refusing (404) and one whose variable is unset: the sync still completes, each a warning naming its field', async () => {
    hook = await receiver([404]);
    const down = await deadUrl();
    const config = {
      ...base,
      tables: ['orders'],
      notify: [
        { urlEnv: 'TABLESYNC_WEBHOOK', on: 'always' },
        { urlEnv: 'TABLESYNC_WEBHOOK_REFUSING', on: 'always' },
        { urlEnv: 'TABLESYNC_WEBHOOK_UNSET', on: 'always' },
      ],
    };
    const started = Date.now();
    const summary = await syncOk(connections, config, { prefix: 'notify-down', env: { TABLESYNC_WEBHOOK: down, TABLESYNC_WEBHOOK_REFUSING: hook.url } });
    assert.equal(summary.tablesSynced, 1);
    assert.equal(summary.tablesFailed, 0);
    const warnings = summary.runWarnings ?? [];
    assert.equal(warnings.length, 3, JSON.stringify(warnings));
    assert.match(warnings[0], /^notify\[0\] \(TABLESYNC_WEBHOOK\) was not notified: notify\[0\]\.urlEnv: the webhook in TABLESYNC_WEBHOOK could not be reached \(ECONNREFUSED\)/);
    assert.match(warnings[1], /^notify\[1\] \(TABLESYNC_WEBHOOK_REFUSING\) was not notified: .*answered HTTP 404/);
    assert.match(warnings[2], /notify\[2\]\.urlEnv: environment variable TABLESYNC_WEBHOOK_UNSET is not set on worker \S+; set it there/);
    for (const w of warnings) assert.ok(!w.includes(TOKEN), w);
    // A refusal is not retried; the unreachable one is, a bounded number of times.
    assert.equal(hook.hits, 1);
    assert.equal(summary.warnings, 3);
    assert.match(summary.message, /3 warnings/);
    assert.ok(Date.now() - started < 60_000, 'the retries are bounded');
  });

  it('a run that fails as a whole (unknown connection) tells its on: failure webhook, and still fails', async () => {
    hook = await receiver();
    const config = { ...base, source: { connection: 'nowhere' }, tables: ['orders'], notify: [{ urlEnv: 'TABLESYNC_WEBHOOK' }] };
    const { outcome, workflowId } = await runSyncInProcess(connections, config, { prefix: 'notify-run-failed', env: { TABLESYNC_WEBHOOK: hook.url } });
    assert.equal(outcome.ok, false);
    if (!outcome.ok) assert.match(failureChain(outcome.error), /Connection "nowhere" is not configured/);
    assert.equal(hook.calls.length, 1);
    assert.equal(hook.calls[0].workflowId, workflowId);
    assert.equal(hook.calls[0].status, 'failed');
    assert.equal(hook.calls[0].summary, null);
    assert.match(hook.calls[0].error ?? '', /Connection "nowhere" is not configured/);
  });

  it('run --local prints the warning of a webhook it could not tell, and --json carries it; exit 0', async () => {
    const env = await temporal();
    const dir = mkdtempSync(join(tmpdir(), 'tablesync-notify-'));
    try {
      const file = join(dir, 'sync.yaml');
      writeFileSync(
        file,
        ['source: { connection: src }', 'target: { connection: dst }', 'tables: [orders]', 'retry: { initialIntervalMs: 100, maximumIntervalMs: 200 }', 'notify:', '  - urlEnv: TABLESYNC_WEBHOOK', '    on: always'].join('\n'),
      );
      const cliEnv = { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: uniqueTaskQueue('notify-cli'), ...connectionEnv(connections), TABLESYNC_WEBHOOK: await deadUrl() };
      const human = await runCli(['run', '--config', file, '--local', '--no-progress'], cliEnv);
      assert.equal(human.code, 0, human.out);
      assert.match(human.out, /^ {2}warning: notify\[0\] \(TABLESYNC_WEBHOOK\) was not notified: .*could not be reached/m);
      assert.match(human.out, /1 warning\b/);
      const json = await runCli(['run', '--config', file, '--local', '--json', '--no-progress'], { ...cliEnv, TEMPORAL_TASK_QUEUE: uniqueTaskQueue('notify-cli') });
      assert.equal(json.code, 0, json.out);
      const printed = JSON.parse(json.stdout) as SyncSummary;
      assert.equal(printed.runWarnings?.length, 1);
      assert.equal(printed.warnings, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a schedule runs the same workflow: its run calls the webhook', async () => {
    hook = await receiver();
    const { env, taskQueue, worker, close } = await testWorker(connections, 'notify-sched', { TABLESYNC_WEBHOOK: hook.url });
    const id = `notify-${process.pid}`;
    try {
      await worker.runUntil(async () => {
        await createSchedule(env.client, { id, config: { ...base, tables: ['orders'], notify: [{ urlEnv: 'TABLESYNC_WEBHOOK', on: 'always' }] }, cron: '0 3 * * *', taskQueue });
        try {
          await triggerSchedule(env.client, id);
          await waitFor('the webhook call', async () => hook!.calls.length === 1 || undefined, 60_000);
        } finally {
          await deleteSchedule(env.client, id);
        }
      });
    } finally {
      await close();
    }
    assert.equal(hook.calls[0].status, 'completed');
    assert.match(hook.calls[0].workflowId, new RegExp(`^tablesync-${id}-`));
  });
});
