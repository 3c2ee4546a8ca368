import assert from 'node:assert/strict';
import type { SourceTable } from '../../lib/sources/base';
import { columnsFromCatalog, isGeneratedExtra, mysqlCatalog, type MysqlColumnRow } from '../../lib/sources/mysql/catalog';
import { tableWarnings } from '../../lib/summary';
import { columnNotes, planCompareColumns } from '../../lib/table-plan';

/** An information_schema.COLUMNS row as the columns query returns it. */
function row(name: string, column_type: string, extra: string): MysqlColumnRow {
  const data_type = column_type.replace(/\(.*$/, '');
  return { name, data_type, column_type, nullable: 'YES', length: null, precision: null, scale: null, extra };
}

describe('generated columns in the catalogs', () => {
  describe('MySQL / MariaDB EXTRA', () => {
    // EXTRA as MySQL 8.0 reports it for
    //   CREATE TABLE t (id int PRIMARY KEY AUTO_INCREMENT, created datetime DEFAULT CURRENT_TIMESTAMP,
    //     updated timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, uid binary(16) DEFAULT (uuid_to_bin(uuid())),
    //     total int AS (id * 2) VIRTUAL, stored_total int AS (id * 3) STORED, hidden int INVISIBLE);
    const mysql8: MysqlColumnRow[] = [
      row('id', 'int', 'auto_increment'),
      row('created', 'datetime', 'DEFAULT_GENERATED'),
      row('updated', 'timestamp', 'DEFAULT_GENERATED on update CURRENT_TIMESTAMP'),
      row('uid', 'binary(16)', 'DEFAULT_GENERATED'),
      row('total', 'int', 'VIRTUAL GENERATED'),
      row('stored_total', 'int', 'STORED GENERATED'),
      row('hidden', 'int', 'INVISIBLE'),
    ];

    it('keeps every column, and marks only the generated ones: DEFAULT_GENERATED is an ordinary column with an expression default', () => {
      const columns = columnsFromCatalog(mysql8, new Set());
      assert.deepEqual(columns.map((c) => c.name), ['id', 'created', 'updated', 'uid', 'total', 'stored_total', 'hidden']);
      assert.deepEqual(columns.filter((c) => c.generated).map((c) => c.name), ['total', 'stored_total']);
    });

    it('knows the MariaDB spellings, old and new', () => {
      for (const extra of ['VIRTUAL GENERATED', 'STORED GENERATED', 'VIRTUAL', 'PERSISTENT', 'virtual generated']) {
        assert.equal(isGeneratedExtra(extra), true, extra);
      }
      for (const extra of ['', null, undefined, 'auto_increment', 'DEFAULT_GENERATED', 'DEFAULT_GENERATED on update CURRENT_TIMESTAMP', 'on update current_timestamp()', 'INVISIBLE']) {
        assert.equal(isGeneratedExtra(extra), false, String(extra));
      }
    });

    it('no longer filters columns on EXTRA in SQL', () => {
      assert.doesNotMatch(mysqlCatalog.columnsSql, /GENERATED/);
      assert.match(mysqlCatalog.columnsSql, /EXTRA AS extra/);
    });
  });

  describe('incremental plans', () => {
    const table = (columns: SourceTable['columns']): SourceTable => ({ ref: { schema: 'public', name: 'orders' }, columns, primaryKey: ['id'] });
    const col = (name: string, generated = false) => ({ name, type: 'integer', dataType: 'int4', nullable: true, ...(generated && { generated }) });

    it('never writes a generated target column, and says so; copies a generated source column into an ordinary one', () => {
      const source = table([col('id'), col('qty'), col('total', true), col('double', true), col('added')]);
      const target = table([col('id'), col('qty'), col('total'), col('double', true), col('own', true)]);
      const { columns, notes, missingKeys } = planCompareColumns('preserve', source, target);
      assert.deepEqual(columns.map((c) => c.name), ['id', 'qty', 'total']);
      assert.deepEqual(missingKeys, []);
      assert.deepEqual(notes, [
        'column "double" is generated in the target, which computes its values: not written',
        'column "added" is in the source only and is not synced',
        'column "own" is in the target only and is generated there',
      ]);
      assert.deepEqual(columnNotes('preserve', source, columns), [
        'column "total" is generated in the source: its values are copied into an ordinary target column',
      ]);
      // Only the column the target lacks is a warning.
      assert.deepEqual(tableWarnings([...notes, ...columnNotes('preserve', source, columns)]), ['column "added" is in the source only and is not synced']);
    });

    it('treats a key the target generates as a key it lacks', () => {
      const { missingKeys } = planCompareColumns('preserve', table([col('id'), col('a')]), table([col('id', true), col('a')]));
      assert.deepEqual(missingKeys, ['id']);
    });
  });
});
