import assert from 'node:assert/strict';
import type { TableStatus } from '../../activities';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { FAST_RETRY, runWorkflow, syncOk } from '../helpers/run';

// Every run that tried a table leaves its outcome in the table's state, so
// `status --config` shows the last run, not the last one that got as far as
// copying rows: a run refused at planning (TypeChange, SchemaChange,
// LossyColumn ...) writes no partition row, and was shown as if it never ran.
const SRC = testDb('tablesync_it_lastrun_src');
const DST = testDb('tablesync_it_lastrun_dst');
const MY = testDb('tablesync_it_lastrun_my');
const pg = { src: pgUrl(SRC), dst: pgUrl(DST) };
const my = { my: mysqlUrl(MY), dst: pgUrl(DST) };

async function status(connections: Record<string, string>, config: object): Promise<TableStatus[]> {
  const { outcome } = await runWorkflow<TableStatus[]>(connections, 'tableStatusWorkflow', { config }, 'lastrun-status');
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

describe('status --config shows the last run that tried each table (real PostgreSQL, MariaDB, Temporal)', () => {
  const { src, dst, mdb } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { mdb: MY } }, { perTest: true });

  it('PostgreSQL compare: a run refused at planning (TypeChange) is the last run, failed, with its error; the next good run replaces it', async () => {
    await src.query(`CREATE TABLE orders (id int PRIMARY KEY, qty int)`);
    await src.query(`CREATE TABLE other (id int PRIMARY KEY)`);
    await src.query(`INSERT INTO orders SELECT g, g FROM generate_series(1, 50) g; INSERT INTO other VALUES (1)`);
    const config = { ...FAST_RETRY, source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['orders', 'other'] };
    const good = await syncOk(pg, config, 'lastrun');
    await src.query(`ALTER TABLE orders ALTER COLUMN qty TYPE text USING 'q' || qty`);
    const refused = await syncOk(pg, config, 'lastrun');
    const failedTable = refused.tables.find((t) => t.table === 'public.orders')!;
    assert.equal(failedTable.status, 'failed');
    assert.match(failedTable.error ?? '', /changed type/);

    const [orders, other] = await status(pg, config);
    assert.equal(orders.table, 'public.orders');
    assert.ok(orders.lastRun, 'a last run is shown');
    assert.equal(orders.lastRun.workflowId, refused.workflowId, `the refused run, not the good one (${good.workflowId})`);
    assert.equal(orders.lastRun.status, 'failed');
    assert.match(orders.lastRun.error ?? '', /TypeChange.*changed type/);
    assert.equal(orders.lastRun.rowsCopied, 0);
    assert.deepEqual([other.lastRun?.workflowId, other.lastRun?.status], [refused.workflowId, 'completed'], 'the other table ran in the same run');

    // Refused again: one row per run, each run its own.
    const again = await syncOk(pg, config, 'lastrun');
    assert.equal((await status(pg, config))[0].lastRun?.workflowId, again.workflowId);
    await src.query(`ALTER TABLE orders ALTER COLUMN qty TYPE int USING substr(qty, 2)::int`);
    const fixed = await syncOk(pg, config, 'lastrun');
    const [after] = await status(pg, config);
    assert.deepEqual([after.lastRun?.workflowId, after.lastRun?.status, after.lastRun?.error], [fixed.workflowId, 'completed', null]);
  });

  it('MariaDB cursor: a run refused at planning (SchemaChange) is shown as the last run', async () => {
    await mdb.query(`CREATE TABLE pedidos (id int PRIMARY KEY, v varchar(10), updated_at datetime NOT NULL)`);
    await mdb.query(`INSERT INTO pedidos VALUES (1, 'a', '2026-01-01 10:00:00')`);
    const config = {
      ...FAST_RETRY,
      source: { connection: 'my' },
      target: { connection: 'dst', schema: 'public' },
      schemaChanges: 'fail',
      tables: [{ table: 'pedidos', mode: 'cursor', cursor: 'updated_at' }],
    };
    await syncOk(my, config, 'lastrun');
    await mdb.query(`ALTER TABLE pedidos ADD COLUMN extra int`);
    const refused = await syncOk(my, config, 'lastrun');
    assert.equal(refused.tables[0].status, 'failed');
    const [pedidos] = await status(my, config);
    assert.deepEqual([pedidos.lastRun?.workflowId, pedidos.lastRun?.status], [refused.workflowId, 'failed']);
    assert.match(pedidos.lastRun?.error ?? '', /SchemaChange.*"extra"/);
    assert.equal(pedidos.cursorValue, '2026-01-01 10:00:00', 'the saved cursor is untouched');
  });
});
