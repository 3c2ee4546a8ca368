import assert from 'node:assert/strict';
import { useDatabases } from '../helpers/databases';
import { pgUrl, tableRows, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';
import { runTestVerify } from '../helpers/verify';

const SRC = testDb('tablesync_it_change_src');
const DST = testDb('tablesync_it_change_dst');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };

// Each pair is equal under its type's `=` but stored differently: a sync must
// see the change and land it.
const CHANGES: [string, string, string, string][] = [
  // column, type, before, after
  ['n', 'numeric', `1.0`, `1.00`],
  ['n2', 'numeric(6,2)', `1.5`, `1.51`],
  // NaN and ±Infinity have no scale: NaN -> -Infinity is a change, and a rerun (and row 100, NaN on both sides) none.
  ['nn', 'numeric', `'NaN'`, `'-Infinity'`],
  ['iv', 'interval', `'30 days'`, `'1 mon'`],
  ['iv2', 'interval', `'1 day'`, `'24 hours'`],
  ['f', 'double precision', `'0'`, `'-0'`],
  ['r4', 'real', `'0'`, `'-0'`],
  ['j', 'jsonb', `'{"a":1.0}'`, `'{"a":1.00}'`],
  ['nr', 'numrange', `'[1.0,2)'`, `'[1.00,2)'`],
  ['na', 'numeric[]', `'{1.0}'`, `'{1.00}'`],
  ['ci', 'citext', `'abc'`, `'ABC'`],
  ['nd', 'text COLLATE ci', `'abc'`, `'ABC'`],
  ['ndv', 'varchar(10) COLLATE ci', `'abc'`, `'ABC'`],
  ['tz', 'timetz', `'10:00+01'`, `'09:00+00'`],
];

describe('change detection compares stored values, not type equality', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });
  const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.vals'], mode: 'incremental' as const };

  before(async () => {
    // The same table and rows on both sides: row i + 1 holds change i's "before"; row 100 is left alone.
    for (const db of [src, dst]) {
      await db.query('CREATE EXTENSION citext');
      await db.query(`CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`);
      await db.query(`CREATE TABLE vals (id int PRIMARY KEY, ${CHANGES.map(([c, t]) => `${c} ${t}`).join(', ')})`);
      await db.query(`INSERT INTO vals (id, ${CHANGES.map(([c]) => c).join(', ')})
        SELECT CASE WHEN g > ${CHANGES.length} THEN 100 ELSE g END, ${CHANGES.map(([, , before]) => before).join(', ')}
        FROM generate_series(1, ${CHANGES.length + 1}) g`);
    }
  });

  it('detects every equal-but-different value as updated and lands it; untouched rows stay unchanged', async () => {
    for (const [i, [column, , , after]] of CHANGES.entries()) {
      await src.query(`UPDATE vals SET ${column} = ${after} WHERE id = $1`, [i + 1]);
    }
    const first = await syncOk(connections, config);
    const [t] = first.tables;
    assert.deepEqual([t.status, t.inserted, t.updated, t.unchanged], ['completed', 0, CHANGES.length, 1], t.error);
    assert.deepEqual(await tableRows(dst, 'vals'), await tableRows(src, 'vals'));

    const again = await syncOk(connections, config);
    assert.deepEqual([again.tables[0].updated, again.tables[0].unchanged], [0, CHANGES.length + 1]);
  });

  it('verify --repair repairs a value that differs only in its stored form', async () => {
    await dst.query(`UPDATE vals SET n = 1.000, iv = '720 hours', ci = 'aBc' WHERE id = 100`);
    const found = await runTestVerify(connections, { config });
    assert.equal(found.matches, false);
    const repaired = await runTestVerify(connections, { config, repair: true });
    assert.equal(repaired.matches, true, JSON.stringify(repaired.tables[0]));
    assert.deepEqual(await tableRows(dst, 'vals'), await tableRows(src, 'vals'));
  });
});
