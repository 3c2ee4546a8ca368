import assert from 'node:assert/strict';
import { createConnection } from 'mysql2/promise';
import type { Pool } from 'pg';
import type { SyncSummary } from '../../lib/types';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { writersSettled } from '../../lib/modes/changelog/transactions';
import { MysqlSource } from '../../lib/sources/mysql';
import { PostgresSource } from '../../lib/sources/postgres';
import { FAST_RETRY, syncOk } from '../helpers/run';
import { runTestVerify } from '../helpers/verify';

// The seed's PostgreSQL → BigQuery change-log job, against real databases:
// a Django-style log names changed objects; rows are fetched by key and
// inserted, updated or soft-deleted.
const SRC = testDb('tablesync_it_clog_src');
const DST = testDb('tablesync_it_clog_dst');
const MY = testDb('tablesync_it_clog_my');
const pg = { src: pgUrl(SRC), dst: pgUrl(DST) };
const my = { my: mysqlUrl(MY), dst: pgUrl(DST) };

const sync = (connections: Record<string, string>, config: object) => syncOk(connections, { ...FAST_RETRY, ...config }, 'clog');
const rows = async (db: Pool, sql: string) => (await db.query(sql)).rows;
const byTable = (s: SyncSummary) => Object.fromEntries(s.tables.map((t) => [t.table.split('.')[1], t]));

describe('change-log mode (real PostgreSQL, MariaDB, Temporal)', () => {
  const { src, dst, mdb } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { mdb: MY } }, { perTest: true });
  const log = (contentType: number) => ({
    table: 'models_logging_change',
    key: 'object_id',
    action: 'action',
    position: 'id',
    where: { content_type_id: contentType },
  });
  const config = {
    source: { connection: 'src' },
    target: { connection: 'dst', schema: 'dw' },
    tables: [
      { table: 'project', mode: 'changelog', changelog: log(12) },
      { table: 'inventory', mode: 'changelog', changelog: log(13) },
    ],
  };

  it('the seed job: each table takes only its content type; inserts, updates and soft deletes land exactly', async () => {
    await src.query(`CREATE TABLE project (id int PRIMARY KEY, name text, budget numeric(12,2))`);
    await src.query(`CREATE TABLE inventory (id int PRIMARY KEY, sku text, qty int)`);
    await src.query(`CREATE TABLE models_logging_change (id serial PRIMARY KEY, object_id text, content_type_id int, action text, date_created timestamptz DEFAULT now())`);
    await src.query(`INSERT INTO project VALUES (1, 'alpha', 10), (2, 'beta', 20), (3, 'gamma', 30)`);
    await src.query(`INSERT INTO inventory VALUES (1, 'sku-1', 5), (2, 'sku-2', 6)`);
    await src.query(`INSERT INTO models_logging_change (object_id, content_type_id, action) VALUES ('1', 12, 'added'), ('1', 13, 'added')`);

    // First run: no saved position, the whole tables are loaded.
    const first = byTable(await sync(pg, config));
    assert.deepEqual([first.project.inserted, first.inventory.inserted], [3, 2]);
    assert.deepEqual(await rows(dst, `SELECT target_table, cursor_value FROM _tablesync_tables ORDER BY 1`), [
      { target_table: 'inventory', cursor_value: '2' },
      { target_table: 'project', cursor_value: '1' },
    ]);

    // Changes, logged as the application does.
    await src.query(`INSERT INTO project VALUES (4, 'delta', 40)`);
    await src.query(`UPDATE project SET budget = 21 WHERE id = 2`);
    await src.query(`UPDATE project SET budget = 22 WHERE id = 2`);
    await src.query(`UPDATE project SET name = 'beta final', budget = 23 WHERE id = 2`);
    await src.query(`DELETE FROM project WHERE id = 3`);
    await src.query(`UPDATE inventory SET qty = 99 WHERE id = 2`);
    // An unlogged change is not seen (the log is the contract): project 1 changes without a log row.
    await src.query(`UPDATE project SET name = 'alpha unlogged' WHERE id = 1`);
    await src.query(`INSERT INTO models_logging_change (object_id, content_type_id, action) VALUES
      ('4', 12, 'added'), ('2', 12, 'changed'), ('2', 12, 'changed'), ('2', 12, 'changed'), ('3', 12, 'deleted'), ('2', 13, 'changed')`);

    const second = byTable(await sync(pg, config));
    assert.deepEqual(
      [second.project.inserted, second.project.updated, second.project.deleted, second.project.rowsCopied],
      [1, 1, 1, 2],
      'only the two logged live keys are read; key 2, changed three times, is applied once in its latest state',
    );
    assert.deepEqual([second.inventory.updated, second.inventory.rowsCopied], [1, 1]);
    assert.deepEqual(await rows(dst, 'SELECT id, name, budget::text, is_deleted FROM dw.project ORDER BY id'), [
      { id: 1, name: 'alpha', budget: '10.00', is_deleted: false },
      { id: 2, name: 'beta final', budget: '23.00', is_deleted: false },
      { id: 3, name: 'gamma', budget: '30.00', is_deleted: true },
      { id: 4, name: 'delta', budget: '40.00', is_deleted: false },
    ]);
    assert.deepEqual(await rows(dst, 'SELECT id, qty FROM dw.inventory ORDER BY id'), [
      { id: 1, qty: 5 },
      { id: 2, qty: 99 },
    ]);
    // Nothing new logged: nothing read, nothing written.
    const third = byTable(await sync(pg, config));
    assert.deepEqual([third.project.rowsCopied, third.project.deleted, third.inventory.rowsCopied], [0, 0, 0]);
  });

  it('a logged change whose row is gone is a delete, warned about; deletes: hard removes rows', async () => {
    await src.query(`CREATE TABLE project (id int PRIMARY KEY, name text)`);
    await src.query(`CREATE TABLE models_logging_change (id serial PRIMARY KEY, object_id text, content_type_id int, action text)`);
    await src.query(`INSERT INTO project VALUES (1, 'a'), (2, 'b')`);
    const hard = { ...config, tables: [{ table: 'project', mode: 'changelog', deletes: 'hard', changelog: log(12) }] };
    await sync(pg, hard);
    await src.query(`DELETE FROM project WHERE id = 2`);
    await src.query(`INSERT INTO models_logging_change (object_id, content_type_id, action) VALUES ('2', 12, 'changed')`);
    const [t] = (await sync(pg, hard)).tables;
    assert.equal(t.deleted, 1);
    assert.match(t.warnings.join('\n'), /1 × logged change of a row the source no longer has \(treated as a delete\)/);
    assert.deepEqual(await rows(dst, 'SELECT id FROM dw.project ORDER BY id'), [{ id: 1 }]);
  });

  it('works from MariaDB: text log keys cast to the integer key, soft deletes, only past the saved position', async () => {
    await mdb.query(`CREATE TABLE project (id int PRIMARY KEY, name varchar(50))`);
    await mdb.query(`CREATE TABLE models_logging_change (id int AUTO_INCREMENT PRIMARY KEY, object_id varchar(20), content_type_id int, action varchar(20))`);
    await mdb.query(`INSERT INTO project VALUES (1, 'a'), (2, 'b')`);
    await mdb.query(`INSERT INTO models_logging_change (object_id, content_type_id, action) VALUES ('1', 12, 'added')`);
    const cfg = { source: { connection: 'my' }, target: { connection: 'dst', schema: 'dw' }, tables: [{ table: 'project', mode: 'changelog', changelog: log(12) }] };
    await sync(my, cfg);
    await mdb.query(`UPDATE project SET name = 'b2' WHERE id = 2`);
    await mdb.query(`DELETE FROM project WHERE id = 1`);
    await mdb.query(`INSERT INTO models_logging_change (object_id, content_type_id, action) VALUES ('2', 12, 'changed'), ('1', 12, 'deleted'), ('2', 99, 'deleted')`);
    const [t] = (await sync(my, cfg)).tables;
    assert.deepEqual([t.updated, t.deleted], [1, 1]);
    assert.deepEqual(await rows(dst, 'SELECT id, name, is_deleted FROM dw.project ORDER BY id'), [
      { id: 1, name: 'a', is_deleted: true },
      { id: 2, name: 'b2', is_deleted: false },
    ]);
  });

  it('bad input names the entry and field: a missing log table, a missing log column', async () => {
    await src.query(`CREATE TABLE project (id int PRIMARY KEY, name text)`);
    await src.query(`CREATE TABLE models_logging_change (id serial PRIMARY KEY, object_id text, action text)`);
    const cases: [object, RegExp][] = [
      [{ ...log(12), table: 'no_log' }, /tables\[0\]\.changelog\.table public\.no_log does not exist/],
      [log(12), /tables\[0\]\.changelog\.where\.content_type_id "content_type_id" is not a column of public\.models_logging_change/],
    ];
    for (const [changelog, message] of cases) {
      const [t] = (await sync(pg, { ...config, tables: [{ table: 'project', mode: 'changelog', changelog }] })).tables;
      assert.equal(t.status, 'failed');
      assert.match(t.error ?? '', message);
    }
  });
});

// Issue 18 Part 2 (cases 1–5) and issue 19 defect 3: what the log's rules
// promise (docs/modes.md, Change-log mode), each reproduced from scratch.
describe('change-log rules: commit order, ties, key spellings and types, first runs, case-insensitive keys', () => {
  const { src, dst, mdb } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { mdb: MY } }, { perTest: true });
  const logOf = (position = 'id') => ({ table: 'change_log', key: 'object_id', action: 'action', position });
  const one = (connection: string, extra: object = {}, position = 'id') => ({
    source: { connection },
    target: { connection: 'dst', schema: 'dw' },
    tables: [{ table: 'project', mode: 'changelog', changelog: logOf(position), ...extra }],
  });
  const live = async () => rows(dst, 'SELECT id::text AS id, name FROM dw.project WHERE is_deleted IS NOT TRUE ORDER BY id');

  it('case 1 (PostgreSQL): a log row committed after a higher one was read is applied by a later run, never skipped', async () => {
    await src.query(`CREATE TABLE project (id int PRIMARY KEY, name text)`);
    await src.query(`CREATE TABLE change_log (id serial PRIMARY KEY, object_id text, action text)`);
    await src.query(`INSERT INTO project VALUES (1, 'a')`);
    await sync(pg, one('src'));
    // A transaction takes log id 1 and stays open; a later one takes id 2 and commits first.
    const slow = await src.connect();
    try {
      await slow.query('BEGIN');
      await slow.query(`INSERT INTO project VALUES (5, 'slow')`);
      await slow.query(`INSERT INTO change_log (object_id, action) VALUES ('5', 'added')`);
      await src.query(`INSERT INTO project VALUES (6, 'fast')`);
      await src.query(`INSERT INTO change_log (object_id, action) VALUES ('6', 'added')`);
      const [t] = (await sync(pg, one('src'))).tables;
      assert.equal(t.inserted, 1, 'the committed change is applied now');
      assert.match(t.warnings.join('\n'), /a transaction writing when the log was read was still open/);
      const [kept] = await rows(dst, `SELECT cursor_value FROM _tablesync_tables WHERE target_table = 'project'`);
      assert.equal(kept.cursor_value, null, 'the position stays where the run started (the empty log)');
      await slow.query('COMMIT');
    } finally {
      slow.release();
    }
    const [t] = (await sync(pg, one('src'))).tables;
    assert.equal(t.inserted, 1, 'the late commit is applied by the next run');
    assert.deepEqual(await live(), [
      { id: '1', name: 'a' },
      { id: '5', name: 'slow' },
      { id: '6', name: 'fast' },
    ]);
    const [state] = await rows(dst, `SELECT cursor_value FROM _tablesync_tables WHERE target_table = 'project'`);
    assert.equal(state.cursor_value, '2', 'once nothing is open, the position is the log maximum');
  });

  it('case 1: a writer of the log that ends while the run waits lets it save the position; a writer of another table does not count', async () => {
    await src.query(`CREATE TABLE change_log (id serial PRIMARY KEY, object_id text, action text)`);
    await src.query(`CREATE TABLE other (id int)`);
    const source = new PostgresSource(src);
    const log = { schema: 'public', name: 'change_log' };
    const writer = await src.connect();
    const bystander = await src.connect();
    try {
      await bystander.query('BEGIN');
      await bystander.query(`INSERT INTO other VALUES (1)`);
      assert.equal(await writersSettled(source, log, 'project', 1_000), true, 'a transaction writing another table is no writer of the log');
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO change_log (object_id, action) VALUES ('1', 'added')`);
      assert.equal(await writersSettled(source, log, 'project', 1_000), false, 'still open after the wait');
      const commit = new Promise((resolve) => setTimeout(resolve, 500)).then(() => writer.query('COMMIT'));
      const t0 = Date.now();
      assert.equal(await writersSettled(source, log, 'project', 10_000), true, 'ended during the wait');
      assert.ok(Date.now() - t0 < 5_000);
      await commit;
    } finally {
      await bystander.query('ROLLBACK');
      writer.release();
      bystander.release();
    }
    // MariaDB: InnoDB does not say which table a transaction wrote; any writer counts until it ends.
    await mdb.query(`CREATE TABLE change_log (id int AUTO_INCREMENT PRIMARY KEY, object_id varchar(20))`);
    const my = new MysqlSource(mysqlUrl(MY));
    const other = await createConnection({ uri: mysqlUrl(MY) });
    try {
      await other.query('BEGIN');
      await other.query(`INSERT INTO change_log (object_id) VALUES ('1')`);
      assert.equal(await writersSettled(my, { schema: MY, name: 'change_log' }, 'project', 500), false);
      await other.query('COMMIT');
      assert.equal(await writersSettled(my, { schema: MY, name: 'change_log' }, 'project', 5_000), true);
    } finally {
      await other.end();
      await my.close();
    }
  });

  it('case 1 (MariaDB): the same out-of-order commit, through InnoDB transactions', async () => {
    await mdb.query(`CREATE TABLE project (id int PRIMARY KEY, name varchar(20))`);
    await mdb.query(`CREATE TABLE change_log (id int AUTO_INCREMENT PRIMARY KEY, object_id varchar(20), action varchar(20))`);
    await mdb.query(`INSERT INTO project VALUES (1, 'a')`);
    await sync(my, one('my'));
    const slow = await createConnection({ uri: mysqlUrl(MY) });
    try {
      await slow.query('BEGIN');
      await slow.query(`INSERT INTO project VALUES (5, 'slow')`);
      await slow.query(`INSERT INTO change_log (object_id, action) VALUES ('5', 'added')`);
      await mdb.query(`INSERT INTO project VALUES (6, 'fast')`);
      await mdb.query(`INSERT INTO change_log (object_id, action) VALUES ('6', 'added')`);
      const [t] = (await sync(my, one('my'))).tables;
      assert.equal(t.inserted, 1);
      await slow.query('COMMIT');
    } finally {
      await slow.end();
    }
    const [t] = (await sync(my, one('my'))).tables;
    assert.equal(t.inserted, 1, 'the late commit is applied by the next run');
    assert.deepEqual(await live(), [
      { id: '1', name: 'a' },
      { id: '5', name: 'slow' },
      { id: '6', name: 'fast' },
    ]);
  });

  it('case 2 (MariaDB DATETIME position): a change logged in the same second as the saved position is applied', async () => {
    await mdb.query(`CREATE TABLE project (id int PRIMARY KEY, name varchar(20))`);
    await mdb.query(`CREATE TABLE change_log (object_id varchar(20), action varchar(20), logged_at datetime NOT NULL)`);
    await mdb.query(`INSERT INTO project VALUES (1, 'a'), (2, 'b')`);
    await mdb.query(`INSERT INTO change_log VALUES ('1', 'added', '2026-01-01 10:00:00')`);
    await sync(my, one('my', {}, 'logged_at'));
    await mdb.query(`UPDATE project SET name = 'b2' WHERE id = 2`);
    await mdb.query(`INSERT INTO change_log VALUES ('2', 'changed', '2026-01-01 10:00:00')`);
    const [t] = (await sync(my, one('my', {}, 'logged_at'))).tables;
    assert.equal(t.updated, 1, 'the tie at the saved position is read again');
    assert.deepEqual(await live(), [
      { id: '1', name: 'a' },
      { id: '2', name: 'b2' },
    ]);
  });

  it("case 3: the last action is taken per key value, not per spelling ('07' deleted, then '7' added)", async () => {
    await src.query(`CREATE TABLE project (id int PRIMARY KEY, name text)`);
    await src.query(`CREATE TABLE change_log (id serial PRIMARY KEY, object_id text, action text)`);
    await src.query(`INSERT INTO project VALUES (1, 'a'), (7, 'seven')`);
    await sync(pg, one('src', { deletes: 'hard' }));
    await src.query(`DELETE FROM project WHERE id = 7`);
    await src.query(`INSERT INTO change_log (object_id, action) VALUES ('07', 'deleted')`);
    await src.query(`INSERT INTO project VALUES (7, 'seven again')`);
    await src.query(`INSERT INTO change_log (object_id, action) VALUES ('7', 'added')`);
    const [t] = (await sync(pg, one('src', { deletes: 'hard' }))).tables;
    assert.equal(t.deleted, 0);
    assert.deepEqual(await rows(dst, 'SELECT id, name FROM dw.project ORDER BY id'), [
      { id: 1, name: 'a' },
      { id: 7, name: 'seven again' },
    ]);
  });

  it("case 4: a uuid key logged as text (Django's object_id) syncs, deletes and verifies", async () => {
    await src.query(`CREATE TABLE project (id uuid PRIMARY KEY, name text)`);
    await src.query(`CREATE TABLE change_log (id serial PRIMARY KEY, object_id varchar(255), action text)`);
    const [a, b, c] = ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'c0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13'];
    await src.query(`INSERT INTO project VALUES ($1, 'a'), ($2, 'b')`, [a, b]);
    await sync(pg, one('src'));
    await src.query(`UPDATE project SET name = 'a2' WHERE id = $1`, [a]);
    await src.query(`DELETE FROM project WHERE id = $1`, [b]);
    await src.query(`INSERT INTO project VALUES ($1, 'c')`, [c]);
    // Upper case: the same uuid as a value, another text.
    await src.query(`INSERT INTO change_log (object_id, action) VALUES ($1, 'changed'), ($2, 'deleted'), ($3, 'added')`, [a.toUpperCase(), b, c]);
    const pending = await runTestVerify(pg, { config: one('src') });
    assert.equal(pending.tables[0].rows?.pending.count, 3, JSON.stringify(pending.tables[0]));
    const [t] = (await sync(pg, one('src'))).tables;
    assert.deepEqual([t.inserted, t.updated, t.deleted], [1, 1, 1]);
    assert.deepEqual(await live(), [
      { id: a, name: 'a2' },
      { id: c, name: 'c' },
    ]);
    const after = await runTestVerify(pg, { config: one('src') });
    assert.equal(after.matches, true, JSON.stringify(after));
  });

  it('case 5: a first change-log run over a non-empty target removes the rows the source deleted before the switch', async () => {
    await src.query(`CREATE TABLE project (id int PRIMARY KEY, name text)`);
    await src.query(`CREATE TABLE change_log (id serial PRIMARY KEY, object_id text, action text)`);
    await src.query(`INSERT INTO project SELECT g, 'p' || g FROM generate_series(1, 5) g`);
    await sync(pg, { ...one('src'), tables: [{ table: 'project', mode: 'full' }] });
    await src.query(`DELETE FROM project WHERE id IN (2, 4)`); // before the switch: never logged
    const [t] = (await sync(pg, one('src'))).tables;
    assert.equal(t.deleted, 2);
    assert.deepEqual(await rows(dst, 'SELECT id FROM dw.project WHERE is_deleted ORDER BY id'), [{ id: 2 }, { id: 4 }]);
    assert.deepEqual((await live()).map((r) => r.id), ['1', '3', '5']);
    // hard, over a target loaded again by full mode
    await sync(pg, { ...one('src'), tables: [{ table: 'project', mode: 'full' }] });
    await src.query(`DELETE FROM project WHERE id = 5`);
    await dst.query(`DELETE FROM _tablesync_tables WHERE target_table = 'project'`);
    const [h] = (await sync(pg, one('src', { deletes: 'hard' }))).tables;
    assert.equal(h.deleted, 1);
    assert.deepEqual(await rows(dst, 'SELECT id FROM dw.project ORDER BY id'), [{ id: 1 }, { id: 3 }]);
  });

  it('issue 19 defect 3 (MariaDB, case-insensitive collation): logged keys spelled otherwise match the rows the source compares equal', async () => {
    await mdb.query(`CREATE TABLE project (code varchar(10) PRIMARY KEY, name varchar(20)) COLLATE utf8mb4_general_ci`);
    await mdb.query(`CREATE TABLE change_log (id int AUTO_INCREMENT PRIMARY KEY, object_id varchar(20), action varchar(20))`);
    await mdb.query(`INSERT INTO project VALUES ('Abc', 'a'), ('Def', 'd'), ('Jkl ', 'j'), ('Mno', 'm')`);
    await sync(my, one('my'));
    await mdb.query(`DELETE FROM project WHERE code IN ('Def', 'Jkl')`);
    await mdb.query(`UPDATE project SET name = 'a2' WHERE code = 'abc'`);
    await mdb.query(`INSERT INTO change_log (object_id, action) VALUES ('DEF', 'deleted'), ('Jkl', 'deleted'), ('ABC', 'changed')`);
    const pending = await runTestVerify(my, { config: one('my') });
    assert.equal(pending.tables[0].rows?.pending.count, 3, JSON.stringify(pending.tables[0]));
    const [t] = (await sync(my, one('my'))).tables;
    assert.deepEqual([t.updated, t.deleted], [1, 2]);
    assert.deepEqual(await rows(dst, 'SELECT code, name, is_deleted FROM dw.project ORDER BY code'), [
      { code: 'Abc', name: 'a2', is_deleted: false },
      { code: 'Def', name: 'd', is_deleted: true },
      { code: 'Jkl ', name: 'j', is_deleted: true },
      { code: 'Mno', name: 'm', is_deleted: false },
    ]);
    const after = await runTestVerify(my, { config: one('my') });
    assert.equal(after.matches, true, JSON.stringify(after));
  });
});
