import assert from 'node:assert/strict';
import { bucketingOf, bucketRanges, digestSides, digestSql, figures, keyInRanges, literal, rangeDigestsFor } from '../../lib/modes/compare/digests';
import { mssqlDialect } from '../../lib/sources/mssql';
import { mysqlDialect } from '../../lib/sources/mysql';
import { postgresDialect } from '../../lib/sources/postgres';
import type { ColumnPlan, TablePlan } from '../../lib/types';

const col = (name: string, sourceType: string, targetType: string): ColumnPlan => ({ name, targetName: name, sourceType, targetType, nullable: true });
const plan = (columns: ColumnPlan[], primaryKey: string[], integerKey: boolean): TablePlan => ({
  source: { schema: 'shop', name: 'orders' },
  target: { schema: 'public', name: 'orders' },
  mode: 'compare',
  columns,
  primaryKey,
  integerKey,
  notes: [],
});

describe('compare range digests (pure parts)', () => {
  it('digests PostgreSQL by the stored form and MariaDB by canonical text; SQL Server and columns without a canonical form copy every row, saying why', () => {
    const pg = plan([col('id', 'bigint', 'bigint'), col('v', 'numeric', 'numeric')], ['id'], true);
    assert.deepEqual(rangeDigestsFor(postgresDialect, pg), { scheme: 'binary' });
    assert.deepEqual(rangeDigestsFor(mysqlDialect, plan([col('id', 'int', 'integer'), col('d', 'decimal(10,2)', 'numeric(10,2)')], ['id'], true)), { scheme: 'md5' });
    const mapped = rangeDigestsFor(mysqlDialect, plan([col('id', 'int', 'integer'), col('v', 'decimal(10,2)', 'double precision')], ['id'], true));
    assert.deepEqual(mapped, { fallback: 'column v (decimal(10,2) → double precision) has no canonical form to digest' });
    assert.match((rangeDigestsFor(mssqlDialect, plan([col('id', 'int', 'integer')], ['id'], true)) as { fallback: string }).fallback, /SQL Server/);
    // A text key orders otherwise in the target: only a table read as one range is digested.
    assert.deepEqual(rangeDigestsFor(postgresDialect, plan([col('code', 'text', 'text')], ['code'], false)), {
      scheme: 'binary',
      wholeOnly: 'key (code) orders otherwise in the target',
    });
  });

  it('cuts an integer key with known ends into equal widths of about 32 keys, any other key by hash bits (or MD5 hex digits)', () => {
    const ints = plan([col('id', 'bigint', 'bigint')], ['id'], true);
    assert.deepEqual(bucketingOf(ints, { index: 0, count: 2, lo: '0', hi: '3200' }, 3_200, null, null, 'binary'), { kind: 'int', width: '32' });
    assert.deepEqual(bucketingOf(ints, { index: 0, count: 2, lo: null, hi: '1000' }, 1_000, '1', '5000', 'binary'), { kind: 'int', width: '32' });
    assert.deepEqual(bucketingOf(ints, { index: 0, count: 1, lo: null, hi: null }, 100_000, null, null, 'binary'), { kind: 'hash', size: 12 });
    assert.deepEqual(bucketingOf(ints, { index: 0, count: 1, lo: null, hi: null }, 100_000, null, null, 'md5'), { kind: 'hash', size: 3 });
    assert.deepEqual(bucketingOf(ints, { index: 0, count: 1, lo: null, hi: null }, 10, null, null, 'binary'), { kind: 'hash', size: 0 });
  });

  it('hashes both PostgreSQL sides with the same seed over record_send of the same types, once a row, inside the scan; the source casts to the target type', () => {
    const p = plan([col('id', 'integer', 'bigint'), col('v', 'numeric(10,2)', 'numeric(10,2)')], ['id'], true);
    const { source, target } = digestSides(postgresDialect, p, { index: 0, count: 1, lo: null, hi: null }, { kind: 'hash', size: 4 }, 'binary', '-22');
    const s = digestSql(source);
    assert.match(s.sql, /hash_array_extended\(ARRAY\[record_send\(ROW\("id"::bigint, "v"\)\)\], -22::bigint\) AS h FROM .* OFFSET 0\) x GROUP BY x\.b$/);
    assert.equal(s.sql.match(/hash_array_extended/g)?.length, 2, 'one 64-bit hash a row, and one of its key for its bucket');
    assert.match(s.sql, /SUM\(x\.h\) AS s/);
    const t = digestSql(target, '"is_deleted" IS NOT TRUE');
    assert.match(t.sql, /hash_array_extended\(ARRAY\[record_send\(ROW\("id", "v"\)\)\], -22::bigint\) AS h/);
    assert.match(t.sql, /count\(\*\) FILTER \(WHERE NOT x\.l\)::bigint AS m/);
  });

  it('with integer buckets, hashes each row as the XOR of seeded components whose seeds carry the key and the component number; wide buckets keep record_send', () => {
    const p = plan(
      [col('id', 'integer', 'bigint'), col('v', 'numeric(10,2)', 'numeric(10,2)'), col('t', 'character varying(5)', 'text'), col('q', 'smallint', 'smallint'), col('a', 'integer[]', 'integer[]')],
      ['id'],
      true,
    );
    const { source, target } = digestSides(postgresDialect, p, { index: 0, count: 2, lo: '0', hi: '64' }, { kind: 'int', width: '32' }, 'binary', '-22');
    const s = digestSql(source);
    // Component 0: the key and the other columns' send forms, each behind its position tag; seeds: -22 XOR key XOR (j << 58).
    assert.match(
      s.sql,
      /hash_array_extended\(ARRAY\['\\x0000'::bytea \|\| int8send\("id"::bigint\), '\\x0001'::bytea \|\| numeric_send\("v"\), '\\x0002'::bytea \|\| record_send\(ROW\("a"\)\)\], \('-22'::bigint # "id"::bigint\)\)/,
    );
    assert.equal(BigInt.asIntN(64, -22n ^ (1n << 58n)), -288230376151711766n);
    assert.match(s.sql, /# coalesce\(hashtextextended\("t"::text COLLATE "C", \('-288230376151711766'::bigint # "id"::bigint\)\), 0\)/);
    assert.match(s.sql, /# coalesce\(hashint4extended\("q", \('-576460752303423510'::bigint # "id"::bigint\)\), 0\) AS h FROM .* OFFSET 0\) x GROUP BY x\.b$/);
    assert.deepEqual(s.params, ['0', '64']);
    const t = digestSql(target);
    assert.match(t.sql, /int8send\("id"::bigint\), '\\x0001'::bytea \|\| numeric_send\("v"\)/);
    assert.match(t.sql, /hashtextextended\("t" COLLATE "C"/);
    assert.match(t.sql, /\("id" \/ 32::bigint\) AS b/);
    // Keys of a bucket wider than 2^56 could share a component's seed: one hash of record_send instead.
    const wide = digestSides(postgresDialect, p, { index: 0, count: 1, lo: null, hi: null }, { kind: 'int', width: String(2n ** 57n) }, 'binary', '-22');
    assert.match(digestSql(wide.source).sql, /hash_array_extended\(ARRAY\[record_send\(ROW\("id"::bigint, "v", "t"::text, "q", "a"\)\)\], -22::bigint\) AS h/);
  });

  it('hashes MariaDB rows by the first 64 bits of the MD5 of their canonical text, on both sides, with no OFFSET on MariaDB', () => {
    const p = plan([col('id', 'int', 'integer'), col('d', 'decimal(10,2)', 'numeric(10,2)')], ['id'], true);
    const { source, target } = digestSides(mysqlDialect, p, { index: 0, count: 1, lo: null, hi: null }, { kind: 'hash', size: 2 }, 'md5');
    const s = digestSql(source);
    assert.match(s.sql, /CAST\(CONV\(LEFT\(MD5\(.*\), 16\), 16, 10\) AS UNSIGNED\) AS h FROM [^)]*\) x GROUP BY x\.b$/);
    assert.match(s.sql, /CAST\(SUM\(x\.h\) AS CHAR\) AS s/);
    assert.match(digestSql(target).sql, /\('x' \|\| left\(md5\(.*\), 16\)\)::bit\(64\)::bigint AS h .* OFFSET 0\) x/);
  });

  it('compares sums modulo 2^64, so a signed and an unsigned reading of the same bits agree', () => {
    const signed = { n: '2', s: String(-1n + -2n) };
    const unsigned = { n: 2, s: String(2n ** 64n - 1n + 2n ** 64n - 2n) };
    assert.equal(figures(signed), figures(unsigned));
    assert.equal(figures({ n: 1, s: '18446744073709551615.0' }), figures({ n: 1, s: '-1' }));
    assert.notEqual(figures(signed), figures({ ...unsigned, s: '5' }));
    assert.notEqual(figures(signed), figures({ ...unsigned, n: 3 }));
    assert.equal(figures({ n: 0, s: null }), '0/0');
  });

  it('reads differing integer buckets as the key ranges division maps to them (truncating toward zero), merged, clamped to the type', () => {
    // width 10: bucket 3 is 30..39, bucket 0 is -9..9, bucket -1 is -19..-10; 4 follows 3.
    assert.deepEqual(bucketRanges(['4', '-1', '3', '0'], '10'), [
      [-19n, 9n],
      [30n, 49n],
    ]);
    assert.deepEqual(bucketRanges(['7'], '1'), [[7n, 7n]]);
    for (const [w, keys] of [[10n, [-25n, -20n, -19n, -10n, -9n, -1n, 0n, 9n, 10n, 19n, 42n]], [3n, [-7n, -3n, -2n, 2n, 3n, 5n]]] as const) {
      for (const k of keys) {
        const bucket = k / w; // BigInt division truncates toward zero, as SQL's integer division and DIV do
        const [[lo, hi]] = bucketRanges([String(bucket)], String(w));
        assert.ok(lo <= k && k <= hi, `key ${k} in bucket ${bucket} of width ${w}: ${lo}..${hi}`);
        for (const other of [bucket - 1n, bucket + 1n]) {
          const [[a, z]] = bucketRanges([String(other)], String(w));
          assert.ok(k < a || k > z, `key ${k} not in bucket ${other}`);
        }
      }
    }
    const max = (1n << 63n) - 1n;
    assert.equal(keyInRanges('"id"', [[max - 5n, max + 27n]], max), `("id" BETWEEN ${max - 5n} AND ${max})`);
    assert.equal(keyInRanges('t."id"', [[1n, 2n], [5n, 9n]], max), '(t."id" BETWEEN 1 AND 2 OR t."id" BETWEEN 5 AND 9)');
  });

  it('writes only integers or hex digits into a bucket list', () => {
    assert.equal(literal('-12', false), '-12');
    assert.equal(literal('0af', true), "'0af'");
    assert.throws(() => literal("1'; DROP", true));
    assert.throws(() => literal('1.5', false));
  });
});
