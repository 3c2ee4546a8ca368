import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import { runLocalCli } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';

const SRC = testDb('tablesync_it_generated_src');
const DST = testDb('tablesync_it_generated_dst');
const MY = testDb('tablesync_it_generated_my');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST), my: mysqlUrl(MY) };
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000 } };

/** `tablesync run --config <config> --local` against the test dev server: exit code and output. */
const cliRun = (config: unknown) => runLocalCli(['run'], config, { src: connections.src, dst: connections.dst });

async function rows(pool: Pool, sql: string): Promise<Record<string, unknown>[]> {
  return (await pool.query(sql)).rows;
}

describe('generated columns and columns the target lacks (issue 14 items 8 and 10)', () => {
  const { src, dst, my } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { my: MY } });

  describe('PostgreSQL source', () => {
    const sync = (tables: string[], targetSchema = 'public') =>
      syncOk(connections, { source: { connection: 'src' }, target: { connection: 'dst', schema: targetSchema }, tables, ...fast });

    before(async () => {
      await src.query(`CREATE TABLE orders (id int PRIMARY KEY, qty int NOT NULL, price numeric(10,2) NOT NULL,
          total numeric GENERATED ALWAYS AS (qty * price) STORED, label text GENERATED ALWAYS AS ('#' || id) STORED, note text)`);
      await src.query(`INSERT INTO orders (id, qty, price, note) VALUES (1, 2, 1.50, 'a'), (2, 3, 10.00, NULL)`);
    });

    it('copies generated source columns as ordinary target columns, says so in the plan, and keeps them in step', async () => {
      const first = await sync(['public.orders']);
      assert.equal(first.tables[0].status, 'completed', first.tables[0].error);
      assert.equal(first.tables[0].mode, 'full');
      for (const c of ['total', 'label']) {
        assert.ok(
          first.plan?.includes(`public.orders: column "${c}" is generated in the source: its values are copied into an ordinary target column`),
          `plan says so for ${c}: ${first.plan}`,
        );
      }
      const cols = await rows(dst, `SELECT attname, attgenerated FROM pg_attribute WHERE attrelid = 'public.orders'::regclass AND attnum > 0 ORDER BY attnum`);
      assert.deepEqual(cols.map((c) => `${c.attname}${c.attgenerated ? ' generated' : ''}`), ['id', 'qty', 'price', 'total', 'label', 'note']);
      assert.deepEqual(await rows(dst, 'SELECT id, total::text, label FROM public.orders ORDER BY id'), [
        { id: 1, total: '3.00', label: '#1' },
        { id: 2, total: '30.00', label: '#2' },
      ]);

      await src.query('UPDATE orders SET qty = 5 WHERE id = 2');
      const second = await sync(['public.orders']);
      assert.equal(second.tables[0].mode, 'compare');
      assert.equal(second.tables[0].updated, 1);
      assert.deepEqual(second.tables[0].warnings, []);
      assert.deepEqual(await rows(dst, 'SELECT id, total::text FROM public.orders ORDER BY id'), [
        { id: 1, total: '3.00' },
        { id: 2, total: '50.00' },
      ]);
    });

    it('leaves a target that computes its own generated column to compute it, and writes the rest', async () => {
      await dst.query('CREATE SCHEMA own');
      await dst.query(`CREATE TABLE own.orders (id int PRIMARY KEY, qty int NOT NULL, price numeric(10,2) NOT NULL,
          total numeric GENERATED ALWAYS AS (qty * price * 100) STORED, label text, note text)`);
      await dst.query(`INSERT INTO own.orders (id, qty, price, label, note) VALUES (1, 1, 1.50, 'old', 'a')`);
      // Without the exclusion this run fails: "cannot insert a non-DEFAULT value into column total".
      const summary = await sync(['public.orders'], 'own');
      const [t] = summary.tables;
      assert.equal(t.status, 'completed', t.error);
      assert.equal(t.mode, 'compare');
      assert.ok(
        summary.plan?.includes('public.orders: column "total" is generated in the target, which computes its values: not written'),
        `plan: ${summary.plan}`,
      );
      assert.deepEqual(await rows(dst, 'SELECT id, qty, total::text, label FROM own.orders ORDER BY id'), [
        { id: 1, qty: 2, total: '300.00', label: '#1' },
        { id: 2, qty: 5, total: '5000.00', label: '#2' },
      ]);
      assert.deepEqual(t.warnings, []);
    });

    it('adds a source column the target lacks (schema evolution) and fills it, instead of leaving it out', async () => {
      await src.query('CREATE TABLE grows (id int PRIMARY KEY, a text)');
      await src.query(`INSERT INTO grows VALUES (1, 'x')`);
      assert.equal((await sync(['public.grows'])).tables[0].mode, 'full');
      await src.query('ALTER TABLE grows ADD COLUMN phone varchar(20)');
      await src.query(`UPDATE grows SET phone = '555'`);
      const summary = await sync(['public.grows']);
      const [t] = summary.tables;
      assert.equal(t.status, 'completed', t.error);
      assert.deepEqual([t.updated, t.warnings], [1, []]);
      assert.ok(summary.plan?.includes('public.grows: column "phone" was added to the source: added to the target as character varying(20)'), summary.plan?.join('\n'));
      assert.deepEqual((await dst.query('SELECT id, a, phone FROM grows')).rows, [{ id: 1, a: 'x', phone: '555' }]);
      // The CLI prints the table as synced, with nothing left to warn about.
      const cli = await cliRun({ source: { connection: 'src' }, target: { connection: 'dst', schema: 'public' }, tables: ['public.grows'] });
      assert.equal(cli.code, 0, cli.out);
      assert.match(cli.out, /ok {5}public\.grows → public\.grows: 0 inserted, 0 updated, 1 unchanged\n/);
      assert.doesNotMatch(cli.out, /warning/);
    });
  });

  describe('MariaDB source', () => {
    const sync = () =>
      syncOk(connections, { source: { connection: 'my' }, target: { connection: 'dst', schema: 'mariadb' }, tables: ['items'], ...fast });

    it('copies VIRTUAL, PERSISTENT and STORED columns, and keeps a DEFAULT CURRENT_TIMESTAMP column, full load then incremental', async () => {
      await my.query(`CREATE TABLE items (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL,
          v int AS (a + b) VIRTUAL, p int AS (a * b) PERSISTENT, s varchar(20) AS (CONCAT('s', a - b)) STORED,
          created timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`);
      await my.query(`INSERT INTO items (id, a, b, created) VALUES (1, 2, 3, '2024-01-01 00:00:00'), (2, 10, 4, '2024-01-02 00:00:00')`);
      const first = await sync();
      assert.equal(first.tables[0].status, 'completed', first.tables[0].error);
      for (const c of ['v', 'p', 's']) {
        assert.ok(first.plan?.some((l) => l.endsWith(`items: column "${c}" is generated in the source: its values are copied into an ordinary target column`)), `${c}: ${first.plan}`);
      }
      assert.ok(!first.plan?.some((l) => l.includes('"created"')), 'an expression default is no generated column');
      const want = (v2: number, p2: number, s2: string) => [
        { id: 1, v: 5, p: 6, s: 's-1', created: '2024-01-01 00:00:00+00' },
        { id: 2, v: v2, p: p2, s: s2, created: '2024-01-02 00:00:00+00' },
      ];
      const read = () => rows(dst, `SELECT id, v, p, s, to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00' AS created FROM mariadb.items ORDER BY id`);
      assert.deepEqual(await read(), want(14, 40, 's6'));

      await my.query('UPDATE items SET a = 20 WHERE id = 2');
      const second = await sync();
      assert.equal(second.tables[0].mode, 'compare');
      assert.equal(second.tables[0].updated, 1);
      assert.deepEqual(await read(), want(24, 80, 's16'));
    });
  });
});
