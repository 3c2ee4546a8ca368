import assert from 'node:assert/strict';
import { estimateOrCount, knownCount } from '../../lib/sources/base';
import { MysqlSource } from '../../lib/sources/mysql';
import { PostgresSource } from '../../lib/sources/postgres';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { testDb } from '../helpers/pg';

const PG = testDb('tablesync_it_estimates_src');
const MY = testDb('tablesync_it_estimates_my');

describe('row estimates never stop a sync', () => {
  it('tries each estimate in turn, on any error or unknown figure, then counts', async () => {
    const tried: string[] = [];
    const step = (name: string, result: unknown) => async () => {
      tried.push(name);
      if (result instanceof Error) throw result;
      return result;
    };
    const n = await estimateOrCount(
      [step('view', new Error('relation "sys.dm_db_partition_stats" does not exist')), step('negative', -1), step('missing', undefined)],
      step('count', '12'),
    );
    assert.equal(n, 12);
    assert.deepEqual(tried, ['view', 'negative', 'missing', 'count']);
    assert.deepEqual([knownCount('0'), knownCount(-1), knownCount(null), knownCount('x'), knownCount('41.7')], [0, null, null, null, 41]);
  });

  describe('PostgreSQL (real)', () => {
    const { pool } = useDatabases({ pg: { pool: PG } });
    before(async () => {
      await pool.query('CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 37)');
    });
    it('counts a table never analyzed (reltuples -1), and reads reltuples once it is', async () => {
      const source = new PostgresSource(pool);
      assert.equal((await pool.query(`SELECT reltuples FROM pg_class WHERE relname = 't'`)).rows[0].reltuples, -1);
      assert.equal(await source.estimateRows({ schema: 'public', name: 't' }), 37);
      await pool.query('ANALYZE t');
      await pool.query('INSERT INTO t SELECT generate_series(38, 40)');
      assert.equal(await source.estimateRows({ schema: 'public', name: 't' }), 37, 'the statistics, not a count');
    });
  });

  describe('MariaDB (real)', () => {
    const { conn } = useDatabases({ mysql: { conn: MY } });
    let source: MysqlSource;
    before(async () => {
      await conn.query('CREATE TABLE t (id int PRIMARY KEY) ENGINE=InnoDB');
      await conn.query('INSERT INTO t VALUES (1), (2), (3)');
      source = new MysqlSource(mysqlUrl(MY), 2);
    });
    after(() => source?.close());
    it('counts when information_schema has no figure yet', async () => {
      const [rows] = await conn.query(`SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 't'`, [MY]);
      const reported = Number((rows as { n: unknown }[])[0].n);
      assert.equal(await source.estimateRows({ schema: MY, name: 't' }), reported > 0 ? reported : 3);
    });
  });
});
