import assert from 'node:assert/strict';
import { pgCanonical } from '../../lib/canonical';
import { mssqlCanonical } from '../../lib/sources/mssql/digest';
import { mapMssqlType } from '../../lib/sources/mssql/types';
import { pgChecksumSql } from '../../lib/sources/postgres/digest';
import { quotePg } from '../../lib/target/sql';
import { useDatabases } from '../helpers/databases';
import { CASES, rowHash, sourceColumnOf } from '../helpers/mssql-canonical';
import { testDb } from '../helpers/pg';

const DST = testDb('tablesync_it_mssql_canonical');
const WHOLE = { index: 0, count: 1, lo: null, hi: null };

/*
 * SQL Server's side of verification, taken from the texts its CONVERT styles
 * give (test/fixtures/mssql/canonical-texts.json; mssql.test.ts checks each one
 * on a real server when MSSQL_URL is set), against the real PostgreSQL.
 */
describe('SQL Server canonical texts against PostgreSQL (recorded SQL Server side)', () => {
  const { dst } = useDatabases({ pg: { dst: DST } });

  it('covers every type SQL Server maps, NULL included', () => {
    const types = new Set(CASES.map((c) => sourceColumnOf(c.ddl).dataType));
    for (const t of ['bit', 'tinyint', 'smallint', 'int', 'bigint', 'decimal', 'numeric', 'money', 'smallmoney', 'float', 'real', 'date', 'time',
      'datetime', 'smalldatetime', 'datetime2', 'datetimeoffset', 'char', 'varchar', 'nchar', 'nvarchar', 'ntext', 'uniqueidentifier', 'binary',
      'varbinary', 'image', 'xml']) {
      assert.ok(types.has(t), t);
    }
    assert.ok(CASES.some((c) => c.text === null));
  });

  for (const [i, c] of CASES.entries()) {
    it(`${c.ddl} ${c.tsql} → ${c.pgType}: PostgreSQL's canonical text is the one SQL Server gives`, async () => {
      const column = sourceColumnOf(c.ddl);
      const targetType = mapMssqlType(column, { schema: 'dbo', name: 't' });
      assert.equal(targetType, c.pgType);
      assert.notEqual(mssqlCanonical({ name: 'v', sourceType: column.type, targetType }), null, 'SQL Server has a canonical text for it');
      const table = `c${i}`;
      await dst.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v ${c.pgType})`);
      await dst.query(`INSERT INTO ${table} VALUES (1, $1::${c.pgType})`, [c.pg]);
      const r = await dst.query(`SELECT ${pgCanonical(quotePg('v'), c.pgType)} AS text FROM ${table}`);
      assert.equal(r.rows[0].text, c.text);

      // The whole row's checksum: PostgreSQL's over its values, SQL Server's from its texts.
      const sum = await dst.query(pgChecksumSql({ schema: 'public', name: table }, [pgCanonical('"id"', 'integer'), pgCanonical('"v"', c.pgType)], 'id', WHOLE));
      assert.equal(sum.rows[0].sum, String(rowHash(['1', c.text])));
    });
  }

  it('tells apart rows whose fields would run together without the length prefix, and NULL from the text "N"', async () => {
    await dst.query(`CREATE TABLE pairs (id int PRIMARY KEY, a text, b text)`);
    const rows: [number, string | null, string | null][] = [[1, 'x:y', 'z'], [2, 'x', 'y:z'], [3, null, ''], [4, 'N', ''], [5, '😀', 'é']];
    for (const r of rows) await dst.query('INSERT INTO pairs VALUES ($1, $2, $3)', r);
    const canonical = ['"id"', '"a"', '"b"'].map((c, i) => pgCanonical(c, i === 0 ? 'integer' : 'text'));
    for (const [id, a, b] of rows) {
      const one = await dst.query(pgChecksumSql({ schema: 'public', name: 'pairs' }, canonical, 'id', { index: 0, count: 1, lo: String(id - 1), hi: String(id) }));
      assert.equal(one.rows[0].sum, String(rowHash([String(id), a, b])), `row ${id}`);
    }
    const hashes = rows.map(([, a, b]) => rowHash(['1', a, b]));
    assert.equal(new Set(hashes).size, rows.length);
  });
});
