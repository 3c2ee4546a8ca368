import assert from 'node:assert/strict';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, stagingTables, tableRows, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';

// compare mode's range digests (lib/modes/compare/digests.ts): equal key
// ranges are not copied, and a one-row change in any column of any type is
// found, per dialect; deletes and soft deletes keep working; a table without
// digests says so and copies every row.

const SRC = testDb('tablesync_it_cdig_src');
const DST = testDb('tablesync_it_cdig_dst');
const MY = testDb('tablesync_it_cdig_my');
const MYDST = testDb('tablesync_it_cdig_mydst');
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000 } };

const ROWS = 6_000;

describe('compare mode range digests, PostgreSQL → PostgreSQL (real Temporal, real PostgreSQL)', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });
  const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };

  const ddl = `CREATE TABLE fam (id bigint PRIMARY KEY, n numeric, f8 double precision, f4 real, iv interval, j jsonb,
      t text COLLATE ci, tz timestamptz, ts timestamp, d date, b bytea, u uuid, bo boolean, arr int[], s text, vc varchar(20))`;
  const rows = `INSERT INTO fam SELECT g, g * 1.5, g / 3.0, g / 7.0, g * interval '1 minute', jsonb_build_object('a', g, 'b', 'x'),
      'name ' || g, timestamptz '2026-01-01' + g * interval '1 second', timestamp '2026-01-01' + g * interval '1 ms',
      date '2026-01-01' + g::int, decode(md5(g::text), 'hex'), md5(g::text)::uuid, g % 2 = 0, ARRAY[g::int, g::int + 1],
      CASE WHEN g % 5 = 0 THEN NULL ELSE 'v' || g END, 'vc' || g FROM generate_series(1, ${ROWS}) g`;

  before(async () => {
    for (const db of [src, dst]) {
      await db.query(`CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`);
      await db.query(ddl);
      await db.query(rows);
      await db.query('ANALYZE fam');
    }
  });

  it('finds a one-row change in every column type (scale, -0, interval, jsonb digits, collation, NULL vs empty, bytes, µs), copies only the differing buckets, and applies deletes', async () => {
    // Each change in its own row; the source is the truth the target must come back to.
    await src.query(`UPDATE fam SET n = 1.50 WHERE id = 101`); // 151.5 → 1.50 in the source…
    await dst.query(`UPDATE fam SET n = 1.5 WHERE id = 101`); // …1.5 in the target: equal as numbers, scale differs
    await src.query(`UPDATE fam SET f8 = 0 WHERE id = 202`);
    await dst.query(`UPDATE fam SET f8 = '-0' WHERE id = 202`);
    await src.query(`UPDATE fam SET iv = '1 day' WHERE id = 303`);
    await dst.query(`UPDATE fam SET iv = '24 hours' WHERE id = 303`);
    await src.query(`UPDATE fam SET j = '{"a": 1.00}' WHERE id = 404`);
    await dst.query(`UPDATE fam SET j = '{"a": 1.0}' WHERE id = 404`);
    await dst.query(`UPDATE fam SET t = upper(t) WHERE id = 505`); // equal under the column's collation
    await src.query(`UPDATE fam SET s = '' WHERE id = 606`);
    await dst.query(`UPDATE fam SET s = NULL WHERE id = 606`);
    await dst.query(`UPDATE fam SET b = b || '\\x00'::bytea WHERE id = 707`);
    await dst.query(`UPDATE fam SET tz = tz + interval '1 microsecond' WHERE id = 808`);
    await dst.query(`UPDATE fam SET u = md5('other')::uuid WHERE id = 909`);
    await dst.query(`UPDATE fam SET arr = ARRAY[1010, 1012] WHERE id = 1010`);
    await src.query(`UPDATE fam SET f4 = 1 WHERE id = 1111`);
    await dst.query(`UPDATE fam SET f4 = 1.0000001 WHERE id = 1111`);
    await dst.query(`UPDATE fam SET ts = ts + interval '1 microsecond' WHERE id = 1212`);
    await dst.query(`UPDATE fam SET bo = NOT bo WHERE id = 1313`);
    await dst.query(`UPDATE fam SET vc = vc || ' ' WHERE id = 1414`);
    await dst.query(`UPDATE fam SET d = d + 1 WHERE id = 1515`);
    // jsonb written another way (key order, spaces) is the same jsonb: no change to find.
    await dst.query(`UPDATE fam SET j = '{ "b" : "x", "a" : 1616 }' WHERE id = 1616`);
    await dst.query(`DELETE FROM fam WHERE id = 1717`); // missing from the target
    await src.query(`DELETE FROM fam WHERE id = 1818`); // gone from the source
    await dst.query(`INSERT INTO fam (id, n) VALUES (${ROWS + 50}, 1)`); // only in the target (past the last key)

    // Two partitions of three chunks each: integer buckets inside bounded chunks.
    const config = {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: ['public.fam'],
      deletes: 'hard' as const,
      partitionThreshold: 3_000,
      rowsPerPartition: 3_000,
      batchSize: 1_000,
      ...fast,
    };
    const first = await syncOk(connections, config);
    const [t] = first.tables;
    assert.equal(t.status, 'completed', t.error);
    assert.deepEqual([t.inserted, t.updated, t.deleted], [1, 15, 2]);
    assert.equal(t.rowsCopied + (t.rowsSkipped ?? 0), ROWS - 1, 'every source row is copied or skipped as equal');
    assert.ok(t.rowsCopied > 0 && t.rowsCopied < 0.1 * ROWS, `only the differing buckets are copied: ${t.rowsCopied} of ${ROWS - 1}`);
    assert.equal(t.unchanged, ROWS - 1 - 1 - 15);
    assert.match(first.message, /\. Rows copied: [\d,]+ \([\d,]+ skipped as equal\)$/);
    assert.deepEqual(await tableRows(dst, 'fam'), await tableRows(src, 'fam'));
    assert.deepEqual(await stagingTables(dst), []);

    const again = await syncOk(connections, config);
    const [u] = again.tables;
    assert.deepEqual([u.rowsCopied, u.rowsSkipped, u.inserted, u.updated, u.deleted, u.unchanged], [0, ROWS - 1, 0, 0, 0, ROWS - 1]);
    const state = await dst.query(`SELECT sum(rows_copied)::int AS copied, sum(rows_unchanged)::int AS unchanged FROM _migration_state WHERE workflow_id = $1`, [again.workflowId]);
    assert.deepEqual(state.rows[0], { copied: 0, unchanged: ROWS - 1 });
  });

  it('finds a change with the table read as one range (hash buckets), and keeps soft deletes: marked rows stay marked, a row that comes back is unmarked', async () => {
    for (const db of [src, dst]) {
      await db.query(`CREATE TABLE soft (code text PRIMARY KEY, v numeric)`);
      await db.query(`INSERT INTO soft SELECT 'k' || g, g FROM generate_series(1, 3000) g`);
    }
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.soft'], deletes: 'soft' as const, ...fast };
    await src.query(`DELETE FROM soft WHERE code IN ('k10', 'k20')`);
    await src.query(`UPDATE soft SET v = 30.0 WHERE code = 'k30'`);
    const first = await syncOk(connections, config);
    const [a] = first.tables;
    assert.deepEqual([a.updated, a.deleted], [1, 2]);
    assert.ok(a.rowsCopied < 300, `rows copied ${a.rowsCopied}`);
    const marked = async () => (await dst.query(`SELECT code FROM soft WHERE is_deleted ORDER BY code`)).rows.map((r) => r.code);
    assert.deepEqual(await marked(), ['k10', 'k20']);

    // Nothing changed: marked rows are gone from the source, so every bucket is equal.
    const second = await syncOk(connections, config);
    assert.deepEqual([second.tables[0].rowsCopied, second.tables[0].updated, second.tables[0].deleted], [0, 0, 0]);

    await src.query(`INSERT INTO soft VALUES ('k10', 10)`);
    const third = await syncOk(connections, config);
    const [c] = third.tables;
    assert.deepEqual([c.inserted, c.updated, c.deleted], [0, 1, 0]);
    assert.ok(c.rowsCopied > 0 && c.rowsCopied < 300);
    assert.deepEqual(await marked(), ['k20']);
  });

  /** One table of 3,000-odd rows read as partitions and chunks of known ends: integer buckets (a table read whole is bucketed by hash). */
  const inRanges = (table: string) => ({
    source: { connection: 'src' },
    target: { connection: 'dst' },
    tables: [table],
    deletes: 'hard' as const,
    partitionThreshold: 1_000,
    rowsPerPartition: 1_000,
    batchSize: 500,
    ...fast,
  });

  it('reads differing integer buckets as key ranges, negative keys and bucket 0 included (division truncates toward zero)', async () => {
    for (const db of [src, dst]) {
      await db.query(`CREATE TABLE neg (id int PRIMARY KEY, v text)`);
      await db.query(`INSERT INTO neg SELECT g, 'v' || g FROM generate_series(-1500, 1500) g`);
    }
    await src.query(`UPDATE neg SET v = 'changed' WHERE id IN (-1, 1, -1234, 640)`);
    await dst.query(`DELETE FROM neg WHERE id IN (-5, -33)`); // missing from the target
    await src.query(`DELETE FROM neg WHERE id IN (-700, 0)`); // gone from the source
    await dst.query(`INSERT INTO neg VALUES (-2000, 'only in the target')`); // below the source's least key
    const config = inRanges('public.neg');
    const [t] = (await syncOk(connections, config)).tables;
    assert.equal(t.status, 'completed', t.error);
    assert.deepEqual([t.inserted, t.updated, t.deleted], [2, 4, 3]);
    assert.ok(t.rowsCopied > 0 && t.rowsCopied < 600, `only the differing buckets are copied: ${t.rowsCopied}`);
    assert.deepEqual(await tableRows(dst, 'neg'), await tableRows(src, 'neg'));
    const [u] = (await syncOk(connections, config)).tables;
    assert.deepEqual([u.rowsCopied, u.inserted, u.updated, u.deleted], [0, 0, 0, 0]);
  });

  it('with integer buckets (one hash component a column), finds values swapped between two columns of a row or between two rows, and rows of NULLs that trade keys', async () => {
    for (const db of [src, dst]) {
      await db.query(`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`);
      await db.query(`CREATE TABLE swaps (id int PRIMARY KEY, a text, b text, c int, d int, t1 timestamptz, t2 timestamptz, e smallint, tm time,
        m mood, v varchar(10), n numeric, bo boolean, bo2 boolean)`);
      await db.query(`INSERT INTO swaps SELECT g, 'a' || g, 'b' || g, g, g + 1, timestamptz '2026-01-01' + g * interval '1 s',
        timestamptz '2026-02-01' + g * interval '1 s', g % 100, time '01:00' + g * interval '1 ms', 'ok', 'v' || g, g, true, false
        FROM generate_series(1, 3000) g`);
    }
    // Each change is invisible to a hash that adds up the columns' hashes without telling their places or rows apart.
    await dst.query(`UPDATE swaps SET a = b, b = a WHERE id = 100`); // texts swapped between two columns
    await dst.query(`UPDATE swaps SET c = d, d = c WHERE id = 200`); // integers swapped
    await dst.query(`UPDATE swaps SET t1 = t2, t2 = t1 WHERE id = 300`); // two values of the send-form array swapped
    await dst.query(`UPDATE swaps SET bo = false, bo2 = true WHERE id = 350`); // booleans swapped
    await dst.query(`UPDATE swaps SET e = CASE id WHEN 400 THEN 2 ELSE 1 END WHERE id IN (400, 401)`); // 1 and 2 trade rows (400 % 100 = 0 in the source)
    await src.query(`UPDATE swaps SET e = CASE id WHEN 400 THEN 1 ELSE 2 END WHERE id IN (400, 401)`);
    await src.query(`UPDATE swaps SET (a, b, c, d, t1, t2, e, tm, m, v, n, bo, bo2) = (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) WHERE id IN (600, 601)`);
    await dst.query(`UPDATE swaps SET (a, b, c, d, t1, t2, e, tm, m, v, n, bo, bo2) = (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) WHERE id IN (600, 601)`);
    await src.query(`DELETE FROM swaps WHERE id = 601`); // a row of NULLs at 600 in the source…
    await dst.query(`DELETE FROM swaps WHERE id = 600`); // …at 601 in the target, one bucket: same count, same values
    await dst.query(`UPDATE swaps SET tm = tm + interval '1 microsecond' WHERE id = 650`);
    await dst.query(`UPDATE swaps SET m = 'happy' WHERE id = 700`); // a user type (hashed as its text)
    await dst.query(`UPDATE swaps SET n = NULL WHERE id = 800`);
    await dst.query(`UPDATE swaps SET v = 'a900' WHERE id = 900`); // another column's value
    const config = inRanges('public.swaps');
    const [t] = (await syncOk(connections, config)).tables;
    assert.equal(t.status, 'completed', t.error);
    assert.deepEqual([t.inserted, t.updated, t.deleted], [1, 10, 1]);
    assert.ok(t.rowsCopied > 0 && t.rowsCopied < 600, `only the differing buckets are copied: ${t.rowsCopied}`);
    assert.deepEqual(await tableRows(dst, 'swaps'), await tableRows(src, 'swaps'));
    const [u] = (await syncOk(connections, config)).tables;
    assert.deepEqual([u.rowsCopied, u.inserted, u.updated, u.deleted], [0, 0, 0, 0]);
  });

  it('digests only the rows inside `where:`: a row that leaves the filter by a column not synced is deleted, though its synced values are unchanged', async () => {
    await src.query(`CREATE TABLE filtered (id int PRIMARY KEY, v text, archived boolean NOT NULL DEFAULT false)`);
    await src.query(`INSERT INTO filtered SELECT g, 'v' || g, false FROM generate_series(1, 3000) g`);
    const config = {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: [{ table: 'public.filtered', mode: 'auto' as const, deletes: 'hard' as const, columns: ['id', 'v'], where: { archived: false } }],
      ...fast,
    };
    const first = await syncOk(connections, config);
    assert.equal(first.tables[0].inserted, 3000);
    // Only the flag moves: the synced columns of row 42 are what the target holds.
    await src.query(`UPDATE filtered SET archived = true WHERE id = 42`);
    const second = await syncOk(connections, config);
    const [t] = second.tables;
    assert.deepEqual([t.inserted, t.updated, t.deleted], [0, 0, 1]);
    assert.ok(t.rowsCopied < 300, `rows copied ${t.rowsCopied}`);
    assert.equal((await dst.query(`SELECT count(*)::int AS n FROM filtered WHERE id = 42`)).rows[0].n, 0);
    assert.equal((await dst.query(`SELECT count(*)::int AS n FROM filtered`)).rows[0].n, 2999);
  });
});

describe('compare mode range digests, MariaDB → PostgreSQL (real Temporal, real MariaDB)', () => {
  const { dst, my } = useDatabases({ pg: { dst: MYDST }, mysql: { my: MY } });
  const connections = { dst: pgUrl(MYDST), my: mysqlUrl(MY) };
  const config = {
    source: { connection: 'my' },
    target: { connection: 'dst', schema: 'public' },
    tables: ['fam', 'mapped'],
    deletes: 'hard' as const,
    // A decimal read into a double has no canonical form on both sides: that table copies every row.
    typeMap: { [`${MY}.mapped.v`]: 'double precision' },
    ...fast,
  };

  before(async () => {
    await my.query(`CREATE TABLE fam (id int PRIMARY KEY, dec1 decimal(12,3), dbl double, flt float, dt datetime(6), tm time(6),
      txt varchar(50) COLLATE utf8mb4_general_ci, bin varbinary(20), s varchar(20), big bigint, bo tinyint(1))`);
    const values = Array.from({ length: 3000 }, (_, i) => {
      const g = i + 1;
      return `(${g}, ${g}.125, ${g} / 3, ${g} / 7, '2026-01-01 00:00:00' + INTERVAL ${g} SECOND, '01:00:00', 'name ${g}', UNHEX(MD5('${g}')), ${g % 5 === 0 ? 'NULL' : `'v${g}'`}, ${g} * 1000000007, ${g % 2})`;
    });
    await my.query(`INSERT INTO fam VALUES ${values.join(', ')}`);
    await my.query(`CREATE TABLE mapped (id int PRIMARY KEY, v decimal(10,2))`);
    await my.query(`INSERT INTO mapped VALUES (1, 1.25), (2, 2.5)`);
    await syncOk(connections, config); // the first load (full)
  });

  it('finds a one-row change in every column type (floats by their bits, decimal scale, µs, collation, NULL vs empty, bytes), copies only the differing buckets, and says which table copies every row', async () => {
    const ulp = (v: number) => {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(v);
      b.writeBigUInt64BE(b.readBigUInt64BE(0) + 1n);
      return b.readDoubleBE(0).toExponential();
    };
    await my.query(`UPDATE fam SET dbl = ${ulp(101 / 3)} WHERE id = 101`); // one bit of a double
    await my.query(`UPDATE fam SET flt = flt * 1.0000002 WHERE id = 202`);
    await my.query(`UPDATE fam SET dec1 = 303.126 WHERE id = 303`);
    await my.query(`UPDATE fam SET dt = dt + INTERVAL 1 MICROSECOND WHERE id = 404`);
    await my.query(`UPDATE fam SET tm = '01:00:00.000001' WHERE id = 505`);
    await my.query(`UPDATE fam SET txt = 'NAME 606' WHERE id = 606`); // equal under the column's collation
    await my.query(`UPDATE fam SET s = '' WHERE id = 710`); // NULL → ''
    await my.query(`UPDATE fam SET bin = CONCAT(bin, X'00') WHERE id = 808`);
    await my.query(`UPDATE fam SET big = big + 1 WHERE id = 909`);
    await my.query(`UPDATE fam SET bo = 1 - bo WHERE id = 1010`);
    await my.query(`DELETE FROM fam WHERE id = 1111`);
    await my.query(`INSERT INTO fam (id) VALUES (5000)`);
    await dst.query(`INSERT INTO fam (id) VALUES (4000)`); // only in the target
    await my.query(`UPDATE mapped SET v = 3.75 WHERE id = 2`);

    const summary = await syncOk(connections, config);
    const t = summary.tables.find((x) => x.table.endsWith('.fam'))!;
    assert.equal(t.status, 'completed', t.error);
    assert.deepEqual([t.inserted, t.updated, t.deleted], [1, 10, 2]);
    assert.equal(t.rowsCopied + (t.rowsSkipped ?? 0), 3000);
    assert.ok(t.rowsCopied > 0 && t.rowsCopied < 600, `only the differing buckets are copied: ${t.rowsCopied}`);
    assert.equal(t.copiedEveryRow, undefined);
    const m = summary.tables.find((x) => x.table.endsWith('.mapped'))!;
    assert.deepEqual([m.updated, m.rowsCopied, m.rowsSkipped], [1, 2, undefined]);
    assert.match(m.copiedEveryRow ?? '', /column v \(decimal\(10,2\) → double precision\) has no canonical form/);
    // Said in the plan (what a dry run prints) too.
    assert.ok(
      summary.plan?.some((l) => /\.mapped: every row is copied each run \(no range digests\): column v /.test(l)),
      summary.plan?.join('\n'),
    );

    const again = await syncOk(connections, config);
    const u = again.tables.find((x) => x.table.endsWith('.fam'))!;
    assert.deepEqual([u.rowsCopied, u.rowsSkipped, u.updated, u.inserted, u.deleted], [0, 3000, 0, 0, 0]);
  });
  it('reads differing integer buckets as key ranges on MariaDB too (DIV truncates toward zero)', async () => {
    await my.query(`CREATE TABLE neg (id bigint PRIMARY KEY, v varchar(20))`);
    await my.query(`INSERT INTO neg SELECT CAST(seq AS SIGNED) - 1500, CONCAT('v', CAST(seq AS SIGNED) - 1500) FROM seq_0_to_3000`);
    const neg = { ...config, tables: ['neg'], typeMap: {}, partitionThreshold: 1_000, rowsPerPartition: 1_000, batchSize: 500 };
    await syncOk(connections, neg); // the first load (full)
    await my.query(`UPDATE neg SET v = 'changed' WHERE id IN (-1, 1, -1234, 640)`);
    await my.query(`DELETE FROM neg WHERE id IN (-700, 0)`);
    await dst.query(`DELETE FROM neg WHERE id IN (-5, -33)`);
    await dst.query(`INSERT INTO neg VALUES (-2000, 'only in the target')`);
    const [t] = (await syncOk(connections, neg)).tables;
    assert.equal(t.status, 'completed', t.error);
    assert.deepEqual([t.inserted, t.updated, t.deleted], [2, 4, 3]);
    assert.ok(t.rowsCopied > 0 && t.rowsCopied < 600, `only the differing buckets are copied: ${t.rowsCopied}`);
    const rows = (await dst.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE v = 'changed')::int AS c FROM neg`)).rows[0];
    assert.deepEqual(rows, { n: 3001 - 2, c: 4 });
  });
});
