import assert from 'node:assert/strict';
import type { KeySample, TableVerification } from '../../lib/types';
import { runLocalCli } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';
import { runTestVerify } from '../helpers/verify';

// verify on cursor and change-log tables (and soft deletes): rows changed
// without the cursor moving or without a log entry are anomalies; rows the
// next run brings are pending; soft-deleted rows are deleted, not extra.
const DST = testDb('tablesync_it_vmodes_dst');
const MY = testDb('tablesync_it_vmodes_my');
const connections = { my: mysqlUrl(MY), dst: pgUrl(DST) };
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000 } };
const cli = (args: string[], config: unknown) => runLocalCli(args, config, connections);

/** Counts and sorted sample keys of each category. */
function categories(t: TableVerification): Record<string, [number, string[]]> {
  assert.ok(t.rows, `no row differences in ${JSON.stringify(t)}`);
  const of = (s: KeySample): [number, string[]] => [s.count, [...s.keys].sort((a, b) => Number(a) - Number(b))];
  return { changed: of(t.rows.changed), missing: of(t.rows.missing), extra: of(t.rows.extra), pending: of(t.rows.pending) };
}

describe('verify on cursor, change-log and soft-delete tables (MariaDB → PostgreSQL, Temporal)', () => {
  const { dst, my } = useDatabases({ pg: { dst: DST }, mysql: { my: MY } }, { perTest: true });

  it('cursor table: a row updated without moving updated_at is reported with its key; moved cursors are pending', async () => {
    await my.query(`CREATE TABLE pedidos (id int PRIMARY KEY, valor decimal(10,2), status varchar(20), updated_at datetime(6) NOT NULL)`);
    // 30,000 rows in one range: big enough that verify lists it bucket by bucket.
    await my.query(`INSERT INTO pedidos SELECT seq, seq / 4, 'novo', TIMESTAMP '2025-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_30000`);
    const config = { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table: 'pedidos', mode: 'cursor' as const, cursor: 'updated_at' }], ...fast };
    await syncOk(connections, config);
    const clean = await runTestVerify(connections, { config });
    assert.equal(clean.matches, true, JSON.stringify(clean));
    assert.equal(clean.tables[0].rows, undefined);

    await my.query(`UPDATE pedidos SET status = 'pago' WHERE id IN (100, 20000)`); // cursor not moved: never read again
    await my.query(`UPDATE pedidos SET status = 'enviado', updated_at = '2026-01-01 00:00:00' WHERE id = 200`); // the next run reads it
    await my.query(`INSERT INTO pedidos VALUES (40000, 1, 'novo', '2026-01-02 00:00:00'), (40001, 1, 'antigo', '2020-01-01 00:00:00')`);
    await my.query(`DELETE FROM pedidos WHERE id = 300`); // cursor mode never deletes
    const drift = await runTestVerify(connections, { config });
    assert.equal(drift.matches, false);
    const [t] = drift.tables;
    assert.equal(t.mode, 'cursor');
    assert.deepEqual(categories(t), {
      changed: [2, ['100', '20000']],
      missing: [1, ['40001']],
      extra: [1, ['300']],
      pending: [2, ['200', '40000']],
    });
    const printed = await cli(['verify'], config);
    assert.equal(printed.code, 1, printed.out);
    assert.match(printed.out, /rows 2 changed without moving the cursor \(keys 100, 20000\)|rows 2 changed without moving the cursor \(keys 20000, 100\)/);
    assert.match(printed.out, /rows 1 missing from the target with a cursor the next run does not read \(key 40001\)/);
    assert.match(printed.out, /pending 2 rows the next run brings/);

    // The next run brings the pending rows; the others stay until repaired.
    await syncOk(connections, config);
    const after = categories((await runTestVerify(connections, { config })).tables[0]);
    assert.deepEqual(after, { changed: [2, ['100', '20000']], missing: [1, ['40001']], extra: [1, ['300']], pending: [0, []] });

    const repaired = await runTestVerify(connections, { config, repair: true });
    assert.equal(repaired.matches, true, JSON.stringify(repaired.tables[0]));
    const state = await dst.query(`SELECT cursor_value FROM _tablesync_tables WHERE target_table = 'pedidos'`);
    assert.deepEqual(state.rows, [{ cursor_value: '2026-01-02 00:00:00.000000' }], 'repair leaves the saved cursor alone');
    const [{ n }] = (await dst.query(`SELECT count(*)::int AS n FROM pedidos WHERE id IN (300, 40001) OR (id IN (100, 20000) AND status = 'pago')`)).rows;
    assert.equal(n, 3, 'repair updated 100 and 20000, added 40001 and deleted 300');

    // Only pending rows: verify passes, and says so.
    await my.query(`UPDATE pedidos SET status = 'entregue', updated_at = '2026-02-01 00:00:00' WHERE id = 5`);
    const pendingOnly = await cli(['verify'], config);
    assert.equal(pendingOnly.code, 0, pendingOnly.out);
    assert.match(pendingOnly.out, /pending 1 rows the next run brings \(key 5\)/);
    assert.match(pendingOnly.out, /1 row pending \(the next run brings them\)/);
  });

  it('change-log table: an unlogged change and an unlogged delete are reported; logged ones pending; soft-deleted rows are not extra', async () => {
    await my.query(`CREATE TABLE project (id int PRIMARY KEY, name varchar(50))`);
    await my.query(`CREATE TABLE models_logging_change (id int AUTO_INCREMENT PRIMARY KEY, object_id varchar(20), content_type_id int, action varchar(20))`);
    await my.query(`INSERT INTO project VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e')`);
    const log = { table: 'models_logging_change', key: 'object_id', action: 'action', position: 'id', where: { content_type_id: 12 } };
    const config = { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table: 'project', mode: 'changelog' as const, changelog: log }], ...fast };
    await syncOk(connections, config);
    await my.query(`DELETE FROM project WHERE id = 3`);
    await my.query(`INSERT INTO models_logging_change (object_id, content_type_id, action) VALUES ('3', 12, 'deleted')`);
    await syncOk(connections, config);
    assert.deepEqual((await dst.query('SELECT id FROM project WHERE is_deleted')).rows, [{ id: 3 }]);
    const clean = await runTestVerify(connections, { config });
    assert.equal(clean.matches, true, `a soft-deleted row is deleted, not extra: ${JSON.stringify(clean.tables[0])}`);

    await my.query(`UPDATE project SET name = 'unlogged' WHERE id = 1`);
    await my.query(`UPDATE project SET name = 'logged' WHERE id = 2`);
    await my.query(`DELETE FROM project WHERE id = 4`);
    // A change of another content type says nothing about this table.
    await my.query(`INSERT INTO models_logging_change (object_id, content_type_id, action) VALUES ('2', 12, 'changed'), ('1', 13, 'changed')`);
    const drift = await runTestVerify(connections, { config });
    assert.equal(drift.matches, false);
    assert.deepEqual(categories(drift.tables[0]), { changed: [1, ['1']], missing: [0, []], extra: [1, ['4']], pending: [1, ['2']] });
    const printed = await cli(['verify'], config);
    assert.equal(printed.code, 1, printed.out);
    assert.match(printed.out, /rows 1 changed without a log entry \(key 1\)/);

    // Repair keeps soft deletes: the row the source lacks is marked, not removed.
    const repaired = await runTestVerify(connections, { config, repair: true });
    assert.equal(repaired.matches, true, JSON.stringify(repaired.tables[0]));
    assert.deepEqual((await dst.query('SELECT id, name, is_deleted FROM project ORDER BY id')).rows, [
      { id: 1, name: 'unlogged', is_deleted: false },
      { id: 2, name: 'logged', is_deleted: false },
      { id: 3, name: 'c', is_deleted: true },
      { id: 4, name: 'd', is_deleted: true },
      { id: 5, name: 'e', is_deleted: false },
    ]);
    // The pending log entry still applies on the next run, and changes nothing more.
    const [t] = (await syncOk(connections, config)).tables;
    assert.deepEqual([t.status, t.inserted, t.updated, t.deleted], ['completed', 0, 0, 0]);
  });

  it('compare table with deletes: soft of its own: a soft-deleted row is not extra; one the target still has live is', async () => {
    await my.query(`CREATE TABLE cliente (id int PRIMARY KEY, nome varchar(50))`);
    await my.query(`INSERT INTO cliente VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
    const config = { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table: 'cliente', deletes: 'soft' as const }], ...fast };
    await syncOk(connections, config); // full load
    await my.query(`DELETE FROM cliente WHERE id = 2`);
    await syncOk(connections, config); // compare: marks id 2
    assert.deepEqual((await dst.query('SELECT id FROM cliente WHERE is_deleted')).rows, [{ id: 2 }]);
    const clean = await runTestVerify(connections, { config });
    assert.equal(clean.matches, true, JSON.stringify(clean.tables[0]));
    await my.query(`DELETE FROM cliente WHERE id = 3`);
    const drift = await runTestVerify(connections, { config });
    assert.deepEqual(categories(drift.tables[0]), { changed: [0, []], missing: [0, []], extra: [1, ['3']], pending: [0, []] });
  });

  it('append cursor table: compares the latest version per key, and refuses to repair', async () => {
    await my.query(`CREATE TABLE evento (id int PRIMARY KEY, estado varchar(20), updated_at datetime(6) NOT NULL)`);
    await my.query(`INSERT INTO evento VALUES (1, 'a', '2025-01-01 00:00:00'), (2, 'b', '2025-01-02 00:00:00'), (3, 'c', '2025-01-03 00:00:00')`);
    const config = { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table: 'evento', mode: 'cursor' as const, cursor: 'updated_at', write: 'append' as const }], ...fast };
    await syncOk(connections, config);
    await my.query(`UPDATE evento SET estado = 'b2', updated_at = '2025-02-01 00:00:00' WHERE id = 2`);
    await syncOk(connections, config); // a second version of id 2
    const clean = await runTestVerify(connections, { config });
    assert.equal(clean.matches, true, JSON.stringify(clean.tables[0]));
    await my.query(`UPDATE evento SET estado = 'silent' WHERE id = 1`);
    const drift = await runTestVerify(connections, { config, repair: true });
    const [t] = drift.tables;
    assert.deepEqual([drift.matches, t.repaired], [false, 0]);
    assert.deepEqual(categories(t), { changed: [1, ['1']], missing: [0, []], extra: [0, []], pending: [0, []] });
    assert.match(t.notes?.join('\n') ?? '', /not repaired: an append table keeps every version/);
  });
});
