import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { startSync } from '../../client/start';
import type { SyncSummary } from '../../lib/types';
import { useDatabases } from '../helpers/databases';
import { pgUrl, testDb } from '../helpers/pg';
import { FAST_RETRY } from '../helpers/run';
import { testWorker } from '../helpers/temporal';

// What the Temporal Web UI shows of a sync besides "syncTableWorkflow": each
// run's and each child's summary (user metadata set at start) and current
// details (the __temporal_workflow_metadata query), read here the way the UI
// reads them, through describe() and the query.
const SRC = testDb('tablesync_it_labels_src');
const DST = testDb('tablesync_it_labels_dst');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };

async function currentDetails(client: Client, workflowId: string): Promise<string> {
  const meta = await client.workflow.getHandle(workflowId).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return meta.currentDetails ?? '';
}

describe('Web UI labels: summaries and current details of a sync and its children (Temporal)', function () {
  this.timeout(120_000);
  const { src } = useDatabases({ pg: { src: SRC, dst: DST } });

  it('the run says what it syncs and ends with its message; each child its table and mode, then its counts', async () => {
    await src.query('CREATE TABLE orders (id int PRIMARY KEY, note text)');
    await src.query(`INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 30) g`);
    await src.query('CREATE TABLE "Customers" (id int PRIMARY KEY, name text)');
    await src.query(`INSERT INTO "Customers" VALUES (1, 'a')`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst', naming: 'snake_case' as const }, tables: ['orders', 'Customers'], ...FAST_RETRY };
    const { env, taskQueue, worker, close } = await testWorker(connections, 'labels');
    try {
      await worker.runUntil(async () => {
        const handle = await startSync(config, { client: env.client, taskQueue, workflowId: `labels-${process.pid}` });
        const summary = (await handle.result()) as SyncSummary;
        assert.equal(summary.tablesSynced, 2);
        const run = await handle.describe();
        assert.equal(await run.staticSummary(), 'sync src → dst: orders, Customers (mode auto)');
        assert.equal(await currentDetails(env.client, handle.workflowId), summary.message);

        const orders = env.client.workflow.getHandle(`${handle.workflowId}/public.orders`);
        assert.equal(await (await orders.describe()).staticSummary(), 'public.orders · full');
        assert.equal(await currentDetails(env.client, orders.workflowId), 'public.orders · full: completed: full load, 30 rows');
        const customers = env.client.workflow.getHandle(`${handle.workflowId}/public.Customers`);
        assert.equal(await (await customers.describe()).staticSummary(), 'public.Customers → public.customers · full');

        // The second run compares in place: the children say so, with what changed.
        await src.query(`UPDATE orders SET note = 'changed' WHERE id <= 2`);
        const again = await startSync(config, { client: env.client, taskQueue, workflowId: `labels-${process.pid}-2` });
        await again.result();
        const compared = env.client.workflow.getHandle(`${again.workflowId}/public.orders`);
        assert.equal(await (await compared.describe()).staticSummary(), 'public.orders · compare');
        assert.equal(await currentDetails(env.client, compared.workflowId), 'public.orders · compare: completed: 0 inserted, 2 updated, 28 unchanged');
      });
    } finally {
      await close();
    }
  });
});
