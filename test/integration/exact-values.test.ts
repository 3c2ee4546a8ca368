import assert from 'node:assert/strict';
import { Client, Pool } from 'pg';
import { MysqlSource } from '../../lib/sources/mysql';
import { pgUrlAs, recreatePgRole } from '../helpers/accounts';
import { useDatabases } from '../helpers/databases';
import { rootCause } from '../helpers/history';
import { mysqlUrl } from '../helpers/mysql';
import { freshDatabase, pgUrl, testDb } from '../helpers/pg';
import { runSyncInProcess, syncOk } from '../helpers/run';

const SRC = testDb('tablesync_it_values_src');
const DST = testDb('tablesync_it_values_dst');
const MY = testDb('tablesync_it_values_my');
const READER = testDb('tablesync_it_values_reader');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST), my: mysqlUrl(MY) };
const fast = { retry: { maximumAttempts: 2, initialIntervalMs: 200, maximumIntervalMs: 500 } };

/** A reader whose own session is pinned, so what the test sees does not depend on the databases' defaults. */
function pinnedReader(database: string): Pool {
  return new Pool({
    connectionString: pgUrl(database),
    max: 2,
    options: '-c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=3 -c TimeZone=UTC',
  });
}

async function admin(sql: string[]): Promise<void> {
  const c = new Client({ connectionString: pgUrl('postgres') });
  await c.connect();
  try {
    for (const s of sql) await c.query(s);
  } finally {
    await c.end();
  }
}

describe('exact values whatever the sessions default to', () => {
  let src: Pool;
  let dst: Pool;
  const { my } = useDatabases({ mysql: { my: MY } });

  before(async () => {
    await (await freshDatabase(SRC)).end();
    await (await freshDatabase(DST)).end();
    // Defaults that change how values print and parse, at database and role level.
    await admin([
      `ALTER DATABASE "${SRC}" SET DateStyle = 'SQL, DMY'`,
      `ALTER DATABASE "${SRC}" SET extra_float_digits = 0`,
      `ALTER ROLE postgres IN DATABASE "${SRC}" SET IntervalStyle = 'sql_standard'`,
      `ALTER DATABASE "${DST}" SET timezone = 'America/New_York'`,
    ]);
    src = pinnedReader(SRC);
    dst = pinnedReader(DST);
  });

  after(async () => {
    await src?.end();
    await dst?.end();
  });

  const PG_ROWS = `(1, '2026-02-01', '-1 year +2 mons -3 days 04:05:06.5', 0.30000000000000004, '2026-03-08 06:30:00.123456+00'),
    (2, '2026-03-04', '1 day -00:00:01', 1e-310, '1999-12-31 23:59:59+00')`;
  const pgText = (pool: Pool, table: string) =>
    pool.query(`SELECT id, d::text, iv::text, f8::text, tz::text FROM ${table} ORDER BY id`).then((r) => r.rows);

  it('PostgreSQL source: text COPY under DateStyle SQL/DMY, IntervalStyle sql_standard, extra_float_digits 0 lands every value exactly', async () => {
    await src.query('CREATE TABLE pgvals (id int PRIMARY KEY, d date, iv interval, f8 float8, tz timestamptz)');
    await src.query(`INSERT INTO pgvals VALUES ${PG_ROWS}`);
    const summary = await syncOk(connections, {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: ['pgvals'],
      useBinaryCopy: false,
      verifyAfterSync: true,
      ...fast,
    });
    assert.equal(summary.tablesFailed, 0, JSON.stringify(summary.tables));
    assert.deepEqual(await pgText(dst, 'pgvals'), await pgText(src, 'pgvals'));
    assert.equal(summary.tables[0].verification?.matches, true);
  });

  it('PostgreSQL source: an incremental run whose types differ (text COPY) leaves correct rows alone', async () => {
    await src.query('CREATE TABLE pgdiff (id int PRIMARY KEY, d date, iv interval, f8 float8, tz timestamptz, n numeric(12,2))');
    await src.query(`INSERT INTO pgdiff (id, d, iv, f8, tz) VALUES ${PG_ROWS}; UPDATE pgdiff SET n = 1.5`);
    await dst.query('CREATE TABLE pgdiff (id int PRIMARY KEY, d date, iv interval, f8 float8, tz timestamptz, n numeric(14,2))');
    await dst.query(`INSERT INTO pgdiff (id, d, iv, f8, tz) VALUES ${PG_ROWS}; UPDATE pgdiff SET n = 1.5`);
    const summary = await syncOk(connections, {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: ['pgdiff'],
      ...fast,
    });
    assert.equal(summary.tablesFailed, 0, JSON.stringify(summary.tables));
    assert.deepEqual([summary.inserted, summary.updated, summary.unchanged], [0, 0, 2]);
    assert.deepEqual(await pgText(dst, 'pgdiff'), await pgText(src, 'pgdiff'));
  });

  it('MariaDB source: TIMESTAMPs keep their instant in a target whose TimeZone is America/New_York, FLOATs their 32-bit value, typeMapped text/bytea their bytes', async () => {
    await my.query(`CREATE TABLE myvals (id int PRIMARY KEY, ts timestamp(6) NULL, fl float, vc varchar(10), tx text, bl blob, vb varbinary(10))`);
    await my.query(`INSERT INTO myvals VALUES
      (1, '2026-03-08 06:30:00.123456', 123456.789, 'é€😀', 'ünï😀', 'héllo 😀', x'00ff'),
      (2, '2026-07-01 12:00:00', 16777217, '', '', '', x''),
      (3, NULL, NULL, NULL, NULL, NULL, NULL)`);
    const summary = await syncOk(connections, {
      source: { connection: 'my' },
      target: { connection: 'dst' },
      tables: ['myvals'],
      typeMap: { [`${MY}.myvals.vc`]: 'bytea', [`${MY}.myvals.tx`]: 'bytea', [`${MY}.myvals.bl`]: 'text' },
      verifyAfterSync: true,
      ...fast,
    });
    assert.equal(summary.tablesFailed, 0, JSON.stringify(summary.tables));
    const [instants] = await my.query(`SELECT id, UNIX_TIMESTAMP(ts) AS e FROM myvals ORDER BY id`);
    const target = await dst.query(
      `SELECT id, extract(epoch FROM ts)::numeric(20,6)::text AS e, fl::float8::text AS fl, encode(vc, 'hex') AS vc, encode(tx, 'hex') AS tx, bl
         FROM "${MY}".myvals ORDER BY id`,
    );
    assert.deepEqual(
      target.rows.map((r) => r.e),
      (instants as { e: string | null }[]).map((r) => (r.e === null ? null : Number(r.e).toFixed(6))),
      'the same instants',
    );
    // MariaDB stores 123456.789 as the float 123456.7890625 and 16777217 as 16777216.
    assert.deepEqual(target.rows.map((r) => r.fl), ['123456.7890625', '16777216', null]);
    assert.deepEqual(target.rows.map((r) => r.vc), [Buffer.from('é€😀').toString('hex'), '', null]);
    assert.deepEqual(target.rows.map((r) => r.tx), [Buffer.from('ünï😀').toString('hex'), '', null]);
    assert.deepEqual(target.rows.map((r) => r.bl), ['héllo 😀', '', null]);
    assert.equal(summary.tables[0].verification?.matches, true, JSON.stringify(summary.tables[0].verification));
  });

  it('MariaDB source: binary bytes mapped to text are refused unless they are UTF-8, naming table and column', async () => {
    await my.query(`CREATE TABLE mybad (id int PRIMARY KEY, vb varbinary(10))`);
    await my.query(`INSERT INTO mybad VALUES (1, x'61FF62C328')`);
    const summary = await syncOk(connections, {
      source: { connection: 'my' },
      target: { connection: 'dst' },
      tables: ['mybad'],
      typeMap: { [`${MY}.mybad.vb`]: 'text' },
      ...fast,
    });
    const [t] = summary.tables;
    assert.equal(t.status, 'failed');
    assert.match(t.error ?? '', new RegExp(`${MY}\\.mybad.*column "vb": \\(value withheld\\) is not valid UTF-8`));
    assert.equal((await dst.query(`SELECT to_regclass('"${MY}".mybad') AS t`)).rows[0].t, null, 'nothing loaded');
  });

  it('MariaDB sessions are pinned: UTC, utf8mb4, a sql_mode without PAD_CHAR_TO_FULL_LENGTH or NO_BACKSLASH_ESCAPES', async () => {
    const source = new MysqlSource(mysqlUrl(MY), 1);
    try {
      const query = (source as unknown as { query(sql: string): Promise<Record<string, string>[]> }).query.bind(source);
      const [s] = await query('SELECT @@session.time_zone AS tz, @@session.character_set_results AS cs, @@session.sql_mode AS mode');
      assert.deepEqual(s, { tz: '+00:00', cs: 'utf8mb4', mode: 'NO_ENGINE_SUBSTITUTION' });
    } finally {
      await source.close();
    }
  });

  it('reg* columns travel as their names, never as OIDs; oid columns are refused by name', async () => {
    for (const pool of [src, dst]) await pool.query('CREATE TABLE big (id int); CREATE TABLE other (id int)');
    await src.query('CREATE TABLE regs (id int PRIMARY KEY, rel regclass, typ regtype, rels regclass[])');
    await src.query(`INSERT INTO regs VALUES (1, 'big', 'integer', '{big,other}'), (2, NULL, 'text[]', '{}')`);
    const full = await syncOk(connections, {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: ['regs'],
      verifyAfterSync: true,
      ...fast,
    });
    assert.equal(full.tablesFailed, 0, JSON.stringify(full.tables));
    const types = await dst.query(
      `SELECT attname, format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'regs'::regclass AND attnum > 1 ORDER BY attnum`,
    );
    assert.deepEqual(types.rows.map((r) => r.t), ['text', 'text', 'text[]']);
    assert.deepEqual((await dst.query('SELECT rel, typ, rels FROM regs ORDER BY id')).rows, [
      { rel: 'big', typ: 'integer', rels: ['big', 'other'] },
      { rel: null, typ: 'text[]', rels: [] },
    ]);

    // Into an existing regclass column: the name is looked up in the target's catalog.
    await src.query(`CREATE TABLE regs2 (id int PRIMARY KEY, rel regclass)`);
    await src.query(`INSERT INTO regs2 VALUES (1, 'big'), (2, 'other')`);
    await dst.query(`CREATE TABLE regs2 (id int PRIMARY KEY, rel regclass)`);
    await dst.query(`INSERT INTO regs2 VALUES (1, 'pg_class')`);
    const incr = await syncOk(connections, { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['regs2'], ...fast });
    assert.equal(incr.tablesFailed, 0, JSON.stringify(incr.tables));
    assert.deepEqual((await dst.query('SELECT id, rel::text FROM regs2 ORDER BY id')).rows, [
      { id: 1, rel: 'big' },
      { id: 2, rel: 'other' },
    ]);

    await src.query(`CREATE TABLE oids (id int PRIMARY KEY, o oid)`);
    const { outcome } = await runSyncInProcess(
      connections,
      { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['oids'], ...fast },
      'values-oid',
    );
    assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
    const [t] = outcome.value.tables;
    assert.deepEqual([t.status, t.errorType], ['failed', 'UnsupportedType'], 'an oid column must be refused');
    assert.match(t.error ?? '', /public\.oids column "o" type oid .*bigint/);
  });

  it('an incremental run refuses a target column that would round the values, naming table, column and both types, unless allowed', async () => {
    await src.query('CREATE TABLE lossy (id int PRIMARY KEY, n numeric, ts timestamp(6), f float8, ok numeric(8,2))');
    await src.query(`INSERT INTO lossy VALUES (1, 1.005, '2026-01-01 10:00:00.6', 0.30000000000000004, 1.25)`);
    await dst.query('CREATE TABLE lossy (id int PRIMARY KEY, n numeric(10,2), ts timestamp(0), f real, ok numeric(12,2))');
    await dst.query(`INSERT INTO lossy VALUES (1, 1, '2026-01-01 10:00:00', 0, 1.25)`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['lossy'], ...fast };
    const { outcome } = await runSyncInProcess(connections, config, 'values-lossy');
    assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
    const [refused] = outcome.value.tables;
    assert.deepEqual([refused.status, refused.errorType], ['failed', 'LossyColumn'], 'a lossy pairing must be refused');
    const root = { message: refused.error ?? '' };
    assert.match(root.message, /public\.lossy: column "n" numeric → target numeric\(10,2\) rounds to 2 decimal places/);
    // timestamp(0) → timestamp(6) is a lossless widening, which schema evolution makes instead (only once nothing refuses the table).
    assert.doesNotMatch(root.message, /"ts"/);
    assert.match(root.message, /column "f" double precision → target real rounds to single precision/);
    assert.doesNotMatch(root.message, /"ok"/);
    assert.deepEqual((await dst.query('SELECT n::text, ts::text FROM lossy')).rows, [{ n: '1.00', ts: '2026-01-01 10:00:00' }], 'nothing written');
    assert.equal((await dst.query(`SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'lossy'::regclass AND attname = 'ts'`)).rows[0].t, 'timestamp(0) without time zone', 'nothing altered');
    const allowed = await syncOk(connections, {
      ...config,
      allowLossyColumns: ['public.lossy.n', 'public.lossy.ts', 'public.lossy.f'],
    });
    assert.equal(allowed.tablesFailed, 0, JSON.stringify(allowed.tables));
    assert.deepEqual((await dst.query('SELECT n::text, ts::text FROM lossy')).rows, [{ n: '1.01', ts: '2026-01-01 10:00:01' }]);
  });

  it('a reader under row-level security gets an error naming the table, never a filtered copy', async () => {
    await src.query(`CREATE TABLE secret (id int PRIMARY KEY, owner text)`);
    await src.query(`INSERT INTO secret SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END FROM generate_series(1, 10) g`);
    await src.query(`ALTER TABLE secret ENABLE ROW LEVEL SECURITY`);
    await src.query(`CREATE POLICY only_a ON secret FOR SELECT USING (owner = 'a')`);
    await src.query('ANALYZE secret');
    await recreatePgRole(READER);
    await src.query(`GRANT USAGE ON SCHEMA public TO "${READER}"; GRANT SELECT ON secret TO "${READER}"`);
    const { outcome } = await runSyncInProcess(
      { ...connections, reader: pgUrlAs(READER, SRC) },
      { source: { connection: 'reader' }, target: { connection: 'dst' }, tables: ['secret'], ...fast },
      'values-rls',
    );
    const error = outcome.ok ? outcome.value.tables.map((t) => t.error ?? '').join(' ') : rootCause(outcome.error).message;
    if (outcome.ok) assert.equal(outcome.value.tablesFailed, 1, JSON.stringify(outcome.value));
    assert.match(error, /row-level security policy for table "secret"/);
    const copied = await dst.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'secret'`);
    assert.equal(copied.rows[0].n, 0, 'no partial copy in the target');
  });
});
