import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import { useDatabases } from '../helpers/databases';
import { duplicateKeys } from '../helpers/guarantees';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { failureChain, runSyncInProcess, runWorkflow, syncOk, FAST_RETRY } from '../helpers/run';
import { runTestVerify } from '../helpers/verify';

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

  describe('issue 18: cursor and append against soft deletes, deletes, versions, type changes and lookback', () => {
    const flagged = async (table: string) =>
      rows(dst, `SELECT id, v, is_deleted AS flag, _tablesync_deleted_at IS NOT NULL AS at FROM ${table} ORDER BY id`);

    it('case 6: a row marked deleted under compare (soft) that comes back is unmarked by a cursor run; verify counts marked rows as gone', async () => {
      await src.query(`CREATE TABLE sd (id int PRIMARY KEY, v text, ts timestamp NOT NULL)`);
      await src.query(`INSERT INTO sd SELECT g, 'v' || g, '2026-01-01 10:00' FROM generate_series(1, 5) g`);
      const soft = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['sd'], deletes: 'soft' };
      await sync(pg, soft);
      await src.query('DELETE FROM sd WHERE id IN (2, 4)');
      await sync(pg, soft);
      assert.deepEqual((await flagged('sd')).filter((r) => r.flag).map((r) => r.id), [2, 4]);
      await src.query(`INSERT INTO sd VALUES (2, 'back', '2026-01-02 10:00')`);
      const cursor = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'sd', mode: 'cursor', cursor: 'ts' }], verifyAfterSync: true };
      const run = await sync(pg, cursor);
      const [t] = run.tables;
      assert.equal(t.status, 'completed', t.error);
      assert.deepEqual(await flagged('sd'), [
        { id: 1, v: 'v1', flag: false, at: false },
        { id: 2, v: 'back', flag: false, at: false },
        { id: 3, v: 'v3', flag: false, at: false },
        { id: 4, v: 'v4', flag: true, at: true },
        { id: 5, v: 'v5', flag: false, at: false },
      ]);
      assert.equal(t.verification?.targetRows, 4, 'the marked row 4 is not live');
      assert.equal(t.verification?.matches, true, JSON.stringify(t.verification));
      // A marked row the source still lacks stays marked; one marked by hand while the source has it is a difference.
      await dst.query(`UPDATE sd SET is_deleted = true, _tablesync_deleted_at = now() WHERE id = 3`);
      const drift = await runTestVerify(pg, { config: cursor });
      assert.equal(drift.matches, false, 'a live source row marked in the target is missing');
      assert.equal(drift.tables[0].targetRows, 3);
    });

    it('case 6: a backfill (a column added under cursor mode) unmarks the rows it writes', async () => {
      await src.query(`CREATE TABLE sb (id int PRIMARY KEY, v text, ts timestamp NOT NULL)`);
      await src.query(`INSERT INTO sb SELECT g, 'v' || g, '2026-01-01 10:00' FROM generate_series(1, 3) g`);
      const soft = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['sb'], deletes: 'soft' };
      await sync(pg, soft);
      await src.query('DELETE FROM sb WHERE id = 2');
      await sync(pg, soft);
      const cursor = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'sb', mode: 'cursor', cursor: 'ts' }] };
      await sync(pg, cursor);
      // Back with its old cursor value: only the backfill of the new column reads it.
      await src.query(`INSERT INTO sb VALUES (2, 'v2', '2026-01-01 10:00')`);
      await src.query(`ALTER TABLE sb ADD COLUMN extra int DEFAULT 7`);
      await src.query(`UPDATE sb SET ts = '2025-12-31' `);
      const run = await sync(pg, cursor);
      assert.equal(run.tables[0].status, 'completed', run.tables[0].error);
      assert.deepEqual(await rows(dst, 'SELECT id, extra, is_deleted FROM sb ORDER BY id'), [
        { id: 1, extra: 7, is_deleted: false },
        { id: 2, extra: 7, is_deleted: false },
        { id: 3, extra: 7, is_deleted: false },
      ]);
    });

    it('case 7: deletes hard or soft on a cursor table is refused with the config, naming the field (the table\'s own, or the top-level default)', async () => {
      await src.query(`CREATE TABLE dl (id int PRIMARY KEY, ts timestamp NOT NULL)`);
      const base = { ...FAST_RETRY, source: { connection: 'src' }, target: { connection: 'dst' } };
      for (const deletes of ['hard', 'soft'] as const) {
        const own = await runSyncInProcess(pg, { ...base, tables: [{ table: 'dl', mode: 'cursor', cursor: 'ts', deletes }] }, 'cursor-bad');
        assert.ok(!own.outcome.ok);
        assert.match(failureChain(own.outcome.error), new RegExp(`tables\\[0\\]\\.deletes: ${deletes} applies to mode .* only \\(this table's mode is cursor\\)`));
        const top = await runSyncInProcess(pg, { ...base, deletes, tables: [{ table: 'dl', mode: 'cursor', cursor: 'ts' }] }, 'cursor-bad');
        assert.ok(!top.outcome.ok);
        assert.match(failureChain(top.outcome.error), new RegExp(`deletes: ${deletes} \\(the top-level default\\) does not apply to tables\\[0\\] \\(mode cursor\\)`));
      }
      const cursorByDefault = await runSyncInProcess(pg, { ...base, mode: 'cursor', cursor: 'ts', deletes: 'hard', tables: ['dl'] }, 'cursor-bad');
      assert.ok(!cursorByDefault.outcome.ok);
      assert.match(failureChain(cursorByDefault.outcome.error), /deletes: hard applies to mode .* only \(the config's mode is cursor\)/);
      assert.equal((await rows(dst, `SELECT to_regclass('public.dl') AS t`))[0].t, null, 'nothing created');
    });

    const latest = (table: string) => rows(dst, `SELECT id, v FROM ${table}_latest ORDER BY id`);

    it('case 8: append: a row that goes A → B → A with an equal cursor shows A as latest, and verify matches', async () => {
      await src.query(`CREATE TABLE ap (id int PRIMARY KEY, v text, day date NOT NULL)`);
      await src.query(`INSERT INTO ap VALUES (1, 'A', '2026-01-01'), (2, 'x', '2026-01-01')`);
      const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'ap', mode: 'cursor', cursor: 'day', write: 'append' }] };
      await sync(pg, config);
      await src.query(`UPDATE ap SET v = 'B' WHERE id = 1`);
      await sync(pg, config);
      assert.deepEqual(await latest('ap'), [{ id: 1, v: 'B' }, { id: 2, v: 'x' }]);
      await src.query(`UPDATE ap SET v = 'A' WHERE id = 1`);
      const third = await sync(pg, { ...config, verifyAfterSync: true });
      assert.equal(third.tables[0].inserted, 1, 'A read again is a new version');
      assert.deepEqual(await latest('ap'), [{ id: 1, v: 'A' }, { id: 2, v: 'x' }]);
      assert.equal(third.tables[0].verification?.matches, true);
      assert.equal(third.tables[0].verification?.rows?.pending.count ?? 0, 0, JSON.stringify(third.tables[0].verification));
      const again = await sync(pg, config);
      assert.equal(again.tables[0].inserted, 0, 'an unchanged re-read adds nothing');
      assert.deepEqual(await rows(dst, 'SELECT v FROM ap WHERE id = 1 ORDER BY _tablesync_synced_at'), [{ v: 'A' }, { v: 'B' }, { v: 'A' }]);
    });

    it('case 8: append: a cursor that moves backwards inside the lookback makes the version read last the latest', async () => {
      await mdb.query(`CREATE TABLE sk (id int PRIMARY KEY, v varchar(10), ts datetime(6) NOT NULL)`);
      await mdb.query(`INSERT INTO sk VALUES (1, 'first', '2026-01-01 10:00:00'), (2, 'y', '2026-01-01 10:00:00')`);
      const config = { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table: 'sk', mode: 'cursor', cursor: 'ts', write: 'append', lookback: '10 minutes' }] };
      await sync(my, config);
      // Written by a host whose clock is 2 minutes behind.
      await mdb.query(`UPDATE sk SET v = 'second', ts = '2026-01-01 09:58:00' WHERE id = 1`);
      const second = await sync(my, { ...config, verifyAfterSync: true });
      assert.equal(second.tables[0].inserted, 1);
      assert.deepEqual(await latest('sk'), [{ id: 1, v: 'second' }, { id: 2, v: 'y' }]);
      assert.equal(second.tables[0].verification?.matches, true, JSON.stringify(second.tables[0].verification));
      assert.equal(second.tables[0].verification?.rows?.pending.count ?? 0, 0);
    });

    it('case 9: a cursor column migrated timestamp → timestamptz (source TimeZone not UTC) is refused naming the column; reset-state lets it go on', async () => {
      await src.query(`ALTER DATABASE ${SRC} SET TimeZone = 'Asia/Tokyo'`);
      await src.query(`CREATE TABLE tz (id int PRIMARY KEY, v text, ts timestamp NOT NULL)`);
      await src.query(`INSERT INTO tz VALUES (1, 'a', '2026-01-01 10:00'), (2, 'b', '2026-01-01 11:00')`);
      const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'tz', mode: 'cursor', cursor: 'ts' }] };
      await sync(pg, config);
      const tokyo = new (await import('pg')).Pool({ connectionString: pgUrl(SRC) });
      try {
        // The migration reads the naive values in the session's zone (Tokyo, UTC+9): 11:00 becomes 02:00 UTC.
        await tokyo.query(`ALTER TABLE tz ALTER COLUMN ts TYPE timestamptz`);
        // 11:30 in Tokyo (02:30 UTC): after the saved 11:00 local time, yet before 11:00 read as UTC.
        await tokyo.query(`UPDATE tz SET v = 'changed', ts = '2026-01-01 11:30' WHERE id = 1`);
      } finally {
        await tokyo.end();
      }
      const refused = await sync(pg, config);
      const [t] = refused.tables;
      assert.equal(t.status, 'failed');
      assert.match(t.error ?? '', /cursor "ts" is now timestamp with time zone, but the saved cursor 2026-01-01 11:00:00 was read as timestamp without time zone/);
      assert.match(t.error ?? '', /reset-state/);
      const state = async () => (await rows(dst, `SELECT cursor_value, cursor_type FROM _tablesync_tables WHERE target_table = 'tz'`))[0];
      assert.deepEqual(await state(), { cursor_value: '2026-01-01 11:00:00', cursor_type: 'timestamp without time zone' }, 'the saved cursor is left as it was');
      assert.deepEqual(await rows(dst, 'SELECT id, v FROM tz ORDER BY id'), [{ id: 1, v: 'a' }, { id: 2, v: 'b' }], 'nothing written');

      const { outcome } = await runWorkflow(pg, 'resetStateWorkflow', { config: { ...FAST_RETRY, ...config }, table: 'tz', cursor: '2026-01-01 02:00:00+00' }, 'cursor-reset');
      assert.ok(outcome.ok, outcome.ok ? '' : failureChain(outcome.error));
      assert.deepEqual(await state(), { cursor_value: '2026-01-01 02:00:00+00', cursor_type: 'timestamp with time zone' });
      const after = await sync(pg, config);
      assert.equal(after.tables[0].status, 'completed', after.tables[0].error);
      // Row 2 too: the target's zone-less column held Tokyo's wall clock; a re-read row now holds the instant in UTC.
      assert.equal(after.tables[0].updated, 2);
      assert.deepEqual(await rows(dst, `SELECT id, v, ts::text FROM tz ORDER BY id`), [
        { id: 1, v: 'changed', ts: '2026-01-01 02:30:00' },
        { id: 2, v: 'b', ts: '2026-01-01 02:00:00' },
      ]);
    });

    it('case 9 on MariaDB: DATETIME → TIMESTAMP is refused naming the column; datetime → datetime(6) goes on', async () => {
      await mdb.query(`CREATE TABLE mt (id int PRIMARY KEY, v varchar(10), ts datetime NOT NULL, d datetime NOT NULL)`);
      await mdb.query(`INSERT INTO mt VALUES (1, 'a', '2026-01-01 10:00:00', '2026-01-01 10:00:00')`);
      const config = (cursor: string) => ({ source: { connection: 'my' }, target: { connection: 'dst', schema: cursor }, tables: [{ table: 'mt', mode: 'cursor', cursor }] });
      await sync(my, config('ts'));
      await sync(my, config('d'));
      await mdb.query(`ALTER TABLE mt MODIFY ts timestamp(6) NOT NULL DEFAULT '2000-01-01', MODIFY d datetime(6) NOT NULL`);
      const refused = await sync(my, config('ts'));
      assert.equal(refused.tables[0].status, 'failed');
      assert.match(refused.tables[0].error ?? '', /cursor "ts" is now timestamp\(6\), but the saved cursor 2026-01-01 10:00:00 was read as datetime/);
      const kept = await sync(my, config('d'));
      assert.equal(kept.tables[0].status, 'completed', kept.tables[0].error);
      assert.ok(kept.plan?.some((l) => /cursor "d" is now datetime\(6\) \(was datetime\)/.test(l)), kept.plan?.join('\n'));
    });

    it('case 9: a cursor type change that keeps the value (integer → bigint, timestamp(3) → timestamp(6)) goes on, said in the notes', async () => {
      await src.query(`CREATE TABLE wid (id int PRIMARY KEY, v text, n int NOT NULL)`);
      await src.query(`INSERT INTO wid VALUES (1, 'a', 10), (2, 'b', 20)`);
      const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'wid', mode: 'cursor', cursor: 'n' }] };
      await sync(pg, config);
      await src.query(`ALTER TABLE wid ALTER COLUMN n TYPE bigint`);
      await src.query(`UPDATE wid SET v = 'changed', n = 30 WHERE id = 1`);
      const run = await sync(pg, config);
      const [t] = run.tables;
      assert.equal(t.status, 'completed', t.error);
      assert.equal(t.updated, 1);
      assert.ok(run.plan?.some((l) => /cursor "n" is now bigint \(was integer\)/.test(l)), run.plan?.join("\n"));
    });

    it('case 9: the saved cursor never moves backwards when the rows at the top are deleted', async () => {
      await src.query(`CREATE TABLE back (id int PRIMARY KEY, n int NOT NULL)`);
      await src.query(`INSERT INTO back VALUES (1, 10), (2, 20)`);
      const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'back', mode: 'cursor', cursor: 'n' }] };
      await sync(pg, config);
      await src.query(`DELETE FROM back WHERE id = 2`);
      await sync(pg, config);
      const [state] = await rows(dst, `SELECT cursor_value FROM _tablesync_tables WHERE target_table = 'back'`);
      assert.equal(state.cursor_value, '20');
    });

    it('case 10: a MariaDB unsigned cursor below its numeric lookback reads from the type\'s minimum', async () => {
      await mdb.query(`CREATE TABLE un (id int PRIMARY KEY, v varchar(10), seq bigint unsigned NOT NULL, small tinyint unsigned NOT NULL)`);
      await mdb.query(`INSERT INTO un VALUES (1, 'a', 3, 3), (2, 'b', 5, 5)`);
      for (const cursor of ['seq', 'small']) {
        const config = { source: { connection: 'my' }, target: { connection: 'dst', schema: cursor }, tables: [{ table: 'un', mode: 'cursor', cursor, lookback: '100' }] };
        await sync(my, config);
        await mdb.query(`UPDATE un SET v = 'c${cursor}' WHERE id = 1`);
        const second = await sync(my, config);
        assert.equal(second.tables[0].status, 'completed', second.tables[0].error);
        assert.deepEqual([second.tables[0].rowsCopied, second.tables[0].updated], [2, 1], 'both rows are inside the lookback');
        assert.deepEqual(await rows(dst, `SELECT id, v FROM ${cursor}.un ORDER BY id`), [{ id: 1, v: `c${cursor}` }, { id: 2, v: 'b' }]);
      }
    });
  });

  it('state rows of a cursor run say completed, one partition', async () => {
    await src.query(`CREATE TABLE s (id int PRIMARY KEY, ts date NOT NULL)`);
    await src.query(`INSERT INTO s SELECT g, DATE '2026-01-01' + g FROM generate_series(1, 50) g`);
    const run = await sync(pg, { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 's', mode: 'cursor', cursor: 'ts' }], partitionThreshold: 10, rowsPerPartition: 10 });
    assert.deepEqual(await rows(dst, `SELECT sync_status, mode FROM _migration_state WHERE workflow_id = '${run.workflowId}'`), [{ sync_status: 'completed', mode: 'cursor' }]);
  });
});
