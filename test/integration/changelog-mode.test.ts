import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import type { SyncSummary } from '../../lib/types';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { FAST_RETRY, syncOk } from '../helpers/run';

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
