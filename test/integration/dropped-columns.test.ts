import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { FAST_RETRY, syncOk } from '../helpers/run';

// A column dropped from the source is kept in the target and no longer
// written. If the target column is NOT NULL (it was NOT NULL in the source),
// every row inserted after the drop would fail: kept-not-written means
// nullable from then on, and the plan says so.
const SRC = testDb('tablesync_it_dropnn_src');
const DST = testDb('tablesync_it_dropnn_dst');
const MY = testDb('tablesync_it_dropnn_my');
const pg = { src: pgUrl(SRC), dst: pgUrl(DST) };
const my = { my: mysqlUrl(MY), dst: pgUrl(DST) };

const sync = (connections: Record<string, string>, config: object) => syncOk(connections, { ...FAST_RETRY, ...config }, 'dropnn');
const rows = async (db: Pool, sql: string) => (await db.query(sql)).rows;
const notNull = async (db: Pool, table: string, column: string) =>
  (await db.query(`SELECT attnotnull FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2`, [table, column])).rows[0]?.attnotnull;

describe('a dropped NOT NULL source column (real MariaDB, PostgreSQL, Temporal)', () => {
  const { src, dst, mdb } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { mdb: MY } }, { perTest: true });

  for (const write of ['upsert', 'append'] as const) {
    it(`MariaDB cursor (write: ${write}): rows inserted after the drop land, the column becomes nullable, the plan says so`, async () => {
      await mdb.query(`CREATE TABLE pedidos (id int PRIMARY KEY, status varchar(20) NOT NULL, updated_at datetime NOT NULL)`);
      await mdb.query(`INSERT INTO pedidos VALUES (1, 'novo', '2026-01-01 10:00:00'), (2, 'pago', '2026-01-01 10:00:00')`);
      const config = { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table: 'pedidos', mode: 'cursor', cursor: 'updated_at', write }] };
      await sync(my, config);
      assert.equal(await notNull(dst, 'pedidos', 'status'), true, 'NOT NULL carried over by the first run');
      await mdb.query('ALTER TABLE pedidos DROP COLUMN status');
      await mdb.query(`INSERT INTO pedidos VALUES (3, '2026-01-02 10:00:00')`);
      const after = await sync(my, config);
      const t = after.tables[0];
      assert.equal(t.status, 'completed', t.error);
      assert.equal(await notNull(dst, 'pedidos', 'status'), false);
      assert.ok(after.plan?.some((l) => /column "status" made nullable in the target: no longer written/.test(l)), after.plan?.join('\n'));
      // An append table holds one version of each key here; its _latest view has only the columns still synced.
      assert.deepEqual(await rows(dst, `SELECT id, status FROM pedidos ORDER BY id`), [
        { id: 1, status: 'novo' },
        { id: 2, status: 'pago' },
        { id: 3, status: null },
      ]);
      // Said once: the next run has nothing to change.
      const again = await sync(my, config);
      assert.equal(again.tables[0].status, 'completed', again.tables[0].error);
      assert.ok(!again.plan?.some((l) => /made nullable/.test(l)), again.plan?.join('\n'));
    });
  }

  it('PostgreSQL compare: a NOT NULL target column the source no longer has is made nullable; schemaChanges: fail refuses naming it', async () => {
    await src.query(`CREATE TABLE clientes (id int PRIMARY KEY, nome text NOT NULL, telefone text NOT NULL)`);
    await src.query(`INSERT INTO clientes VALUES (1, 'a', '11'), (2, 'b', '12')`);
    const config = (extra: object = {}) => ({ source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['clientes'], ...extra });
    await sync(pg, { ...config(), mode: 'full' });
    await src.query(`ALTER TABLE clientes DROP COLUMN telefone`);
    await src.query(`INSERT INTO clientes VALUES (3, 'c')`);

    const refused = await sync(pg, config({ schemaChanges: 'fail' }));
    assert.equal(refused.tables[0].status, 'failed');
    assert.match(refused.tables[0].error ?? '', /column "telefone" is NOT NULL in the target but no longer in the source/);
    assert.equal(await notNull(dst, 'clientes', 'telefone'), true, 'refused: nothing changed');

    const evolved = await sync(pg, config());
    assert.equal(evolved.tables[0].status, 'completed', evolved.tables[0].error);
    assert.equal(evolved.tables[0].inserted, 1);
    assert.deepEqual(await rows(dst, 'SELECT id, telefone FROM clientes ORDER BY id'), [
      { id: 1, telefone: '11' },
      { id: 2, telefone: '12' },
      { id: 3, telefone: null },
    ]);
    assert.equal(await notNull(dst, 'clientes', 'telefone'), false);
  });

  it('a NOT NULL target-only column with a default is left as it is: inserts take the default', async () => {
    await src.query(`CREATE TABLE contas (id int PRIMARY KEY, nome text)`);
    await src.query(`INSERT INTO contas VALUES (1, 'a')`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['contas'] };
    await sync(pg, { ...config, mode: 'full' });
    await dst.query(`ALTER TABLE contas ADD COLUMN origem text NOT NULL DEFAULT 'legado'`);
    await src.query(`INSERT INTO contas VALUES (2, 'b')`);
    const next = await sync(pg, config);
    assert.equal(next.tables[0].status, 'completed', next.tables[0].error);
    assert.equal(await notNull(dst, 'contas', 'origem'), true);
    assert.deepEqual(await rows(dst, 'SELECT id, origem FROM contas ORDER BY id'), [{ id: 1, origem: 'legado' }, { id: 2, origem: 'legado' }]);
  });
});
