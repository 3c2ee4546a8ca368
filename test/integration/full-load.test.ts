import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, stagingTables, tableRows, testDb } from '../helpers/pg';
import { killChunkInFlight } from '../helpers/guarantees';
import { syncOk } from '../helpers/run';

const SRC = testDb('tablesync_it_full_src');
const DST = testDb('tablesync_it_full_dst');
const MY = testDb('tablesync_it_full_my');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST), my: mysqlUrl(MY) };
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000 } };

async function loadTables(pool: Pool): Promise<string[]> {
  const r = await pool.query(`SELECT relname FROM pg_class WHERE relname LIKE '\\_ts\\_load\\_%'`);
  return r.rows.map((x) => x.relname);
}

describe('full load (mode auto and full)', () => {
  const { src, dst, my } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { my: MY } });

  before(async () => {
    await src.query(`CREATE SCHEMA sales`);
    await src.query(`CREATE TABLE sales."Orders" (id bigint PRIMARY KEY, customer text NOT NULL, total numeric(12,2),
                       placed timestamptz, tags text[], doc jsonb)`);
    await src.query(`INSERT INTO sales."Orders" SELECT g, 'c' || g, g * 0.5, timestamptz '2026-01-01' + g * interval '1 minute',
                       ARRAY['a', g::text], jsonb_build_object('n', g) FROM generate_series(1, 20000) g`);
    await src.query('ANALYZE sales."Orders"');
  });

  const config = {
    source: { connection: 'src' },
    target: { connection: 'dst' },
    tables: ['sales.Orders'],
    partitionThreshold: 10_000,
    rowsPerPartition: 5_000,
    ...fast,
  };

  it('creates a missing target from the source definition, loads every partition and builds the key', async () => {
    const summary = await syncOk(connections, config);
    const [t] = summary.tables;
    assert.deepEqual([t.status, t.mode, t.partitions, t.inserted], ['completed', 'full', 4, 20_000]);
    assert.match(summary.message, /^Full load complete: 1 table synced/);
    const cols = await dst.query(
      `SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull FROM pg_attribute
        WHERE attrelid = 'sales."Orders"'::regclass AND attnum > 0 ORDER BY attnum`,
    );
    assert.deepEqual(
      cols.rows.map((r) => [r.attname, r.type, r.attnotnull]),
      [
        ['id', 'bigint', true],
        ['customer', 'text', true],
        ['total', 'numeric(12,2)', false],
        ['placed', 'timestamp with time zone', false],
        ['tags', 'text[]', false],
        ['doc', 'jsonb', false],
      ],
    );
    const pk = await dst.query(`SELECT pg_get_constraintdef(oid) AS def, conname FROM pg_constraint
                                 WHERE conrelid = 'sales."Orders"'::regclass AND contype = 'p'`);
    assert.deepEqual(pk.rows, [{ def: 'PRIMARY KEY (id)', conname: 'Orders_pkey' }]);
    assert.deepEqual(await tableRows(dst, 'sales."Orders"'), await tableRows(src, 'sales."Orders"'));
    assert.deepEqual(await loadTables(dst), []);

    const again = await syncOk(connections, config);
    assert.equal(again.tables[0].mode, 'compare', 'a loaded table syncs incrementally from then on');
    assert.deepEqual([again.inserted, again.updated], [0, 0]);
  });

  it('reloads with mode: full by swapping in a new table; readers never see it empty or half-loaded', async () => {
    await src.query(`INSERT INTO sales."Orders" SELECT g, 'c' || g, 1, NULL, NULL, NULL FROM generate_series(20001, 25000) g`);
    await src.query('ANALYZE sales."Orders"');
    const seen = new Set<number>();
    let reading = true;
    const reader = (async () => {
      while (reading) {
        const r = await dst.query('SELECT count(*)::int AS n FROM sales."Orders"');
        seen.add(r.rows[0].n);
      }
    })();
    try {
      const summary = await syncOk(connections, { ...config, mode: 'full' });
      assert.deepEqual([summary.tables[0].mode, summary.tables[0].inserted], ['full', 25_000]);
    } finally {
      reading = false;
      await reader;
    }
    const final = await dst.query('SELECT count(*)::int AS n FROM sales."Orders"');
    seen.add(final.rows[0].n);
    assert.deepEqual([...seen].sort(), [20_000, 25_000]);
    assert.deepEqual(await tableRows(dst, 'sales."Orders"'), await tableRows(src, 'sales."Orders"'));
    assert.deepEqual(await loadTables(dst), []);
  });

  it('drops a failed load and leaves the existing target untouched', async () => {
    await my.query('CREATE TABLE flags (id int PRIMARY KEY, active tinyint(1))');
    await my.query('INSERT INTO flags VALUES (1, 1), (2, 0)');
    const myConfig = { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: ['flags'], ...fast };
    await syncOk(connections, myConfig);
    await my.query('INSERT INTO flags VALUES (3, 2)');
    const failed = await syncOk(connections, { ...myConfig, mode: 'full' });
    const [t] = failed.tables;
    assert.equal(t.status, 'failed');
    assert.match(t.error ?? '', /column "active": \(value withheld\) is not a boolean \(0 or 1\)/);
    assert.equal(failed.tablesFailed, 1);
    const rows = await dst.query('SELECT id, active FROM public.flags ORDER BY id');
    assert.deepEqual(rows.rows, [
      { id: 1, active: true },
      { id: 2, active: false },
    ]);
    assert.deepEqual(await loadTables(dst), []);
    assert.deepEqual(await stagingTables(dst), []);
    const state = await dst.query(`SELECT sync_status, retry_count FROM _migration_state WHERE workflow_id = $1`, [failed.workflowId]);
    assert.deepEqual(state.rows, [{ sync_status: 'failed', retry_count: 0 }], 'not retried: the same row fails every time');
  });

  it('resumes a failed partition after its last committed chunk instead of starting over', async () => {
    await src.query(`CREATE TABLE resume (id int PRIMARY KEY, v text)`);
    await src.query(`INSERT INTO resume SELECT g, repeat('v', 20) FROM generate_series(1, 100000) g`);
    await src.query('ANALYZE resume');
    let terminated = 0;
    const summary = await syncOk(
      connections,
      { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.resume'], batchSize: 10_000, ...fast },
      {
        during: async ({ workflowId }) => {
          terminated = await killChunkInFlight(dst, DST, workflowId);
        },
      },
    );
    assert.equal(terminated, 1);
    const [t] = summary.tables;
    assert.deepEqual([t.status, t.mode, t.inserted, t.rowsCopied], ['completed', 'full', 100_000, 100_000]);
    const state = await dst.query(
      `SELECT sync_status, retry_count, chunks_done, rows_inserted FROM _migration_state WHERE workflow_id = $1`,
      [summary.workflowId],
    );
    // A restart from chunk 1 would have loaded committed chunks twice and the key build would have failed.
    assert.deepEqual(state.rows, [{ sync_status: 'completed', retry_count: 1, chunks_done: 10, rows_inserted: '100000' }]);
    assert.deepEqual(await tableRows(dst, 'public.resume'), await tableRows(src, 'public.resume'));
  });
});
