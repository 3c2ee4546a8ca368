import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type DiscoverTablesResult, type InitializeStateResult, type SyncSmallTablesInput, type SyncSmallTablesResult } from '../../activities';
import { ConnectionRegistry } from '../../activities/connections';
import type { SyncConfig } from '../../lib/config';
import { claimGenerationSql } from '../../lib/state';
import type { SyncTask } from '../../lib/types';
import { useDatabases } from '../helpers/databases';
import { pgUrl, testDb } from '../helpers/pg';

// Full loads of small tables in a syncSmallTables group run in one target
// transaction, a savepoint per table (activities/small-loads.ts). A table
// that fails there fails alone, named in its error; a retried group takes
// what an earlier attempt committed from _migration_state and loads only the
// rest; a group over existing targets replaces them as a swap does.
const SRC = testDb('tablesync_it_small_loads_src');
const DST = testDb('tablesync_it_small_loads_dst');

describe('small full loads in one transaction (real PostgreSQL)', function () {
  this.timeout(60_000);
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });
  const registry = new ConnectionRegistry({ src: { url: pgUrl(SRC), role: 'source' }, dst: { url: pgUrl(DST), role: 'target' } }, {});
  const acts = createActivities({ connections: registry });
  const env = new MockActivityEnvironment();
  after(() => registry.close());
  // A fault in a step the group's tables share: while set, the target refuses every ANALYZE
  // (tablesync's own pool clients only; the test's own queries go through other connections).
  const fault = { analyze: false };
  const patched = new WeakSet<object>();
  registry.pg('dst').on('connect', (client) => {
    if (patched.has(client)) return;
    patched.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) =>
      fault.analyze && typeof args[0] === 'string' && args[0].startsWith('ANALYZE ') ? Promise.reject(new Error('injected fault: ANALYZE refused')) : query(...args);
  });
  const small = async (input: SyncSmallTablesInput) => (await env.run(acts.syncSmallTables, input)) as SyncSmallTablesResult;

  const GOOD = ['a1', 'a2', 'a3', 'a4'];
  before(async () => {
    for (const [i, t] of GOOD.entries()) {
      await src.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v text)`);
      await src.query(`INSERT INTO ${t} SELECT g, '${t}-' || g FROM generate_series(1, ${i + 2}) g`);
    }
    // Its text column is mapped to integer, and one value is no number: its COPY fails (a data error no retry fixes).
    await src.query(`CREATE TABLE bad (id int PRIMARY KEY, v text); INSERT INTO bad VALUES (1, '10'), (2, 'twenty')`);
  });

  async function plan(runId: string): Promise<{ config: SyncConfig; tasks: SyncTask[] }> {
    const raw = {
      source: { connection: 'src', schema: 'public' },
      target: { connection: 'dst' },
      // full, not auto: a later run over existing targets loads them again (auto would compare).
      mode: 'full',
      tables: [...GOOD.slice(0, 2), 'bad', ...GOOD.slice(2)],
      typeMap: { 'public.bad.v': 'integer' },
    };
    const { config } = (await env.run(acts.initializeState, { config: raw })) as InitializeStateResult;
    const found = (await env.run(acts.discoverTables, { config, syncWorkflowId: 'small-loads', syncRunId: runId })) as DiscoverTablesResult;
    assert.deepEqual(found.failed ?? [], []);
    const tasks = (await env.run(acts.createSyncTasks, { config, tables: found.tables })) as SyncTask[];
    assert.deepEqual(tasks.map((t) => [t.table.source.name, t.table.mode, t.partitions.length]), ['a1', 'a2', 'bad', 'a3', 'a4'].map((n) => [n, 'full', 1]));
    return { config, tasks };
  }
  const state = async (runId: string) =>
    (await dst.query(`SELECT table_name, sync_status, rows_copied::int, error_message, xmin::text AS xmin FROM _migration_state
      WHERE workflow_id = 'small-loads' AND run_id = $1 ORDER BY table_name`, [runId])).rows;
  const oids = async () => (await dst.query(`SELECT relname, oid::int FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY relname`)).rows;

  it('fails only the table that fails, naming it; the others commit together with exact counts', async () => {
    const { config, tasks } = await plan('r1');
    const done: SyncSmallTablesResult = await small({ config, tasks, syncWorkflowId: 'small-loads', syncRunId: 'r1' });
    assert.deepEqual(done.tables.map((t) => [t.table, t.status, t.inserted]), [
      ['public.a1', 'completed', 2],
      ['public.a2', 'completed', 3],
      ['public.bad', 'failed', 0],
      ['public.a3', 'completed', 4],
      ['public.a4', 'completed', 5],
    ]);
    assert.match(done.tables[2].error ?? '', /^partition 1\/1: sync_partition public\.bad partition 1\/1: .*column "v": invalid input syntax for type integer/);
    assert.deepEqual(done.again, [], 'a value the target refuses is not retried');
    for (const [i, t] of GOOD.entries()) assert.equal((await dst.query(`SELECT count(*)::int AS n FROM ${t}`)).rows[0].n, i + 2, t);
    assert.equal((await dst.query(`SELECT to_regclass('public.bad') AS t`)).rows[0].t, null, 'the failed table left nothing');
    const rows = await state('r1');
    assert.deepEqual(rows.map((r) => [r.table_name, r.sync_status, r.rows_copied]), [
      ['a1', 'completed', 2],
      ['a2', 'completed', 3],
      ['a3', 'completed', 4],
      ['a4', 'completed', 5],
      ['bad', 'failed', 0],
    ]);
    assert.match(rows[4].error_message, /public\.bad.*column "v"/);
    // One transaction marked every loaded table completed (table by table, each would have its own).
    assert.equal(new Set(rows.filter((r) => r.sync_status === 'completed').map((r) => r.xmin)).size, 1);
    // Tables created under their own names, keyed: nothing left to swap, no load table behind.
    const keys = await dst.query(`SELECT conrelid::regclass::text AS t, conname FROM pg_constraint WHERE contype = 'p' AND connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE '\\_%' ORDER BY 1`);
    assert.deepEqual(keys.rows, GOOD.map((t) => ({ t, conname: `${t}_pkey` })));
    // Analyzed (together, once for the group), as a table loaded on its own is.
    const analyzed = await dst.query(`SELECT relname, reltuples::int AS n FROM pg_class WHERE relname = ANY($1) ORDER BY relname`, [GOOD]);
    assert.deepEqual(analyzed.rows, GOOD.map((t, i) => ({ relname: t, n: i + 2 })));
  });

  it('retried, loads only what the earlier attempt did not commit: no table loaded twice, every row once', async () => {
    const before = await oids();
    await src.query(`UPDATE bad SET v = '20' WHERE id = 2`);
    const { config, tasks } = await plan('r1');
    const done: SyncSmallTablesResult = await small({ config, tasks, syncWorkflowId: 'small-loads', syncRunId: 'r1' });
    assert.deepEqual(done.tables.map((t) => [t.table, t.status, t.rowsCopied]), [
      ['public.a1', 'completed', 2],
      ['public.a2', 'completed', 3],
      ['public.bad', 'completed', 2],
      ['public.a3', 'completed', 4],
      ['public.a4', 'completed', 5],
    ]);
    // The committed tables were not created again; bad is new.
    const after = await oids();
    assert.deepEqual(after.filter((r) => r.relname !== 'bad'), before);
    assert.deepEqual((await dst.query('SELECT id, v FROM bad ORDER BY id')).rows, [{ id: 1, v: 10 }, { id: 2, v: 20 }]);
    assert.deepEqual((await state('r1')).map((r) => [r.table_name, r.sync_status, r.rows_copied, r.error_message]), [
      ['a1', 'completed', 2, null],
      ['a2', 'completed', 3, null],
      ['a3', 'completed', 4, null],
      ['a4', 'completed', 5, null],
      ['bad', 'completed', 2, null],
    ]);
  });

  it('a later run replaces existing targets as a swap does, keyed under their own names', async () => {
    await src.query(`UPDATE a1 SET v = 'changed' WHERE id = 1; DELETE FROM a2 WHERE id = 3; INSERT INTO a4 VALUES (100, 'new')`);
    const { config, tasks } = await plan('r2');
    const done: SyncSmallTablesResult = await small({ config, tasks, syncWorkflowId: 'small-loads', syncRunId: 'r2' });
    assert.deepEqual(done.tables.map((t) => [t.table, t.status, t.rowsCopied]), [
      ['public.a1', 'completed', 2],
      ['public.a2', 'completed', 2],
      ['public.bad', 'completed', 2],
      ['public.a3', 'completed', 4],
      ['public.a4', 'completed', 6],
    ]);
    assert.equal((await dst.query(`SELECT v FROM a1 WHERE id = 1`)).rows[0].v, 'changed');
    assert.equal((await dst.query(`SELECT count(*)::int AS n FROM a2`)).rows[0].n, 2);
    assert.equal((await dst.query(`SELECT count(*)::int AS n FROM a4`)).rows[0].n, 6);
    const keys = await dst.query(`SELECT conrelid::regclass::text AS t, conname FROM pg_constraint WHERE contype = 'p' AND connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE '\\_%' ORDER BY 1`);
    assert.deepEqual(keys.rows, ['a1', 'a2', 'a3', 'a4', 'bad'].map((t) => ({ t, conname: `${t}_pkey` })));
    assert.deepEqual((await dst.query(`SELECT relname FROM pg_class WHERE relname LIKE '\\_ts\\_%'`)).rows, [], 'no load table left');
  });

  it('a table a newer sync claimed meanwhile fails alone (Superseded); the rest of the group commits', async () => {
    const { config, tasks } = await plan('r3');
    // Another run claims a3 after r3 planned it.
    await dst.query(claimGenerationSql(config.target.stateSchema, { schema: 'public', name: 'a3' }, { workflowId: 'newer', runId: 'n1' }));
    const done = await small({ config, tasks, syncWorkflowId: 'small-loads', syncRunId: 'r3' });
    assert.deepEqual(done.tables.map((t) => [t.table, t.status]), [
      ['public.a1', 'completed'],
      ['public.a2', 'completed'],
      ['public.bad', 'completed'],
      ['public.a3', 'failed'],
      ['public.a4', 'completed'],
    ]);
    assert.match(done.tables[3].error ?? '', /public\.a3 was claimed by a newer sync, newer/);
    assert.deepEqual(done.again, []);
    assert.deepEqual((await state('r3')).map((r) => [r.table_name, r.sync_status]), [
      ['a1', 'completed'],
      ['a2', 'completed'],
      ['a3', 'failed'],
      ['a4', 'completed'],
      ['bad', 'completed'],
    ]);
  });

  it('a table whose source read fails mid-group fails alone; the tables after it still load', async () => {
    const { config, tasks } = await plan('r4');
    // Gone from the source after planning: its COPY fails once the target's COPY has begun.
    await src.query('ALTER TABLE a3 RENAME TO a3_gone');
    try {
      const done = await small({ config, tasks, syncWorkflowId: 'small-loads', syncRunId: 'r4' });
      assert.deepEqual(done.tables.map((t) => [t.table, t.status]), [
        ['public.a1', 'completed'],
        ['public.a2', 'completed'],
        ['public.bad', 'completed'],
        ['public.a3', 'failed'],
        ['public.a4', 'completed'],
      ]);
      assert.match(done.tables[3].error ?? '', /sync_partition public\.a3 partition 1\/1: .*a3/);
      assert.equal((await dst.query(`SELECT count(*)::int AS n FROM a4`)).rows[0].n, 6);
    } finally {
      await src.query('ALTER TABLE a3_gone RENAME TO a3');
    }
  });

  it('a group of more than 25 tables commits in transactions of at most 25, cut evenly, every table once', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `m${String(i + 1).padStart(2, '0')}`);
    for (const [i, t] of names.entries()) await src.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v text); INSERT INTO ${t} SELECT g, 'v' FROM generate_series(1, ${i + 1}) g`);
    try {
      const raw = { source: { connection: 'src', schema: 'public' }, target: { connection: 'dst' }, mode: 'full', tables: ['m*'] };
      const { config } = (await env.run(acts.initializeState, { config: raw })) as InitializeStateResult;
      const found = (await env.run(acts.discoverTables, { config, syncWorkflowId: 'small-loads', syncRunId: 'r6', withTasks: true })) as DiscoverTablesResult;
      const tasks = found.tasks ?? [];
      assert.equal(tasks.length, 30);
      const done = await small({ config, tasks, syncWorkflowId: 'small-loads', syncRunId: 'r6' });
      assert.deepEqual(done.tables.map((t) => [t.table, t.status, t.inserted]), names.map((t, i) => [`public.${t}`, 'completed', i + 1]));
      for (const [i, t] of names.entries()) {
        assert.deepEqual((await dst.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM ${t}`)).rows[0], { n: i + 1, ids: i + 1 }, t);
      }
      // Two transactions of 15 marked them completed.
      const rows = await state('r6');
      assert.deepEqual(rows.map((r) => [r.table_name, r.sync_status, r.rows_copied]), names.map((t, i) => [t, 'completed', i + 1]));
      const byXact = new Map<string, string[]>();
      for (const r of rows) byXact.set(r.xmin, [...(byXact.get(r.xmin) ?? []), r.table_name]);
      assert.deepEqual([...byXact.values()].sort(), [names.slice(0, 15), names.slice(15)]);
    } finally {
      await src.query(`DROP TABLE ${names.join(', ')}`);
    }
  });

  it('a shared step that fails (the group ANALYZE) commits nothing; each table then loads once on its own', async () => {
    const { config, tasks } = await plan('r5');
    const before = await oids();
    const counts = { a1: 2, a2: 2, bad: 2, a3: 4, a4: 6 };
    for (const [t, n] of Object.entries(counts)) assert.equal((await dst.query(`SELECT count(*)::int AS n FROM ${t}`)).rows[0].n, n, t);
    fault.analyze = true;
    let done: SyncSmallTablesResult;
    try {
      done = await small({ config, tasks, syncWorkflowId: 'small-loads', syncRunId: 'r5' });
    } finally {
      fault.analyze = false;
    }
    // Every table failed with the group's error (SmallGroupFailed, which a retry may fix), and is named in `again`.
    assert.deepEqual(done.tables.map((t) => [t.table, t.status, t.rowsCopied]), tasks.map((t) => [`public.${t.table.source.name}`, 'failed', 0]));
    assert.deepEqual(done.again, [0, 1, 2, 3, 4]);
    for (const t of done.tables) assert.match(t.error ?? '', /^partition 1\/1: ANALYZE of 5 small tables loaded together: injected fault: ANALYZE refused/);
    // The group's transaction rolled back: the targets are the ones before (same relations, same rows), no load table behind.
    assert.deepEqual(await oids(), before);
    assert.deepEqual((await dst.query(`SELECT relname FROM pg_class WHERE relname LIKE '\\_ts\\_%'`)).rows, []);
    assert.deepEqual((await state('r5')).map((r) => [r.table_name, r.sync_status]), ['a1', 'a2', 'a3', 'a4', 'bad'].map((t) => [t, 'failed']));
    // Each table again as its own workflow runs it (one whole-table load): every table loaded, every row once.
    for (const task of tasks) {
      const range = task.partitions[0];
      const chunking = { min: task.keyMin ?? null, max: task.keyMax ?? null, estimatedRows: task.estimatedRows };
      const r = (await env.run(acts.syncPartition, { config, table: task.table, range, chunking, wholeLoad: true, syncWorkflowId: 'small-loads', syncRunId: 'r5' })) as { rowsCopied: number };
      assert.equal(r.rowsCopied, counts[task.table.source.name as keyof typeof counts], task.table.source.name);
    }
    for (const [t, n] of Object.entries(counts)) {
      assert.deepEqual((await dst.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM ${t}`)).rows[0], { n, ids: n }, t);
    }
    assert.deepEqual((await state('r5')).map((r) => [r.table_name, r.sync_status, r.rows_copied]), ['a1', 'a2', 'a3', 'a4', 'bad'].map((t) => [t, 'completed', counts[t as keyof typeof counts]]));
  });
});
