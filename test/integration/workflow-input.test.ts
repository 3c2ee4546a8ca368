import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Worker } from '@temporalio/worker';
import { childWorkflowIds, fetchHistory, historyText, rootCause } from '../helpers/history';
import { freshDatabase, pgUrl, testDb } from '../helpers/pg';
import { testWorker } from '../helpers/temporal';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { ConnectionRegistry } from '../../activities/connections';
import { parseSyncConfig } from '../../lib/config';
import type { TablePlan } from '../../lib/types';

// Whoever may start workflows on the namespace (Web UI, `temporal workflow
// start`, a schedule) hands the worker raw input. Each case starts a workflow
// that way, through the Temporal client with hand-written input (not the
// CLI, which validates first), and shows it refused with nothing written in
// either database.

const SRC = testDb('tablesync_it_input_src');
const DST = testDb('tablesync_it_input_dst');
const DST2 = testDb('tablesync_it_input_dst2');
const SECRET = 'TOPSECRET-7f3a';
const fast = { retry: { maximumAttempts: 2, initialIntervalMs: 200, maximumIntervalMs: 500 } };

/** Every relation, type and function outside the system schemas, and the rows of the tables the attacks aim at. */
async function snapshot(pool: Pool): Promise<string> {
  const objects = await pool.query(`
    SELECT string_agg(x, ', ' ORDER BY x) AS all FROM (
      SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' ' ||
             (SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod) || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''), ',' ORDER BY a.attnum)
                FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS x
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
      UNION ALL SELECT 'type ' || n.nspname || '.' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0
      UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg_%') s`);
  const keys = await pool.query(`SELECT coalesce(string_agg(id || '=' || k, ',' ORDER BY id), '') AS rows FROM private.keys`).catch(() => ({ rows: [{ rows: 'no private.keys' }] }));
  return `${objects.rows[0].all}\n${keys.rows[0].rows}`;
}

describe('workflow input: a workflow starter cannot run SQL, write into a source or read values through errors', function () {
  let src: Pool;
  let dst: Pool;
  let dst2: Pool;
  let client: Client;
  let taskQueue: string;
  let worker: Worker;
  let running: Promise<void>;
  let close: () => Promise<void>;
  let seq = 0;

  /** Starts a workflow type by name with raw input, as `temporal workflow start --input` would; how it ended. */
  async function start(type: string, input: unknown): Promise<{ workflowId: string; ok: boolean; value?: unknown; error?: Error }> {
    const workflowId = `input-${type}-${process.pid}-${++seq}`;
    const handle = await client.workflow.start(type, { taskQueue, workflowId, args: [input] });
    try {
      return { workflowId, ok: true, value: await handle.result() };
    } catch (error) {
      return { workflowId, ok: false, error: error as Error };
    }
  }

  /** The run failed with this error type, its message matching, and neither database changed. */
  async function assertRefused(run: Awaited<ReturnType<typeof start>>, type: string, message: RegExp, before: { src: string; dst: string }) {
    assert.ok(!run.ok, `${run.workflowId} must be refused, got ${JSON.stringify(run.value)}`);
    const root = rootCause(run.error);
    assert.equal(root.type, type, root.message);
    assert.match(root.message, message);
    assert.equal(await snapshot(src), before.src, `${run.workflowId}: the source changed`);
    assert.equal(await snapshot(dst), before.dst, `${run.workflowId}: the target changed`);
  }

  const snapshots = async () => ({ src: await snapshot(src), dst: await snapshot(dst) });
  const config = (extra: object = {}) => ({ source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.items'], ...fast, ...extra });

  before(async () => {
    src = await freshDatabase(SRC);
    dst = await freshDatabase(DST);
    dst2 = await freshDatabase(DST2);
    await src.query('CREATE TABLE public.items (id int PRIMARY KEY, name text)');
    await src.query(`INSERT INTO public.items VALUES (1, 'a'), (2, 'b')`);
    await src.query('CREATE SCHEMA secret; CREATE TABLE secret.creds (id int PRIMARY KEY, pw text)');
    await src.query(`INSERT INTO secret.creds VALUES (1, '${SECRET}')`);
    await dst.query('CREATE SCHEMA private; CREATE TABLE private.keys (id int PRIMARY KEY, k text)');
    await dst.query(`INSERT INTO private.keys VALUES (1, 'key-1')`);
    ({ env: { client }, taskQueue, worker, close } = await testWorker(
      {
        src: { url: pgUrl(SRC), role: 'source' },
        dst: { url: pgUrl(DST), role: 'target' },
        dst2: { url: pgUrl(DST2), role: 'target' },
      },
      'input',
    ));
    running = worker.run();
  });

  after(async () => {
    worker?.shutdown();
    await running;
    await close?.();
    await Promise.all([src?.end(), dst?.end(), dst2?.end()]);
  });

  it('refuses a hand-made syncTableWorkflow task, whose "type DDL" would run on the target', async () => {
    const before = await snapshots();
    const column = (name: string, type: string) => ({ name, targetName: name, sourceType: type, targetType: type, nullable: false });
    const task = {
      table: {
        source: { schema: 'public', name: 'items' },
        target: { schema: 'public', name: 'items' },
        mode: 'full',
        columns: [column('id', 'integer'), column('name', 'text')],
        primaryKey: ['id'],
        integerKey: true,
        notes: [],
        userTypes: [
          {
            source: { schema: 'public', name: 'x' },
            target: { schema: 'public', name: 'x' },
            definition: 'enum',
            ddl: 'CREATE TABLE public.injected (x int); DROP TABLE private.keys',
          },
        ],
      },
      estimatedRows: 2,
      keyMin: null,
      keyMax: null,
      partitions: [{ index: 0, count: 1, lo: null, hi: null }],
    };
    const run = await start('syncTableWorkflow', { config: config(), task });
    await assertRefused(run, 'InvalidInput', /`task` is made by the sync that starts it as a child/, before);
  });

  it("refuses a batch or table workflow that names another sync's run, whose claims it would supersede", async () => {
    const before = await snapshots();
    // A victim run key: what a starter would copy from the Web UI.
    const claim = { syncWorkflowId: 'victim-sync', syncRunId: '00000000-0000-4000-8000-000000000000' };
    const batch = await start('syncBatchWorkflow', { config: config(), tables: ['public.items'], maxParallel: 1, ...claim });
    await assertRefused(batch, 'InvalidInput', /syncBatchWorkflow: syncWorkflowId\/syncRunId .* started on its own/, before);
    const bare = await start('syncBatchWorkflow', { config: config(), tables: ['public.items'], maxParallel: 1 });
    await assertRefused(bare, 'InvalidInput', /syncBatchWorkflow: .* accepted only from that run/, before);
    const table = await start('syncTableWorkflow', { config: config(), table: 'public.items', ...claim });
    await assertRefused(table, 'InvalidInput', /syncTableWorkflow: syncWorkflowId\/syncRunId .* started on its own/, before);
    // Without a claim, a table started on its own is its own run, as before.
    const alone = await start('syncTableWorkflow', { config: config(), table: 'public.items' });
    assert.ok(alone.ok, String(alone.error));
    const states = await dst.query(`SELECT DISTINCT workflow_id FROM public._migration_state`);
    assert.deepEqual(states.rows.map((r) => r.workflow_id), [alone.workflowId]);
    await dst.query('DROP TABLE public.items');
  });

  it('refuses a sync whose target is a connection declared a source (and the reverse), naming the connection and the field, in every workflow type', async () => {
    const swapped = config({ source: { connection: 'dst', schema: 'private' }, target: { connection: 'src' }, tables: ['private.keys'] });
    const before = await snapshots();
    // (syncBatchWorkflow started on its own is refused before any activity: see above.)
    const runs: [string, unknown][] = [
      ['incrementalSyncWorkflow', swapped],
      ['syncTableWorkflow', { config: swapped, table: 'private.keys' }],
      ['planSyncWorkflow', swapped],
      ['verifyWorkflow', { config: swapped }],
      ['tableStatusWorkflow', { config: swapped }],
      ['resetStateWorkflow', { config: swapped, table: 'private.keys' }],
      ['setModeWorkflow', { config: swapped, table: 'private.keys', mode: 'full' }],
    ];
    for (const [type, input] of runs) {
      const run = await start(type, input);
      // Checked source first: dst is declared a target, so it may not be read as a source.
      await assertRefused(run, 'ConnectionRole', /source\.connection: connection "dst" is declared role: target .*cannot be read as the source/, before);
    }
    // A source declared read-only is refused as a target.
    const intoSource = await start('incrementalSyncWorkflow', config({ target: { connection: 'src', schema: 'copied' } }));
    await assertRefused(intoSource, 'ConnectionRole', /target\.connection: connection "src" is declared role: source .*cannot be written as the target/, before);
  });

  it('refuses a typeMap value that is a clause, not a type, naming the typeMap key, in every workflow type that plans', async () => {
    await dst.query('CREATE TABLE public.items (id int PRIMARY KEY, name text)');
    await dst.query(`INSERT INTO public.items VALUES (1, 'a')`);
    const before = await snapshots();
    for (const value of ['text DEFAULT pg_terminate_backend(1)', 'integer GENERATED ALWAYS AS (1) STORED', 'text COLLATE "C"', 'nosuchtype']) {
      const bad = config({ typeMap: { 'public.items.extra': value, 'public.items.name': value } });
      for (const [type, input] of [
        ['incrementalSyncWorkflow', bad],
        ['planSyncWorkflow', bad],
      ] as const) {
        const run = await start(type, input);
        await assertRefused(run, 'InvalidConfig', /typeMap(\.public\.items\.extra|\["public\.items\.extra"\])/, before);
      }
    }
  });

  it('refuses numbers past their maximum, naming the field', async () => {
    const before = await snapshots();
    for (const [extra, field] of [
      [{ batchSize: 1e12 }, 'batchSize'],
      [{ partitionThreshold: 1e15 }, 'partitionThreshold'],
      [{ rowsPerPartition: 1e15 }, 'rowsPerPartition'],
      [{ verifyRowsPerRange: 1e15 }, 'verifyRowsPerRange'],
      [{ retry: { maximumAttempts: 1e6 } }, 'retry.maximumAttempts'],
      [{ timeouts: { partitionMinutes: 1e9 } }, 'timeouts.partitionMinutes'],
      [{ timeouts: { heartbeatSeconds: 1e9 } }, 'timeouts.heartbeatSeconds'],
    ] as const) {
      for (const type of ['incrementalSyncWorkflow', 'planSyncWorkflow']) {
        const run = await start(type, { ...config(), ...extra });
        await assertRefused(run, 'InvalidConfig', new RegExp(`${field.replace('.', '\\.')}: must be at most`), before);
      }
    }
  });

  it('checks a plan that reaches an activity against the source catalog, and never runs its user-type DDL', async () => {
    // Only a principal that can answer activity tasks (run a worker) could hand an activity a plan the
    // worker did not make; the activities check it all the same.
    const registry = new ConnectionRegistry({ src: { url: pgUrl(SRC), role: 'source' }, dst: { url: pgUrl(DST), role: 'target' } }, {});
    const acts = createActivities({ connections: registry });
    const activity = new MockActivityEnvironment();
    const cfg = parseSyncConfig(config());
    const column = (name: string, sourceType: string, targetType = sourceType) => ({ name, targetName: name, sourceType, targetType, nullable: false });
    const plan = {
      source: { schema: 'public', name: 'items' },
      target: { schema: 'public', name: 'items' },
      mode: 'full' as const,
      columns: [column('id', 'integer'), column('name', 'text')],
      primaryKey: ['id'],
      integerKey: true,
      notes: [],
    };
    const run = { syncWorkflowId: 'forged', syncRunId: 'r1' };
    try {
      const before = await snapshots();
      for (const [forged, message] of [
        [{ ...plan, columns: [column('id', 'integer'), column('name', 'text); DROP TABLE private.keys; --', 'text')] }, /columns\[1\] "name"/],
        [{ ...plan, columns: [column('id', 'integer'), column('name', 'text', 'text DEFAULT pg_terminate_backend(1)')] }, /columns\[1\]\.targetType is not a PostgreSQL type name/],
        [{ ...plan, target: { schema: 'private', name: 'keys' } }, /names target private\.keys, but the config makes it public\.items/],
        [{ ...plan, primaryKey: ['name'] }, /has key \(name\), not the table's \(id\)/],
      ] as const) {
        await assert.rejects(activity.run(acts.createLoadTable, { config: cfg, table: forged as unknown as TablePlan, ...run }), (err: Error & { type?: string }) => {
          assert.equal(err.type, 'InvalidInput', err.message);
          assert.match(err.message, message);
          return true;
        });
      }
      assert.deepEqual(await snapshots(), before);
      // A plan that matches the catalog runs, but its "type DDL" does not: user types come from the source catalog.
      const withDdl = { ...plan, userTypes: [{ source: { schema: 'public', name: 'x' }, target: { schema: 'public', name: 'x' }, definition: 'enum', ddl: 'CREATE TABLE public.injected (x int)' }] };
      await activity.run(acts.createLoadTable, { config: cfg, table: withDdl, ...run });
      assert.equal((await dst.query(`SELECT to_regclass('public.injected')::text AS t`)).rows[0].t, null, 'the plan\'s DDL never ran');
      await activity.run(acts.dropLoadTable, { config: cfg, table: withDdl, ...run });
      assert.deepEqual(await snapshots(), before);
    } finally {
      await registry.close();
    }
  });

  it('keeps the column and the reason of a cast error but not the value, in the result, the history and _migration_state', async () => {
    const run = await start('incrementalSyncWorkflow', {
      source: { connection: 'src' },
      target: { connection: 'dst2' },
      tables: ['secret.creds'],
      typeMap: { 'secret.creds.pw': 'integer' },
      ...fast,
    });
    const text = run.ok ? JSON.stringify(run.value) : `${run.error?.message} ${rootCause(run.error).message}`;
    const parent = await fetchHistory(client, run.workflowId);
    const history = historyText(parent);
    const childHistory = (await Promise.all(childWorkflowIds(parent).map(async (id) => historyText(await fetchHistory(client, id))))).join('\n');
    const stored = (await dst2.query(`SELECT coalesce(string_agg(error_message, ' | '), '') AS e FROM public._migration_state`)).rows[0].e as string;
    assert.match(text, /column \\?"pw\\?".*invalid input syntax for type integer: \(value withheld\)/, text);
    assert.match(stored, /invalid input syntax for type integer: \(value withheld\)/, stored);
    for (const [where, t] of [['result', text], ['history', history], ['child history', childHistory], ['_migration_state', stored]]) {
      assert.ok(!t.includes(SECRET), `${where} holds the value: ${t.slice(0, 500)}`);
    }
  });
});
