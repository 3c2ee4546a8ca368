import assert from 'node:assert/strict';
import { planChunks, planSampledPartitions, sameOrderOnTarget, samplePieces } from '../../lib/planner';
import { decodeKey, encodeKey, evenCuts, rangePredicate, samplePercent } from '../../lib/sources/base';
import { mssqlDialect } from '../../lib/sources/mssql';
import { mssqlKey, mssqlSampleSql } from '../../lib/sources/mssql/keys';
import { mssqlSelectSql } from '../../lib/sources/mssql/read';
import { mysqlDialect } from '../../lib/sources/mysql';
import { mysqlKeyWalkSql } from '../../lib/sources/mysql/keys';
import { mysqlSelectSql } from '../../lib/sources/mysql/read';
import { postgresDialect } from '../../lib/sources/postgres';
import { pgHistogramSql, pgSampleSql } from '../../lib/sources/postgres/keys';
import { pgRangeCopySql } from '../../lib/sources/postgres/read';
import { deleteUnseenSql, keysTableName, keysTablePrefix, targetRange, upsertSql } from '../../lib/target';
import type { PartitionRange, TablePlan } from '../../lib/types';

function plan(columns: [string, string][], primaryKey: string[], extra: Partial<TablePlan> = {}): TablePlan {
  return {
    source: { schema: 's', name: 't' },
    target: { schema: 'public', name: 't' },
    mode: 'compare',
    columns: columns.map(([name, sourceType]) => ({ name, targetName: name, sourceType, targetType: sourceType, nullable: false })),
    primaryKey,
    integerKey: false,
    notes: [],
    ...extra,
  };
}

const range = (lo: string | null, hi: string | null): PartitionRange => ({ index: 1, count: 3, lo, hi });

describe('key ranges on any primary key', () => {
  describe('bounds as text', () => {
    it('a one-column bound is the value itself; a composite one a JSON array, read back exactly', () => {
      assert.equal(encodeKey(['a b']), 'a b');
      assert.equal(encodeKey(['1', 'Ab  ']), '["1","Ab  "]');
      assert.deepEqual(decodeKey('["1","Ab  "]', 2), ['1', 'Ab  ']);
      assert.deepEqual(decodeKey('["x"', 1), ['["x"']);
      assert.throws(() => decodeKey('["1"]', 2), /not a JSON array of 2 strings/);
      assert.throws(() => decodeKey('[1, 2]', 2), /not a JSON array of 2 strings/);
    });
  });

  describe('range predicates', () => {
    it('PostgreSQL: a composite key compares as a row value, each bound typed', () => {
      const r = rangePredicate(postgresDialect, ['a', 'b'], range('["1","x"]', '["2","y"]'), 1, (p, i) => `${p}::${['integer', 'text'][i]}`);
      assert.deepEqual(r, {
        sql: ' WHERE ("a", "b") > ($1::integer, $2::text) AND ("a", "b") <= ($3::integer, $4::text)',
        params: ['1', 'x', '2', 'y'],
      });
    });

    it('MariaDB: expanded so the optimizer seeks on the key (no row values), strings bound bare for the column collation', () => {
      const p = plan([['a', 'int(11)'], ['b', 'varchar(20)'], ['v', 'int(11)']], ['a', 'b']);
      const { sql, params } = mysqlSelectSql(p, range('["1","Ab "]', null));
      assert.equal(sql, 'SELECT `a`, `b`, `v` FROM `s`.`t` WHERE (`a` >= CAST(? AS SIGNED) AND (`a` > CAST(? AS SIGNED) OR `b` > ?))');
      assert.deepEqual(params, ['1', '1', 'Ab ']);
    });

    it('three columns nest: (a, b, c) <= (x, y, z)', () => {
      const r = rangePredicate(mysqlDialect, ['a', 'b', 'c'], range(null, '["1","2","3"]'));
      assert.equal(r.sql, ' WHERE (`a` <= ? AND (`a` < ? OR `b` <= ? AND (`b` < ? OR `c` <= ?)))');
      assert.deepEqual(r.params, ['1', '1', '2', '2', '3']);
    });

    it('SQL Server: expanded, each bound converted to the column type (uniqueidentifier, datetime2, varbinary)', () => {
      const p = plan([['id', 'uniqueidentifier'], ['at', 'datetime2(7)'], ['h', 'varbinary(16)']], ['id', 'at', 'h']);
      const { sql, params, keyParams } = mssqlSelectSql(p, range('["6F9619FF-8B86-D011-B42D-00C04FC964FF","2026-01-01 00:00:00.1234567","0A0B"]', null));
      assert.match(
        sql,
        /WHERE \(\[id\] >= CONVERT\(uniqueidentifier, @p1\) AND \(\[id\] > CONVERT\(uniqueidentifier, @p2\) OR \[at\] >= CONVERT\(datetime2\(7\), @p3, 121\) AND \(\[at\] > CONVERT\(datetime2\(7\), @p4, 121\) OR \[h\] > CONVERT\(varbinary\(max\), @p5, 2\)\)\)\)$/,
      );
      assert.equal(keyParams, 5);
      assert.equal(params[4], '0A0B');
    });

    it('PostgreSQL COPY reads composite bounds from settings, typed', () => {
      const p = plan([['a', 'integer'], ['b', 'text']], ['a', 'b']);
      const { sql, settings } = pgRangeCopySql(p, range('["1","x"]', null), 'text');
      assert.match(sql, /WHERE \("a", "b"\) > \(current_setting\('tablesync\.p1'\)::integer, current_setting\('tablesync\.p2'\)::text\)\)/);
      assert.deepEqual(settings, ['1', 'x']);
    });
  });

  describe('samples', () => {
    it('PostgreSQL: page sample of the key columns sorted by the key itself, every n/pieces-th row kept', () => {
      const { text, values } = pgSampleSql(plan([['a', 'integer'], ['b', 'text']], ['a', 'b']), 10, 2.5);
      assert.match(text, /TABLESAMPLE SYSTEM \(\$1::float8\)/);
      assert.match(text, /row_number\(\) OVER \(ORDER BY "a", "b"\)/);
      assert.match(text, /SELECT k0, k1 FROM/);
      assert.deepEqual(values, ['2.5', '10']);
    });

    it('PostgreSQL: histogram bounds sorted in the column collation', () => {
      const sql = pgHistogramSql('character varying(20)', { schema: 'pg_catalog', name: 'en-US-x-icu' });
      assert.match(sql, /unnest\(s\.histogram_bounds::text::character varying\(20\)\[\]\)/);
      assert.match(sql, /DISTINCT b COLLATE "pg_catalog"\."en-US-x-icu" AS b/);
      assert.doesNotMatch(pgHistogramSql('uuid', null), /COLLATE/);
    });

    it('MariaDB: a walk along the key from the last cut, binary keys as hex', () => {
      const p = plan([['a', 'int(11)'], ['h', 'varbinary(16)']], ['a', 'h']);
      assert.deepEqual(mysqlKeyWalkSql(p, null, 5000), {
        sql: 'SELECT CAST(`a` AS CHAR) AS k0, HEX(`h`) AS k1 FROM `s`.`t` ORDER BY `a`, `h` LIMIT 1 OFFSET ?',
        params: [4999],
      });
      const next = mysqlKeyWalkSql(p, '["7","0AFF"]', 5000);
      assert.match(next.sql, /WHERE \(`a` >= CAST\(\? AS SIGNED\) AND \(`a` > CAST\(\? AS SIGNED\) OR `h` > UNHEX\(\?\)\)\) ORDER BY/);
      assert.deepEqual(next.params, ['7', '7', '0AFF', 4999]);
    });

    it('SQL Server: TABLESAMPLE SYSTEM with the computed percentage, sorted by the key on the server', () => {
      const p = plan([['id', 'uniqueidentifier'], ['n', 'nvarchar(40)']], ['id', 'n']);
      const { sql, params } = mssqlSampleSql(p, 8, 0.25);
      assert.equal(
        sql,
        'SELECT k0, k1 FROM (SELECT CONVERT(char(36), [id]) AS k0, CONVERT(nvarchar(4000), [n]) AS k1, ' +
          'ROW_NUMBER() OVER (ORDER BY [id], [n]) AS rn, COUNT_BIG(*) OVER () AS n FROM [s].[t] TABLESAMPLE SYSTEM (0.250000 PERCENT)) AS s ' +
          'WHERE rn < n AND (rn * CONVERT(bigint, @p1)) / n > ((rn - 1) * CONVERT(bigint, @p1)) / n ORDER BY rn',
      );
      assert.deepEqual(params, ['8']);
      assert.throws(() => mssqlSampleSql(p, 8, Number.NaN), /not a positive number/);
      assert.equal(mssqlKey.splits('nvarchar(max)'), false);
      assert.equal(mssqlKey.splits('uniqueidentifier'), true);
    });

    it('sample size: 20,000 rows or 100 per piece, at most the whole table', () => {
      assert.equal(samplePercent(10, 1_000_000), 2);
      assert.equal(samplePercent(1_000, 100_000_000), 0.1);
      assert.equal(samplePercent(10, 5_000), 100);
    });

    it('histogram cuts are picked by position, strictly inside the bounds', () => {
      const sorted = Array.from({ length: 101 }, (_, i) => `v${String(i).padStart(3, '0')}`);
      assert.deepEqual(evenCuts(sorted, 4), ['v025', 'v050', 'v075']);
      assert.deepEqual(evenCuts(sorted.slice(0, 4), 4), [], 'too few bounds: none');
    });
  });

  describe('planning on cut points', () => {
    const cuts = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8'];
    const sizing = { estimatedRows: 6_000, threshold: 2_000, rowsPerPartition: 1_500, maxPartitions: 4 };

    it('deals the pieces between cuts to partitions in order: bounds and chunk splits are all cuts, each once', () => {
      const parts = planSampledPartitions({ ...sizing, cuts });
      assert.deepEqual(
        parts.map((p) => [p.lo, p.hi, p.splits]),
        [
          [null, 'c2', ['c1']],
          ['c2', 'c4', ['c3']],
          ['c4', 'c6', ['c5']],
          ['c6', null, ['c7', 'c8']],
        ],
      );
      const chunks = parts.flatMap((p) => planChunks({ range: p, integerKey: false, min: null, max: null, estimatedRows: 6_000, batchSize: 700 }));
      assert.deepEqual(
        chunks.map((c) => [c.lo, c.hi]),
        [null, ...cuts].map((lo, i) => [lo, i === cuts.length ? null : cuts[i]]),
        'the chunks tile the key: (null, c1], (c1, c2], … (c8, null)',
      );
    });

    it('one partition below the threshold, chunked on the cuts; no cuts: the whole table', () => {
      const one = planSampledPartitions({ ...sizing, estimatedRows: 1_500, cuts: ['m'] });
      assert.deepEqual(one, [{ index: 0, count: 1, lo: null, hi: null, splits: ['m'] }]);
      assert.deepEqual(planSampledPartitions({ ...sizing, cuts: [] }), [{ index: 0, count: 1, lo: null, hi: null }]);
      assert.deepEqual(planSampledPartitions({ ...sizing, cuts: ['m'] }).map((p) => [p.lo, p.hi]), [[null, 'm'], ['m', null]]);
    });

    it('pieces: one per batch, at least one per partition, at most 1,000', () => {
      assert.equal(samplePieces(6_000, 700, 4), 9);
      assert.equal(samplePieces(1_000, 700, 4), 4);
      assert.equal(samplePieces(1e9, 100_000, 6), 1_000);
    });
  });

  describe('ranges in the target', () => {
    it('only where the target orders the key as the source: integers, numerics, times, PG uuids', () => {
      assert.equal(sameOrderOnTarget('postgres', 'uuid', 'uuid', false), true);
      assert.equal(sameOrderOnTarget('postgres', 'timestamp(6) without time zone', 'timestamp(6) without time zone', false), true);
      assert.equal(sameOrderOnTarget('postgres', 'numeric(12,2)', 'numeric(12,2)', false), true);
      assert.equal(sameOrderOnTarget('postgres', 'text', 'text', false), false);
      assert.equal(sameOrderOnTarget('mysql', 'char(36)', 'character(36)', false), false);
      assert.equal(sameOrderOnTarget('mysql', 'datetime(6)', 'timestamp(6) without time zone', false), true);
      assert.equal(sameOrderOnTarget('mysql', 'datetime(6)', 'text', false), false);
      assert.equal(sameOrderOnTarget('mssql', 'uniqueidentifier', 'uuid', false), false);
      assert.equal(sameOrderOnTarget('mssql', 'datetime2(7)', 'timestamp(6) without time zone', false), false);
      assert.equal(sameOrderOnTarget('mssql', 'int', 'integer', true), true);
    });

    it('the upsert pre-filter joins on the key without a range when the orders differ', () => {
      const p = plan([['k', 'text'], ['v', 'integer']], ['k'], { rangesOnTarget: false });
      const chunk = range('a', 'm');
      assert.equal(targetRange(p, chunk), undefined);
      const sql = upsertSql(p.target, { schema: 'public', name: 'stg' }, p.columns, p.primaryKey, undefined, undefined, targetRange(p, chunk));
      assert.doesNotMatch(sql.text, /cur\."k" >/);
      assert.deepEqual(sql.values, []);
      assert.equal(targetRange({ ...p, rangesOnTarget: true }, chunk), chunk);
      assert.equal(targetRange({ ...p, rangesOnTarget: undefined, integerKey: true }, chunk), chunk, 'plans from before: integer keys');
    });

    it('the delete pass removes target rows no partition staged, by the typed key', () => {
      const p = plan([['a', 'integer'], ['b', 'text']], ['a', 'b']);
      const sql = deleteUnseenSql(p.target, [{ schema: 'public', name: 'k0' }, { schema: 'public', name: 'k1' }], p.columns, p.primaryKey);
      assert.equal(
        sql,
        'DELETE FROM "public"."t" AS t WHERE NOT EXISTS (SELECT 1 FROM (SELECT "a", "b" FROM "public"."k0" UNION ALL SELECT "a", "b" FROM "public"."k1") AS s WHERE s."a" = t."a" AND s."b" = t."b")',
      );
      const soft = deleteUnseenSql(p.target, [{ schema: 'public', name: 'k0' }], p.columns, p.primaryKey, 'is_deleted');
      assert.match(soft, /^UPDATE "public"\."t" AS t SET "is_deleted" = true, .* AND t\."is_deleted" IS NOT TRUE$/);
    });

    it('key table names: per run and partition, under one prefix per target table, within 63 bytes', () => {
      const target = { schema: 'public', name: 'a very long table name that goes on and on' };
      const a = keysTableName('wf/run1', target, 0);
      assert.ok(a.startsWith(keysTablePrefix(target)));
      assert.ok(Buffer.byteLength(a) <= 63, a);
      assert.notEqual(a, keysTableName('wf/run1', target, 1));
      assert.notEqual(a, keysTableName('wf/run2', target, 0));
      assert.notEqual(keysTablePrefix(target), keysTablePrefix({ ...target, schema: 'other' }));
    });
  });
});
