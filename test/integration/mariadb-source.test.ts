import assert from 'node:assert/strict';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, stagingTables, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';

const MY = testDb('tablesync_it_my');
const DST = testDb('tablesync_it_my_dst');
const connections = { my: mysqlUrl(MY), dst: pgUrl(DST) };
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000 } };

/**
 * The canonical text each side is compared under: for every column, one SQL
 * expression in MariaDB and one in PostgreSQL that must give the same string
 * (NULL stays NULL, so NULL and '' differ). Floats are compared as IEEE values
 * (both sides' shortest round-trip text parsed by JS), everything else digit
 * for digit, microsecond for microsecond and byte for byte.
 */
const COLUMNS: { name: string; ddl: string; my: string; pg: string; float?: boolean }[] = [
  { name: 'ti', ddl: 'tinyint', my: 'CAST(ti AS CHAR)', pg: 'ti::text' },
  { name: 'tu', ddl: 'tinyint unsigned', my: 'CAST(tu AS CHAR)', pg: 'tu::text' },
  { name: 'b1', ddl: 'tinyint(1)', my: 'CAST(b1 AS CHAR)', pg: "CASE WHEN b1 THEN '1' WHEN NOT b1 THEN '0' END" },
  { name: 'si', ddl: 'smallint unsigned', my: 'CAST(si AS CHAR)', pg: 'si::text' },
  { name: 'mi', ddl: 'mediumint', my: 'CAST(mi AS CHAR)', pg: 'mi::text' },
  { name: 'iu', ddl: 'int unsigned', my: 'CAST(iu AS CHAR)', pg: 'iu::text' },
  { name: 'bi', ddl: 'bigint', my: 'CAST(bi AS CHAR)', pg: 'bi::text' },
  { name: 'bu', ddl: 'bigint unsigned', my: 'CAST(bu AS CHAR)', pg: 'bu::text' },
  { name: 'de', ddl: 'decimal(38,10)', my: 'CAST(de AS CHAR)', pg: 'de::text' },
  { name: 'fl', ddl: 'float', my: 'CAST(fl AS CHAR)', pg: 'fl::text', float: true },
  { name: 'db', ddl: 'double', my: 'CAST(db AS CHAR)', pg: 'db::text', float: true },
  { name: 'bt', ddl: 'bit(10)', my: "LPAD(BIN(bt), 10, '0')", pg: 'bt::text' },
  { name: 'dt', ddl: 'date', my: "DATE_FORMAT(dt, '%Y-%m-%d')", pg: "to_char(dt, 'YYYY-MM-DD')" },
  { name: 'dtm', ddl: 'datetime(6)', my: "DATE_FORMAT(dtm, '%Y-%m-%d %H:%i:%s.%f')", pg: "to_char(dtm, 'YYYY-MM-DD HH24:MI:SS.US')" },
  {
    name: 'ts',
    ddl: 'timestamp(6) NULL',
    my: "DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f')",
    pg: "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
  },
  { name: 'tm', ddl: 'time(6)', my: "TIME_FORMAT(tm, '%H:%i:%s.%f')", pg: "to_char(tm, 'HH24:MI:SS.US')" },
  { name: 'yr', ddl: 'year', my: 'CAST(yr AS CHAR)', pg: 'yr::text' },
  { name: 'ch', ddl: 'char(5)', my: 'ch', pg: 'ch' },
  { name: 'vc', ddl: 'varchar(50)', my: 'vc', pg: 'vc' },
  { name: 'tx', ddl: 'text', my: 'tx', pg: 'tx' },
  { name: 'js', ddl: 'json', my: "CONCAT('', js)", pg: 'js::text' },
  { name: 'bl', ddl: 'blob', my: 'LOWER(HEX(bl))', pg: "encode(bl, 'hex')" },
  { name: 'bn', ddl: 'binary(4)', my: 'LOWER(HEX(bn))', pg: "encode(bn, 'hex')" },
  { name: 'en', ddl: "enum('small','large','x y')", my: 'en', pg: 'en' },
  { name: 'st', ddl: "set('a','b','c')", my: 'st', pg: 'st' },
];

const ROWS = [
  // Upper edges, exact-binary floats, 4-byte characters, trailing spaces, control characters.
  `(1, 127, 255, 1, 65535, -8388608, 4294967295, 9223372036854775807, 18446744073709551615,
    1234567890123456789012345678.0123456789, 3.14159, 0.1, b'1010101010', '2024-02-29',
    '2024-02-29 23:59:59.999999', '2038-01-19 03:14:07.999999', '23:59:59.999999', 2155,
    'ab', 'trailing   ', 'tab\\there\\nnewline \\\\ backslash 😀 𝄞', '{"b": 1,  "a": [1, 2.50]}', x'00FF10', x'61000000',
    'x y', 'a,c')`,
  // Lower edges and empty strings (not NULL).
  `(2, -128, 0, 0, 0, 8388607, 0, -9223372036854775808, 0, -0.0000000001, -1.5, -2.2250738585072014e-308,
    b'0', '1000-01-01', '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000000', '00:00:00', 1901,
    '', '', '', '[]', x'', x'00000000', 'small', '')`,
  // NULL in every column.
  `(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
];

describe('MariaDB source (real MariaDB → real PostgreSQL)', () => {
  const { dst, my } = useDatabases({ pg: { dst: DST }, mysql: { my: MY } });

  it('full-migrates every supported type so each value equals the source under its canonical text', async () => {
    await my.query(`CREATE TABLE types (id int PRIMARY KEY, ${COLUMNS.map((c) => `${c.name} ${c.ddl}`).join(', ')})`);
    await my.query(`INSERT INTO types VALUES ${ROWS.join(', ')}`);

    const summary = await syncOk(connections, {
      source: { connection: 'my' },
      target: { connection: 'dst', schema: 'public' },
      tables: ['types'],
      ...fast,
    });
    assert.equal(summary.tablesFailed, 0, JSON.stringify(summary.tables));
    assert.equal(summary.tables[0].mode, 'full');
    assert.equal(summary.tables[0].inserted, 3);

    const types = await dst.query(
      `SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute
        WHERE attrelid = 'public.types'::regclass AND attnum > 0 ORDER BY attnum`,
    );
    assert.deepEqual(
      types.rows.map((r) => `${r.attname} ${r.type}`),
      [
        'id integer', 'ti smallint', 'tu smallint', 'b1 boolean', 'si integer', 'mi integer', 'iu bigint', 'bi bigint',
        'bu numeric(20,0)', 'de numeric(38,10)', 'fl real', 'db double precision', 'bt bit(10)', 'dt date',
        'dtm timestamp(6) without time zone', 'ts timestamp(6) with time zone', 'tm time(6) without time zone',
        'yr smallint', 'ch character varying(5)', 'vc character varying(50)', 'tx text', 'js json', 'bl bytea',
        'bn bytea', 'en text', 'st text',
      ],
    );

    for (const c of COLUMNS) {
      const [mine] = await my.query(`SELECT ${c.my} AS v FROM types ORDER BY id`);
      const theirs = await dst.query(`SELECT ${c.pg} AS v FROM public.types ORDER BY id`);
      const canon = (v: string | null) => (v === null ? null : c.float ? String(Number(v)) : v);
      assert.deepEqual(
        theirs.rows.map((r) => canon(r.v)),
        (mine as { v: string | null }[]).map((r) => canon(r.v)),
        `column ${c.name} (${c.ddl})`,
      );
    }
  });

  it("turns zero dates into NULL and counts them in the run's warnings", async () => {
    await my.query("SET SESSION sql_mode = ''");
    await my.query('CREATE TABLE zero (id int PRIMARY KEY, d date, t datetime)');
    await my.query("INSERT INTO zero VALUES (1, '0000-00-00', '0000-00-00 00:00:00'), (2, '2020-01-02', NULL)");
    const summary = await syncOk(connections, {
      source: { connection: 'my' },
      target: { connection: 'dst', schema: 'public' },
      tables: ['zero'],
      ...fast,
    });
    const [t] = summary.tables;
    assert.equal(t.status, 'completed');
    assert.equal(summary.warnings, 2);
    assert.deepEqual(t.warnings.sort(), [
      `1 × column "d": zero date '0000-00-00' loaded as NULL`,
      `1 × column "t": zero date '0000-00-00' loaded as NULL`,
    ]);
    const rows = await dst.query(`SELECT id, d::text, t::text FROM public.zero ORDER BY id`);
    assert.deepEqual(rows.rows, [
      { id: 1, d: null, t: null },
      { id: 2, d: '2020-01-02', t: null },
    ]);
  });

  it('refuses a type it cannot map exactly, naming table, column and type, unless typeMap maps it', async () => {
    await my.query('CREATE TABLE geo (id int PRIMARY KEY, spot point)');
    await my.query('INSERT INTO geo VALUES (1, POINT(1, 2))');
    const config = { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: ['geo'], ...fast };
    const refused = await syncOk(connections, config);
    assert.deepEqual(refused.tables.map((t) => [t.status, t.errorType]), [['failed', 'UnsupportedType']]);
    assert.match(refused.tables[0].error ?? '', new RegExp(`${MY}\\.geo column "spot" type point has no exact PostgreSQL mapping`));
    const mapped = await syncOk(connections, { ...config, typeMap: { point: 'bytea' } });
    assert.equal(mapped.tables[0].status, 'completed');
    assert.deepEqual(await stagingTables(dst), []);
  });
});
