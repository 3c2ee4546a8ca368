import assert from 'node:assert/strict';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, tableRows, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';
import { runTestVerify } from '../helpers/verify';

const SRC = testDb('tablesync_it_verify_src');
const DST = testDb('tablesync_it_verify_dst');
const MY = testDb('tablesync_it_verify_my');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST), my: mysqlUrl(MY) };
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000 } };

describe('verify, repair and hard deletes', () => {
  const { src, dst, my } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { my: MY } });
  const config = {
    source: { connection: 'src' },
    target: { connection: 'dst' },
    tables: ['public.items'],
    verifyRowsPerRange: 2_000,
    ...fast,
  };

  before(async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), seen timestamptz, raw bytea, ok boolean)`);
    await src.query(`INSERT INTO items SELECT g, 'item ' || g, g / 7.0, timestamptz '2026-03-01 12:00:00.123456+02' + g * interval '1 ms',
                       decode(md5(g::text), 'hex'), g % 2 = 0 FROM generate_series(1, 20000) g`);
    await src.query('ANALYZE items');
    await syncOk(connections, config);
  });

  it('finds nothing to report right after a sync', async () => {
    const result = await runTestVerify(connections, { config });
    assert.equal(result.matches, true, JSON.stringify(result.tables[0]?.differing));
    const [t] = result.tables;
    assert.deepEqual([t.sourceRows, t.targetRows, t.ranges, t.differing.length], [20_000, 20_000, 10, 0]);
  });

  it('reports exactly the key ranges that drifted, and --repair re-syncs just those', async () => {
    await dst.query(`UPDATE items SET name = 'tampered' WHERE id = 3000`); // range (2000, 4000]
    await dst.query(`DELETE FROM items WHERE id = 9001`); // (8000, 10000]
    await dst.query(`INSERT INTO items (id, name) VALUES (30000, 'extra')`); // last range, open above
    const result = await runTestVerify(connections, { config });
    assert.equal(result.matches, false);
    const ranges = result.tables[0].differing.map((r) => [r.range.lo, r.range.hi, r.sourceRows, r.targetRows]);
    assert.deepEqual(ranges, [
      ['2000', '4000', 2000, 2000],
      ['8000', '10000', 2000, 1999],
      ['18000', null, 2000, 2001],
    ]);
    assert.notEqual(result.tables[0].differing[0].sourceSum, result.tables[0].differing[0].targetSum);
    // Row by row: which rows, and no pending ones in a compare table.
    const rows = result.tables[0].rows!;
    assert.deepEqual([rows.changed, rows.missing, rows.extra, rows.pending], [
      { count: 1, keys: ['3000'] },
      { count: 1, keys: ['9001'] },
      { count: 1, keys: ['30000'] },
      { count: 0, keys: [] },
    ]);

    const repaired = await runTestVerify(connections, { config, repair: true });
    assert.equal(repaired.matches, true);
    assert.equal(repaired.tables[0].repaired, 3);
    assert.deepEqual(await tableRows(dst, 'items'), await tableRows(src, 'items'));
  });

  it('deletes rows gone from the source with deletes: hard, and verifies after syncing when asked', async () => {
    await src.query('DELETE FROM items WHERE id IN (5, 15000)');
    await src.query(`UPDATE items SET ok = NULL WHERE id = 7`);
    const summary = await syncOk(connections, { ...config, deletes: 'hard', verifyAfterSync: true });
    const [t] = summary.tables;
    assert.deepEqual([t.inserted, t.updated, t.deleted], [0, 1, 2]);
    assert.equal(t.verification?.matches, true);
    assert.match(summary.message, /1 updated, 2 deleted\. Verified 1 table: all match/);
    assert.deepEqual(await tableRows(dst, 'items'), await tableRows(src, 'items'));
  });

  it('computes matching checksums in MariaDB and PostgreSQL for every comparable type', async () => {
    await my.query(`CREATE TABLE mixed (id bigint PRIMARY KEY, name varchar(40), amount decimal(20,6), flag tinyint(1),
                      at datetime(6), ts timestamp(6) NULL, d date, t time(3), blob_col varbinary(16), bits bit(5),
                      ratio double, kind enum('a','b'))`);
    await my.query(`INSERT INTO mixed VALUES
      (1, 'naïve 😀', 12345.678901, 1, '2026-01-02 03:04:05.060708', '2026-01-02 03:04:05.000001', '2026-01-02', '10:11:12.345', x'00ff', b'10101', 0.1, 'a'),
      (2, '', -0.000001, 0, '1000-01-01 00:00:00', '1970-01-01 00:00:01', '1000-01-01', '00:00:00', x'', b'0', -1e300, 'b'),
      (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
    const myConfig = { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: ['mixed'], ...fast };
    await syncOk(connections, myConfig);
    const ok = await runTestVerify(connections, { config: myConfig });
    assert.equal(ok.matches, true, JSON.stringify(ok.tables[0]));
    assert.deepEqual(ok.tables[0].differing, []);

    await my.query(`UPDATE mixed SET at = '2026-01-02 03:04:05.060709' WHERE id = 1`); // one microsecond
    const drift = await runTestVerify(connections, { config: myConfig });
    assert.equal(drift.matches, false);
    assert.deepEqual(drift.tables[0].differing[0].skippedColumns, []); // ratio, a double, is compared too
  });
});
