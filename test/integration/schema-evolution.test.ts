import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { envConnectionName } from '../../activities/connections';
import { runCli } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import { duplicateKeys } from '../helpers/guarantees';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { syncOk, FAST_RETRY } from '../helpers/run';
import { temporal } from '../helpers/temporal';

// Schema evolution: columns added, dropped and retyped in the source, on real databases.
const SRC = testDb('tablesync_it_schema_src');
const DST = testDb('tablesync_it_schema_dst');
const MY = testDb('tablesync_it_schema_my');
const pg = { src: pgUrl(SRC), dst: pgUrl(DST) };
const my = { my: mysqlUrl(MY), dst: pgUrl(DST) };

const sync = (connections: Record<string, string>, config: object) => syncOk(connections, { ...FAST_RETRY, ...config }, 'schema');

const rows = async (db: Pool, sql: string) => (await db.query(sql)).rows;
const columnType = async (db: Pool, table: string, column: string) =>
  (await db.query(`SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2`, [table, column])).rows[0]?.t;

describe('schema evolution (real MariaDB, PostgreSQL, Temporal)', () => {
  const { src, dst, mdb } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { mdb: MY } }, { perTest: true });
  beforeEach(async () => {
    await mdb.query(`CREATE TABLE pedidos (id int PRIMARY KEY, cliente_id int, valor decimal(12,2), status varchar(20),
      created_at datetime, updated_at datetime NOT NULL)`);
    await mdb.query(`INSERT INTO pedidos VALUES
      (1, 10, 100.50, 'novo', '2025-12-17 16:00:00', '2025-12-17 16:00:00'),
      (2, 11, 200.00, 'novo', '2025-12-17 16:01:00', '2025-12-17 16:01:00'),
      (3, 12, 300.25, 'pago', '2025-12-17 16:02:00', '2025-12-17 16:02:00'),
      (4, 13, 400.00, 'novo', '2025-12-17 16:03:00', '2025-12-17 16:03:00'),
      (5, 14, 500.75, 'pago', '2025-12-17 16:04:00', '2025-12-17 16:04:00')`);
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

  it('cursor: a dropped column that returns is backfilled, even without moving the cursor', async () => {
    await sync(my, config('upsert'));
    await mdb.query('ALTER TABLE pedidos DROP COLUMN status');
    await sync(my, config('upsert'));
    await mdb.query(`ALTER TABLE pedidos ADD COLUMN status varchar(20) DEFAULT 'arquivado'`);
    const back = await sync(my, config('upsert'));
    assert.equal(back.tables[0].status, 'completed', back.tables[0].error);
    assert.ok(back.plan?.some((l) => /"status" back in the source after being dropped/.test(l)), back.plan?.join('\n'));
    assert.deepEqual(await rows(dst, 'SELECT DISTINCT status FROM cadastros.pedidos'), [{ status: 'arquivado' }], 'no stale value left');
    assert.ok(back.tables[0].warnings.every((w) => !/dropped/.test(w)), 'no longer warned as dropped');
    assert.equal((await sync(my, config('upsert'))).tables[0].updated, 0, 'backfilled once');
  });

  it('compare: a dropped column that returns is filled by the run itself', async () => {
    await src.query(`CREATE TABLE clientes (id int PRIMARY KEY, nome text, telefone text)`);
    await src.query(`INSERT INTO clientes VALUES (1, 'a', '11'), (2, 'b', '12')`);
    const cfg = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['clientes'] };
    await sync(pg, cfg);
    await src.query(`ALTER TABLE clientes DROP COLUMN telefone`);
    await sync(pg, cfg);
    await src.query(`ALTER TABLE clientes ADD COLUMN telefone text DEFAULT '99'`);
    const back = await sync(pg, cfg);
    assert.deepEqual([back.tables[0].mode, back.tables[0].updated], ['compare', 2]);
    assert.deepEqual(await rows(dst, 'SELECT id, telefone FROM clientes ORDER BY id'), [{ id: 1, telefone: '99' }, { id: 2, telefone: '99' }]);
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

  it('MariaDB: a narrowed source column fails its table clearly, changes neither target nor state, and the other table still syncs', async () => {
    await mdb.query(`CREATE TABLE clientes (id int PRIMARY KEY, nome varchar(40), updated_at datetime NOT NULL)`);
    await mdb.query(`INSERT INTO clientes VALUES (1, 'ana', '2025-12-17 16:00:00')`);
    const both = (extra: object = {}) => ({
      ...config('upsert', extra),
      tables: [...config('upsert').tables, { table: 'clientes', mode: 'cursor', cursor: 'updated_at' }],
    });
    await sync(my, both());
    const types = (await rows(dst, `SELECT column_types FROM _tablesync_tables WHERE target_table = 'pedidos'`))[0].column_types;
    assert.deepEqual(types.status, { source: 'varchar(20)', mapped: 'varchar(20)', target: 'varchar(20)' }, 'the state keeps each column\'s types');
    await mdb.query('ALTER TABLE pedidos MODIFY status varchar(10)');
    await mdb.query(`UPDATE pedidos SET valor = 1, updated_at = '2025-12-17 17:00:00' WHERE id = 1`);
    await mdb.query(`UPDATE clientes SET nome = 'bia', updated_at = '2025-12-17 17:00:00' WHERE id = 1`);
    const target = await rows(dst, 'SELECT * FROM cadastros.pedidos ORDER BY id');
    const saved = await rows(dst, `SELECT * FROM _tablesync_tables WHERE target_table = 'pedidos'`);
    const summary = await sync(my, both());
    const [pedidos, clientes] = summary.tables;
    assert.deepEqual([pedidos.status, pedidos.errorType], ['failed', 'TypeChange']);
    assert.match(pedidos.error ?? '', new RegExp(`${MY}\\.pedidos: column "status" narrowed in the source from varchar\\(20\\) to varchar\\(10\\); .*nothing was changed; say what to do with typeMap: \\{ "${MY}\\.pedidos\\.status": "<target type>" \\}`));
    assert.deepEqual(await rows(dst, 'SELECT * FROM cadastros.pedidos ORDER BY id'), target, 'target untouched');
    assert.deepEqual(await rows(dst, `SELECT * FROM _tablesync_tables WHERE target_table = 'pedidos'`), saved, 'state untouched');
    assert.equal(clientes.status, 'completed', clientes.error);
    assert.deepEqual(await rows(dst, 'SELECT nome FROM cadastros.clientes'), [{ nome: 'bia' }]);

    // typeMap says what to do: here, keep the wider target type. The run goes on, and saves the new source type.
    const mapped = await sync(my, both({ typeMap: { [`${MY}.pedidos.status`]: 'varchar(20)' } }));
    assert.equal(mapped.tables[0].status, 'completed', mapped.tables[0].error);
    assert.equal(await columnType(dst, 'cadastros.pedidos', 'status'), 'character varying(20)');
    assert.deepEqual(await rows(dst, 'SELECT valor::text FROM cadastros.pedidos WHERE id = 1'), [{ valor: '1.00' }]);
    const after = (await rows(dst, `SELECT column_types FROM _tablesync_tables WHERE target_table = 'pedidos'`))[0].column_types;
    assert.equal(after.status.source, 'varchar(10)');
    assert.equal((await sync(my, both())).tables[0].status, 'completed', 'without the typeMap too, once the state has the new type');
  });

  it('a state saved before types were kept (no column_types) is unknown, never a failure', async () => {
    await sync(my, config('upsert'));
    await dst.query(`UPDATE _tablesync_tables SET column_types = NULL`);
    await mdb.query('ALTER TABLE pedidos MODIFY status varchar(10)');
    const summary = await sync(my, config('upsert'));
    assert.equal(summary.tables[0].status, 'completed', summary.tables[0].error);
    assert.equal(await columnType(dst, 'cadastros.pedidos', 'status'), 'character varying(20)', 'the target holds every value: kept as it is');
    assert.notEqual((await rows(dst, `SELECT column_types FROM _tablesync_tables`))[0].column_types, null, 'the run saved the types');
  });

  it('PostgreSQL: bigint → integer and numeric(12,2) → numeric(8,2) fail their table clearly; the other table still syncs', async () => {
    await src.query(`CREATE TABLE contas (id int PRIMARY KEY, saldo numeric(12,2), pontos bigint, updated_at timestamp NOT NULL)`);
    await src.query(`CREATE TABLE notas (id int PRIMARY KEY, texto text, updated_at timestamp NOT NULL)`);
    await src.query(`INSERT INTO contas VALUES (1, 10.5, 7, '2025-12-17 16:00'), (2, 20, 8, '2025-12-17 16:00')`);
    await src.query(`INSERT INTO notas VALUES (1, 'a', '2025-12-17 16:00')`);
    const cfg = {
      source: { connection: 'src' },
      target: { connection: 'dst' },
      tables: [
        { table: 'contas', mode: 'cursor', cursor: 'updated_at' },
        { table: 'notas', mode: 'cursor', cursor: 'updated_at' },
      ],
    };
    await sync(pg, cfg);
    await src.query(`ALTER TABLE contas ALTER saldo TYPE numeric(8,2), ALTER pontos TYPE integer`);
    await src.query(`UPDATE contas SET saldo = 1, updated_at = '2025-12-17 17:00'`);
    await src.query(`UPDATE notas SET texto = 'b', updated_at = '2025-12-17 17:00'`);
    const before = await rows(dst, 'SELECT * FROM contas ORDER BY id');
    const [contas, notas] = (await sync(pg, cfg)).tables;
    assert.deepEqual([contas.status, contas.errorType], ['failed', 'TypeChange']);
    assert.match(contas.error ?? '', /public\.contas: column "saldo" narrowed in the source from numeric\(12,2\) to numeric\(8,2\); column "pontos" narrowed in the source from bigint to integer; /);
    assert.deepEqual(await rows(dst, 'SELECT * FROM contas ORDER BY id'), before);
    assert.deepEqual([await columnType(dst, 'contas', 'saldo'), await columnType(dst, 'contas', 'pontos')], ['numeric(12,2)', 'bigint']);
    assert.equal(notas.status, 'completed', notas.error);
    assert.deepEqual(await rows(dst, 'SELECT texto FROM notas'), [{ texto: 'b' }]);
  });

  it('schemaChanges: fail stops a table with a new column and leaves the target alone', async () => {
    await sync(my, config('upsert'));
    await mdb.query('ALTER TABLE pedidos ADD COLUMN telefone varchar(20)');
    const summary = await sync(my, config('upsert', { schemaChanges: 'fail' }));
    assert.deepEqual([summary.tables[0].status, summary.tables[0].errorType], ['failed', 'SchemaChange']);
    assert.match(summary.tables[0].error ?? '', /column "telefone" \(varchar\(20\)\) was added to the source/);
    assert.equal(await columnType(dst, 'cadastros.pedidos', 'telefone'), undefined);
  });

  describe('change-log tables', () => {
    const cfg = {
      source: { connection: 'src' },
      target: { connection: 'dst', schema: 'dw' },
      // Small chunks: the backfill is cut by key range, each chunk committed on its own.
      batchSize: 2,
      tables: [{ table: 'project', mode: 'changelog', changelog: { table: 'change_log', key: 'object_id', action: 'action', position: 'id' } }],
    };
    const logChange = (id: number, action: string) => src.query(`INSERT INTO change_log (object_id, action) VALUES ($1, $2)`, [String(id), action]);
    const position = async () => (await rows(dst, `SELECT cursor_value FROM _tablesync_tables WHERE target_table = 'project'`))[0].cursor_value;
    beforeEach(async () => {
      await src.query(`CREATE TABLE project (id int PRIMARY KEY, name text)`);
      await src.query(`CREATE TABLE change_log (id serial PRIMARY KEY, object_id text, action text)`);
      await src.query(`INSERT INTO project SELECT i, 'p' || i FROM generate_series(1, 5) i`);
      await logChange(1, 'added');
      await sync(pg, cfg);
    });

    it('an added column is backfilled once for every row, by key chunk, beside the logged changes, each applied once', async () => {
      await src.query(`ALTER TABLE project ADD COLUMN code varchar(10)`);
      // Filled for the old rows without a log row: only the backfill can bring these.
      await src.query(`UPDATE project SET code = 'c' || id`);
      await src.query(`INSERT INTO project VALUES (6, 'p6', 'c6')`);
      await src.query(`UPDATE project SET name = 'p2 renamed' WHERE id = 2`);
      await src.query(`DELETE FROM project WHERE id = 5`);
      await logChange(6, 'added');
      await logChange(2, 'changed');
      await logChange(5, 'deleted');
      const second = await sync(pg, cfg);
      const [t] = second.tables;
      assert.equal(t.status, 'completed', t.error);
      assert.ok(second.plan?.some((l) => /"code" was added to the source: added to the target as character varying\(10\)/.test(l)), second.plan?.join('\n'));
      assert.ok(second.plan?.some((l) => /"code" not synced before: this run backfills the key and this column of every source row/.test(l)), second.plan?.join('\n'));
      assert.deepEqual(await rows(dst, 'SELECT id, name, code, is_deleted FROM dw.project ORDER BY id'), [
        { id: 1, name: 'p1', code: 'c1', is_deleted: false },
        { id: 2, name: 'p2 renamed', code: 'c2', is_deleted: false },
        { id: 3, name: 'p3', code: 'c3', is_deleted: false },
        { id: 4, name: 'p4', code: 'c4', is_deleted: false },
        { id: 5, name: 'p5', code: null, is_deleted: true },
        { id: 6, name: 'p6', code: 'c6', is_deleted: false },
      ]);
      // Backfill: rows 1–4 updated (6 is not in the target yet; the log read inserts it), log: 2 updated, 6 inserted, 5 deleted.
      assert.deepEqual([t.inserted, t.updated, t.deleted], [1, 5, 1]);
      const chunks = await rows(dst, `SELECT chunks_done FROM _migration_state WHERE target_table = 'project' ORDER BY id DESC LIMIT 1`);
      assert.ok(chunks[0].chunks_done > 2, `the backfill went by key chunk (${chunks[0].chunks_done} chunks)`);
      assert.equal(await position(), '4', 'the log position moved past the three changes');
      assert.ok((await rows(dst, `SELECT columns FROM _tablesync_tables`))[0].columns.includes('code'), 'recorded in the state');
      const third = (await sync(pg, cfg)).tables[0];
      assert.deepEqual([third.rowsCopied, third.updated, third.inserted], [0, 0, 0], 'no backfill again; nothing logged, nothing read');
    });

    it('a backfill that fails mid-way is retried from its chunk: every value lands, counted once, the log applied once', async () => {
      await src.query(`ALTER TABLE project ADD COLUMN code varchar(10)`);
      await src.query(`UPDATE project SET code = 'c' || id`);
      await src.query(`UPDATE project SET name = 'p4 renamed' WHERE id = 4`);
      await logChange(4, 'changed');
      // The target fails the backfill's UPDATE of row 3 once (a transient error): chunks before it are committed.
      await dst.query(`CREATE SEQUENCE fail_once`);
      await dst.query(`CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF nextval('fail_once') = 1 THEN RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$`);
      // Added to the target by hand (the trigger names it): still never synced, so still backfilled.
      await dst.query(`ALTER TABLE dw.project ADD COLUMN code varchar(10)`);
      await dst.query(`CREATE TRIGGER fail_once BEFORE UPDATE ON dw.project FOR EACH ROW WHEN (NEW.code = 'c3') EXECUTE FUNCTION fail_once()`);
      const [t] = (await sync(pg, cfg)).tables;
      assert.equal(t.status, 'completed', t.error);
      assert.deepEqual(await rows(dst, 'SELECT id, name, code FROM dw.project ORDER BY id'), [
        { id: 1, name: 'p1', code: 'c1' },
        { id: 2, name: 'p2', code: 'c2' },
        { id: 3, name: 'p3', code: 'c3' },
        { id: 4, name: 'p4 renamed', code: 'c4' },
        { id: 5, name: 'p5', code: 'c5' },
      ]);
      const [state] = await rows(dst, `SELECT rows_updated::int AS updated, retry_count, chunks_done FROM _migration_state WHERE target_table = 'project' ORDER BY id DESC LIMIT 1`);
      assert.ok(state.retry_count >= 1, 'the failure was retried');
      assert.equal(state.chunks_done, 4, 'three backfill chunks by key range, then the one read of the log');
      assert.equal(t.updated, 6, 'five backfilled rows and one logged change, each counted once');
      assert.equal(state.updated, 6);
      assert.equal(await position(), '2');
    });

    it('a dropped column that returns is backfilled: its target values are stale since the drop', async () => {
      await src.query(`ALTER TABLE project ADD COLUMN code text`);
      await src.query(`UPDATE project SET code = 'old' || id`);
      await logChange(1, 'changed');
      await sync(pg, cfg);
      await sync(pg, cfg);
      await src.query(`ALTER TABLE project DROP COLUMN code`);
      await src.query(`UPDATE project SET name = 'p1 while dropped' WHERE id = 1`);
      await logChange(1, 'changed');
      const dropped = await sync(pg, cfg);
      assert.ok(dropped.tables[0].warnings.some((w) => /column "code" was dropped from the source: kept in the target/.test(w)), JSON.stringify(dropped.tables[0]));
      await src.query(`ALTER TABLE project ADD COLUMN code text`);
      await src.query(`UPDATE project SET code = 'new' || id`);
      const back = await sync(pg, cfg);
      assert.equal(back.tables[0].status, 'completed', back.tables[0].error);
      assert.ok(back.plan?.some((l) => /"code" back in the source after being dropped: the target's values are stale since the drop, so this run backfills/.test(l)), back.plan?.join('\n'));
      assert.deepEqual(await rows(dst, 'SELECT id, code FROM dw.project ORDER BY id'), [1, 2, 3, 4, 5].map((id) => ({ id, code: `new${id}` })));
      assert.equal((await sync(pg, cfg)).tables[0].updated, 0, 'backfilled once');
    });
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
      writeFileSync(file, JSON.stringify({ ...FAST_RETRY, ...config('upsert') }));
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

  it('run --dry-run prints a change-log backfill, a returning column\'s backfill and a narrowing\'s refusal, and changes nothing', async () => {
    await mdb.query(`CREATE TABLE project (id int PRIMARY KEY, name varchar(40))`);
    await mdb.query(`CREATE TABLE change_log (id int AUTO_INCREMENT PRIMARY KEY, object_id varchar(20), action varchar(20))`);
    await mdb.query(`CREATE TABLE contas (id int PRIMARY KEY, pontos bigint, updated_at datetime NOT NULL)`);
    await mdb.query(`INSERT INTO project VALUES (1, 'a')`);
    await mdb.query(`INSERT INTO change_log (object_id, action) VALUES ('1', 'added')`);
    await mdb.query(`INSERT INTO contas VALUES (1, 7, '2025-12-17 16:00:00')`);
    const cfg = {
      ...FAST_RETRY,
      source: { connection: 'my' },
      target: { connection: 'dst', schema: 'cadastros' },
      tables: [
        ...config('upsert').tables,
        { table: 'project', mode: 'changelog', changelog: { table: 'change_log', key: 'object_id', action: 'action', position: 'id' } },
        { table: 'contas', mode: 'cursor', cursor: 'updated_at' },
      ],
    };
    await sync(my, cfg);
    await mdb.query('ALTER TABLE pedidos DROP COLUMN status');
    await sync(my, cfg);
    await mdb.query('ALTER TABLE pedidos ADD COLUMN status varchar(20)');
    await mdb.query('ALTER TABLE project ADD COLUMN code varchar(10)');
    await mdb.query('ALTER TABLE contas MODIFY pontos int');
    const dir = mkdtempSync(join(tmpdir(), 'tablesync-schema-'));
    try {
      const file = join(dir, 'c.json');
      writeFileSync(file, JSON.stringify(cfg));
      const env: Record<string, string> = { TEMPORAL_ADDRESS: (await temporal()).address };
      for (const [name, url] of Object.entries(my)) env[envConnectionName(name)] = url;
      const stateBefore = await rows(dst, 'SELECT * FROM _tablesync_tables ORDER BY target_table');
      const r = await runCli(['run', '--config', file, '--local', '--dry-run'], env);
      assert.equal(r.code, 1, 'a table would fail: ' + r.stdout + r.stderr);
      assert.match(r.stdout, /project: column "code" was added to the source: to be added to the target as varchar\(10\)/);
      assert.match(r.stdout, /project: column "code" not synced before: a run would backfill the key and this column of every source row/);
      assert.match(r.stdout, /pedidos: column "status" back in the source after being dropped: .* a run would backfill/);
      assert.match(r.stdout, /would fail \S+\.contas \(TypeChange\): \S+\.contas: column "pontos" narrowed in the source from bigint\(20\) to int\(11\) \(→ integer\)/);
      assert.equal(await columnType(dst, 'cadastros.project', 'code'), undefined, 'no column added');
      assert.deepEqual(await rows(dst, 'SELECT * FROM _tablesync_tables ORDER BY target_table'), stateBefore, 'no state written');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
