import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { ConnectionPool } from 'mssql';
import { parseSyncConfig } from '../../lib/config';
import { planTable, readPlanCatalog, type PlanCatalog } from '../../lib/modes';
import { refKey, type SourceConnection } from '../../lib/sources/base';
import { MssqlSource } from '../../lib/sources/mssql';
import { MysqlSource } from '../../lib/sources/mysql';
import { PostgresSource } from '../../lib/sources/postgres';
import { pgCatalog } from '../../lib/sources/postgres/catalog';
import { readColumnTypes, readColumnTypesMany } from '../../lib/sources/postgres/user-types';
import type { TableRef } from '../../lib/types';
import { useDatabases } from '../helpers/databases';
import { freshMssqlDatabase, mssqlUrl, requireMssql } from '../helpers/mssql';
import { mysqlUrl } from '../helpers/mysql';
import { testDb } from '../helpers/pg';

// A sync of thousands of tables reads the catalogs a few queries per batch of
// tables (describeTables, estimateRowsMany, readColumnTypesMany, the plan
// catalog) instead of a few per table. What planning gets must not depend on
// which way it was read: each batched read is compared here with the
// per-table read it replaces, on a schema with every kind of table the
// per-table path handles differently.

const PG = testDb('tablesync_it_catalog_pg');
const DST = testDb('tablesync_it_catalog_dst');
const MY = testDb('tablesync_it_catalog_my');
const MS = testDb('tablesync_it_catalog_ms');

/** describeTables against describeTable, table by table: equal where found, and left out only where describeTable finds nothing or another spelling. */
async function sameDescriptions(source: SourceConnection, refs: TableRef[], mustFind: TableRef[]): Promise<void> {
  const many = await source.describeTables(refs);
  for (const ref of refs) {
    const one = await source.describeTable(ref);
    const batched = many.get(refKey(ref));
    if (batched) assert.deepEqual(batched, one, `${ref.schema}.${ref.name}`);
    else assert.ok(!mustFind.includes(ref), `${ref.schema}.${ref.name} left out of describeTables`);
  }
  for (const ref of mustFind) assert.ok(many.has(refKey(ref)), `${ref.schema}.${ref.name} found`);
  assert.ok(![...many.keys()].some((k) => !refs.some((r) => refKey(r) === k)), 'only the tables asked for');
}

async function sameEstimates(source: SourceConnection, refs: TableRef[]): Promise<void> {
  const many = await source.estimateRowsMany(refs);
  for (const ref of refs) {
    if (!many.has(refKey(ref))) continue;
    assert.equal(many.get(refKey(ref)), await source.estimateRows(ref), `${ref.schema}.${ref.name}`);
  }
}

describe('catalog reads of many tables at once give what the per-table reads give', function () {
  this.timeout(120_000);

  describe('PostgreSQL', () => {
    const { pool, dst } = useDatabases({ pg: { pool: PG, dst: DST } });
    const t = (schema: string, name: string): TableRef => ({ schema, name });
    const tables = [
      t('public', 'plain'),
      t('public', 'composite_key'),
      t('public', 'no_key'),
      t('public', 'generated'),
      t('public', 'dropped_col'),
      t('app', 'typed'),
      t('app', 'Mixed Case'),
      t('public', 'parted'),
      t('public', 'empty_cols'),
      t('public', 'analyzed'),
    ];
    const missing = [t('public', 'nope'), t('public', 'a_view'), t('public', 'row_typed')];
    before(async () => {
      await pool.query(`
        CREATE SCHEMA app;
        CREATE TYPE app.mood AS ENUM ('sad', 'ok');
        CREATE DOMAIN app.year AS integer NOT NULL CHECK (VALUE BETWEEN 1900 AND 2100);
        CREATE TYPE app.spot AS (x double precision, label app.mood, years app.year[]);
        CREATE TABLE plain (id bigint PRIMARY KEY, name text NOT NULL DEFAULT 'x', amount numeric(12,2), at timestamptz(3));
        CREATE TABLE composite_key (b text, a int, c varchar(10), PRIMARY KEY (a, b), UNIQUE (c));
        ALTER TABLE composite_key ALTER COLUMN c SET NOT NULL;
        CREATE TABLE no_key (x int, y text);
        CREATE UNIQUE INDEX no_key_x ON no_key (x);
        CREATE TABLE generated (id int PRIMARY KEY, a int, b int GENERATED ALWAYS AS (a * 2) STORED);
        CREATE TABLE dropped_col (id int PRIMARY KEY, gone text, kept text);
        ALTER TABLE dropped_col DROP COLUMN gone;
        CREATE TABLE app.typed (id int PRIMARY KEY, m app.mood, ms app.mood[], y app.year, s app.spot, j jsonb);
        CREATE TABLE app."Mixed Case" ("Id" int PRIMARY KEY, "Some Text" text);
        CREATE TABLE parted (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
        CREATE TABLE parted_2024 PARTITION OF parted FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE TABLE empty_cols ();
        CREATE TABLE analyzed (id int PRIMARY KEY);
        INSERT INTO analyzed SELECT generate_series(1, 50); ANALYZE analyzed;
        INSERT INTO plain VALUES (1, 'a', 1.5, now()), (2, 'b', null, null);
        CREATE VIEW a_view AS SELECT * FROM plain;
        CREATE TABLE row_typed (id int PRIMARY KEY, p plain);`);
      // The target: one table missing, one there and empty, one there with rows and soft-delete columns.
      await dst.query(`
        CREATE TABLE plain (id bigint PRIMARY KEY, name text, amount numeric(12,2), at timestamptz(3), _deleted boolean, _deleted_at timestamptz);
        INSERT INTO plain VALUES (1, 'a', 1.5, now(), false, null);
        CREATE TABLE generated (id int PRIMARY KEY, a int, b int);`);
    });

    it('describeTables: every table as describeTable gives it; a view, a missing table left out', async () => {
      const source = new PostgresSource(pool);
      await sameDescriptions(source, [...tables, ...missing.slice(0, 2)], tables.filter((x) => x.name !== 'empty_cols'));
    });

    it('the target side (pgCatalog.describeTables, hasRowsMany) as describeTable and hasRows give it', async () => {
      const refs = [t('public', 'plain'), t('public', 'generated'), t('public', 'composite_key')];
      const many = await pgCatalog.describeTables(dst, refs);
      for (const ref of refs) assert.deepEqual(many.get(refKey(ref)) ?? null, await pgCatalog.describeTable(dst, ref));
      const rows = await pgCatalog.hasRowsMany(dst, refs.slice(0, 2));
      assert.deepEqual([rows.get(refKey(refs[0])), rows.get(refKey(refs[1]))], [true, false]);
    });

    it('estimateRowsMany: statistics where analyzed, counts where not, as estimateRows', async () => {
      const source = new PostgresSource(pool);
      await sameEstimates(source, [...tables, missing[0]]);
      const many = await source.estimateRowsMany(tables);
      assert.equal(many.get(refKey(t('public', 'plain'))), 2, 'counted: never analyzed');
      assert.equal(many.get(refKey(t('public', 'analyzed'))), 50);
      assert.equal((await source.estimateRowsMany([missing[0]])).size, 0, 'a missing table is left to estimateRows, which reports it');
    });

    it('readColumnTypesMany: each table its own types and definitions; a refused one left out', async () => {
      const refs = [...tables.filter((x) => x.name !== 'parted'), missing[2]];
      const many = await readColumnTypesMany(pool, refs);
      // A table without columns has no types to read: left to readColumnTypes, like a refused one.
      for (const ref of refs.filter((r) => r.name !== 'row_typed' && r.name !== 'empty_cols')) {
        assert.deepEqual(many.get(refKey(ref)), await readColumnTypes(pool, ref), `${ref.schema}.${ref.name}`);
      }
      assert.ok(many.get(refKey(t('app', 'typed')))!.definitions.length >= 3);
      assert.equal(many.get(refKey(t('public', 'plain')))!.definitions.length, 0, 'no types of another table');
      assert.ok(!many.has(refKey(missing[2])));
      await assert.rejects(readColumnTypes(pool, missing[2]), /row type of table public\.plain/);
    });

    it('planTable with the catalog read at once plans every table as planTable alone does', async () => {
      const source = new PostgresSource(pool);
      const config = parseSyncConfig({
        source: { connection: 'src' },
        target: { connection: 'dst', schema: 'public' },
        tables: tables.map((x) => `${x.schema}.${x.name}`),
        deletes: 'hard',
      });
      const env = new MockActivityEnvironment();
      const refs = tables.map((x, i) => ({ ...x, entryIndex: i }));
      const catalog = (await env.run(() => readPlanCatalog(source, dst, config, refs))) as PlanCatalog;
      assert.equal(catalog.source.size, tables.length - 1);
      assert.equal(catalog.target.get(refKey(t('public', 'plain')))?.columns.length, 6);
      const outcome = (ref: (typeof refs)[number], withCatalog: boolean) =>
        env.run(() => planTable(source, dst, config, ref, false, false, withCatalog ? catalog : undefined).catch((err: Error) => ({ error: err.message })));
      for (const ref of refs) assert.deepEqual(await outcome(ref, true), await outcome(ref, false), `${ref.schema}.${ref.name}`);
    });
  });

  describe('MariaDB', () => {
    const { conn } = useDatabases({ mysql: { conn: MY } });
    let source: MysqlSource;
    const t = (name: string): TableRef => ({ schema: MY, name });
    const tables = [t('plain'), t('composite_key'), t('no_key'), t('generated'), t('json_doc'), t('Upper'), t('upper'), t('analyzed')];
    before(async () => {
      await conn.query(`CREATE TABLE plain (id bigint unsigned PRIMARY KEY, name varchar(20) NOT NULL, amount decimal(12,2), at datetime(3), f double)`);
      await conn.query(`CREATE TABLE composite_key (b varchar(10), a int, c char(3) NOT NULL, PRIMARY KEY (a, b), UNIQUE KEY (c))`);
      await conn.query(`CREATE TABLE no_key (x int, y text)`);
      await conn.query(`CREATE TABLE generated (id int PRIMARY KEY, a int, b int AS (a * 2) VIRTUAL, c int AS (a + 1) PERSISTENT)`);
      await conn.query(`CREATE TABLE json_doc (id int PRIMARY KEY, doc json, other longtext CHECK (other <> ''))`);
      await conn.query('CREATE TABLE `Upper` (id int PRIMARY KEY); CREATE TABLE `upper` (id int PRIMARY KEY, extra text)');
      await conn.query('CREATE TABLE analyzed (id int PRIMARY KEY) ENGINE=InnoDB');
      await conn.query('INSERT INTO analyzed VALUES (1), (2), (3); INSERT INTO plain (id, name) VALUES (1, "a")');
      await conn.query('CREATE VIEW a_view AS SELECT * FROM plain');
      source = new MysqlSource(mysqlUrl(MY), 2);
    });
    after(() => source?.close());

    it('describeTables: every table as describeTable gives it (JSON checks, generated columns, keys); Genre and genre apart', async () => {
      await sameDescriptions(source, [...tables, t('nope')], tables);
      const many = await source.describeTables(tables);
      assert.equal(many.get(refKey(t('json_doc')))!.columns.find((c) => c.name === 'doc')!.type, 'json');
      assert.equal(many.get(refKey(t('upper')))!.columns.length, 2);
      assert.equal(many.get(refKey(t('Upper')))!.columns.length, 1);
    });

    it('estimateRowsMany as estimateRows', async () => {
      await sameEstimates(source, [...tables, t('nope')]);
      assert.equal((await source.estimateRowsMany([t('nope')])).size, 0);
    });
  });

  describe('SQL Server (Babelfish where MSSQL_URL names it)', () => {
    requireMssql();
    let admin: ConnectionPool;
    let source: MssqlSource;
    const t = (schema: string, name: string): TableRef => ({ schema, name });
    const tables = [t('dbo', 'Plain'), t('dbo', 'CompositeKey'), t('dbo', 'NoKey'), t('dbo', 'Computed'), t('app', 'Typed'), t('dbo', 'Heap')];
    before(async () => {
      admin = await freshMssqlDatabase(MS);
      await admin.request().batch(`
        CREATE TABLE dbo.Plain (Id bigint NOT NULL PRIMARY KEY, Name nvarchar(20) NOT NULL, Amount decimal(12,2), At datetime2(3), F float(24), B varbinary(max));
        CREATE TABLE dbo.CompositeKey (B nvarchar(10) NOT NULL, A int NOT NULL, C char(3) NOT NULL, CONSTRAINT pk_ck PRIMARY KEY (A, B), CONSTRAINT uq_ck UNIQUE (C));
        CREATE TABLE dbo.NoKey (X int, Y nvarchar(max));
        CREATE TABLE dbo.Computed (Id int NOT NULL PRIMARY KEY, A int, B AS (A * 2));
        CREATE TABLE dbo.Heap (Id int NOT NULL);
        INSERT INTO dbo.Plain (Id, Name) VALUES (1, N'a'), (2, N'b');
        INSERT INTO dbo.Heap (Id) VALUES (1), (2), (3);`);
      await admin.request().batch(`CREATE SCHEMA app`);
      await admin.request().batch(`CREATE TABLE app.Typed (Id uniqueidentifier NOT NULL PRIMARY KEY, T time(4), O datetimeoffset(2), N nchar(5), M money)`);
      source = new MssqlSource(mssqlUrl(MS));
    });
    after(async () => {
      await admin?.close();
      await source?.close();
    });

    it('describeTables: every table as describeTable gives it, also asked under another case', async () => {
      const otherCase = [t('DBO', 'plain'), t('app', 'TYPED')];
      await sameDescriptions(source, [...tables, ...otherCase, t('dbo', 'Nope')], tables);
      const many = await source.describeTables(otherCase);
      const one = await source.describeTable(otherCase[0]);
      if (one) assert.deepEqual(many.get(refKey(otherCase[0])), one, 'found under the collation as describeTable finds it');
    });

    it('estimateRowsMany as estimateRows', async () => {
      await sameEstimates(source, [...tables, t('dbo', 'Nope')]);
      const many = await source.estimateRowsMany(tables);
      assert.equal(many.get(refKey(t('dbo', 'Plain'))), 2);
      assert.equal(many.get(refKey(t('dbo', 'Heap'))), 3);
    });
  });
});
