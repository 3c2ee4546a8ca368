import assert from 'node:assert/strict';
import { changelogDeletesSql, changelogFilter, changelogMaxSql } from '../../lib/modes/changelog/read';
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
  it('SQL Server: keys of the last non-delete action per key, bound as nvarchar and converted', () => {
    const p = plan(log('int', 'int'));
    const f = changelogFilter(mssqlDialect, p, (i) => `@p${i + 2}`);
    assert.equal(
      f.sql,
      '[id] IN (SELECT x.k FROM (SELECT CONVERT(int, l.[object_id]) AS k, l.[action] AS a, ROW_NUMBER() OVER (PARTITION BY l.[object_id] ORDER BY l.[id] DESC) AS rn\n' +
        '    FROM [app].[models_logging_change] l WHERE l.[id] > CONVERT(int, @p3) AND l.[id] <= CONVERT(int, @p4) AND l.[content_type_id] = CONVERT(int, @p5)) x WHERE x.rn = 1 AND (x.a IS NULL OR x.a NOT IN (@p6)))',
    );
    assert.deepEqual(f.params, ['41', '99', '12', 'deleted']);
    const max = changelogMaxSql(mssqlDialect, p.changelog!);
    assert.equal(max.sql, 'SELECT CONVERT(varchar(50), MAX([id])) AS max_value FROM [app].[models_logging_change] WHERE [content_type_id] = CONVERT(int, @p1)');
  });

  it('MySQL: the delete query binds its values in text order', () => {
    const d = changelogDeletesSql(mysqlDialect, plan(log('int', 'int')), { index: 0, count: 1, lo: '10', hi: '20' });
    assert.equal((d.sql.match(/\?/g) ?? []).length, d.params.length);
    assert.deepEqual(d.params, ['deleted', '41', '99', '12', '10', '20', 'deleted']);
    assert.match(d.sql, /CAST\(l\.`object_id` AS SIGNED\) AS k/);
  });

  it('PostgreSQL: a first run reads the whole table (no filter); a text key is compared as is', () => {
    const first = plan({ ...log('integer', 'integer'), started: false, saved: null, window: { from: null, to: '99', started: false } });
    assert.deepEqual(changelogFilter(postgresDialect, first, (i) => `$${i}`), { sql: '', params: [] });
    const text = changelogFilter(postgresDialect, plan(log('text', 'integer')), (i) => `$${i}`);
    assert.match(text.sql, /SELECT l\."object_id" AS k/);
    assert.match(text.sql, /l\."id" > \$1::integer AND l\."id" <= \$2::integer/);
  });
});
