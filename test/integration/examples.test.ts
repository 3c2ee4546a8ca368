import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { runCli, runConfigFile } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, PG_BASE, testDb } from '../helpers/pg';

// The example configs and the configs `tablesync init` writes, run as written
// (connection names resolved from the environment) against real databases.
const ROOT = join(__dirname, '..', '..', '..');
const DST = testDb('tablesync_it_examples_dst');
const MY = testDb('tablesync_it_examples_my');
const DEMO = testDb('tablesync_it_initdemo');
const MSSQL_URL = process.env.MSSQL_URL;
const MSSQL_DB = testDb('tablesync_example');

const count = async (db: { query: (sql: string) => Promise<{ rows: { n: number }[] }> }, table: string) =>
  (await db.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;

describe('example configs and tablesync init, run as written (Temporal)', () => {
  const { dst, my } = useDatabases({ pg: { dst: DST }, mysql: { my: MY } }, { perTest: true });
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'tablesync-init-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function shopTables(): Promise<void> {
    await my.query('CREATE TABLE customers (CustomerId int PRIMARY KEY, Name varchar(50) NOT NULL)');
    await my.query("INSERT INTO customers VALUES (1, 'Ann'), (2, 'Bob')");
    await my.query('CREATE TABLE orders (id int PRIMARY KEY, total decimal(10,2), updated_at datetime(6) NOT NULL, INDEX (updated_at))');
    await my.query("INSERT INTO orders VALUES (1, 10.50, '2026-01-01 10:00:00'), (2, 20.00, '2026-01-01 11:00:00')");
    await my.query('CREATE TABLE order_events (order_id int, event varchar(20), created_at datetime(6) NOT NULL)');
    await my.query("INSERT INTO order_events VALUES (1, 'placed', '2026-01-01 10:00:00'), (2, 'placed', '2026-01-01 11:00:00')");
    await my.query('CREATE TABLE page_views (path varchar(100), seen datetime)');
    await my.query("INSERT INTO page_views VALUES ('/', '2026-01-01 10:00:00'), ('/', '2026-01-01 10:00:00')");
  }

  it('examples/mariadb.yaml syncs a MariaDB database, and a second run brings a change', async () => {
    await shopTables();
    const connections = { shop: mysqlUrl(MY), warehouse: pgUrl(DST) };
    const file = join(ROOT, 'examples', 'mariadb.yaml');
    const first = await runConfigFile(['run'], file, connections);
    assert.equal(first.code, 0, first.out);
    assert.deepEqual(
      [await count(dst, 'shop.customers'), await count(dst, 'shop.orders'), await count(dst, 'shop.order_events'), await count(dst, 'shop.page_views')],
      [2, 2, 2, 2],
    );
    await my.query("UPDATE orders SET total = 11, updated_at = '2026-01-02 00:00:00' WHERE id = 1");
    await my.query("INSERT INTO order_events VALUES (1, 'paid', '2026-01-02 00:00:00')");
    const second = await runConfigFile(['run'], file, connections);
    assert.equal(second.code, 0, second.out);
    assert.equal((await dst.query('SELECT total::text AS t FROM shop.orders WHERE id = 1')).rows[0].t, '11.00');
    assert.equal(await count(dst, 'shop.order_events'), 3);
    const verified = await runConfigFile(['verify'], file, connections);
    assert.match(verified.out, /order_events/);
  });

  it('examples/mssql.yaml syncs a SQL Server database (Babelfish over TDS)', async function () {
    if (!MSSQL_URL) {
      console.log('    skipped: MSSQL_URL is not set: start a TDS server with bash ../shared/tools/babelfish/start.sh');
      return this.skip();
    }
    const { ConnectionPool } = await import('mssql');
    const { parseMssqlUrl } = await import('../../lib/sources/mssql/connection');
    const withDatabase = (name: string) => MSSQL_URL.replace(/^(mssql:\/\/[^/]+\/)[^?]*/, `$1${name}`);
    const admin = await new ConnectionPool(parseMssqlUrl(withDatabase('master'))).connect();
    await admin.request().batch(`IF DB_ID('${MSSQL_DB}') IS NOT NULL DROP DATABASE ${MSSQL_DB}; CREATE DATABASE ${MSSQL_DB}`);
    await admin.close();
    const url = withDatabase(MSSQL_DB);
    const pool = await new ConnectionPool(parseMssqlUrl(url)).connect();
    const db = { query: (sql: string) => pool.request().batch(sql), close: () => pool.close() };
    try {
      await db.query('CREATE TABLE dbo.customers (customer_id int PRIMARY KEY, name nvarchar(50) NOT NULL)');
      await db.query("INSERT INTO dbo.customers VALUES (1, N'Ann'), (2, N'Bob')");
      await db.query('CREATE TABLE dbo.orders (order_id int PRIMARY KEY, total decimal(10,2), modified_at datetime2(7) NOT NULL); CREATE INDEX ix_modified ON dbo.orders (modified_at)');
      await db.query("INSERT INTO dbo.orders VALUES (1, 10.5, '2026-01-01 10:00:00.1234567'), (2, 20, '2026-01-01 11:00:00')");
      await db.query('CREATE TABLE dbo.order_lines (line_id int NOT NULL, order_id int, qty int); CREATE UNIQUE INDEX ux_line ON dbo.order_lines (line_id)');
      await db.query('INSERT INTO dbo.order_lines VALUES (1, 1, 3), (2, 1, 1), (3, 2, 5)');
      await db.query('CREATE TABLE dbo.audit_trail (at datetime2(3), what nvarchar(100))');
      await db.query("INSERT INTO dbo.audit_trail VALUES ('2026-01-01 10:00', N'x'), ('2026-01-01 10:00', N'x')");
      const connections = { erp: url, warehouse: pgUrl(DST) };
      const file = join(ROOT, 'examples', 'mssql.yaml');
      const first = await runConfigFile(['run'], file, connections);
      assert.equal(first.code, 0, first.out);
      assert.match(first.out, /order_lines: keyed by tables\[2\]\.primaryKey \(line_id\): .*a unique index over NOT NULL columns guarantees it/);
      assert.deepEqual(
        [await count(dst, 'erp.customers'), await count(dst, 'erp.orders'), await count(dst, 'erp.order_lines'), await count(dst, 'erp.audit_trail')],
        [2, 2, 3, 2],
      );
      await db.query("UPDATE dbo.orders SET total = 11, modified_at = '2026-01-02 00:00:00.0000001' WHERE order_id = 1");
      await db.query('UPDATE dbo.order_lines SET qty = 4 WHERE line_id = 1');
      const second = await runConfigFile(['run'], file, connections);
      assert.equal(second.code, 0, second.out);
      assert.equal((await dst.query('SELECT total::text AS t FROM erp.orders WHERE order_id = 1')).rows[0].t, '11.00');
      assert.equal((await dst.query('SELECT qty AS q FROM erp.order_lines WHERE line_id = 1')).rows[0].q, 4);
    } finally {
      await db.close();
      const cleanup = await new ConnectionPool(parseMssqlUrl(withDatabase('master'))).connect();
      await cleanup.request().batch(`DROP DATABASE IF EXISTS ${MSSQL_DB}`).catch(() => undefined);
      await cleanup.close();
    }
  });

  it('init writes a commented config for a MariaDB database that runs as written, with no password in it', async () => {
    await shopTables();
    await my.query('CREATE TABLE places (id int PRIMARY KEY, spot point)');
    await my.query("INSERT INTO places VALUES (1, POINT(1, 2))");
    const out = join(dir, 'sync.yaml');
    // A password in the URL (the test server trusts local connections and ignores it) must not reach the file.
    const target = pgUrl(DST).replace('postgres://postgres@', 'postgres://postgres:s3cret-pw@');
    const init = await runCli(['init', '--source', mysqlUrl(MY), '--target', target, '--out', out], {});
    assert.equal(init.code, 0, init.out);
    const text = readFileSync(out, 'utf8');
    assert.doesNotMatch(text, /s3cret-pw/);
    assert.match(text, /TABLESYNC_CONNECTION_TARGET="postgres:\/\/postgres:PASSWORD@/);
    assert.match(text, /"updated_at" \(datetime\(6\)\) is indexed[^\n]*\n[^-]*- table: "[^"]+\.orders"\n {4}mode: cursor\n {4}cursor: "updated_at"/);
    assert.match(text, /no primary key: mode full reloads it[^\n]*\n(  #[^\n]*\n)*  - table: "[^"]+\.page_views"\n {4}mode: full/);
    assert.match(text, /typeMap:\n(  #[^\n]*\n)  "point": "\w+"/);
    assert.match(text, /tablesync run --config .*sync\.yaml --dry-run --local/);
    const again = await runCli(['init', '--source', mysqlUrl(MY), '--target', target, '--out', out], {});
    assert.equal(again.code, 2, 'an existing file is not overwritten without --force');

    const connections = { source: mysqlUrl(MY), target: pgUrl(DST) };
    // The dry run init suggests first, on a target with no state tables yet: it plans and writes nothing.
    const dry = await runConfigFile(['run', '--dry-run'], out, connections);
    assert.equal(dry.code, 0, dry.out);
    assert.match(dry.out, /orders/);
    assert.equal((await dst.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`)).rows[0].n, 0, 'a dry run creates nothing');
    const run = await runConfigFile(['run'], out, connections);
    assert.equal(run.code, 0, run.out);
    assert.equal(await count(dst, `"${MY}".page_views`), 2);
    assert.equal(await count(dst, `"${MY}".places`), 1);
    const rerun = await runConfigFile(['run'], out, connections);
    assert.equal(rerun.code, 0, rerun.out);
  });

  it('init writes a config for the demo source that runs as written', async () => {
    execFileSync(process.execPath, [join(ROOT, 'dist', 'scripts', 'demo-data.js')], { env: { ...process.env, TABLESYNC_DEMO_NAME: DEMO }, stdio: 'pipe' });
    try {
      const out = join(dir, 'demo.yaml');
      const init = await runCli(['init', '--source', pgUrl(`${DEMO}_src`), '--target', pgUrl(`${DEMO}_dst`), '--out', out], {});
      assert.equal(init.code, 0, init.out);
      const text = readFileSync(out, 'utf8');
      assert.match(text, /- table: "public\.audit_log"\n {4}mode: full/);
      const run = await runConfigFile(['run'], out, { source: pgUrl(`${DEMO}_src`), target: pgUrl(`${DEMO}_dst`) });
      assert.equal(run.code, 0, run.out);
      const verify = await runConfigFile(['verify'], out, { source: pgUrl(`${DEMO}_src`), target: pgUrl(`${DEMO}_dst`) });
      assert.equal(verify.code, 0, verify.out);
    } finally {
      const admin = new Client({ connectionString: `${PG_BASE}/postgres` });
      await admin.connect();
      for (const db of [`${DEMO}_src`, `${DEMO}_dst`]) await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await admin.end();
    }
  });
});
