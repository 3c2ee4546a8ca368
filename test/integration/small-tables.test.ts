import assert from 'node:assert/strict';
import { useDatabases } from '../helpers/databases';
import { stateRows } from '../helpers/guarantees';
import { activityRuns, childWorkflowIds, fetchHistory } from '../helpers/history';
import { pgUrl, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';
import { temporal } from '../helpers/temporal';

// More small tables than maxParallelTransfers: they run in syncSmallTables
// groups, not a workflow each. A table of a group that fails fails alone; the
// others land with exact counts, and every table keeps its _migration_state row.
const SRC = testDb('tablesync_it_small_src');
const DST = testDb('tablesync_it_small_dst');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };
const TABLES = Array.from({ length: 12 }, (_, i) => `t${String(i + 1).padStart(2, '0')}`);
const rowsOf = (i: number) => i + 1;

describe('many small tables: groups in one activity (real PostgreSQL, Temporal)', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });
  before(async () => {
    for (const [i, t] of TABLES.entries()) {
      await src.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v text)`);
      await src.query(`INSERT INTO ${t} SELECT g, 'v' || g FROM generate_series(1, ${rowsOf(i)}) g`);
    }
  });
  // 12 small tables, 2 slots: two groups of 6.
  const config = { source: { connection: 'src', schema: 'public' }, target: { connection: 'dst' }, tables: ['public.t*'], maxParallelTransfers: 2 };

  async function run(prefix: string) {
    const { workflowId, ...summary } = await syncOk(connections, config, prefix);
    return { summary, workflowId, client: (await temporal()).client };
  }

  it('loads every table through two group activities, no workflow per table', async () => {
    const { summary, workflowId, client } = await run('small-full');
    assert.equal(summary.tablesSynced, 12);
    assert.equal(summary.rowsCopied, TABLES.reduce((n, _, i) => n + rowsOf(i), 0));
    assert.deepEqual(
      summary.tables.map((t) => [t.table, t.status, t.mode, t.inserted]),
      TABLES.map((t, i) => [`public.${t}`, 'completed', 'full', rowsOf(i)]),
    );
    for (const [i, t] of TABLES.entries()) {
      assert.equal((await dst.query(`SELECT count(*)::int AS n FROM public.${t}`)).rows[0].n, rowsOf(i), t);
    }
    const history = await fetchHistory(client, workflowId);
    assert.deepEqual(childWorkflowIds(history), []);
    const groups = activityRuns(history).filter((r) => r.type === 'syncSmallTables');
    assert.deepEqual(groups.map((g) => g.outcome), ['completed', 'completed']);
    const state = await stateRows(dst, workflowId);
    assert.deepEqual(state.map((r) => [r.table_name, r.sync_status, r.rows_copied]), TABLES.map((t, i) => [t, 'completed', rowsOf(i)]));
  });

  it('fails only the table whose rows the target refuses; the rest of its group syncs with exact counts', async () => {
    // t05's target refuses the new source row (a check constraint): a data error no retry fixes.
    await dst.query(`ALTER TABLE t05 ADD CONSTRAINT no_bad CHECK (v <> 'bad')`);
    for (const t of TABLES) await src.query(`INSERT INTO ${t} VALUES (1000, $1)`, [t === 't05' ? 'bad' : 'new']);
    await src.query(`UPDATE t02 SET v = 'changed' WHERE id = 1`);
    const { summary, workflowId } = await run('small-bad');
    const failed = summary.tables.filter((t) => t.status === 'failed');
    assert.deepEqual(failed.map((t) => t.table), ['public.t05']);
    assert.match(failed[0].error ?? '', /partition 1\/1: .*no_bad/);
    assert.deepEqual([failed[0].inserted, failed[0].updated, failed[0].rowsCopied], [0, 0, 0]);
    assert.equal(summary.tablesSynced, 11);
    assert.equal(summary.tablesFailed, 1);
    const others = summary.tables.filter((t) => t.status === 'completed');
    assert.deepEqual(
      others.map((t) => [t.table, t.mode, t.rowsCopied, t.inserted, t.updated, t.unchanged]),
      TABLES.flatMap((t, i) => (t === 't05' ? [] : [[`public.${t}`, 'compare', rowsOf(i) + 1, 1, t === 't02' ? 1 : 0, rowsOf(i) - (t === 't02' ? 1 : 0)]])),
    );
    assert.equal(summary.inserted, 11);
    assert.equal(summary.updated, 1);
    assert.deepEqual((await dst.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE id = 1000)::int AS bad FROM t05`)).rows[0], { n: 5, bad: 0 });
    assert.equal((await dst.query(`SELECT v FROM t02 WHERE id = 1`)).rows[0].v, 'changed');
    const state = await stateRows(dst, workflowId);
    assert.deepEqual(
      state.map((r) => [r.table_name, r.sync_status]),
      TABLES.map((t) => [t, t === 't05' ? 'failed' : 'completed']),
    );
    assert.match(state.find((r) => r.table_name === 't05')?.error_message ?? '', /no_bad/);
  });
});
