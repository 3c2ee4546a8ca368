import assert from 'node:assert/strict';
import { ConnectionPool, Transaction } from 'mssql';
import { parseMssqlUrl } from '../../lib/sources/mssql';
import { useDatabases } from '../helpers/databases';
import { pgUrl, testDb } from '../helpers/pg';
import { FAST_RETRY, syncOk } from '../helpers/run';
import { runTestVerify } from '../helpers/verify';

// Change-log mode from a SQL Server protocol server (MSSQL_URL; in CI and
// here, Babelfish): a log row committed after a higher one was read, and
// keys under the database's case-insensitive collation.
const MSSQL_URL = process.env.MSSQL_URL;
const DST = testDb('tablesync_it_clogms_dst');
const DB = testDb('tablesync_it_clogms_src');

describe('change-log mode from SQL Server (MSSQL_URL)', () => {
  before(function () {
    if (!MSSQL_URL) {
      console.log('    skipped: MSSQL_URL is not set: start a TDS server with bash ../shared/tools/babelfish/start.sh');
      this.skip();
    }
  });
  const { dst } = useDatabases({ pg: { dst: DST } }, { perTest: true });
  let admin: ConnectionPool;
  let src: ConnectionPool;
  let url = '';
  const connections = () => ({ ms: url, dst: pgUrl(DST) });
  const config = {
    source: { connection: 'ms', schema: 'dbo' },
    target: { connection: 'dst', schema: 'dw' },
    tables: [{ table: 'dbo.project', mode: 'changelog', changelog: { table: 'dbo.change_log', key: 'object_id', action: 'action', position: 'id' } }],
    ...FAST_RETRY,
  };
  const sync = async () => (await syncOk(connections(), config, 'clogms')).tables[0];

  // One database per test: the worker's pools may still hold the previous one's sessions for a while.
  let made = 0;
  const names: string[] = [];
  beforeEach(async function () {
    this.timeout(60_000);
    admin ??= await new ConnectionPool(parseMssqlUrl(MSSQL_URL!)).connect();
    const db = `${DB}_${++made}`;
    names.push(db);
    await admin.request().batch(`IF DB_ID('${db}') IS NOT NULL DROP DATABASE ${db}; CREATE DATABASE ${db};`);
    const u = new URL(MSSQL_URL!);
    u.pathname = `/${db}`;
    url = u.toString();
    src = await new ConnectionPool(parseMssqlUrl(url)).connect();
  });
  afterEach(async () => {
    await src?.close();
  });
  after(async () => {
    for (const db of names) {
      await admin
        ?.request()
        .batch(`IF DB_ID('${db}') IS NOT NULL DROP DATABASE ${db}`)
        .catch((err: Error) => console.log(`    left ${db}: ${err.message}`));
    }
    await admin?.close();
  });

  it('case 1: a log row committed after a higher one was read is applied by a later run', async () => {
    await src.request().batch(`
      CREATE TABLE dbo.project (id int PRIMARY KEY, name nvarchar(20));
      CREATE TABLE dbo.change_log (id int IDENTITY PRIMARY KEY, object_id nvarchar(40), action nvarchar(20));
      INSERT INTO dbo.project VALUES (1, N'a');`);
    await sync();
    const slow = new Transaction(src);
    await slow.begin();
    try {
      await slow.request().batch(`INSERT INTO dbo.project VALUES (5, N'slow'); INSERT INTO dbo.change_log (object_id, action) VALUES (N'5', N'added');`);
      await src.request().batch(`INSERT INTO dbo.project VALUES (6, N'fast'); INSERT INTO dbo.change_log (object_id, action) VALUES (N'6', N'added');`);
      assert.equal((await sync()).inserted, 1);
      await slow.commit();
    } catch (err) {
      await slow.rollback().catch(() => undefined);
      throw err;
    }
    assert.equal((await sync()).inserted, 1, 'the late commit is applied by the next run');
    const live = await dst.query('SELECT id, name FROM dw.project WHERE NOT is_deleted ORDER BY id');
    assert.deepEqual(live.rows, [
      { id: 1, name: 'a' },
      { id: 5, name: 'slow' },
      { id: 6, name: 'fast' },
    ]);
  });

  it('issue 19 defect 3: deletes logged as DEF and Jkl reach the rows Def and "Jkl " (case-insensitive collation, trailing spaces)', async () => {
    await src.request().batch(`
      CREATE TABLE dbo.project (code nvarchar(10) COLLATE SQL_Latin1_General_CP1_CI_AS PRIMARY KEY, name nvarchar(20));
      CREATE TABLE dbo.change_log (id int IDENTITY PRIMARY KEY, object_id nvarchar(40), action nvarchar(20));
      INSERT INTO dbo.project VALUES (N'Abc', N'a'), (N'Def', N'd'), (N'Jkl ', N'j'), (N'Mno', N'm');`);
    await sync();
    await src.request().batch(`
      DELETE FROM dbo.project WHERE code IN (N'Def', N'Jkl');
      UPDATE dbo.project SET name = N'a2' WHERE code = N'abc';
      INSERT INTO dbo.change_log (object_id, action) VALUES (N'DEF', N'deleted'), (N'Jkl', N'deleted'), (N'ABC', N'changed');`);
    const t = await sync();
    assert.deepEqual([t.updated, t.deleted], [1, 2]);
    const rows = await dst.query('SELECT code, name, is_deleted FROM dw.project ORDER BY code');
    assert.deepEqual(rows.rows, [
      { code: 'Abc', name: 'a2', is_deleted: false },
      { code: 'Def', name: 'd', is_deleted: true },
      { code: 'Jkl ', name: 'j', is_deleted: true },
      { code: 'Mno', name: 'm', is_deleted: false },
    ]);
  });
});
