import assert from 'node:assert/strict';
import type { Connection } from 'mysql2/promise';
import type { Pool } from 'pg';
import { snakeCase } from '../../lib/tables';
import { chinookScript } from '../helpers/chinook';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';

const MY = testDb('tablesync_it_chinook');
const DST = testDb('tablesync_it_chinook_dst');
const connections = { chinook: mysqlUrl(MY), dst: pgUrl(DST) };
const config = {
  source: { connection: 'chinook' },
  target: { connection: 'dst', schema: 'chinook', naming: 'snake_case' as const },
  tables: [`${MY}.*`],
  retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000 },
};

/** Every row of a MariaDB table as text, ordered by key; the source is the truth, not the script. */
async function mariadbRows(my: Connection, table: string): Promise<(string | null)[][]> {
  const [cols] = await my.query(
    `SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [MY, table],
  );
  const names = (cols as { c: string }[]).map((r) => r.c);
  const [rows] = await my.query({
    sql: `SELECT ${names.map((c) => `CAST(\`${c}\` AS CHAR)`).join(', ')} FROM \`${table}\` ORDER BY 1, 2`,
    rowsAsArray: true,
  });
  return rows as (string | null)[][];
}

async function postgresRows(pg: Pool, table: string): Promise<(string | null)[][]> {
  const cols = await pg.query(
    `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [`chinook.${table}`],
  );
  const list = cols.rows.map((r) => `"${r.attname}"::text`).join(', ');
  const rows = await pg.query({ text: `SELECT ${list} FROM chinook."${table}" ORDER BY 1, 2`, rowMode: 'array' });
  return rows.rows;
}

describe('Chinook: MariaDB → PostgreSQL full migration, then incremental', () => {
  const { dst, my } = useDatabases({ pg: { dst: DST }, mysql: { my: MY } });

  before(async () => {
    const script = chinookScript('Chinook_MySql.sql').replace(/`Chinook`/g, `\`${MY}\``);
    await my.query(script);
  });

  it('full-migrates all 11 tables with snake_case names, each equal to the MariaDB table', async () => {
    const summary = await syncOk(connections, config);
    assert.equal(summary.tablesFailed, 0, JSON.stringify(summary.tables.filter((t) => t.error)));
    assert.equal(summary.tablesSynced, 11);
    assert.ok(summary.tables.every((t) => t.mode === 'full'));
    assert.ok(summary.tables.some((t) => t.target === 'chinook.invoice_line'));

    const [tables] = await my.query(`SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?`, [MY]);
    for (const { t } of tables as { t: string }[]) {
      const source = await mariadbRows(my, t);
      const target = await postgresRows(dst, snakeCase(t));
      assert.equal(target.length, source.length, `${t}: row count`);
      assert.deepEqual(target, source, `${t}: rows`);
    }
    const cols = await dst.query(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = 'chinook' AND table_name = 'invoice_line' ORDER BY ordinal_position`,
    );
    assert.deepEqual(cols.rows.map((r) => r.column_name), ['invoice_line_id', 'invoice_id', 'track_id', 'unit_price', 'quantity']);
    const pk = await dst.query(
      `SELECT conname FROM pg_constraint WHERE conrelid = 'chinook.invoice_line'::regclass AND contype = 'p'`,
    );
    assert.deepEqual(pk.rows, [{ conname: 'invoice_line_pkey' }]);
  });

  it('then reports exactly the rows changed in MariaDB: 2 inserted, 3 updated', async () => {
    await my.query(`UPDATE Track SET UnitPrice = 1.29 WHERE TrackId IN (1, 2)`);
    await my.query(`UPDATE Customer SET Company = NULL WHERE CustomerId = 1`);
    await my.query(`INSERT INTO Genre (GenreId, Name) VALUES (26, 'Fado'), (27, 'Forró')`);
    const summary = await syncOk(connections, config);
    assert.equal(summary.tablesFailed, 0);
    assert.ok(summary.tables.every((t) => t.mode === 'compare'));
    assert.deepEqual([summary.inserted, summary.updated], [2, 3]);
    const byTable = Object.fromEntries(summary.tables.map((t) => [t.table, [t.inserted, t.updated]]));
    assert.deepEqual(byTable[`${MY}.Track`], [0, 2]);
    assert.deepEqual(byTable[`${MY}.Customer`], [0, 1]);
    assert.deepEqual(byTable[`${MY}.Genre`], [2, 0]);
    assert.deepEqual(await postgresRows(dst, 'genre'), await mariadbRows(my, 'Genre'));
    assert.deepEqual(await postgresRows(dst, 'track'), await mariadbRows(my, 'Track'));
  });
});
