import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createPool as createMysqlPool, type PoolConnection } from 'mysql2';
import { from as copyFrom } from 'pg-copy-streams';
import { MysqlSource } from '../../lib/sources/mysql';
import { MYSQL2_TESTED_VERSION, MysqlCopyEncoder, mysql2Version, streamCopy } from '../../lib/sources/mysql/copy';
import type { ColumnPlan, TablePlan } from '../../lib/types';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';

const MY = testDb('tablesync_it_mycopy');
const DST = testDb('tablesync_it_mycopy_dst');
const connections = { my: mysqlUrl(MY), dst: pgUrl(DST) };
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000, maximumAttempts: 2 } };

const col = (name: string, sourceType: string, targetType: string): ColumnPlan => ({ name, targetName: name, sourceType, targetType, nullable: true });

/** A row packet payload as MySQL's text protocol sends it: per value a length-coded string, 0xfb for NULL. */
function rowPacket(values: (string | Buffer | null)[]): Buffer {
  const parts: Buffer[] = [];
  for (const v of values) {
    if (v === null) {
      parts.push(Buffer.from([0xfb]));
      continue;
    }
    const b = Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8');
    if (b.length < 251) parts.push(Buffer.from([b.length]));
    else if (b.length < 65536) parts.push(Buffer.from([0xfc, b.length & 255, b.length >> 8]));
    else parts.push(Buffer.from([0xfd, b.length & 255, (b.length >> 8) & 255, b.length >> 16]));
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/** Columns of one binary-capable table, with the canonical text each side is compared under. */
const COMMON: { name: string; ddl: string; my: string; pg: string }[] = [
  { name: 'ti', ddl: 'tinyint', my: 'CAST(ti AS CHAR)', pg: 'ti::text' },
  { name: 'b1', ddl: 'tinyint(1)', my: 'CAST(b1 AS CHAR)', pg: "CASE WHEN b1 THEN '1' WHEN NOT b1 THEN '0' END" },
  { name: 'si', ddl: 'smallint unsigned', my: 'CAST(si AS CHAR)', pg: 'si::text' },
  { name: 'iu', ddl: 'int unsigned', my: 'CAST(iu AS CHAR)', pg: 'iu::text' },
  { name: 'bi', ddl: 'bigint', my: 'CAST(bi AS CHAR)', pg: 'bi::text' },
  { name: 'bu', ddl: 'bigint unsigned', my: 'CAST(bu AS CHAR)', pg: 'bu::text' },
  { name: 'zf', ddl: 'int(8) zerofill', my: 'CAST(zf + 0 AS CHAR)', pg: 'zf::text' },
  { name: 'de', ddl: 'decimal(38,10)', my: 'CAST(de AS CHAR)', pg: 'de::text' },
  { name: 'd0', ddl: 'decimal(5,0)', my: 'CAST(d0 AS CHAR)', pg: 'd0::text' },
  { name: 'dt', ddl: 'date', my: "DATE_FORMAT(dt, '%Y-%m-%d')", pg: "to_char(dt, 'YYYY-MM-DD')" },
  { name: 'dtm', ddl: 'datetime(6)', my: "DATE_FORMAT(dtm, '%Y-%m-%d %H:%i:%s.%f')", pg: "to_char(dtm, 'YYYY-MM-DD HH24:MI:SS.US')" },
  { name: 'dt0', ddl: 'datetime', my: "DATE_FORMAT(dt0, '%Y-%m-%d %H:%i:%s')", pg: "to_char(dt0, 'YYYY-MM-DD HH24:MI:SS')" },
  { name: 'ts', ddl: 'timestamp(3) NULL', my: "DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f')", pg: "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')" },
  { name: 'yr', ddl: 'year', my: 'CAST(yr AS CHAR)', pg: 'yr::text' },
  { name: 'ch', ddl: 'char(5)', my: 'ch', pg: 'ch' },
  { name: 'vc', ddl: 'varchar(50)', my: 'vc', pg: 'vc' },
  { name: 'tx', ddl: 'mediumtext', my: 'tx', pg: 'tx' },
  { name: 'js', ddl: 'json', my: "CONCAT('', js)", pg: 'js::text' },
  { name: 'bl', ddl: 'mediumblob', my: 'LOWER(HEX(bl))', pg: "encode(bl, 'hex')" },
  { name: 'en', ddl: "enum('small','x y')", my: 'en', pg: 'en' },
];

const BIG_TEXT = `${'tab\there\nnew\\line\r 😀 '.repeat(5000)}end`;
const BIG_BLOB = Buffer.alloc(100_000, 0x5c).toString('hex');

const COMMON_ROWS = [
  `(1, 127, 1, 65535, 4294967295, 9223372036854775807, 18446744073709551615, 42,
    1234567890123456789012345678.0123456789, 99999, '2024-02-29', '9999-12-31 23:59:59.999999', '2000-03-01 00:00:00',
    '2038-01-19 03:14:07.999', 2155, 'ab', 'trailing   ', 'tab\\there\\nnewline \\\\ backslash 😀 𝄞', '{"b": 1,  "a": [1, 2.50]}', x'00FF5C0A', 'x y')`,
  `(2, -128, 0, 0, 0, -9223372036854775808, 0, 0, -0.0000000001, -99999, '1000-01-01', '1000-01-01 00:00:00.000001',
    '1969-12-31 23:59:59', '1970-01-01 00:00:01.001', 1901, '', '', '', '[]', x'', 'small')`,
  `(3, 0, NULL, 1, 1, 9007199254740993, 9007199254740993, 1, 0.0001000000, 0, '1900-02-28', '1999-12-31 23:59:59.5',
    '2000-01-01 00:00:00', NULL, 2000, 'a', 'b', ?, NULL, x'${BIG_BLOB}', NULL)`,
  `(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
];

describe('MariaDB rows straight into COPY data (binary and text)', () => {
  const { dst, my } = useDatabases({ pg: { dst: DST }, mysql: { my: MY } });

  it('reads rows through the mysql2 internal it was tested against: the pinned version, exact COPY bytes, no row past the hook', async () => {
    // The hook reads mysql2's Query#row state: a different mysql2 must be tested (and this pin moved) first.
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8'));
    assert.equal(pkg.dependencies.mysql2, MYSQL2_TESTED_VERSION, 'package.json pins mysql2 exactly');
    assert.equal(mysql2Version(), MYSQL2_TESTED_VERSION, 'the installed mysql2 is the tested one');

    const pool = createMysqlPool({ uri: mysqlUrl(MY), charset: 'utf8mb4' });
    const conn = await new Promise<PoolConnection>((resolve, reject) => pool.getConnection((e, c) => (e ? reject(e) : resolve(c))));
    try {
      const columns = [col('a', 'int', 'integer'), col('b', 'varchar(10)', 'text'), col('c', 'datetime(6)', 'timestamptz(6)')];
      const text = new MysqlCopyEncoder(columns, false, () => undefined);
      const sql = "SELECT 1, 'x\\ty', '2020-01-02 03:04:05.000006' UNION ALL SELECT -2, NULL, NULL";
      const chunks: Buffer[] = [];
      for await (const chunk of streamCopy(conn, sql, [], text)) chunks.push(chunk as Buffer);
      assert.equal(Buffer.concat(chunks).toString('utf8'), '1\tx\\ty\t2020-01-02 03:04:05.000006+00\n-2\t\\N\t\\N\n');
      assert.equal(text.rows, 2);

      const binary = new MysqlCopyEncoder([col('a', 'int', 'integer')], true, () => undefined);
      assert.equal(binary.format, 'binary');
      const out: Buffer[] = [];
      for await (const chunk of streamCopy(conn, 'SELECT 258', [], binary)) out.push(chunk as Buffer);
      assert.equal(Buffer.concat(out).toString('hex'), `${Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1').toString('hex')}0000000000000000` + '0001' + '00000004' + '00000102' + 'ffff');
    } finally {
      conn.release();
      await new Promise<void>((resolve) => pool.end(() => resolve()));
    }
  });

  it('writes the binary forms PostgreSQL itself parses from the same text: integers, numerics, dates, timestamps at their edges', async () => {
    const cases: [ColumnPlan, string[]][] = [
      [col('v', 'smallint', 'smallint'), ['0', '-32768', '32767', '00042', '-7']],
      [col('v', 'int', 'integer'), ['-2147483648', '2147483647', '1', '-0']],
      [col('v', 'bigint', 'bigint'), ['-9223372036854775808', '9223372036854775807', '9007199254740993', '-4294967296', '-4294967297', '4294967295', '123456789012345', '1234567890123456', '0']],
      [
        col('v', 'decimal(65,30)', 'numeric'),
        ['0', '0.00', '-0.00', '1', '-1', '10000', '9999.9999', '0.0001', '0.00001', '0.10', '-123456789.123456789', '100000000', '1.000000000000000000000000000001', '99999999999999999999999999999999999.999999999999999999999999999999', '0.000000000000000000000000000001'],
      ],
      [col('v', 'bigint unsigned', 'numeric(20,0)'), ['18446744073709551615', '0', '10000']],
      [col('v', 'date', 'date'), ['2000-01-01', '1999-12-31', '1000-01-01', '9999-12-31', '2024-02-29', '1900-03-01', '1970-01-01', '0001-01-01']],
      [
        col('v', 'datetime(6)', 'timestamp(6)'),
        ['2000-01-01 00:00:00', '1999-12-31 23:59:59.999999', '1000-01-01 00:00:00.000001', '9999-12-31 23:59:59.999999', '1969-12-31 23:59:59.5', '2262-04-11 23:47:16.854775', '1677-09-21 00:12:43.145224', '2024-02-29 12:34:56.1'],
      ],
      [col('v', 'timestamp(6)', 'timestamptz(6)'), ['2038-01-19 03:14:07.999999', '1970-01-01 00:00:01.000000']],
    ];
    for (const [column, values] of cases) {
      const encoder = new MysqlCopyEncoder([column], true, () => undefined);
      assert.equal(encoder.format, 'binary', column.targetType);
      const chunks = values.map((v) => encoder.row(rowPacket([v]), 0, rowPacket([v]).length)).filter((c): c is Buffer => c !== null);
      chunks.push(encoder.end());
      const client = await dst.connect();
      try {
        await client.query(`CREATE TEMP TABLE vals (v ${column.targetType}); SET TimeZone = 'UTC'`);
        await pipeline(Readable.from(chunks), client.query(copyFrom('COPY vals FROM STDIN (FORMAT binary)')));
        const got = (await client.query('SELECT v::text FROM vals')).rows.map((r) => r.v);
        const want = (await client.query(`SELECT (v::${column.targetType})::text AS v FROM unnest($1::text[]) v`, [values])).rows.map((r) => r.v);
        assert.deepEqual(got, want, column.targetType);
        await client.query('DROP TABLE vals');
      } finally {
        client.release();
      }
    }
  });

  it('syncs a table of common types as binary COPY, and as text with useBinaryCopy: false, each value equal to the source', async () => {
    await my.query(`CREATE TABLE common (id int PRIMARY KEY, ${COMMON.map((c) => `${c.name} ${c.ddl}`).join(', ')})`);
    await my.query(`INSERT INTO common VALUES ${COMMON_ROWS.join(', ')}`, [BIG_TEXT]);
    const source = new MysqlSource(mysqlUrl(MY));
    try {
      const described = (await source.describeTable({ schema: MY, name: 'common' }))!;
      const plan: TablePlan = {
        source: described.ref,
        target: { schema: 'public', name: 'common' },
        mode: 'full',
        columns: described.columns.map((c) => ({ ...col(c.name, c.type, source.dialect.mapType(c, described.ref)) })),
        primaryKey: ['id'],
        integerKey: true,
        notes: [],
      };
      const range = { index: 0, count: 1, lo: null, hi: null };
      for (const [prefer, format] of [[true, 'binary'], [false, 'text']] as const) {
        const copy = await source.openCopy(plan, range, prefer);
        copy.stream.destroy();
        await copy.finish(new Error('only the format was wanted'));
        assert.equal(copy.format, format);
      }
      // One column without a binary form here (a float) sends the whole table as text.
      const withFloat = { ...plan, columns: [...plan.columns, col('f', 'double', 'double precision')] };
      const copy = await source.openCopy(withFloat, range, true);
      copy.stream.destroy();
      await copy.finish(new Error('only the format was wanted'));
      assert.equal(copy.format, 'text');
    } finally {
      await source.close();
    }

    const expected = (await my.query(`SELECT id, ${COMMON.map((c) => `${c.my} AS ${c.name}`).join(', ')} FROM common ORDER BY id`))[0] as Record<string, unknown>[];
    for (const useBinaryCopy of [true, false]) {
      const schema = useBinaryCopy ? 'bin' : 'txt';
      const summary = await syncOk(connections, {
        source: { connection: 'my' },
        target: { connection: 'dst', schema },
        tables: ['common'],
        useBinaryCopy,
        ...fast,
      });
      assert.equal(summary.tablesFailed, 0, JSON.stringify(summary.tables));
      const got = await dst.query(`SELECT id, ${COMMON.map((c) => `${c.pg} AS ${c.name}`).join(', ')} FROM ${schema}.common ORDER BY id`);
      assert.deepEqual(got.rows, expected.map((r) => ({ ...r, id: Number(r.id) })), schema);
    }
  });

  it('refuses values the target cannot hold, naming table and column, in binary and in text', async () => {
    await my.query("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'");
    await my.query('CREATE TABLE badbool (id int PRIMARY KEY, b tinyint(1))');
    await my.query('INSERT INTO badbool VALUES (1, 1), (2, 2)');
    await my.query('CREATE TABLE badtime (id int PRIMARY KEY, t time)');
    await my.query("INSERT INTO badtime VALUES (1, '23:59:59'), (2, '25:00:00')");
    await my.query('CREATE TABLE baddate (id int PRIMARY KEY, d date, ts datetime)');
    await my.query("INSERT INTO baddate VALUES (1, '2020-02-29', '2020-02-29 00:00:00'), (2, '2021-02-30', NULL), (3, NULL, '2021-04-31 10:00:00')");
    await my.query('CREATE TABLE narrow (id int PRIMARY KEY, n bigint)');
    await my.query('INSERT INTO narrow VALUES (1, 32767), (2, 32768)');
    const cases: [string, Record<string, string>, RegExp][] = [
      ['badbool', {}, /column "b": \(value withheld\) is not a boolean \(0 or 1\)/],
      ['badtime', {}, /column "t": time \(value withheld\) is outside PostgreSQL's time range/],
      ['baddate', { [`${MY}.baddate.ts`]: 'text' }, /column "d": \(value withheld\) is not a valid date|date\/time field value out of range: \(value withheld\)/],
      ['baddate', { [`${MY}.baddate.d`]: 'text' }, /column "ts": \(value withheld\) is not a valid timestamp|date\/time field value out of range: \(value withheld\)/],
      ['narrow', { [`${MY}.narrow.n`]: 'smallint' }, /column "n": \(value withheld\) is out of range for type smallint/],
    ];
    for (const useBinaryCopy of [true, false]) {
      for (const [table, typeMap, error] of cases) {
        const summary = await syncOk(connections, {
          source: { connection: 'my' },
          target: { connection: 'dst', schema: `refused_${table}` },
          tables: [table],
          typeMap,
          useBinaryCopy,
          ...fast,
        });
        const [t] = summary.tables;
        assert.equal(t.status, 'failed', `${table} binary=${useBinaryCopy}`);
        assert.match(t.error ?? '', new RegExp(`${MY}\\.${table}`));
        assert.match(t.error ?? '', error, `${table} binary=${useBinaryCopy}: ${t.error}`);
        const left = await dst.query('SELECT to_regclass($1) AS t', [`refused_${table}.${table}`]);
        assert.equal(left.rows[0].t, null, 'nothing swapped in');
      }
    }
  });
});
