import assert from 'node:assert/strict';
import { useDatabases } from '../helpers/databases';
import { pgUrl, stagingTables, tableRows, testDb } from '../helpers/pg';
import { terminateWaiting } from '../helpers/guarantees';
import { syncOk } from '../helpers/run';

const SRC = testDb('tablesync_it_src');
const DST = testDb('tablesync_it_dst');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000 } };

describe('incrementalSyncWorkflow, PostgreSQL → PostgreSQL (real Temporal, real PostgreSQL)', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });

  it("syncs the seed's example: 1 inserted, 1 updated, 1 unchanged", async () => {
    const ddl = 'CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, reputation int)';
    await src.query(ddl);
    await dst.query(ddl);
    await src.query(`INSERT INTO users VALUES (1, 'Alice', 100), (2, 'Bob', 250), (3, 'Carol', 50)`);
    await dst.query(`INSERT INTO users VALUES (1, 'Alice', 100), (2, 'Bob', 200)`);

    const summary = await syncOk(connections, {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: ['public.users'],
      ...fast,
    });

    assert.equal(summary.tablesSynced, 1);
    assert.equal(summary.tablesFailed, 0);
    assert.deepEqual(
      summary.tables.map((t) => [t.table, t.inserted, t.updated, t.unchanged]),
      [['public.users', 1, 1, 1]],
    );
    assert.match(summary.message, /1 table synced, 0 failed, 0 had no changes\. Total: 1 inserted, 1 updated/);
    assert.deepEqual(await tableRows(dst, 'users'), await tableRows(src, 'users'));

    const state = await dst.query(
      `SELECT sync_status, rows_inserted, rows_updated, rows_unchanged, retry_count, run_id
         FROM _migration_state WHERE workflow_id = $1`,
      [summary.workflowId],
    );
    assert.equal(state.rowCount, 1);
    assert.equal(state.rows[0].sync_status, 'completed');
    assert.deepEqual(
      [state.rows[0].rows_inserted, state.rows[0].rows_updated, state.rows[0].rows_unchanged, state.rows[0].retry_count],
      ['1', '1', '1', 0],
    );
    assert.deepEqual(await stagingTables(dst), []);
  });

  it('treats NULL→NULL as unchanged and NULL↔value as updated', async () => {
    const ddl = 'CREATE TABLE nulls (id int PRIMARY KEY, v text, n numeric(10,2))';
    await src.query(ddl);
    await dst.query(ddl);
    await src.query(`INSERT INTO nulls VALUES (1, NULL, NULL), (2, 'x', 1.50), (3, NULL, 2), (4, 'same', NULL)`);
    await dst.query(`INSERT INTO nulls VALUES (1, NULL, NULL), (2, NULL, 1.50), (3, 'y', 2), (4, 'same', NULL)`);

    const summary = await syncOk(connections, {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: ['nulls'],
      ...fast,
    });
    const [t] = summary.tables;
    assert.deepEqual([t.inserted, t.updated, t.unchanged], [0, 2, 2]);
    assert.deepEqual(await tableRows(dst, 'nulls'), await tableRows(src, 'nulls'));
  });

  it('splits a table above the threshold, lands every partition, skips a table without a key (keyless: skip), and a rerun changes nothing', async () => {
    const ddl = `CREATE TABLE big (id bigint PRIMARY KEY, label text, amount numeric(12,2), seen timestamptz, note text)`;
    await src.query(ddl);
    await dst.query(ddl);
    await src.query(`INSERT INTO big SELECT g, 'row ' || g, g * 1.25, timestamptz '2026-01-01' + g * interval '1 second',
                       CASE WHEN g % 7 = 0 THEN NULL ELSE md5(g::text) END FROM generate_series(1, 20000) g`);
    await src.query('ANALYZE big');
    await dst.query(`INSERT INTO big VALUES (1, 'stale', 0, NULL, NULL)`);
    await src.query('CREATE TABLE nokey (a int, b text)');
    await dst.query('CREATE TABLE nokey (a int, b text)');

    const config = {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: ['public.big', 'public.nokey'],
      partitionThreshold: 10_000,
      rowsPerPartition: 5_000,
      maxPartitionsPerTable: 4,
      maxParallelTransfers: 3,
      keyless: 'skip' as const,
      ...fast,
    };
    const first = await syncOk(connections, config);
    assert.deepEqual(first.skipped, [{ table: 'public.nokey', reason: 'no primary key (keyless: skip)' }]);
    const [big] = first.tables;
    assert.equal(big.partitions, 4);
    assert.deepEqual([big.inserted, big.updated, big.unchanged, big.rowsCopied], [19_999, 1, 0, 20_000]);
    assert.deepEqual(await tableRows(dst, 'big'), await tableRows(src, 'big'));

    const parts = await dst.query(
      `SELECT partition_index, sync_status, rows_copied, pk_range_lo, pk_range_hi FROM _migration_state
        WHERE workflow_id = $1 ORDER BY partition_index`,
      [first.workflowId],
    );
    assert.deepEqual(
      parts.rows.map((r) => [r.partition_index, r.sync_status, r.rows_copied, r.pk_range_lo, r.pk_range_hi]),
      [
        [0, 'completed', '5000', null, '5000'],
        [1, 'completed', '5000', '5000', '10000'],
        [2, 'completed', '5000', '10000', '15000'],
        [3, 'completed', '5000', '15000', null],
      ],
    );

    const second = await syncOk(connections, config);
    assert.deepEqual([second.inserted, second.updated, second.unchanged], [0, 0, 20_000]);
    assert.equal(second.tablesUnchanged, 1);
    assert.deepEqual(await stagingTables(dst), []);
  });

  it('neither rewrites nor locks an unchanged row: only changed rows are written, counts exact, across partitions and chunks', async () => {
    const ddl = `CREATE TABLE calm (id bigint PRIMARY KEY, label text, amount numeric(12,2), note text)`;
    const rows = `INSERT INTO calm SELECT g, 'row ' || g, g * 1.25, CASE WHEN g % 7 = 0 THEN NULL ELSE md5(g::text) END
                    FROM generate_series(1, 12000) g`;
    for (const db of [src, dst]) {
      await db.query(ddl);
      await db.query(rows);
      await db.query('ANALYZE calm');
    }
    // Changed at the source (values and NULL <-> value), new at the source (past the last
    // partition's bound), and changed only in the target on both sides of a partition bound.
    await src.query(`UPDATE calm SET amount = amount + 1, note = CASE WHEN note IS NULL THEN 'now set' END WHERE id % 400 = 7`);
    await src.query(`INSERT INTO calm SELECT g, 'new ' || g, 1, NULL FROM generate_series(12001, 12005) g`);
    await dst.query(`UPDATE calm SET label = 'stale' WHERE id IN (4000, 4001)`);
    const before = await dst.query(`SELECT id, ctid::text AS ctid FROM calm WHERE id % 400 <> 7 AND id NOT IN (4000, 4001) ORDER BY id`);

    const summary = await syncOk(connections, {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: ['public.calm'],
      partitionThreshold: 5_000,
      rowsPerPartition: 4_000,
      batchSize: 1_000,
      ...fast,
    });
    const [t] = summary.tables;
    assert.equal(t.partitions, 3);
    assert.deepEqual([t.status, t.inserted, t.updated, t.unchanged], ['completed', 5, 32, 12_000 - 32], t.error);
    assert.deepEqual(await tableRows(dst, 'calm'), await tableRows(src, 'calm'));
    // ON CONFLICT would lock every conflicting row (xmax set, page dirtied, WAL written) before skipping it.
    const untouched = `FROM calm WHERE id % 400 <> 7 AND id NOT IN (4000, 4001) AND id <= 12000`;
    const locked = await dst.query(`SELECT count(*)::int AS n ${untouched} AND xmax::text <> '0'`);
    assert.equal(locked.rows[0].n, 0);
    const after = await dst.query(`SELECT id, ctid::text AS ctid ${untouched} ORDER BY id`);
    assert.deepEqual(after.rows, before.rows);
  });

  it('retries a partition whose source connection is terminated mid-read (digest or COPY), and ends equal with no duplicates', async () => {
    const ddl = 'CREATE TABLE flaky (id int PRIMARY KEY, payload text)';
    await src.query(ddl);
    await dst.query(ddl);
    await src.query(`INSERT INTO flaky SELECT g, repeat('x', g % 50) FROM generate_series(1, 5000) g`);
    await src.query('ANALYZE flaky');
    await dst.query(`INSERT INTO flaky VALUES (1, 'old'), (4999, 'old')`);

    // Hold a lock so the sync's COPY waits inside the source server, where it is then killed.
    const locker = await src.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE flaky IN ACCESS EXCLUSIVE MODE');
    let terminated = 0;
    try {
      const summary = await syncOk(
        connections,
        { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['flaky'], ...fast },
        {
          during: async () => {
            // The first read of the range waits: compare's digest of it, or its COPY.
            terminated = await terminateWaiting(src, SRC, '%FROM "public"."flaky"%');
            await locker.query('COMMIT');
          },
        },
      );
      assert.equal(terminated, 1, 'the COPY backend was found and terminated');
      const [t] = summary.tables;
      assert.equal(t.status, 'completed');
      assert.deepEqual([t.inserted, t.updated, t.unchanged], [4998, 2, 0]);
      const state = await dst.query(`SELECT sync_status, retry_count FROM _migration_state WHERE workflow_id = $1`, [
        summary.workflowId,
      ]);
      assert.deepEqual(state.rows, [{ sync_status: 'completed', retry_count: 1 }]);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      locker.release();
    }
    assert.deepEqual(await tableRows(dst, 'flaky'), await tableRows(src, 'flaky'));
    const dupes = await dst.query('SELECT count(*) - count(DISTINCT id) AS d FROM flaky');
    assert.equal(dupes.rows[0].d, '0');
    assert.deepEqual(await stagingTables(dst), []);
  });
});
