import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import type { SyncConfigInput } from '../../lib/config';
import { useDatabases } from '../helpers/databases';
import { duplicateKeys, leftoverTables, mariadbTextRows, pgTextRows, killChunkInFlight } from '../helpers/guarantees';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';

// Partitions and chunks on keys that are not one integer column: uuid, text
// under a collation the target does not share, MariaDB PAD SPACE strings,
// composite keys with many ties, timestamps. Every row must land exactly once,
// and compare-mode deletes must remove exactly what the source lost.

const SRC = testDb('tablesync_it_anykey_src');
const DST = testDb('tablesync_it_anykey_dst');
const MY = testDb('tablesync_it_anykey_my');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST), my: mysqlUrl(MY) };
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000 } };
// 6,000 rows: 4 partitions, 9 chunks.
const split = { partitionThreshold: 2_000, rowsPerPartition: 1_500, maxPartitionsPerTable: 4, batchSize: 700 };

function pgConfig(table: string, extra: Partial<SyncConfigInput> = {}): SyncConfigInput {
  return { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [table], ...split, ...fast, ...extra };
}
function myConfig(table: string, extra: Partial<SyncConfigInput> = {}): SyncConfigInput {
  return { source: { connection: 'my' }, target: { connection: 'dst' }, tables: [`${MY}.${table}`], ...split, ...fast, ...extra };
}

/** Rows as text, sorted here (byte order), so neither database's collation decides what "equal" means. */
const sorted = (rows: (string | null)[][]) => rows.map((r) => JSON.stringify(r)).sort();

async function pgSame(src: Pool, dst: Pool, table: string, dstTable = table): Promise<void> {
  const s = sorted(await pgTextRows(src, table));
  const t = sorted(await pgTextRows(dst, dstTable));
  assert.equal(t.length, s.length, `${dstTable}: as many rows as the source`);
  assert.deepEqual(t, s, `${dstTable}: the source's rows, key and content`);
}

/** "schema.table" of a summary, quoted for SQL. */
const quoted = (name: string) => name.split('.').map((p) => `"${p}"`).join('.');

/** How many partitions the last run's state shows for a table, and its range bounds. */
async function ranges(dst: Pool, workflowId: string): Promise<{ lo: string | null; hi: string | null; chunks: number }[]> {
  const r = await dst.query(
    `SELECT pk_range_lo AS lo, pk_range_hi AS hi, chunks_done AS chunks FROM _migration_state WHERE workflow_id = $1 ORDER BY partition_index`,
    [workflowId],
  );
  return r.rows;
}

describe('partitions on any primary key', () => {
  const { src, dst, my } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { my: MY } });

  it('PG uuid key: split by the histogram, every row once; hard deletes remove exactly the rows the source lost', async () => {
    await src.query(`CREATE TABLE uu (id uuid PRIMARY KEY, n int NOT NULL, v text)`);
    await src.query(`INSERT INTO uu SELECT md5(g::text)::uuid, g, 'v' || g FROM generate_series(1, 6000) g`);
    await src.query('ANALYZE uu');
    const first = await syncOk(connections, pgConfig('public.uu', { verifyAfterSync: true }));
    assert.deepEqual([first.tables[0].status, first.tables[0].partitions, first.tables[0].inserted], ['completed', 4, 6000]);
    assert.equal(first.tables[0].verification?.matches, true);
    // A full load from PostgreSQL reads block ranges (block-ranges.test.ts); a compare run, key ranges.
    assert.match((await ranges(dst, first.workflowId))[1].lo!, /^\d+$/, 'a full load reads storage-block ranges');
    await pgSame(src, dst, 'public.uu');

    await src.query(`DELETE FROM uu WHERE n % 10 = 0`);
    await src.query(`UPDATE uu SET v = 'changed' WHERE n % 7 = 0`);
    await src.query(`INSERT INTO uu SELECT md5(g::text)::uuid, g, 'new' FROM generate_series(6001, 6300) g`);
    const second = await syncOk(connections, pgConfig('public.uu', { mode: 'compare', deletes: 'hard' }));
    const t = second.tables[0];
    assert.deepEqual([t.status, t.partitions, t.inserted, t.deleted], ['completed', 4, 300, 600]);
    const state = await ranges(dst, second.workflowId);
    assert.ok(state.reduce((n, r) => n + r.chunks, 0) > 4, 'chunks within the partitions');
    assert.match(state[1].lo!, /^[0-9a-f-]{36}$/, 'bounds are uuids, readable');
    await pgSame(src, dst, 'public.uu');
  });

  it('PG text key under "en-US-x-icu", mixed case, target in "C": every row once; hard deletes exact', async () => {
    // ICU puts "a" before "B", "C" puts "B" first: a range read in the target would hold other rows.
    await src.query(`CREATE TABLE words (k text COLLATE "en-US-x-icu" PRIMARY KEY, n int NOT NULL)`);
    await src.query(`INSERT INTO words SELECT (CASE g % 3 WHEN 0 THEN upper(w) WHEN 1 THEN w ELSE initcap(w) END) || g, g
                       FROM (SELECT g, substr(md5(g::text), 1, 6) AS w FROM generate_series(1, 6000) g) x`);
    await src.query('ANALYZE words');
    await dst.query(`CREATE TABLE words (k text COLLATE "C" PRIMARY KEY, n int NOT NULL)`);
    await dst.query(`INSERT INTO words VALUES ('stale-row', 0), ('ZZZ', -1), ('aaa', -2)`);
    const first = await syncOk(connections, pgConfig('public.words', { mode: 'compare', deletes: 'hard' }));
    const t = first.tables[0];
    assert.deepEqual([t.status, t.partitions, t.inserted, t.deleted], ['completed', 4, 6000, 3]);
    await pgSame(src, dst, 'public.words');
    assert.deepEqual(await leftoverTables(dst, ['words']), []);
    const keyTables = await dst.query(`SELECT relname FROM pg_class WHERE relname LIKE '\\_ts\\_keys\\_%'`);
    assert.deepEqual(keyTables.rows, [], 'key tables dropped after the delete pass');

    await src.query(`DELETE FROM words WHERE n % 9 = 0`);
    await src.query(`UPDATE words SET n = -n WHERE n % 11 = 0`);
    const second = await syncOk(connections, pgConfig('public.words', { mode: 'compare', deletes: 'hard' }));
    assert.deepEqual([second.tables[0].status, second.tables[0].deleted, second.tables[0].updated], ['completed', 666, 485]);
    await pgSame(src, dst, 'public.words');
  });

  it('PG composite key (int, text) with ties on the leading column: every row once; soft deletes mark exactly the rows gone', async () => {
    await src.query(`CREATE TABLE pairs (a int, b text, v int NOT NULL, PRIMARY KEY (a, b))`);
    // Three leading values for 6,000 rows: every cut point shares its "a" with ~2,000 others.
    await src.query(`INSERT INTO pairs SELECT g % 3, (CASE WHEN g % 2 = 0 THEN 'K' ELSE 'k' END) || g, g FROM generate_series(1, 6000) g`);
    const first = await syncOk(connections, pgConfig('public.pairs'));
    assert.deepEqual([first.tables[0].status, first.tables[0].partitions, first.tables[0].inserted], ['completed', 4, 6000]);
    assert.match((await ranges(dst, first.workflowId))[1].lo!, /^\d+$/, 'a full load reads storage-block ranges');
    await pgSame(src, dst, 'public.pairs');
    assert.equal(await duplicateKeys(dst, 'public.pairs', ['a', 'b']), 0);

    await src.query(`DELETE FROM pairs WHERE v % 8 = 0`);
    const second = await syncOk(connections, pgConfig('public.pairs', { mode: 'compare', deletes: 'soft' }));
    assert.deepEqual([second.tables[0].status, second.tables[0].deleted], ['completed', 750]);
    assert.equal(JSON.parse((await ranges(dst, second.workflowId))[1].lo!).length, 2, 'a composite bound is a JSON array');
    const marked = await dst.query(`SELECT v FROM pairs WHERE is_deleted ORDER BY v`);
    assert.deepEqual(marked.rows.map((r) => r.v), Array.from({ length: 750 }, (_, i) => 8 * (i + 1)));
    const live = await dst.query({ text: `SELECT a::text, b, v::text FROM pairs WHERE NOT is_deleted`, rowMode: 'array' });
    assert.deepEqual(sorted(live.rows), sorted(await pgTextRows(src, 'public.pairs')));
  });

  it('PG timestamp key with microseconds, sampled (no statistics): every row once; ranges also used in the target', async () => {
    await src.query(`CREATE TABLE ticks (at timestamp(6) PRIMARY KEY, n int NOT NULL)`);
    await src.query(`INSERT INTO ticks SELECT timestamp '2026-01-01' + g * interval '1.000001 second', g FROM generate_series(1, 6000) g`);
    const first = await syncOk(connections, pgConfig('public.ticks'));
    assert.deepEqual([first.tables[0].status, first.tables[0].partitions], ['completed', 4]);
    assert.match((await ranges(dst, first.workflowId))[1].lo!, /^\d+$/, 'a full load reads storage-block ranges');
    await pgSame(src, dst, 'public.ticks');
    await src.query(`DELETE FROM ticks WHERE n % 5 = 0`);
    const second = await syncOk(connections, pgConfig('public.ticks', { mode: 'compare', deletes: 'hard', verifyAfterSync: true }));
    assert.deepEqual([second.tables[0].status, second.tables[0].deleted], ['completed', 1200]);
    assert.match((await ranges(dst, second.workflowId))[1].lo!, /^2026-01-01 \d\d:\d\d:\d\d\.\d{6}$/);
    assert.equal(second.tables[0].verification?.matches, true);
    await pgSame(src, dst, 'public.ticks');
  });

  it('MariaDB varchar key under utf8mb4_general_ci (PAD SPACE), mixed case and trailing spaces: every row once; hard deletes exact', async () => {
    await my.query(`CREATE TABLE names (k varchar(40) COLLATE utf8mb4_general_ci PRIMARY KEY, n int NOT NULL)`);
    // 'abc' = 'ABC' = 'abc  ' under this collation: keys differ beyond case and trailing spaces.
    await my.query(`INSERT INTO names SELECT CONCAT(IF(seq % 2, 'Ab', 'aB'), LPAD(seq, 5, '0'), IF(seq % 3 = 0, '  ', '')), seq FROM seq_1_to_6000`);
    await my.query(`ANALYZE TABLE names`);
    const first = await syncOk(connections, myConfig('names'));
    assert.deepEqual([first.tables[0].status, first.tables[0].partitions, first.tables[0].inserted], ['completed', 4, 6000]);
    const mine = async () => sorted(await mariadbTextRows(my, MY, 'names'));
    const target = quoted(first.tables[0].target);
    assert.deepEqual(sorted(await pgTextRows(dst, target)), await mine());
    const trailing = await dst.query(`SELECT count(*)::int AS n FROM ${target} WHERE k LIKE '%  '`);
    assert.equal(trailing.rows[0].n, 2000, 'trailing spaces kept');

    await my.query(`DELETE FROM names WHERE n % 6 = 0`);
    await my.query(`INSERT INTO names VALUES ('zz  ', 1), ('ZY', 2)`);
    const second = await syncOk(connections, myConfig('names', { mode: 'compare', deletes: 'hard' }));
    assert.deepEqual([second.tables[0].status, second.tables[0].inserted, second.tables[0].deleted], ['completed', 2, 1000]);
    assert.deepEqual(sorted(await pgTextRows(dst, target)), await mine());
  });

  it('MariaDB composite key (int, varchar) with ties: every row once; soft deletes exact', async () => {
    await my.query(`CREATE TABLE mpairs (a int, b varchar(20) COLLATE utf8mb4_general_ci, v int NOT NULL, PRIMARY KEY (a, b))`);
    await my.query(`INSERT INTO mpairs SELECT seq % 3, CONCAT(IF(seq % 2, 'K', 'k'), seq, IF(seq % 5 = 0, ' ', '')), seq FROM seq_1_to_6000`);
    const first = await syncOk(connections, myConfig('mpairs'));
    assert.deepEqual([first.tables[0].status, first.tables[0].partitions, first.tables[0].inserted], ['completed', 4, 6000]);
    const target = quoted(first.tables[0].target);
    assert.deepEqual(sorted(await pgTextRows(dst, target)), sorted(await mariadbTextRows(my, MY, 'mpairs')));

    await my.query(`DELETE FROM mpairs WHERE v % 4 = 0`);
    const second = await syncOk(connections, myConfig('mpairs', { mode: 'compare', deletes: 'soft' }));
    assert.deepEqual([second.tables[0].status, second.tables[0].deleted], ['completed', 1500]);
    const live = await dst.query({ text: `SELECT a::text, b, v::text FROM ${target} WHERE NOT is_deleted`, rowMode: 'array' });
    assert.deepEqual(sorted(live.rows), sorted(await mariadbTextRows(my, MY, 'mpairs')));
    const marked = await dst.query(`SELECT count(*)::int AS n, bool_and(v % 4 = 0) AS all_gone FROM ${target} WHERE is_deleted`);
    assert.deepEqual(marked.rows[0], { n: 1500, all_gone: true });
  });

  it('resumes a uuid-keyed partition after its last committed chunk when an attempt is killed', async () => {
    await src.query(`CREATE TABLE uresume (id uuid PRIMARY KEY, v text)`);
    await src.query(`INSERT INTO uresume SELECT md5('r' || g)::uuid, repeat('v', 20) FROM generate_series(1, 100000) g`);
    await src.query('ANALYZE uresume');
    let terminated = 0;
    const summary = await syncOk(
      connections,
      { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.uresume'], batchSize: 10_000, ...fast },
      {
        during: async ({ workflowId }) => {
          terminated = await killChunkInFlight(dst, DST, workflowId);
        },
      },
    );
    assert.equal(terminated, 1);
    assert.deepEqual([summary.tables[0].status, summary.tables[0].inserted], ['completed', 100_000]);
    const state = await dst.query(`SELECT retry_count, chunks_done, rows_inserted FROM _migration_state WHERE workflow_id = $1`, [summary.workflowId]);
    // Redone from chunk 1, the committed chunks would be loaded twice and the key build would fail.
    assert.deepEqual(state.rows, [{ retry_count: 1, chunks_done: 10, rows_inserted: '100000' }]);
    await pgSame(src, dst, 'public.uresume');
  });
});
