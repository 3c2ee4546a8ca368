import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionPool } from 'mssql';
import type { Connection } from 'mysql2/promise';
import type { Pool } from 'pg';
import type { SyncSummary, TableVerification } from '../../lib/types';
import { runCli } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import { freshMssqlDatabase, mssqlUrl, requireMssql } from '../helpers/mssql';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { FAST_RETRY, syncOk } from '../helpers/run';
import { runTestVerify } from '../helpers/verify';

// tables[].where on real sources: only the rows the filter keeps are read,
// in every mode that takes it, and verify compares that set. Each source gets
// one table per mode (same rows), then rows are deleted inside and outside
// the filter, one row moves out of it and one moves in. The filter value
// holds a quote, in both forms (a predicate, and a bound structured value).
const SRC = testDb('tablesync_it_rowfilter_src');
const DST = testDb('tablesync_it_rowfilter_dst');
const MY = testDb('tablesync_it_rowfilter_my');

const IN = "EU'x"; // the region the filter keeps
const PREDICATE = "region = 'EU''x' AND note IS NOT NULL";

interface Source {
  name: string;
  /** The source schema the config names (default: the dialect's). */
  schema?: string;
  connections: Record<string, string>;
  exec(sql: string): Promise<void>;
  ddl: { table: (name: string) => string; log: string };
}

const byTable = (s: SyncSummary) => Object.fromEntries(s.tables.map((t) => [t.table.split('.').pop()!, t]));
const ids = async (db: Pool, sql: string) => (await db.query(sql)).rows.map((r) => Number(r.id));

const SCENARIO = 'each mode syncs only the filtered rows; deletes, rows moving out and in; verify on the filtered set; a bad predicate fails its table alone';

const tables = [
  // A reload: the target holds exactly the filtered set.
  { table: 'o_full', mode: 'full', where: PREDICATE },
  // Deletes among the filtered rows: a row that leaves the filter is deleted too (auto: a first full load, then compare).
  { table: 'o_compare', mode: 'auto', deletes: 'hard', where: { region: IN } },
  // The window ANDed with the filter: a row moving in is read; one moving out (or deleted) is not seen.
  { table: 'o_cursor', mode: 'cursor', cursor: 'updated_at', where: PREDICATE },
  // Logged keys read through the filter; a logged key whose row left it counts as deleted (soft, the default).
  { table: 'o_log', mode: 'changelog', changelog: { table: 'chg', key: 'k' }, where: { region: IN } },
  // A predicate the source refuses: this table alone fails, at planning.
  { table: 'o_bad', mode: 'compare', where: 'no_such_column = 1' },
];
// Small batches and partitions, so the filtered key bounds cut each table into several ranges and chunks.
const sizing = { batchSize: 2, partitionThreshold: 3, rowsPerPartition: 2, verifyRowsPerRange: 2 };

async function scenario(source: Source, dst: Pool): Promise<void> {
  const config = { ...FAST_RETRY, ...sizing, source: { connection: 'src', ...(source.schema && { schema: source.schema }) }, target: { connection: 'dst', schema: 'dw' }, tables };
    for (const t of tables) {
      await source.exec(source.ddl.table(t.table));
      // Odd ids in the filter, even ones out; id 9 has the region but no note (out of the predicate, in the structured filter).
      const values = Array.from({ length: 10 }, (_, i) => {
        const id = i + 1;
        const region = id % 2 ? IN : 'US';
        return `(${id}, '${region.replace(/'/g, "''")}', ${id === 9 ? 'NULL' : `'n${id}'`}, '2026-01-01 00:00:${String(id).padStart(2, '0')}')`;
      });
      await source.exec(`INSERT INTO ${t.table} VALUES ${values.join(', ')}`);
    }
    await source.exec(source.ddl.log);
    await source.exec(`INSERT INTO chg (k, action) VALUES ('0', 'added')`);

    const first = byTable(await syncOk(source.connections, config, 'rowfilter'));
    assert.ok(first.o_full.partitions > 1, `partitioned: ${JSON.stringify(first.o_full)}`);
    assert.equal(first.o_bad.status, 'failed', JSON.stringify(first.o_bad));
    assert.equal(first.o_bad.errorType, 'InvalidFilter');
    assert.match(first.o_bad.error ?? '', /o_bad: tables\[4\]\.where: the source refused the predicate/);
    for (const name of ['o_full', 'o_compare', 'o_cursor', 'o_log']) assert.equal(first[name].status, 'completed', JSON.stringify(first[name]));
    // The predicate also needs a note: id 9 is out of it, in the structured filter.
    assert.deepEqual(await ids(dst, 'SELECT id FROM dw.o_full ORDER BY id'), [1, 3, 5, 7]);
    assert.deepEqual(await ids(dst, 'SELECT id FROM dw.o_cursor ORDER BY id'), [1, 3, 5, 7]);
    assert.deepEqual(await ids(dst, 'SELECT id FROM dw.o_compare ORDER BY id'), [1, 3, 5, 7, 9]);
    assert.deepEqual(await ids(dst, 'SELECT id FROM dw.o_log ORDER BY id'), [1, 3, 5, 7, 9]);
    assert.deepEqual((await dst.query('SELECT region FROM dw.o_compare WHERE id = 1')).rows, [{ region: IN }]);

    // Deleted inside (1) and outside (2) the filter; 3 moves out; 4 moves in.
    for (const t of tables) {
      await source.exec(`DELETE FROM ${t.table} WHERE id IN (1, 2)`);
      await source.exec(`UPDATE ${t.table} SET region = 'US', updated_at = '2026-02-01 00:00:03' WHERE id = 3`);
      await source.exec(`UPDATE ${t.table} SET region = '${IN.replace(/'/g, "''")}', updated_at = '2026-02-01 00:00:04' WHERE id = 4`);
    }
    await source.exec(`INSERT INTO chg (k, action) VALUES ('1', 'deleted'), ('2', 'deleted'), ('3', 'changed'), ('4', 'changed')`);

    const second = byTable(await syncOk(source.connections, config, 'rowfilter'));
    assert.equal(second.o_bad.status, 'failed');
    assert.deepEqual(await ids(dst, 'SELECT id FROM dw.o_full ORDER BY id'), [4, 5, 7]);
    assert.deepEqual(await ids(dst, 'SELECT id FROM dw.o_compare ORDER BY id'), [4, 5, 7, 9]);
    assert.equal(second.o_compare.deleted, 2, 'the deleted row and the one that left the filter; the row deleted outside it was never there');
    // A cursor table sees neither a delete nor a row leaving the filter: both stay as they were (documented).
    assert.deepEqual(await ids(dst, 'SELECT id FROM dw.o_cursor ORDER BY id'), [1, 3, 4, 5, 7]);
    assert.deepEqual((await dst.query('SELECT region FROM dw.o_cursor WHERE id = 3')).rows, [{ region: IN }]);
    // Soft deletes: the deleted row and the one that left the filter are marked; the one that came in is live.
    assert.deepEqual(await ids(dst, 'SELECT id FROM dw.o_log WHERE NOT is_deleted ORDER BY id'), [4, 5, 7, 9]);
    assert.deepEqual(await ids(dst, 'SELECT id FROM dw.o_log WHERE is_deleted ORDER BY id'), [1, 3]);
    assert.equal(second.o_log.deleted, 2);

    // Verify compares the filtered source with the target.
    const verified = await runTestVerify(source.connections, { config });
    const v = Object.fromEntries(verified.tables.map((t: TableVerification) => [t.table.split('.').pop()!, t]));
    for (const [name, rows] of [['o_full', 3], ['o_compare', 4], ['o_log', 4]] as const) {
      assert.equal(v[name].matches, true, JSON.stringify(v[name]));
      assert.equal(v[name].sourceRows, rows, `${name}: the source's filtered rows only`);
    }
    // The cursor table's two rows the filtered source lacks are differences, as deleted rows are.
    assert.equal(v.o_cursor.matches, false, JSON.stringify(v.o_cursor));
    assert.equal(v.o_cursor.sourceRows, 3);
    assert.equal(v.o_cursor.rows?.extra.count, 2, JSON.stringify(v.o_cursor.rows));
    assert.ok(verified.skipped.some((s) => s.table.endsWith('o_bad') && /tables\[4\]\.where/.test(s.reason)), JSON.stringify(verified.skipped));

    // A repair of the cursor table touches only the filtered set: the stray rows go, nothing outside the filter comes in.
    const repaired = await runTestVerify(source.connections, { config: { ...config, tables: [tables[2]] }, repair: true });
    assert.equal(repaired.matches, true, JSON.stringify(repaired.tables));
    assert.deepEqual(await ids(dst, 'SELECT id FROM dw.o_cursor ORDER BY id'), [4, 5, 7]);
}

describe('row filters: tables[].where (real PostgreSQL, MariaDB, Temporal)', () => {
  const { src, dst, mdb } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { mdb: MY } }, { perTest: true });
  const sources: Source[] = [
    {
      name: 'PostgreSQL',
      connections: { src: pgUrl(SRC), dst: pgUrl(DST) },
      exec: async (sql) => void (await (src as Pool).query(sql)),
      ddl: {
        table: (name) => `CREATE TABLE ${name} (id int PRIMARY KEY, region varchar(10), note varchar(20), updated_at timestamp(6) NOT NULL)`,
        log: `CREATE TABLE chg (id serial PRIMARY KEY, k text NOT NULL, action text NOT NULL)`,
      },
    },
    {
      name: 'MariaDB',
      connections: { src: mysqlUrl(MY), dst: pgUrl(DST) },
      exec: async (sql) => void (await (mdb as Connection).query(sql)),
      ddl: {
        table: (name) => `CREATE TABLE ${name} (id int PRIMARY KEY, region varchar(10), note varchar(20), updated_at datetime(6) NOT NULL)`,
        log: `CREATE TABLE chg (id int AUTO_INCREMENT PRIMARY KEY, k varchar(20) NOT NULL, action varchar(10) NOT NULL)`,
      },
    },
  ];


  for (const source of sources) {
    it(`${source.name}: ${SCENARIO}`, () => scenario(source, dst));
  }

  it('PostgreSQL: a column-only backfill (schema evolution) reads the filtered rows only', async () => {
    const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };
    const entry = { table: 'b', mode: 'cursor', cursor: 'updated_at', where: { region: IN } };
    const config = { ...FAST_RETRY, ...sizing, source: { connection: 'src' }, target: { connection: 'dst', schema: 'dw' }, tables: [entry] };
    await src.query(`CREATE TABLE b (id int PRIMARY KEY, region text, updated_at timestamp(6) NOT NULL)`);
    await src.query(`INSERT INTO b SELECT g, CASE WHEN g % 2 = 1 THEN $1 ELSE 'US' END, '2026-01-01'::timestamp + g * interval '1 minute' FROM generate_series(1, 8) g`, [IN]);
    await syncOk(connections, config, 'rowfilter');
    // A column added and filled without moving the cursor: only a backfill brings its values.
    await src.query(`ALTER TABLE b ADD COLUMN extra text`);
    await src.query(`UPDATE b SET extra = 'x' || id`);
    const run = byTable(await syncOk(connections, config, 'rowfilter'));
    assert.equal(run.b.status, 'completed', run.b.error);
    // The backfill's 4 filtered rows (not 8), then the window's one row at the saved cursor (id 7, read again inclusively).
    assert.equal(run.b.rowsCopied, 5, JSON.stringify(run.b));
    assert.deepEqual((await dst.query('SELECT id, extra FROM dw.b ORDER BY id')).rows, [1, 3, 5, 7].map((id) => ({ id, extra: `x${id}` })));
    const verified = await runTestVerify(connections, { config });
    assert.equal(verified.matches, true, JSON.stringify(verified.tables));
  });

  it('the CLI refuses where: on a mode that does not take it (exit 2), naming the table entry and the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tablesync-where-'));
    try {
      const file = join(dir, 'sync.yaml');
      writeFileSync(
        file,
        ['source: { connection: src }', 'target: { connection: dst }', 'tables:', '  - { table: orders, mode: cdc, where: "region = \'EU\'" }'].join('\n'),
      );
      const r = await runCli(['run', '--config', file], { TEMPORAL_ADDRESS: '127.0.0.1:1' }, 30_000);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /tables\[0\]\.where applies to mode full, compare, cursor, changelog only \(this table's mode is cdc\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('row filters: tables[].where (SQL Server source on a TDS server, MSSQL_URL)', function () {
  this.timeout(300_000);
  requireMssql();
  const MS = testDb('tablesync_it_rowfilter_ms');
  const MSDST = testDb('tablesync_it_rowfilter_msdst');
  const { dst } = useDatabases({ pg: { dst: MSDST } });
  let ms: ConnectionPool;
  before(async () => {
    ms = await freshMssqlDatabase(MS);
  });
  after(async () => ms?.close());

  it(`SQL Server: ${SCENARIO}`, () =>
    scenario(
      {
        name: 'SQL Server',
        schema: 'dbo',
        connections: { src: mssqlUrl(MS), dst: pgUrl(MSDST) },
        exec: async (sql) => void (await ms.request().batch(sql)),
        ddl: {
          table: (name) => `CREATE TABLE dbo.${name} (id int NOT NULL PRIMARY KEY, region nvarchar(10) NULL, note nvarchar(20) NULL, updated_at datetime2(6) NOT NULL)`,
          log: `CREATE TABLE dbo.chg (id int IDENTITY(1,1) NOT NULL PRIMARY KEY, k nvarchar(20) NOT NULL, action nvarchar(10) NOT NULL)`,
        },
      },
      dst,
    ));
});
