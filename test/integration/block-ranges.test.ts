import assert from 'node:assert/strict';
import { useDatabases } from '../helpers/databases';
import { killChunkInFlight, stateRows, waitFor } from '../helpers/guarantees';
import { pgUrl, tableRows, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';

// Full loads from PostgreSQL read storage-block ranges (ctid) under one
// exported snapshot: every row exactly once, however rows move between blocks
// while the load reads.

const SRC = testDb('tablesync_it_blocks_src');
const DST = testDb('tablesync_it_blocks_dst');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000 } };
const ROWS = 30_000;
// Several partitions of several chunks each: block ranges read in parallel, committed chunk by chunk.
const split = { batchSize: 2_000, partitionThreshold: 10_000, rowsPerPartition: 6_000, maxPartitionsPerTable: 4, ...fast };

describe('full loads by storage-block ranges (PostgreSQL source)', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });

  before(async () => {
    // uuids in no order on disk, and a composite key with ties on its first column.
    await src.query(`CREATE TABLE by_uuid (id uuid PRIMARY KEY, n int NOT NULL, v text)`);
    await src.query(`INSERT INTO by_uuid SELECT md5(g::text)::uuid, g, repeat('u', 30) FROM generate_series(1, ${ROWS}) g`);
    await src.query(`CREATE TABLE by_pair (a int, b text, v text, PRIMARY KEY (a, b))`);
    await src.query(`INSERT INTO by_pair SELECT g % 7, 'k' || g, repeat('p', 30) FROM generate_series(1, ${ROWS}) g`);
    await src.query(`CREATE TABLE moving (id bigint PRIMARY KEY, n int NOT NULL, pad text)`);
    await src.query(`INSERT INTO moving SELECT g, 0, repeat('m', 200) FROM generate_series(1, ${ROWS}) g`);
    await src.query('VACUUM ANALYZE by_uuid, by_pair, moving');
  });

  for (const [table, key] of [
    ['by_uuid', ['id']],
    ['by_pair', ['a', 'b']],
  ] as const) {
    it(`loads a table keyed by ${key.join(', ')} in block ranges, every row once`, async () => {
      const summary = await syncOk(connections, { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [`public.${table}`], ...split });
      const [t] = summary.tables;
      assert.deepEqual([t.status, t.mode, t.inserted], ['completed', 'full', ROWS]);
      assert.ok(t.partitions > 1, `${t.partitions} partition(s)`);
      const state = await dst.query(`SELECT chunks_done FROM _migration_state WHERE workflow_id = $1`, [summary.workflowId]);
      assert.equal(state.rows.length, t.partitions);
      assert.ok(
        state.rows.every((s) => s.chunks_done > 1),
        'each block range committed in chunks',
      );
      assert.deepEqual(await tableRows(dst, `public.${table}`), await tableRows(src, `public.${table}`));
      const pk = await dst.query(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`, [table]);
      assert.deepEqual(pk.rows, [{ def: `PRIMARY KEY (${key.join(', ')})` }]);
    });
  }

  it('loads every row exactly once while updates move rows between blocks, and resumes a killed block range', async () => {
    // Updates during the load write each row's new version elsewhere (pages are full): rows leave block
    // ranges not yet read for ones already read, and the other way round. Without one snapshot for all
    // ranges a row would be read twice (the key build fails) or not at all.
    let updating = true;
    let updates = 0;
    const updater = (async () => {
      const client = await src.connect();
      try {
        for (let round = 1; updating; round++) {
          // From both ends, so versions move forwards and backwards through the ranges.
          await client.query(`UPDATE moving SET n = $1 WHERE id % 97 = $2`, [round, round % 97]);
          await client.query(`UPDATE moving SET n = $1 WHERE id > $2 - 300 AND id <= $2`, [round, ROWS - (round * 300) % ROWS]);
          updates++;
        }
      } finally {
        client.release();
      }
    })();
    let killed = 0;
    const before = (await src.query(`SELECT count(*)::int AS n FROM moving`)).rows[0].n;
    try {
      const summary = await syncOk(
        connections,
        { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.moving'], ...split },
        {
          during: async ({ workflowId }) => {
            await waitFor('the state table', async () => (await dst.query(`SELECT to_regclass('_migration_state') IS NOT NULL AS ok`)).rows[0].ok);
            killed = await killChunkInFlight(dst, DST, workflowId, 1);
          },
        },
      );
      updating = false;
      await updater;
      const [t] = summary.tables;
      assert.deepEqual([t.status, t.mode, t.inserted], ['completed', 'full', ROWS]);
      assert.ok(t.partitions > 1);
      assert.equal(killed, 1, 'a chunk of one block range was killed');
      const state = await stateRows(dst, summary.workflowId);
      assert.ok(
        state.some((s) => s.retry_count === 1),
        'the killed block range was retried, from its committed chunks (a restart would load them twice: the key build fails)',
      );
    } finally {
      updating = false;
      await updater;
    }
    assert.ok(updates > 0, 'updates ran during the load');
    const moved = await dst.query(`SELECT count(*)::int AS rows, count(DISTINCT id)::int AS ids, max(n) AS n FROM moving`);
    assert.deepEqual([moved.rows[0].rows, moved.rows[0].ids], [before, before]);
  });

  it('plans key ranges, not block ranges, for a compare run (ranges compared with the target)', async () => {
    const summary = await syncOk(connections, { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.by_uuid'], ...split });
    const [t] = summary.tables;
    assert.equal(t.mode, 'compare');
    assert.deepEqual([t.inserted, t.updated], [0, 0]);
  });
});
