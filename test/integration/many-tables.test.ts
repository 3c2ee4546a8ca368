import assert from 'node:assert/strict';
import { readProgress, type LiveProgress } from '../../client/progress';
import { completeSummary } from '../../client/results';
import type { SyncConfigInput } from '../../lib/config';
import type { SyncSummary } from '../../lib/types';
import { incrementalSyncWorkflow } from '../../workflows';
import { useDatabases } from '../helpers/databases';
import { childWorkflowIds, fetchHistory, historyText } from '../helpers/history';
import { pgUrl, testDb } from '../helpers/pg';
import { temporal, testWorker } from '../helpers/temporal';

// A sync of more tables than tablesPerBatch runs them in batch workflows: no
// history grows with the table count, and the summary still lists every table.
const SRC = testDb('tablesync_it_batches_src');
const DST = testDb('tablesync_it_batches_dst');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };
const TABLES = ['t1', 't2', 't3', 't4', 't5', 't6', 't7'];

describe('many tables: batch workflows (real PostgreSQL, Temporal)', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });
  before(async () => {
    for (const [i, t] of TABLES.entries()) {
      await src.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v text)`);
      await src.query(`INSERT INTO ${t} SELECT g, 'v' || g FROM generate_series(1, ${i + 1}) g`);
    }
    await src.query('CREATE TABLE nokey (v text)');
    // Both become target table user_id under snake_case naming: refused by name, whichever batch they would be in.
    await src.query('CREATE TABLE "UserId" (id int PRIMARY KEY)');
    await src.query('CREATE TABLE user_id (id int PRIMARY KEY)');
  });
  const config = { source: { connection: 'src', schema: 'public' }, target: { connection: 'dst', naming: 'snake_case' }, tables: ['public.*'], tablesPerBatch: 3, keyless: 'skip' as const } as SyncConfigInput;

  async function run(prefix: string): Promise<{ summary: SyncSummary; raw: SyncSummary; workflowId: string; seen: LiveProgress[]; final: LiveProgress }> {
    const { env, taskQueue, worker, close } = await testWorker(connections, prefix);
    const workflowId = `${prefix}-${process.pid}-${Date.now()}`;
    const seen: LiveProgress[] = [];
    try {
      return await worker.runUntil(async () => {
        const handle = await env.client.workflow.start(incrementalSyncWorkflow, { taskQueue, workflowId, args: [config] });
        let done = false;
        const result = handle.result().finally(() => (done = true));
        while (!done) {
          const p = await readProgress(env.client, workflowId).catch(() => null);
          if (p) seen.push(p);
          await new Promise((r) => setTimeout(r, 50));
        }
        const raw = await result;
        // As `tablesync run` does: the sync lists its failed tables, the rest are read back from the state.
        const summary = await completeSummary(env.client, config, raw, taskQueue);
        return { summary, raw, workflowId, seen, final: await readProgress(env.client, workflowId) };
      });
    } finally {
      await close();
    }
  }

  it('lists every table, keeps each history small, and answers progress with the batches’ own view', async () => {
    const { summary, raw, workflowId, seen, final } = await run('batches');
    // What the sync itself returns: counts and message of every table, only the failed ones listed, and where the rest are.
    assert.deepEqual(raw.tables.map((t) => t.table).sort(), ['public.UserId', 'public.user_id']);
    assert.deepEqual(raw.listed?.batches, 3);
    assert.equal(raw.message, summary.message);
    assert.deepEqual([raw.tablesSynced, raw.tablesFailed, raw.tablesSkipped, raw.rowsCopied], [7, 2, 1, 28]);
    assert.equal(summary.listed, undefined);
    const status = Object.fromEntries(summary.tables.map((t) => [t.table, t.status]));
    assert.deepEqual(status, {
      ...Object.fromEntries(TABLES.map((t) => [`public.${t}`, 'completed'])),
      'public.UserId': 'failed',
      'public.user_id': 'failed',
    });
    assert.deepEqual(summary.skipped.map((s) => [s.table, s.reason]), [['public.nokey', 'no primary key (keyless: skip)']]);
    assert.equal(summary.tablesSynced, 7);
    assert.equal(summary.rowsCopied, 28);
    for (const [i, t] of TABLES.entries()) {
      assert.equal((await dst.query(`SELECT count(*)::int AS n FROM public.${t}`)).rows[0].n, i + 1, t);
    }
    assert.equal((await dst.query(`SELECT to_regclass('public.user_id') AS t`)).rows[0].t, null, 'a collision writes nothing');

    // The parent starts batches only (8 tables left after the collision, 3 a batch); each batch starts its tables.
    const { client } = await temporal();
    const parentHistory = await fetchHistory(client, workflowId);
    const batches = childWorkflowIds(parentHistory);
    // No synced table's plan or result travels through the sync's own history (its summary lists failures, skips and plan lines, a bounded number each).
    const text = historyText(parentHistory);
    for (const t of ['"table":"public.t1"', '"name":"t1"', '"name":"t7"']) assert.ok(!text.includes(t), `${t} in the sync's history`);
    assert.ok(text.includes('"table":"public.UserId"'), 'a refused table is listed');
    assert.deepEqual([...batches].sort(), [1, 2, 3].map((i) => `${workflowId}/batch-${i}-of-3`));
    const tables: string[] = [];
    for (const b of batches) {
      const children = childWorkflowIds(await fetchHistory(client, b));
      assert.ok(children.length <= 3, `${b} runs at most 3 tables: ${children}`);
      tables.push(...children);
    }
    assert.deepEqual(tables.sort(), TABLES.map((t) => `${workflowId}/public.${t}`).sort(), 'every table ran once, under the table workflow id the CLI queries');

    // Progress: while a batch ran, its tables were seen as it planned them; at the end every table is counted.
    assert.ok(seen.some((p) => p.tables.some((t) => t.mode === 'full' && t.estimatedRows > 0 || t.phase === 'copy')), 'a batch’s planned entries were seen mid-run');
    assert.equal(final.status, 'COMPLETED');
    assert.deepEqual([final.tablesTotal, final.tablesDone, final.tablesFailed, final.rowsCopied], [9, 7, 2, 28]);
  });

  it('runs again incrementally through the batches, nothing changed', async () => {
    const { summary } = await run('batches-again');
    const modes = summary.tables.filter((t) => t.status === 'completed').map((t) => [t.table, t.mode, t.unchanged]);
    assert.deepEqual(modes, TABLES.map((t, i) => [`public.${t}`, 'compare', i + 1]));
    assert.equal(summary.tablesUnchanged, 7);
  });
});
