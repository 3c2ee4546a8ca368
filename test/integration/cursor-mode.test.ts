import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import { useDatabases } from '../helpers/databases';
import { duplicateKeys } from '../helpers/guarantees';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { failureChain, runSyncInProcess, syncOk, FAST_RETRY } from '../helpers/run';

// The seeds' cursor scenarios and the boundary traps, on real databases.
const SRC = testDb('tablesync_it_cursor_src');
const DST = testDb('tablesync_it_cursor_dst');
const MY = testDb('tablesync_it_cursor_my');
const pg = { src: pgUrl(SRC), dst: pgUrl(DST) };
const my = { my: mysqlUrl(MY), dst: pgUrl(DST) };

const sync = (connections: Record<string, string>, config: object, prefix = 'cursor') => syncOk(connections, { ...FAST_RETRY, ...config }, prefix);

const rows = async (db: Pool, sql: string) => (await db.query(sql)).rows;

describe('cursor mode (real PostgreSQL, MariaDB, Temporal)', () => {
  const { src, dst, mdb } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { mdb: MY } }, { perTest: true });

  describe('the Airbyte tutorial on PostgreSQL', () => {
    beforeEach(async () => {
      await src.query(`CREATE TABLE table_one (id integer PRIMARY KEY, name varchar(200), updated_at timestamp DEFAULT now() NOT NULL)`);
      await src.query(`INSERT INTO table_one VALUES (1, 'Eg1 IncApp', '2022-09-01 11:01:41.666004'), (2, 'Eg2 IncApp', '2022-09-01 11:01:41.666004')`);
    });

    it('write: upsert keeps only the latest version; the second run reads just the changed row', async () => {
      const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'table_one', mode: 'cursor', cursor: 'updated_at' }] };
      const first = await sync(pg, config);
      assert.deepEqual(first.tables.map((t) => [t.mode, t.status, t.inserted]), [['cursor', 'completed', 2]]);
      await src.query(`UPDATE table_one SET name = 'Eg2b IncAp', updated_at = '2022-09-01 11:16:38.093877' WHERE id = 2`);
      const second = await sync(pg, config);
      const [t] = second.tables;
      // Inclusive cursor: the row at the saved value (id 1) is read again, unchanged; id 2 is the one record emitted.
      assert.deepEqual([t.rowsCopied, t.inserted, t.updated, t.unchanged], [2, 0, 1, 1]);
      assert.deepEqual(await rows(dst, 'SELECT id, name FROM table_one ORDER BY id'), [
        { id: 1, name: 'Eg1 IncApp' },
        { id: 2, name: 'Eg2b IncAp' },
      ]);
      const state = await rows(dst, `SELECT cursor_value, mode, write FROM _tablesync_tables WHERE target_table = 'table_one'`);
      assert.deepEqual(state, [{ cursor_value: '2022-09-01 11:16:38.093877', mode: 'cursor', write: 'upsert' }]);
      const third = await sync(pg, config);
      assert.deepEqual([third.tables[0].rowsCopied, third.tables[0].updated], [1, 0], 'only the row at the saved cursor is read again');
      const history = await rows(dst, `SELECT action, changed_by FROM _tablesync_table_history ORDER BY id`);
      assert.deepEqual(history.map((h) => h.action), ['run', 'run', 'run']);
      assert.equal(history[0].changed_by, first.workflowId);
    });

    it('write: append keeps both versions of id 2, never the same version twice, and table_one_latest shows one', async () => {
      const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'table_one', mode: 'cursor', cursor: 'updated_at', write: 'append' }] };
      await sync(pg, config);
      await src.query(`UPDATE table_one SET name = 'Eg2b IncAp', updated_at = '2022-09-01 11:16:38.093877' WHERE id = 2`);
      const second = await sync(pg, config);
      assert.deepEqual([second.tables[0].inserted, second.tables[0].unchanged], [1, 1], 'one record emitted; the boundary row is not appended again');
      assert.deepEqual(await rows(dst, 'SELECT id, name FROM table_one ORDER BY id, updated_at'), [
        { id: 1, name: 'Eg1 IncApp' },
        { id: 2, name: 'Eg2 IncApp' },
        { id: 2, name: 'Eg2b IncAp' },
      ]);
      assert.deepEqual(await rows(dst, 'SELECT id, name FROM table_one_latest ORDER BY id'), [
        { id: 1, name: 'Eg1 IncApp' },
        { id: 2, name: 'Eg2b IncAp' },
      ]);
      const meta = await rows(dst, `SELECT count(*)::int AS n FROM table_one WHERE _tablesync_synced_at IS NOT NULL AND _tablesync_run_id <> ''`);
      assert.equal(meta[0].n, 3);
      await sync(pg, config);
      assert.equal((await rows(dst, 'SELECT count(*)::int AS n FROM table_one'))[0].n, 3, 'a rerun appends nothing');
    });
  });

  describe('boundary traps, each row landing exactly once', () => {
    beforeEach(async () => {
      await src.query(`CREATE TABLE ev (id integer PRIMARY KEY, v text, ts timestamp(6) NOT NULL)`);
      await src.query(`INSERT INTO ev VALUES (1, 'a', '2026-01-01 10:00:00.000001'), (2, 'b', '2026-01-01 10:00:00.000005')`);
    });
    const config = (extra: object = {}) => ({
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: [{ table: 'ev', mode: 'cursor', cursor: 'ts', ...extra }],
    });

    it('a row sharing the saved cursor value that arrives after the previous run is picked up', async () => {
      await sync(pg, config());
      await src.query(`INSERT INTO ev VALUES (3, 'tie', '2026-01-01 10:00:00.000005')`);
      const second = await sync(pg, config());
      assert.equal(second.tables[0].inserted, 1);
      assert.deepEqual((await rows(dst, 'SELECT id FROM ev ORDER BY id')).map((r) => r.id), [1, 2, 3]);
    });

    it('a value equal to the saved one except in its 6th fractional digit is neither lost nor doubled', async () => {
      await sync(pg, config());
      await src.query(`INSERT INTO ev VALUES (4, 'later by 1 µs', '2026-01-01 10:00:00.000006'), (5, 'earlier by 1 µs', '2026-01-01 10:00:00.000004')`);
      const second = await sync(pg, config());
      assert.equal(second.tables[0].inserted, 1, 'the later value is read; the earlier one is below the cursor (a late commit: see lookback)');
      assert.deepEqual((await rows(dst, 'SELECT id FROM ev ORDER BY id')).map((r) => r.id), [1, 2, 4]);
      const [state] = await rows(dst, `SELECT cursor_value FROM _tablesync_tables`);
      assert.equal(state.cursor_value, '2026-01-01 10:00:00.000006', 'all six digits kept');
    });

    it('a row committed late with an older cursor value is picked up when it falls inside the lookback window', async () => {
      await sync(pg, config({ lookback: '5 minutes' }));
      await src.query(`INSERT INTO ev VALUES (6, 'late commit', '2026-01-01 09:57:00')`);
      await src.query(`INSERT INTO ev VALUES (7, 'too late', '2026-01-01 09:50:00')`);
      const second = await sync(pg, config({ lookback: '5 minutes' }));
      assert.equal(second.tables[0].inserted, 1);
      assert.deepEqual((await rows(dst, 'SELECT id FROM ev ORDER BY id')).map((r) => r.id), [1, 2, 6]);
    });

    it('a target dropped or emptied after a run is read again from the start, not from the saved cursor', async () => {
      await sync(pg, config());
      await dst.query('DROP TABLE ev');
      const again = await sync(pg, config());
      assert.equal(again.tables[0].inserted, 2, 'every row, though the saved cursor is past both');
      await dst.query('TRUNCATE ev');
      const third = await sync(pg, config());
      assert.equal(third.tables[0].inserted, 2);
      assert.deepEqual((await rows(dst, 'SELECT id FROM ev ORDER BY id')).map((r) => r.id), [1, 2]);
    });

    it('a table read in many key chunks picks up changed rows of the first and the last chunk, once each', async () => {
      await src.query(`INSERT INTO ev SELECT g, 'x', '2026-01-01 10:00:00'::timestamp + g * interval '1 second' FROM generate_series(10, 2000) g`);
      const small = { batchSize: 200 };
      await sync(pg, { ...config(), ...small });
      await src.query(`UPDATE ev SET v = 'changed', ts = '2026-01-01 10:50:00' WHERE id = 11`);
      await src.query(`UPDATE ev SET v = 'changed', ts = '2026-01-01 10:40:00' WHERE id = 1999`);
      const second = await sync(pg, { ...config(), ...small });
      assert.equal(second.tables[0].updated, 2);
      assert.equal(await duplicateKeys(dst, 'public.ev', ['id']), 0);
      assert.deepEqual(await rows(dst, `SELECT id FROM ev WHERE v = 'changed' ORDER BY id`), [{ id: 11 }, { id: 1999 }]);
    });
  });

  describe('dadosfera on MariaDB: cadastros.pedidos in cursor mode', () => {
    beforeEach(async () => {
      await mdb.query(`CREATE TABLE pedidos (id int PRIMARY KEY, cliente_id int, valor decimal(12,2), status varchar(20),
        created_at datetime(6), updated_at datetime(6) NOT NULL)`);
      await mdb.query(`INSERT INTO pedidos VALUES
        (1, 10, 100.50, 'novo', '2025-12-17 17:00:00', '2025-12-17 17:00:00.000001'),
        (2, 11, 200.00, 'novo', '2025-12-17 17:10:00', '2025-12-17 17:10:00'),
        (3, 12, 300.25, 'pago', '2025-12-17 17:20:00', '2025-12-17 17:20:00')`);
    });
    const config = (write: 'upsert' | 'append') => ({
      source: { connection: 'my' },
      target: { connection: 'dst', schema: 'cadastros' },
      tables: [{ table: 'pedidos', mode: 'cursor', cursor: 'updated_at', write }],
    });

    it('append keeps every version; upsert keeps one row per id; both read only rows past the saved cursor', async () => {
      const first = await sync(my, config('append'));
      assert.equal(first.tables[0].inserted, 3);
      await mdb.query(`UPDATE pedidos SET status = 'pago', updated_at = '2025-12-17 17:49:00.123456' WHERE id = 1`);
      await mdb.query(`UPDATE pedidos SET status = 'enviado', updated_at = '2025-12-17 17:55:00' WHERE id = 1`);
      const second = await sync(my, config('append'));
      // Read: id 3 at the saved cursor (inclusive; its version is already there) and id 1 past it.
      assert.deepEqual([second.tables[0].rowsCopied, second.tables[0].inserted], [2, 1], 'only rows at or past the saved cursor');
      assert.deepEqual(await rows(dst, 'SELECT id, status FROM cadastros.pedidos ORDER BY id, updated_at'), [
        { id: 1, status: 'novo' },
        { id: 1, status: 'enviado' },
        { id: 2, status: 'novo' },
        { id: 3, status: 'pago' },
      ]);
      const [state] = await rows(dst, `SELECT cursor_value FROM _tablesync_tables WHERE target_table = 'pedidos'`);
      assert.equal(state.cursor_value, '2025-12-17 17:55:00.000000', "MariaDB's own text of datetime(6)");
      const summary = await sync(my, config('upsert')).catch((e) => e);
      assert.ok(summary.tables?.[0]?.status === 'failed', 'changing write in the config alone is refused');
      assert.match(summary.tables[0].error, /set-mode/);
    });

    it('upsert from the start keeps one row per id with the latest values', async () => {
      await sync(my, config('upsert'));
      await mdb.query(`UPDATE pedidos SET valor = 999.99, updated_at = '2025-12-17 18:00:00' WHERE id = 2`);
      const second = await sync(my, config('upsert'));
      assert.deepEqual([second.tables[0].updated, second.tables[0].inserted], [1, 0]);
      assert.deepEqual(await rows(dst, 'SELECT id, valor::text FROM cadastros.pedidos ORDER BY id'), [
        { id: 1, valor: '100.50' },
        { id: 2, valor: '999.99' },
        { id: 3, valor: '300.25' },
      ]);
    });
  });

  describe('bad input: a clear error naming table and field, nothing changed', () => {
    beforeEach(async () => {
      await src.query(`CREATE TABLE t (id int PRIMARY KEY, doc jsonb, ts timestamptz)`);
      await src.query(`INSERT INTO t VALUES (1, '{}', now())`);
    });
    const cases: [string, object, RegExp][] = [
      ['unknown cursor column', { mode: 'cursor', cursor: 'nope' }, /tables\[0\]\.cursor "nope" is not a column/],
      ['unorderable cursor column', { mode: 'cursor', cursor: 'doc' }, /tables\[0\]\.cursor "doc" is jsonb, which cannot order a cursor/],
      ['write: append without a cursor', { mode: 'cursor', write: 'append' }, /mode cursor needs a cursor column \(tables\[0\]\.cursor/],
      ['a lookback that does not fit the cursor', { mode: 'cursor', cursor: 'ts', lookback: '12' }, /tables\[0\]\.lookback "12" does not fit a time cursor/],
    ];
    for (const [what, entry, message] of cases) {
      it(what, async () => {
        const summary = await sync(pg, { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 't', ...entry }] });
        const [t] = summary.tables;
        assert.equal(t.status, 'failed');
        assert.match(t.error ?? '', message);
        assert.match(t.error ?? '', /public\.t/);
        assert.equal((await rows(dst, `SELECT to_regclass('public.t') AS t`))[0].t, null, 'nothing created');
      });
    }

    it('an option the table\'s mode does not take is refused with the config, naming the field, nothing created', async () => {
      const { outcome } = await runSyncInProcess(pg, { ...FAST_RETRY, source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 't', mode: 'compare', write: 'append' }] }, 'cursor-bad');
      assert.ok(!outcome.ok);
      assert.match(failureChain(outcome.error), /tables\[0\]\.write applies to mode cursor only \(this table's mode is compare\)/);
      assert.equal((await rows(dst, `SELECT to_regclass('public.t') AS t`))[0].t, null, 'nothing created');
    });

    it('a config whose table entry has a bad field is refused naming the entry and field', async () => {
      const { outcome } = await runSyncInProcess(pg, { ...FAST_RETRY, source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['t', { table: 't', cursor: 5 }] }, 'cursor-bad');
      assert.ok(!outcome.ok);
      assert.match(failureChain(outcome.error), /tables\[1\]\.cursor: Expected string, received number/);
    });
  });

  it('state rows of a cursor run say completed, one partition', async () => {
    await src.query(`CREATE TABLE s (id int PRIMARY KEY, ts date NOT NULL)`);
    await src.query(`INSERT INTO s SELECT g, DATE '2026-01-01' + g FROM generate_series(1, 50) g`);
    const run = await sync(pg, { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 's', mode: 'cursor', cursor: 'ts' }], partitionThreshold: 10, rowsPerPartition: 10 });
    assert.deepEqual(await rows(dst, `SELECT sync_status, mode FROM _migration_state WHERE workflow_id = '${run.workflowId}'`), [{ sync_status: 'completed', mode: 'cursor' }]);
  });
});
