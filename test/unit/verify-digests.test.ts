import assert from 'node:assert/strict';
import { bucketDigits, displayKey, rowDigestsSql, type DigestSide } from '../../lib/sources/digests';
import { cursorPredicate } from '../../lib/modes/cursor/window';
import { mssqlDialect } from '../../lib/sources/mssql';
import { mysqlDialect } from '../../lib/sources/mysql';
import { targetDigestSide } from '../../lib/target';
import type { ColumnPlan, TablePlan } from '../../lib/types';

const columns: ColumnPlan[] = [
  { name: 'id', targetName: 'id', sourceType: 'int', targetType: 'integer', nullable: false },
  { name: 'updated_at', targetName: 'updated_at', sourceType: 'datetime(6)', targetType: 'timestamp(6) without time zone', nullable: false },
];
const plan: TablePlan = {
  source: { schema: 'shop', name: 'orders' },
  target: { schema: 'public', name: 'orders' },
  mode: 'cursor',
  columns,
  primaryKey: ['id'],
  integerKey: true,
  notes: [],
};
const range = { index: 0, count: 2, lo: '10', hi: '20' };

describe('verify row digests', () => {
  it('splits big ranges into key-hash buckets of about 2,000 rows, at most 4 hex digits', () => {
    assert.deepEqual([0, 20_000, 30_000, 100_000, 1_000_000, 1e9].map(bucketDigits), [0, 0, 1, 2, 3, 4]);
  });

  it('shows keys as people read them, composite keys in parentheses', () => {
    assert.equal(displayKey('2:42'), '42');
    assert.equal(displayKey('1:7' + '5:a:b c'), '(7, a:b c)');
    assert.equal(displayKey('N' + '2:é€'), '(NULL, é€)');
  });

  it('binds values in text order on MySQL: the cursor flag, then the range, then the buckets', () => {
    const side: DigestSide = { dialect: mysqlDialect, digest: mysqlDialect.digest, relation: '`shop`.`orders`', plan, key: [columns[0]], columns };
    const flag = (p: (i: number) => string) =>
      cursorPredicate(mysqlDialect.cursor!, '`updated_at`', { type: 'datetime(6)', dataType: 'datetime' }, 'time', { from: '2025-01-01 00:00:00.000000', to: null, includeNull: false }, p);
    const { sql, params } = rowDigestsSql(side, range, 1, ['a', 'b'], flag);
    assert.deepEqual(params, ['2025-01-01 00:00:00.000000', '10', '20', 'a', 'b']);
    assert.match(sql, /CASE WHEN \(`updated_at` >= .*\) THEN 1 ELSE 0 END AS p FROM `shop`\.`orders` WHERE .* AND LEFT\(MD5\(CONCAT\(.*\)\), 1\) IN \(\?, \?\)$/);
  });

  it('numbers PostgreSQL values from 1 and reads only live rows of a soft-delete target', () => {
    const side = targetDigestSide({ ...plan, mode: 'compare', softDeleteColumn: 'is_deleted' }, columns);
    const { sql, params } = rowDigestsSql(side, range, 2, ['0a']);
    assert.deepEqual(params, ['10', '20', '0a']);
    assert.match(sql, /WHERE "id" > \$1 AND "id" <= \$2 AND "is_deleted" IS NOT TRUE AND LEFT\(md5\(.*\), 2\) IN \(\$3\)$/);
  });

  it('compares an append table through its latest view', () => {
    const side = targetDigestSide({ ...plan, cursor: { column: 'updated_at', targetColumn: 'updated_at', sourceType: 'datetime(6)', dataType: 'datetime', kind: 'time', write: 'append', nullable: false, saved: null } }, columns);
    assert.equal(side.relation, '"public"."orders_latest"');
  });

  it('hashes SQL Server rows as UTF-8 hex digests, as its checksums do', () => {
    const side: DigestSide = { dialect: mssqlDialect, digest: mssqlDialect.digest, relation: '[dbo].[orders]', plan, key: [columns[0]], columns: [columns[0]] };
    const { sql, params } = rowDigestsSql(side, range, 0, null);
    assert.deepEqual(params, ['10', '20']);
    assert.match(sql, /LOWER\(CONVERT\(varchar\(32\), HASHBYTES\('MD5', CONVERT\(varchar\(max\), .* COLLATE Latin1_General_100_CS_AS_SC_UTF8\)\), 2\)\) AS h FROM \[dbo\]\.\[orders\] WHERE \[id\] > @p1 AND \[id\] <= @p2$/);
  });
});
