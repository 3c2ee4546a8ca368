import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { parseConfigFile } from '../../lib/config';
import { initConfigText, looksLikeChangedAt, suggestMode, withoutPassword, type InitTable } from '../../lib/init-config';

const table = (over: Partial<InitTable>): InitTable => ({ ref: { schema: 'shop', name: 't' }, primaryKey: ['id'], rows: 10, typeHints: [], ...over });

describe('tablesync init: suggestions and the file it writes', () => {
  it('suggests cursor for an indexed last-changed column, full for a keyless table, auto otherwise, and says why', () => {
    const cursor = suggestMode(table({ cursor: { column: 'updated_at', type: 'timestamp', indexed: true, nullable: true } }));
    assert.deepEqual([cursor.mode, cursor.cursor], ['cursor', 'updated_at']);
    assert.match(cursor.why.join(' '), /is indexed.*nullable: rows with a NULL cursor/s);
    const unindexed = suggestMode(table({ cursor: { column: 'updated_at', type: 'timestamp', indexed: false, nullable: false } }));
    assert.equal(unindexed.mode, undefined);
    assert.match(unindexed.why.join(' '), /has no index/);
    const keyless = suggestMode(table({ primaryKey: [], cursor: { column: 'modified', type: 'datetime', indexed: false, nullable: false } }));
    assert.equal(keyless.mode, 'full');
    assert.match(keyless.why.join(' '), /primaryKey: \[a, b\].*write: append/s);
    assert.match(suggestMode(table({ rows: 5_000_000 })).why.join(' '), /a lot to read on every run/);
    const unique = suggestMode(table({ primaryKey: [], uniqueKeys: [['code']] }));
    assert.deepEqual([unique.mode, unique.primaryKey], [undefined, ['code']]);
  });

  it('tells last-changed columns by name (and SQL Server rowversion), not created ones', () => {
    assert.deepEqual(
      ['updated_at', 'UpdatedAt', 'last_modified', 'ModifiedDate', 'created_at', 'name'].map((n) => looksLikeChangedAt(n, 'datetime')),
      [true, true, true, true, false, false],
    );
    assert.equal(looksLikeChangedAt('rv', 'rowversion'), true);
  });

  it('never writes a password, and what it writes parses as a config', () => {
    assert.equal(withoutPassword('mysql://me:hunter2@db:3306/shop'), 'mysql://me:PASSWORD@db:3306/shop');
    assert.equal(withoutPassword('postgres://me@pg/w'), 'postgres://me@pg/w');
    const text = initConfigText({
      dialect: 'mysql',
      schema: 'shop',
      sourceUrl: withoutPassword('mysql://me:hunter2@db:3306/shop'),
      targetUrl: 'postgres://me@pg/w',
      out: 'sync.yaml',
      tables: [
        table({ ref: { schema: 'shop', name: 'orders' }, cursor: { column: 'updated_at', type: 'datetime(6)', indexed: true, nullable: false } }),
        table({ ref: { schema: 'shop', name: 'log' }, primaryKey: [] }),
        table({ ref: { schema: 'shop', name: 'geo' }, typeHints: [{ key: 'point', type: 'text', why: 'shop.geo column "p" type point has no exact PostgreSQL mapping' }] }),
        table({ ref: { schema: 'shop', name: 'codes' }, primaryKey: [], uniqueKeys: [['code', 'region']] }),
        table({ ref: { schema: 'shop', name: 'odd' }, unreadable: 'column "x" type foo: tablesync cannot read it' }),
      ],
    });
    assert.doesNotMatch(text, /hunter2/);
    const config = parseConfigFile(parse(text));
    assert.deepEqual(config.tables, [
      { table: 'shop.orders', mode: 'cursor', cursor: 'updated_at' },
      { table: 'shop.log', mode: 'full' },
      { table: 'shop.geo' },
      { table: 'shop.codes', primaryKey: ['code', 'region'] },
    ]);
    assert.deepEqual(config.typeMap, { point: 'text' });
    assert.match(text, /# shop\.odd: left out, column "x" type foo/);
  });

  it('config: keyless and primaryKey are checked like every field', () => {
    const base = { source: { connection: 's' }, target: { connection: 't' } };
    assert.equal(parseConfigFile({ ...base, tables: ['a'] }).keyless, 'fail');
    assert.throws(() => parseConfigFile({ ...base, keyless: 'ignore', tables: ['a'] }), /keyless: Invalid enum value/);
    assert.throws(() => parseConfigFile({ ...base, tables: [{ table: 'a', primaryKey: [] }] }), /tables\[0\]\.primaryKey: Array must contain at least 1/);
    assert.deepEqual(parseConfigFile({ ...base, tables: [{ table: 'a', primaryKey: ['x', 'y'], keyless: 'skip' }] }).tables, [{ table: 'a', primaryKey: ['x', 'y'], keyless: 'skip' }]);
  });
});
