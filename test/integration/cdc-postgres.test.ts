import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import type { CdcProgress, CdcResult } from '../../workflows/cdc';
import { useDatabases } from '../helpers/databases';
import { duplicateKeys, waitFor } from '../helpers/guarantees';
import { freshCdcDatabase, PG_CDC_BASE, pgUrl, testDb } from '../helpers/pg';
import { runWorkflow, type RunningWorkflow } from '../helpers/run';

// cdc mode against a real PostgreSQL with wal_level=logical (the second
// cluster scripts/services.sh starts, TABLESYNC_TEST_PG_CDC) into the usual target.
const SRC = testDb('tablesync_it_cdc_src');
const DST = testDb('tablesync_it_cdc_dst');
const connections = { src: `${PG_CDC_BASE}/${SRC}`, dst: pgUrl(DST) };
const FAST = { timeouts: { heartbeatSeconds: 3 }, retry: { maximumAttempts: 5, initialIntervalMs: 200, maximumIntervalMs: 500 } };

async function rows(pool: Pool, sql: string): Promise<string[]> {
  return (await pool.query(sql)).rows.map((r) => JSON.stringify(r));
}

/** Until the target's rows (by `sql`) are the source's. */
async function caughtUp(src: Pool, dst: Pool, srcSql: string, dstSql = srcSql, timeoutMs = 60_000): Promise<void> {
  let last = '';
  await waitFor(
    'the target to catch up with the source',
    async () => {
      const [a, b] = [await rows(src, srcSql), await rows(dst, dstSql)];
      last = `source ${a.length} rows, target ${b.length}; first difference: ${a.find((x, i) => x !== b[i]) ?? b.find((x, i) => x !== a[i])}`;
      return a.length === b.length && a.every((x, i) => x === b[i]);
    },
    timeoutMs,
  ).catch((err) => {
    throw new Error(`${(err as Error).message} (${last})`);
  });
}

const progressOf = (run: RunningWorkflow) => run.client.workflow.getHandle(run.workflowId).query<CdcProgress>('cdcProgress');
const stop = (run: RunningWorkflow, dropSlot = true) => run.client.workflow.getHandle(run.workflowId).signal('cdcStop', { dropSlot });

async function slots(src: Pool): Promise<string[]> {
  return (await src.query(`SELECT slot_name FROM pg_replication_slots WHERE database = current_database()`)).rows.map((r) => r.slot_name);
}

describe('cdc mode: PostgreSQL logical replication (real servers)', function () {
  this.timeout(180_000);
  const { dst } = useDatabases({ pg: { dst: DST } }, { perTest: true });
  let src: Pool;
  beforeEach(async () => {
    src = await freshCdcDatabase(SRC);
  });
  afterEach(async () => {
    await src.end();
  });

  it('snapshot under concurrent writes, then every change kind, in commit order, nothing lost or doubled', async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, n int, doc text)`);
    // Stored out of line, uncompressed: an update that leaves doc alone sends it as 'unchanged TOAST'.
    await src.query(`ALTER TABLE items ALTER doc SET STORAGE EXTERNAL`);
    await src.query(`CREATE TABLE ledger (id int PRIMARY KEY, item int, amount numeric(12,2))`);
    await src.query(`INSERT INTO items SELECT g, 'item ' || g, g, NULL FROM generate_series(1, 20000) g`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['items', 'ledger'], mode: 'cdc', ...FAST };
    // Writes that keep going while the slot is created and the snapshot read: each lands in the snapshot or the stream, once.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        const k = 20000 + ++written;
        await src.query(`BEGIN; INSERT INTO items VALUES (${k}, 'late ${k}', ${k}); UPDATE items SET n = n + 1 WHERE id = ${(written % 20000) + 1}; COMMIT`);
      }
    })();
    const big = 'x'.repeat(10) + Array.from({ length: 4000 }, (_, i) => (i * 7919).toString(36)).join('');
    const run = await runWorkflow<CdcResult>(connections, 'cdcWorkflow', { config, waitMs: 1_000 }, {
      prefix: 'cdc',
      during: async (w) => {
        await waitFor('the snapshot', async () => (await progressOf(w)).phase === 'streaming');
        writing = false;
        await writer;
        await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
        // Every change kind.
        await src.query(`UPDATE items SET doc = $1 WHERE id <= 3`, [big]); // a TOASTed value
        await src.query(`UPDATE items SET name = 'renamed' WHERE id <= 3`); // doc unchanged: not sent, kept
        await src.query(`UPDATE items SET id = id + 1000000 WHERE id = 2`); // a key change (doc unchanged)
        await src.query(`DELETE FROM items WHERE id BETWEEN 10 AND 19`);
        await src.query(`INSERT INTO items VALUES (0, 'zero', NULL, 'small')`);
        // One transaction over both tables: applied together, in order (an insert then its update then its delete).
        await src.query(`BEGIN; INSERT INTO ledger VALUES (1, 1, 9.99), (2, 1, 0.01); UPDATE items SET n = -1 WHERE id = 1;
          UPDATE ledger SET amount = 100.50 WHERE id = 1; DELETE FROM ledger WHERE id = 2; INSERT INTO items VALUES (5000000, 'in txn', 5, NULL); COMMIT`);
        await caughtUp(src, dst, 'SELECT * FROM items ORDER BY id');
        await caughtUp(src, dst, 'SELECT * FROM ledger ORDER BY id');
        const p = await progressOf(w);
        assert.ok(p.position, 'a position is reported');
        assert.ok(p.lagBytes !== null && p.lagBytes >= 0);
        await stop(w);
      },
    });
    assert.ok(run.outcome.ok, run.outcome.ok ? '' : run.outcome.error.message);
    const result = run.outcome.value;
    assert.equal(result.slotKept, null);
    assert.deepEqual(await slots(src), [], 'stop --drop-slot removes the slot');
    assert.ok(written > 0, 'the writer ran during the snapshot');
    assert.equal(await duplicateKeys(dst, 'public.items', ['id']), 0);
    const toasted = await dst.query(`SELECT id, name, length(doc) AS len FROM items WHERE id IN (1, 3, 1000002) ORDER BY id`);
    assert.deepEqual(toasted.rows, [
      { id: 1, name: 'renamed', len: big.length },
      { id: 3, name: 'renamed', len: big.length },
      { id: 1000002, name: 'renamed', len: big.length },
    ], 'an unchanged TOAST value keeps the target value, never NULL');
    const state = await dst.query(`SELECT target_table, mode, cursor_value FROM _tablesync_tables ORDER BY 1`);
    assert.deepEqual(state.rows.map((r) => [r.target_table, r.mode]), [['items', 'cdc'], ['ledger', 'cdc']]);
    assert.match(state.rows[0].cursor_value, /^[0-9A-F]+\/[0-9A-F]+$/);
  });
});
