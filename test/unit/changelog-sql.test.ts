import assert from 'node:assert/strict';
import { changelogDeletesSql, changelogFilter, changelogMaxSql, keyFoldSql } from '../../lib/modes/changelog/read';
import { mssqlDialect } from '../../lib/sources/mssql';
import { mysqlDialect } from '../../lib/sources/mysql';
import { postgresDialect } from '../../lib/sources/postgres';
import type { ChangelogPlan, TablePlan } from '../../lib/types';

// The change-log reads as each dialect's SQL: values always bound, in the
// order they appear (MySQL's ? are positional), cast to the columns' types.
const log = (keyType: string, positionType: string): ChangelogPlan => ({
  table: { schema: 'app', name: 'models_logging_change' },
  key: 'object_id',
  action: 'action',
  position: 'id',
  positionType,
  positionDataType: positionType,
  keyType,
  keyDataType: keyType,
  actions: { added: 'insert', changed: 'update', deleted: 'delete' },
  where: [['content_type_id', '12', 'int', 'int']],
  saved: '41',
  started: true,
  window: { from: '41', to: '99', started: true },
});
const plan = (changelog: ChangelogPlan): TablePlan => ({
  source: { schema: 'app', name: 'project' },
  target: { schema: 'dw', name: 'project' },
  mode: 'changelog',
  columns: [],
  primaryKey: ['id'],
  integerKey: true,
  notes: [],
  changelog,
});

describe('change-log SQL per dialect', () => {
  it('SQL Server: the keys the log names, whatever their action, converted to the key type; the log maximum as text', () => {
    const p = plan(log('int', 'int'));
    const f = changelogFilter(mssqlDialect, p, (i) => `@p${i + 2}`);
    assert.equal(
      f.sql,
      '[id] IN (SELECT CONVERT(int, l.[object_id]) FROM [app].[models_logging_change] l WHERE l.[id] > CONVERT(int, @p3) AND l.[id] <= CONVERT(int, @p4) AND l.[content_type_id] = CONVERT(int, @p5))',
    );
    assert.deepEqual(f.params, ['41', '99', '12']);
    const max = changelogMaxSql(mssqlDialect, p.changelog!);
    assert.equal(max.sql, 'SELECT CONVERT(varchar(50), MAX([id])) AS max_value FROM [app].[models_logging_change] WHERE [content_type_id] = CONVERT(int, @p1)');
  });

  it('the last action is ranked per key value (the cast key), and a position that may tie is read from the saved value inclusive', () => {
    const d = changelogDeletesSql(postgresDialect, plan({ ...log('integer', 'timestamp without time zone'), positionUnique: false }), { index: 0, count: 1, lo: null, hi: null });
    assert.match(d.sql, /PARTITION BY l\."object_id"::integer ORDER BY/);
    assert.match(d.sql, /l\."id" >= \$2::timestamp without time zone AND l\."id" <= \$3::timestamp without time zone/);
    const unique = changelogFilter(postgresDialect, plan({ ...log('uuid', 'integer'), positionUnique: true }), (i) => `$${i}`);
    assert.match(unique.sql, /^"id" IN \(SELECT l\."object_id"::uuid FROM .* WHERE l\."id" > \$1::integer/);
  });

  it('MySQL: the delete query binds its values in text order', () => {
    const d = changelogDeletesSql(mysqlDialect, plan(log('int', 'int')), { index: 0, count: 1, lo: '10', hi: '20' });
    assert.equal((d.sql.match(/\?/g) ?? []).length, d.params.length);
    assert.deepEqual(d.params, ['deleted', '41', '99', '12', '10', '20', 'deleted']);
    assert.match(d.sql, /CAST\(l\.`object_id` AS SIGNED\) AS k/);
    assert.match(d.sql, /PARTITION BY CAST\(l\.`object_id` AS SIGNED\)/);
  });

  it('PostgreSQL: a first run reads the whole table (no filter); a text key is compared as is', () => {
    const first = plan({ ...log('integer', 'integer'), started: false, saved: null, window: { from: null, to: '99', started: false } });
    assert.deepEqual(changelogFilter(postgresDialect, first, (i) => `$${i}`), { sql: '', params: [] });
    const text = changelogFilter(postgresDialect, plan(log('text', 'integer')), (i) => `$${i}`);
    assert.match(text.sql, /SELECT l\."object_id"::text FROM/);
    assert.match(text.sql, /l\."id" > \$1::integer AND l\."id" <= \$2::integer/);
  });

  it("how the source compares a text key is asked in the key column's own collation (a UNION with it), values in text order", () => {
    const my = keyFoldSql(mysqlDialect, { schema: 'app', name: 'project' }, { name: 'code', type: 'varchar(10)' });
    assert.match(my.sql, /u\.k = \? THEN 1 ELSE 0 END AS fold_case, CASE WHEN u\.k = \? THEN 1 ELSE 0 END AS fold_spaces/);
    assert.match(my.sql, /FROM \(SELECT t\.`code` AS k FROM `app`\.`project` t WHERE 1 = 0 UNION ALL SELECT \?\) u/);
    assert.deepEqual(my.params, ['A', 'a ', 'a']);
    const ms = keyFoldSql(mssqlDialect, { schema: 'dbo', name: 'project' }, { name: 'code', type: 'nvarchar(10)' });
    assert.match(ms.sql, /UNION ALL SELECT CONVERT\(nvarchar\(10\), @p3\)\) u/);
  });
});
