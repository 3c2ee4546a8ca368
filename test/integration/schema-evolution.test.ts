import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from 'mysql2/promise';
import type { Pool } from 'pg';
import { envConnectionName } from '../../activities/connections';
import type { SyncSummary } from '../../lib/types';
import { runCli } from '../helpers/cli';
import { duplicateKeys } from '../helpers/guarantees';
import { freshMysqlDatabase, mysqlUrl } from '../helpers/mysql';
import { freshDatabase, pgUrl, testDb } from '../helpers/pg';
import { runSyncInProcess } from '../helpers/run';
import { temporal } from '../helpers/temporal';

// Schema evolution: columns added, dropped and retyped in the source, on real databases.
const SRC = testDb('tablesync_it_schema_src');
const DST = testDb('tablesync_it_schema_dst');
const MY = testDb('tablesync_it_schema_my');
const pg = { src: pgUrl(SRC), dst: pgUrl(DST) };
const my = { my: mysqlUrl(MY), dst: pgUrl(DST) };
const fast = { retry: { maximumAttempts: 2, initialIntervalMs: 200, maximumIntervalMs: 500 } };

async function sync(connections: Record<string, string>, config: object): Promise<SyncSummary> {
  const { outcome } = await runSyncInProcess(connections, { ...fast, ...config }, 'schema');
  assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
  return outcome.value;
}

const rows = async (db: Pool, sql: string) => (await db.query(sql)).rows;
const columnType = async (db: Pool, table: string, column: string) =>
  (await db.query(`SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2`, [table, column])).rows[0]?.t;

describe('schema evolution (real MariaDB, PostgreSQL, Temporal)', () => {
  let src: Pool;
  let dst: Pool;
  let mdb: Connection;
  beforeEach(async () => {
    src = await freshDatabase(SRC);
    dst = await freshDatabase(DST);
    mdb = await freshMysqlDatabase(MY);
    await mdb.query(`CREATE TABLE pedidos (id int PRIMARY KEY, cliente_id int, valor decimal(12,2), status varchar(20),
      created_at datetime, updated_at datetime NOT NULL)`);
    await mdb.query(`INSERT INTO pedidos VALUES
      (1, 10, 100.50, 'novo', '2025-12-17 16:00:00', '2025-12-17 16:00:00'),
      (2, 11, 200.00, 'novo', '2025-12-17 16:01:00', '2025-12-17 16:01:00'),
      (3, 12, 300.25, 'pago', '2025-12-17 16:02:00', '2025-12-17 16:02:00'),
      (4, 13, 400.00, 'novo', '2025-12-17 16:03:00', '2025-12-17 16:03:00'),
      (5, 14, 500.75, 'pago', '2025-12-17 16:04:00', '2025-12-17 16:04:00')`);
  });
  afterEach(async () => {
    await src?.end();
    await dst?.end();
    await mdb?.end();
  });
  const config = (write: 'upsert' | 'append', extra: object = {}) => ({
    source: { connection: 'my' },
    target: { connection: 'dst', schema: 'cadastros' },
    tables: [{ table: 'pedidos', mode: 'cursor', cursor: 'updated_at', write }],
    ...extra,
  });
  const telefones = [1, 2, 3, 4, 5].map((id) => ({ id, telefone: `1199999000${id}` }));
  const state = async () => (await rows(dst, `SELECT cursor_value, columns FROM _tablesync_tables WHERE target_table = 'pedidos'`))[0];

  it('dadosfera case 1: the run after ADD COLUMN telefone adds it to the target and every row has its value', async () => {
    await sync(my, config('upsert'));
    await mdb.query('ALTER TABLE pedidos ADD COLUMN telefone VARCHAR(20) DEFAULT NULL');
    for (const { id, telefone } of telefones) {
      await mdb.query(`UPDATE pedidos SET telefone = ?, updated_at = '2025-12-17 16:50:00' WHERE id = ?`, [telefone, id]);
    }
    const second = await sync(my, config('upsert'));
    assert.equal(second.tables[0].status, 'completed');
    assert.equal(await columnType(dst, 'cadastros.pedidos', 'telefone'), 'character varying(20)');
    assert.deepEqual(await rows(dst, 'SELECT id, telefone FROM cadastros.pedidos ORDER BY id'), telefones);
    // The same run also read past the cursor: the moved updated_at is in the target and saved.
    assert.deepEqual(await rows(dst, `SELECT DISTINCT updated_at::text AS u FROM cadastros.pedidos`), [{ u: '2025-12-17 16:50:00' }]);
    assert.deepEqual(await state(), { cursor_value: '2025-12-17 16:50:00', columns: ['id', 'cliente_id', 'valor', 'status', 'created_at', 'updated_at', 'telefone'] });
    assert.ok(second.plan?.some((l) => /"telefone" was added to the source: added to the target as varchar\(20\)/.test(l)), second.plan?.join('\n'));
    const third = await sync(my, config('upsert'));
    assert.deepEqual([third.tables[0].rowsCopied, third.tables[0].updated], [5, 0], 'the backfill ran once: only the rows at the saved cursor are read again');
  });

  for (const write of ['upsert', 'append'] as const) {
    it(`write: ${write}: telefone filled for old rows without moving updated_at still reaches every row, once, with no state reset`, async () => {
      await sync(my, config(write));
      const before = await state();
      await mdb.query('ALTER TABLE pedidos ADD COLUMN telefone VARCHAR(20) DEFAULT NULL');
      for (const { id, telefone } of telefones) await mdb.query('UPDATE pedidos SET telefone = ? WHERE id = ?', [telefone, id]);
      const second = await sync(my, config(write));
      assert.equal(second.tables[0].status, 'completed', second.tables[0].error);
      assert.equal(second.tables[0].updated, 5, 'the backfill updates the five rows');
      assert.deepEqual(await rows(dst, 'SELECT id, telefone FROM cadastros.pedidos ORDER BY id'), telefones);
      assert.equal(await duplicateKeys(dst, 'cadastros.pedidos', ['id']), 0, 'no duplicate ids');
      const after = await state();
      assert.equal(after.cursor_value, before.cursor_value, 'the backfill does not move the saved cursor');
      assert.ok(after.columns.includes('telefone'));
      const actions = await rows(dst, `SELECT action FROM _tablesync_table_history ORDER BY id`);
      assert.deepEqual(actions.map((a) => a.action), ['run', 'run'], 'no reset, no manual step');
      if (write === 'append') {
        assert.deepEqual(await rows(dst, 'SELECT id, telefone FROM cadastros.pedidos_latest ORDER BY id'), telefones, 'the _latest view shows it too');
      }
      const third = await sync(my, config(write));
      assert.equal(third.tables[0].updated, 0, 'backfilled once');
    });
  }

  it('a dropped column is kept in the target with its values and warned about on every run', async () => {
    await sync(my, config('upsert'));
    await mdb.query('ALTER TABLE pedidos DROP COLUMN status');
    await mdb.query(`UPDATE pedidos SET valor = 1, updated_at = '2025-12-17 17:00:00' WHERE id = 1`);
    for (let run = 0; run < 2; run++) {
      const summary = await sync(my, config('upsert'));
      assert.equal(summary.tables[0].status, 'completed');
      assert.ok(summary.tables[0].warnings.some((w) => /column "status" was dropped from the source: kept in the target/.test(w)), JSON.stringify(summary));
    }
    assert.deepEqual(await rows(dst, 'SELECT id, status, valor::text FROM cadastros.pedidos WHERE id IN (1, 3) ORDER BY id'), [
      { id: 1, status: 'novo', valor: '1.00' },
      { id: 3, status: 'pago', valor: '300.25' },
    ]);
  });

  it('a renamed column is a drop plus an add, said so; the new one is backfilled', async () => {
    await sync(my, config('upsert'));
    await mdb.query('ALTER TABLE pedidos CHANGE status situacao varchar(20)');
    const summary = await sync(my, config('upsert'));
    assert.ok(summary.plan?.some((l) => /a renamed column looks like this \(a drop plus an add\)/.test(l)), summary.plan?.join('\n'));
    assert.deepEqual(await rows(dst, 'SELECT status, situacao FROM cadastros.pedidos WHERE id = 3'), [{ status: 'pago', situacao: 'pago' }]);
  });

  it('a widened varchar is altered in the target; a change the target cannot hold fails the table clearly and changes nothing', async () => {
    await sync(my, config('upsert'));
    await mdb.query('ALTER TABLE pedidos MODIFY status varchar(50)');
    await mdb.query(`UPDATE pedidos SET status = ?, updated_at = '2025-12-17 17:00:00' WHERE id = 1`, ['x'.repeat(40)]);
    const widened = await sync(my, config('upsert'));
    assert.equal(widened.tables[0].status, 'completed', widened.tables[0].error);
    assert.equal(await columnType(dst, 'cadastros.pedidos', 'status'), 'character varying(50)');
    assert.deepEqual(await rows(dst, 'SELECT status FROM cadastros.pedidos WHERE id = 1'), [{ status: 'x'.repeat(40) }]);

    // cliente_id int → varchar(10): an integer target column cannot hold what the source may now store.
    await mdb.query(`UPDATE pedidos SET status = 'curto' WHERE id = 1`);
    await mdb.query('ALTER TABLE pedidos MODIFY cliente_id varchar(10), MODIFY status varchar(60), ADD COLUMN telefone varchar(20)');
    const before = await rows(dst, 'SELECT * FROM cadastros.pedidos ORDER BY id');
    const changed = await sync(my, config('upsert'));
    const [t] = changed.tables;
    assert.deepEqual([t.status, t.errorType], ['failed', 'TypeChange']);
    assert.match(t.error ?? '', /pedidos: column "cliente_id" changed type: the target has integer, the source now varchar\(10\); only lossless widenings are applied, so nothing was changed/);
    assert.equal(await columnType(dst, 'cadastros.pedidos', 'status'), 'character varying(50)', 'not widened either');
    assert.equal(await columnType(dst, 'cadastros.pedidos', 'telefone'), undefined, 'nothing altered, not even the added column');
    assert.deepEqual(await rows(dst, 'SELECT * FROM cadastros.pedidos ORDER BY id'), before);
    // typeMap says what to do: here, keep the target's type (its input function decides per value).
    const mapped = await sync(my, config('upsert', { typeMap: { [`${MY}.pedidos.cliente_id`]: 'integer' } }));
    assert.equal(mapped.tables[0].status, 'completed', mapped.tables[0].error);
    assert.equal(await columnType(dst, 'cadastros.pedidos', 'status'), 'character varying(60)');
  });

  it('write: append: a widened column is altered under its _latest view', async () => {
    await sync(my, config('append'));
    await mdb.query('ALTER TABLE pedidos MODIFY status varchar(50)');
    const summary = await sync(my, config('append'));
    assert.equal(summary.tables[0].status, 'completed', summary.tables[0].error);
    assert.equal(await columnType(dst, 'cadastros.pedidos_latest', 'status'), 'character varying(50)');
  });

  it('a source narrowed within what the target holds keeps the target as it is', async () => {
    await sync(my, config('upsert'));
    await mdb.query('ALTER TABLE pedidos MODIFY status varchar(10)');
    const summary = await sync(my, config('upsert'));
    assert.equal(summary.tables[0].status, 'completed', summary.tables[0].error);
    assert.equal(await columnType(dst, 'cadastros.pedidos', 'status'), 'character varying(20)');
  });

  it('schemaChanges: fail stops a table with a new column and leaves the target alone', async () => {
    await sync(my, config('upsert'));
    await mdb.query('ALTER TABLE pedidos ADD COLUMN telefone varchar(20)');
    const summary = await sync(my, config('upsert', { schemaChanges: 'fail' }));
    assert.deepEqual([summary.tables[0].status, summary.tables[0].errorType], ['failed', 'SchemaChange']);
    assert.match(summary.tables[0].error ?? '', /column "telefone" \(varchar\(20\)\) was added to the source/);
    assert.equal(await columnType(dst, 'cadastros.pedidos', 'telefone'), undefined);
  });

  it('compare mode: an added column is added to the target and filled by the run itself', async () => {
    await src.query(`CREATE TABLE clientes (id int PRIMARY KEY, nome text)`);
    await src.query(`INSERT INTO clientes VALUES (1, 'a'), (2, 'b')`);
    const cfg = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['clientes'] };
    await sync(pg, cfg);
    await src.query(`ALTER TABLE clientes ADD COLUMN telefone varchar(20), ADD COLUMN pontos bigint`);
    await src.query(`UPDATE clientes SET telefone = '11' || id, pontos = id * 10`);
    const summary = await sync(pg, cfg);
    assert.deepEqual([summary.tables[0].mode, summary.tables[0].updated, summary.tables[0].warnings], ['compare', 2, []]);
    assert.deepEqual(await rows(dst, 'SELECT id, telefone, pontos::int FROM clientes ORDER BY id'), [
      { id: 1, telefone: '111', pontos: 10 },
      { id: 2, telefone: '112', pontos: 20 },
    ]);
  });

  it('run --dry-run prints the column it would add and the backfill it would run, and changes nothing', async () => {
    await sync(my, config('upsert'));
    await mdb.query('ALTER TABLE pedidos ADD COLUMN telefone varchar(20), MODIFY status varchar(30)');
    const dir = mkdtempSync(join(tmpdir(), 'tablesync-schema-'));
    try {
      const file = join(dir, 'c.json');
      writeFileSync(file, JSON.stringify({ ...fast, ...config('upsert') }));
      const env: Record<string, string> = { TEMPORAL_ADDRESS: (await temporal()).address };
      for (const [name, url] of Object.entries(my)) env[envConnectionName(name)] = url;
      const historyBefore = await rows(dst, 'SELECT count(*)::int AS n FROM _tablesync_table_history');
      const r = await runCli(['run', '--config', file, '--local', '--dry-run'], env);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Dry run: nothing was changed/);
      assert.match(r.stdout, /column "telefone" was added to the source: to be added to the target as varchar\(20\)/);
      assert.match(r.stdout, /a run would execute: ALTER TABLE "cadastros"\."pedidos" ADD COLUMN IF NOT EXISTS "telefone" varchar\(20\)/);
      assert.match(r.stdout, /column "status" to be widened in the target from character varying\(20\) to varchar\(30\)/);
      assert.match(r.stdout, /"telefone" not synced before: a run would backfill/);
      assert.equal(await columnType(dst, 'cadastros.pedidos', 'telefone'), undefined, 'no column added');
      assert.equal(await columnType(dst, 'cadastros.pedidos', 'status'), 'character varying(20)', 'no column widened');
      assert.deepEqual(await rows(dst, 'SELECT count(*)::int AS n FROM _tablesync_table_history'), historyBefore, 'no state written');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
