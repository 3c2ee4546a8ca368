import assert from 'node:assert/strict';
import { runLocalCli } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';
import { runTestVerify } from '../helpers/verify';

const SRC = testDb('tablesync_it_vexact_src');
const DST = testDb('tablesync_it_vexact_dst');
const MY = testDb('tablesync_it_vexact_my');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST), my: mysqlUrl(MY) };
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000 } };
/** `tablesync <args> --config <config> --local` against the test dev server: exit code and output. */
const cli = (args: string[], config: unknown) => runLocalCli(args, config, { src: connections.src, dst: connections.dst });

describe('verification that cannot say "equal" when it is not', () => {
  const { src, dst, my } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { my: MY } });

  describe('the canonical row text is injective', () => {
    // Row i (source value, target value): pairs the old encoding hashed alike.
    const CASES: [string, string, string][] = [
      ['d', `'0044-03-15 BC'`, `'0044-03-15'`],
      ['ts', `'0044-03-15 10:00 BC'`, `'0044-03-15 10:00'`],
      ['tstz', `'0044-03-15 10:00+00 BC'`, `'0044-03-15 10:00+00'`],
      ['ts', `'infinity'`, `NULL`],
      ['ts', `'-infinity'`, `'infinity'`],
      ['d', `'infinity'`, `NULL`],
      ['a', `E'x\\x1fy'`, `'x'`], // with b: 'z' and E'y\x1fz'
      ['a', `E'\\x1e'`, `NULL`],
      ['a', `'1:x'`, `'2:1:x'`],
      ['tt', `'10:00+01'`, `'09:00+00'`],
      ['f', `'0'`, `'-0'`],
      ['r', `'0.1'`, `'0.1000001'`],
      ['iv', `'1 day'`, `'24 hours'`],
    ];
    const table = `enc (id int PRIMARY KEY, a text, b text, d date, ts timestamp, tstz timestamptz, tt timetz,
                        f float8, r real, iv interval)`;
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.enc'], verifyRowsPerRange: 1, ...fast };

    before(async () => {
      for (const [db, side] of [[src, 1], [dst, 2]] as const) {
        await db.query(`CREATE TABLE ${table}`);
        for (const [i, c] of CASES.entries()) await db.query(`INSERT INTO enc (id, ${c[0]}) VALUES ($1, ${c[side]})`, [i + 1]);
        await db.query(`UPDATE enc SET b = ${side === 1 ? `'z'` : `E'y\\x1fz'`} WHERE id = 7`);
        // The last row holds a value in every column, the same on both sides.
        await db.query(`INSERT INTO enc VALUES (${CASES.length + 1}, 'a', 'b', '2026-01-02', '2026-01-02 03:04:05.5', '2026-01-02 03:04:05.5+02',
                          '10:11:12.5-03', 0.1, 0.1, '1 mon 2 days 03:04:05.5')`);
        await db.query('ANALYZE enc');
      }
    });

    it('tells every such pair apart, floats and timetz included, and repairs them', async () => {
      const found = await runTestVerify(connections, { config });
      assert.equal(found.matches, false);
      const [t] = found.tables;
      assert.equal(t.ranges, CASES.length + 1);
      assert.deepEqual(
        t.differing.map((r) => r.range.hi),
        CASES.map((_, i) => String(i + 1)),
      );
      assert.deepEqual(t.differing[0].skippedColumns, []);

      const repaired = await runTestVerify(connections, { config, repair: true });
      assert.equal(repaired.matches, true, JSON.stringify(repaired.tables[0].differing));
      const again = await runTestVerify(connections, { config });
      assert.equal(again.matches, true);
    });
  });

  it('computes equal checksums on equal MariaDB data with zerofill numbers and time mapped to interval', async () => {
    await my.query(`CREATE TABLE zf (id int PRIMARY KEY, i int(6) zerofill, u bigint unsigned zerofill, d decimal(8,3) zerofill,
                      t time(6), t0 time)`);
    await my.query(`INSERT INTO zf VALUES (1, 42, 7, 1.5, '-00:00:00.5', '838:59:59'), (2, 0, 0, 0, '01:02:03.000001', '-838:59:59'),
                      (3, NULL, NULL, NULL, NULL, NULL), (4, 999999, 18446744073709551615, 99999.999, '00:00:00', '23:59:59')`);
    const myConfig = {
      source: { connection: 'my' },
      target: { connection: 'dst', schema: 'public' },
      tables: ['zf'],
      typeMap: { time: 'interval' },
      ...fast,
    };
    await syncOk(connections, myConfig);
    const ok = await runTestVerify(connections, { config: myConfig });
    assert.equal(ok.matches, true, JSON.stringify(ok.tables[0]));

    await my.query(`UPDATE zf SET t = '-00:00:00.4' WHERE id = 1`);
    const drift = await runTestVerify(connections, { config: myConfig });
    assert.equal(drift.matches, false);
  });

  it('fails a table whose verifyAfterSync differs, and the run exits 1', async () => {
    for (const db of [src, dst]) {
      await db.query('CREATE TABLE trig (id int PRIMARY KEY, name text)');
      await db.query(`INSERT INTO trig VALUES (1, 'one'), (2, 'two')`);
    }
    // The target rewrites every row it is sent: the sync "succeeds", the data differs.
    await dst.query(`CREATE FUNCTION mangle() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := NEW.name || '!'; RETURN NEW; END $$`);
    await dst.query('CREATE TRIGGER mangle BEFORE UPDATE ON trig FOR EACH ROW EXECUTE FUNCTION mangle()');
    await src.query(`UPDATE trig SET name = 'uno' WHERE id = 1`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.trig'], verifyAfterSync: true, ...fast };
    const summary = await syncOk(connections, config);
    const [t] = summary.tables;
    assert.deepEqual([t.status, summary.tablesFailed, t.updated, t.verification?.matches], ['failed', 1, 1, false]);
    assert.match(t.error ?? '', /verify: 1 of 1 key range differ \(2 source rows, 2 target rows\)/);
    assert.match(summary.message, /Verified 1 table: 1 differ/);

    await src.query(`UPDATE trig SET name = 'dos' WHERE id = 2`);
    const run = await cli(['run'], config);
    assert.equal(run.code, 1, run.out);
    assert.match(run.out, /FAILED public\.trig → public\.trig: .*verify: 1 of 1 key range differ/);
  });

  it('verify exits non-zero, saying why, when a target table is missing, empty or keyed differently', async () => {
    for (const db of [src, dst]) {
      await db.query('CREATE TABLE good (id int PRIMARY KEY, v text)');
      await db.query(`INSERT INTO good VALUES (1, 'a')`);
    }
    await src.query('CREATE TABLE gone (id int PRIMARY KEY)');
    await src.query('INSERT INTO gone VALUES (1)');
    await src.query('CREATE TABLE hollow (id int PRIMARY KEY)');
    await src.query('INSERT INTO hollow VALUES (1)');
    await dst.query('CREATE TABLE hollow (id int PRIMARY KEY)');
    await src.query('CREATE TABLE rekeyed (id int PRIMARY KEY, other int NOT NULL)');
    await src.query('INSERT INTO rekeyed VALUES (1, 1)');
    await dst.query('CREATE TABLE rekeyed (id int, other int PRIMARY KEY)');
    await dst.query('INSERT INTO rekeyed VALUES (1, 1)');
    const tables = ['public.good', 'public.gone', 'public.hollow', 'public.rekeyed'];
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables, ...fast };

    const result = await runTestVerify(connections, { config });
    assert.equal(result.matches, false);
    assert.deepEqual(
      result.tables.map((t) => [t.table, t.matches]),
      [['public.good', true]],
    );
    assert.deepEqual(
      result.skipped.map((s) => s.table),
      ['public.gone', 'public.hollow', 'public.rekeyed'],
    );
    assert.match(result.message, /1 table checked, 0 differ, 3 could not be compared/);

    const bad = await cli(['verify'], config);
    assert.equal(bad.code, 1, bad.out);
    assert.match(bad.out, /NOT CHECKED public\.gone: target table public\.gone does not exist/);
    assert.match(bad.out, /NOT CHECKED public\.hollow: target table public\.hollow is empty/);
    assert.match(bad.out, /NOT CHECKED public\.rekeyed: target primary key \(other\) differs/);

    const good = await cli(['verify', 'public.good'], config);
    assert.equal(good.code, 0, good.out);
  });
});
