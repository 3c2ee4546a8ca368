import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type DiscoverTablesResult } from '../../activities';
import { ConnectionRegistry } from '../../activities/connections';
import { parseSyncConfig, type SyncConfigInput } from '../../lib/config';
import { MssqlSource } from '../../lib/sources/mssql';
import { mssqlCatalog } from '../../lib/sources/mssql/catalog';
import chinookColumns from '../fixtures/mssql/chinook-columns.json';
import chinookKeys from '../fixtures/mssql/chinook-primary-keys.json';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';

const DST = testDb('tablesync_it_names_dst');
const MY = testDb('tablesync_it_names_my');

/** SQL Server as recorded: Chinook's catalog rows, names compared under `collation` as the server would. */
class RecordedMssql extends MssqlSource {
  constructor(private readonly collation: string) {
    super('mssql://reader:pw@sqlserver.invalid/Chinook');
  }
  protected async query<T>(sql: string, names: string[] = []): Promise<T[]> {
    const ci = /_CI_/.test(this.collation);
    const lookup = (rows: Record<string, unknown[]>) => {
      const key = names.join('.');
      const found = Object.keys(rows).find((k) => (ci ? k.toLowerCase() === key.toLowerCase() : k === key));
      return (found ? rows[found] : []) as T[];
    };
    if (sql === mssqlCatalog.collationSql) return [{ collation: this.collation }] as T[];
    if (sql === mssqlCatalog.listTablesSql) {
      return Object.keys(chinookColumns.tables).map((k) => ({ schema: k.split('.')[0], name: k.split('.')[1] })) as T[];
    }
    if (sql === mssqlCatalog.columnsSql) return lookup(chinookColumns.tables);
    if (sql === mssqlCatalog.primaryKeySql) return lookup(chinookKeys.tables);
    throw new Error(`not recorded: ${sql}`);
  }
}

describe('table names resolve against the catalog as the source matches them', () => {
  const { dst, my } = useDatabases({ pg: { dst: DST }, mysql: { my: MY } });
  async function discover(connections: unknown, config: SyncConfigInput) {
    const acts = createActivities({ connections: connections as ConnectionRegistry });
    return (await new MockActivityEnvironment().run(acts.discoverTables, { config: parseSyncConfig(config) })) as DiscoverTablesResult;
  }
  function recorded(collation: string) {
    const source = new RecordedMssql(collation);
    return { source: () => source, pg: () => dst, dialect: () => 'mssql', role: () => 'both' };
  }

  it('SQL Server with a case-insensitive collation: dbo.genre is dbo.Genre, synced once, under its catalog name', async () => {
    const { tables } = await discover(recorded('SQL_Latin1_General_CP1_CI_AS'), {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: ['dbo.genre', 'DBO.GENRE', 'dbo.mediatype*'],
    });
    assert.deepEqual(
      tables.map((p) => [`${p.source.schema}.${p.source.name}`, `${p.target.schema}.${p.target.name}`]),
      [
        ['dbo.Genre', 'dbo.Genre'],
        ['dbo.MediaType', 'dbo.MediaType'],
      ],
    );
  });

  it('SQL Server with a case-sensitive collation: dbo.genre is no table', async () => {
    const { tables, failed } = await discover(recorded('Latin1_General_100_CS_AS'), { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['dbo.genre'] });
    assert.deepEqual(tables, []);
    assert.deepEqual(failed?.map((f) => f.type), ['UnknownTable']);
    assert.match(failed![0].reason, /dbo\.genre does not exist/);
  });

  it('MariaDB with lower_case_table_names=0 (this server): Genre and genre are two tables, each matched exactly', async () => {
    const [[{ l }]] = (await my.query('SELECT @@lower_case_table_names AS l')) as unknown as [[{ l: number }]];
    assert.equal(Number(l), 0, 'this test expects a case-sensitive server');
    await my.query('CREATE TABLE `Genre` (id int PRIMARY KEY); CREATE TABLE `genre` (id int PRIMARY KEY, extra text)');
    const registry = new ConnectionRegistry({ my: { url: mysqlUrl(MY) }, dst: { url: pgUrl(DST) } }, {});
    try {
      const config = { source: { connection: 'my' }, target: { connection: 'dst' } };
      const { tables } = await discover(registry, { ...config, tables: ['Genre', 'genr?'] });
      assert.deepEqual(
        tables.map((p) => [p.source.name, p.columns.length]),
        [
          ['Genre', 1],
          ['genre', 2],
        ],
      );
      const refused = await discover(registry, { ...config, tables: ['GENRE'] });
      assert.deepEqual(refused.tables, []);
      assert.match(refused.failed?.[0]?.reason ?? '', /GENRE does not exist/);
    } finally {
      await registry.close();
    }
  });
});
