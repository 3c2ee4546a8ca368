import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import { useDatabases } from '../helpers/databases';
import { pgUrl, testDb } from '../helpers/pg';
import { FAST_RETRY, syncOk } from '../helpers/run';
import { runTestVerify } from '../helpers/verify';

// verify --repair re-syncs the key ranges that differ. Rows the source lacks
// leave the target the way the table's own delete rule says: marked with
// deletes: soft, never hard-deleted behind the config's back.
const SRC = testDb('tablesync_it_repairrule_src');
const DST = testDb('tablesync_it_repairrule_dst');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };

const ids = async (db: Pool, sql: string) => (await db.query(sql)).rows.map((r) => r.id);

describe('verify --repair follows the table\'s delete rule (real PostgreSQL, Temporal)', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } }, { perTest: true });
  beforeEach(async () => {
    await src.query(`CREATE TABLE items (id int PRIMARY KEY, v text, updated_at timestamp(6) NOT NULL)`);
    await src.query(`INSERT INTO items SELECT g, 'v' || g, '2026-01-01'::timestamp + g * interval '1 minute' FROM generate_series(1, 20) g`);
  });

  for (const where of ['the table', 'the config'] as const) {
    // A cursor table takes deletes: ignore only (the config refuses soft there): the rule is exercised on an auto/compare table.
    it(`a table with deletes: soft (set on ${where}): a row the source lacks is not deleted by the repair`, async () => {
      const entry = { table: 'items', ...(where === 'the table' && { deletes: 'soft' }) };
      const config = { ...FAST_RETRY, source: { connection: 'src' }, target: { connection: 'dst' }, tables: [entry], ...(where === 'the config' && { deletes: 'soft' }) };
      await syncOk(connections, config);
      await src.query(`DELETE FROM items WHERE id = 7`);
      await dst.query(`UPDATE items SET v = 'drift' WHERE id = 3`);
      const repaired = await runTestVerify(connections, { config, repair: true });
      const [t] = repaired.tables;
      assert.equal(t.repaired > 0, true, JSON.stringify(t));
      assert.deepEqual(await ids(dst, `SELECT id FROM items WHERE id = 7`), [7], 'the row is still in the target');
      assert.deepEqual((await dst.query(`SELECT v FROM items WHERE id = 3`)).rows, [{ v: 'v3' }], 'the changed row is repaired');
      // Marked, if the table has its flag column; otherwise left as it is, said so, and still a difference.
      const flagged = (await dst.query(`SELECT 1 FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'is_deleted'`)).rowCount === 1;
      if (flagged) {
        assert.deepEqual(await ids(dst, `SELECT id FROM items WHERE is_deleted`), [7]);
        assert.equal(repaired.matches, true, JSON.stringify(t));
      } else {
        assert.match(t.notes?.join('\n') ?? '', /deletes: soft/, JSON.stringify(t));
        assert.equal(repaired.matches, false, 'the row the source lacks still differs');
      }
    });
  }

  it('a table with deletes: hard or ignore: the repair deletes the row the source lacks, as before', async () => {
    const config = { ...FAST_RETRY, source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'items', mode: 'cursor', cursor: 'updated_at' }] };
    await syncOk(connections, config);
    await src.query(`DELETE FROM items WHERE id = 7`);
    const repaired = await runTestVerify(connections, { config, repair: true });
    assert.equal(repaired.matches, true, JSON.stringify(repaired.tables[0]));
    assert.deepEqual(await ids(dst, `SELECT id FROM items WHERE id = 7`), []);
  });
});
