import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { envConnectionName } from '../../activities/connections';
import type { SetModeResult, StateChange, TableStatus } from '../../activities';
import type { SyncSummary } from '../../lib/types';
import { runCli } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import { duplicateKeys, lockPgTable, waitFor } from '../helpers/guarantees';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { failureChain, runSyncInProcess, runWorkflow, syncOk, FAST_RETRY } from '../helpers/run';
import { temporal } from '../helpers/temporal';

// reset-state, set-mode and status on real MariaDB, PostgreSQL and Temporal:
// the dadosfera cases' state operations, refusals that change nothing, dry
// runs, history rows, and the CLI forms.
const SRC = testDb('tablesync_it_tstate_src');
const DST = testDb('tablesync_it_tstate_dst');
const MY = testDb('tablesync_it_tstate_my');
const my = { my: mysqlUrl(MY), dst: pgUrl(DST) };
const pg = { src: pgUrl(SRC), dst: pgUrl(DST) };

let seq = 0;

async function sync(connections: Record<string, string>, config: object): Promise<SyncSummary> {
  const summary = await syncOk(connections, { ...FAST_RETRY, ...config }, 'tstate');
  assert.deepEqual(summary.tables.map((t) => t.error ?? t.status), summary.tables.map(() => 'completed'));
  return summary;
}

/** Runs an operation workflow as the Web UI would start it: by type name, with JSON input. */
async function op<T>(connections: Record<string, string>, type: string, input: object): Promise<{ workflowId: string; result?: T; error?: unknown }> {
  const { workflowId, outcome } = await runWorkflow<T>(connections, type, JSON.parse(JSON.stringify(input)), `tstate-${type}`);
  return outcome.ok ? { workflowId, result: outcome.value } : { workflowId, error: outcome.error };
}

const rows = async (db: Pool, sql: string) => (await db.query(sql)).rows;
const history = (db: Pool) => rows(db, `SELECT action, changed_by, before->>'cursor_value' AS before, after->>'cursor_value' AS after, after->>'write' AS write FROM _tablesync_table_history ORDER BY id`);
const state = async (db: Pool) => (await rows(db, `SELECT mode, write, cursor_column, cursor_value FROM _tablesync_tables`))[0];

describe('table state operations: reset-state, set-mode, status (real MariaDB, PostgreSQL, Temporal)', () => {
  const { src, dst, mdb } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { mdb: MY } }, { perTest: true });

  describe('dadosfera on MariaDB: cadastros.pedidos', () => {
    beforeEach(async () => {
      await mdb.query(`CREATE TABLE pedidos (id int PRIMARY KEY, cliente_id int, valor decimal(12,2), status varchar(20),
        created_at datetime(6), updated_at datetime(6) NOT NULL)`);
      await mdb.query(`INSERT INTO pedidos VALUES
        (1, 10, 100.50, 'novo', '2025-12-17 17:00:00', '2025-12-17 17:00:00'),
        (2, 11, 200.00, 'novo', '2025-12-17 17:10:00', '2025-12-17 17:10:00'),
        (3, 12, 300.25, 'novo', '2025-12-17 17:20:00', '2025-12-17 17:20:00')`);
    });
    const config = (write: 'upsert' | 'append') => ({
      source: { connection: 'my' },
      target: { connection: 'dst', schema: 'cadastros' },
      tables: [{ table: 'pedidos', mode: 'cursor', cursor: 'updated_at', write }],
    });

    it('case 2: cursor/append → set-mode --write upsert answers preserve, keeps the latest row per id and the cursor', async () => {
      await sync(my, config('append'));
      await mdb.query(`UPDATE pedidos SET status = 'pago', updated_at = '2025-12-17 17:49:00.123456' WHERE id = 1`);
      await mdb.query(`UPDATE pedidos SET status = 'pago', valor = 210.00, updated_at = '2025-12-17 17:50:00' WHERE id = 2`);
      await sync(my, config('append'));
      await mdb.query(`UPDATE pedidos SET status = 'enviado', updated_at = '2025-12-17 17:55:00' WHERE id = 1`);
      await sync(my, config('append'));
      assert.equal((await rows(dst, 'SELECT count(*)::int AS n FROM cadastros.pedidos'))[0].n, 6, 'id 1 three versions, id 2 two, id 3 one');
      const saved = await state(dst);
      assert.equal(saved.cursor_value, '2025-12-17 17:55:00.000000');

      const input = { config: { ...FAST_RETRY, ...config('append') }, table: 'pedidos', mode: 'cursor', write: 'upsert' };
      const dry = await op<SetModeResult>(my, 'setModeWorkflow', { ...input, dryRun: true });
      assert.equal(dry.error, undefined, failureChain(dry.error));
      assert.deepEqual([dry.result!.stateAction, dry.result!.applied, dry.result!.dryRun], ['preserve', false, true]);
      assert.ok(dry.result!.changes.some((c) => /3 rows kept, 3 older versions removed/.test(c)), dry.result!.changes.join('\n'));
      assert.equal((await rows(dst, 'SELECT count(*)::int AS n FROM cadastros.pedidos'))[0].n, 6, 'a dry run changes nothing');
      assert.deepEqual(await state(dst), saved);
      assert.equal((await history(dst)).length, 3, 'only the three runs');

      const done = await op<SetModeResult>(my, 'setModeWorkflow', input);
      assert.equal(done.error, undefined, failureChain(done.error));
      const r = done.result!;
      assert.deepEqual([r.stateAction, r.applied], ['preserve', true]);
      assert.ok(r.warnings.some((w) => /3 older versions/.test(w)), r.warnings.join('\n'));
      assert.deepEqual(r.configLines, ['  - table: pedidos', '    mode: cursor', '    cursor: updated_at', '    write: upsert']);
      assert.deepEqual(await rows(dst, 'SELECT id, status, valor::text FROM cadastros.pedidos ORDER BY id'), [
        { id: 1, status: 'enviado', valor: '100.50' },
        { id: 2, status: 'pago', valor: '210.00' },
        { id: 3, status: 'novo', valor: '300.25' },
      ]);
      const shape = await rows(dst, `SELECT
          (SELECT count(*)::int FROM information_schema.columns WHERE table_schema = 'cadastros' AND table_name = 'pedidos' AND column_name LIKE '\\_tablesync\\_%') AS meta,
          to_regclass('cadastros.pedidos_latest') IS NULL AS no_view,
          (SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'cadastros.pedidos'::regclass AND contype = 'p') AS pk`);
      assert.deepEqual(shape, [{ meta: 0, no_view: true, pk: 1 }]);
      assert.deepEqual(await state(dst), { ...saved, write: 'upsert' }, 'the cursor is kept');
      const h = await history(dst);
      assert.deepEqual(h[3], { action: 'set-mode', changed_by: done.workflowId, before: saved.cursor_value, after: saved.cursor_value, write: 'upsert' });

      // The next run, with the config saying upsert: only rows at or past the saved cursor.
      await mdb.query(`UPDATE pedidos SET valor = 999.99, updated_at = '2025-12-17 18:00:00' WHERE id = 3`);
      const next = await sync(my, config('upsert'));
      assert.deepEqual([next.tables[0].rowsCopied, next.tables[0].updated, next.tables[0].inserted], [2, 1, 0], 'id 1 at the cursor and id 3 past it');
      assert.equal(await duplicateKeys(dst, 'cadastros.pedidos', ['id']), 0);
    });

    it('case 1: reset-state --cursor re-reads from there; no duplicate ids (upsert) or versions (append), no manual DELETE', async () => {
      for (const write of ['upsert', 'append'] as const) {
        await dst.query('DROP SCHEMA IF EXISTS cadastros CASCADE; TRUNCATE _tablesync_tables, _tablesync_table_history').catch(() => undefined);
        await sync(my, config(write));
        await mdb.query(`UPDATE pedidos SET status = 'pago', updated_at = '2025-12-17 17:50:00' WHERE id = 3`);
        await sync(my, config(write));
        const before = (await rows(dst, 'SELECT count(*)::int AS n FROM cadastros.pedidos'))[0].n;
        const reset = await op<StateChange>(my, 'resetStateWorkflow', { config: config(write), table: 'pedidos', cursor: '2025-12-17 17:49:00' });
        assert.equal(reset.error, undefined, failureChain(reset.error));
        assert.equal(reset.result!.before!.cursorValue, '2025-12-17 17:50:00.000000');
        assert.equal(reset.result!.after!.cursorValue, '2025-12-17 17:49:00.000000', "the source's own text of the value");
        assert.equal((await state(dst)).cursor_value, '2025-12-17 17:49:00.000000');
        const again = await sync(my, config(write));
        assert.deepEqual([again.tables[0].rowsCopied, again.tables[0].inserted, again.tables[0].updated], [1, 0, 0], `${write}: re-reads the row past 17:49, adds nothing`);
        assert.equal((await rows(dst, 'SELECT count(*)::int AS n FROM cadastros.pedidos'))[0].n, before, `${write}: no duplicates`);
        const dups = await rows(dst, `SELECT id, updated_at, count(*) FROM cadastros.pedidos GROUP BY 1, 2 HAVING count(*) > 1`);
        assert.deepEqual(dups, [], `${write}: no duplicate versions`);
        const h = await history(dst);
        assert.deepEqual(h.map((x) => x.action), ['run', 'run', 'reset-state', 'run']);
        assert.equal(h[2].changed_by, reset.workflowId);
      }
    });

    it('reset-state without --cursor forgets it: the next run reads every row, and adds nothing', async () => {
      await sync(my, config('upsert'));
      const dry = await op<StateChange>(my, 'resetStateWorkflow', { config: config('upsert'), table: 'pedidos', dryRun: true });
      assert.deepEqual([dry.result!.applied, dry.result!.after!.cursorValue], [false, null]);
      assert.equal((await state(dst)).cursor_value, '2025-12-17 17:20:00.000000', 'a dry run changes nothing');
      const r = await op<StateChange>(my, 'resetStateWorkflow', { config: config('upsert'), table: 'pedidos' });
      assert.equal(r.result!.applied, true);
      assert.equal((await state(dst)).cursor_value, null);
      const next = await sync(my, config('upsert'));
      assert.deepEqual([next.tables[0].rowsCopied, next.tables[0].inserted, next.tables[0].unchanged], [3, 0, 3]);
    });

    it('a reset to a value that is not of the cursor type is a clear error naming table and field; nothing changed', async () => {
      await sync(my, config('upsert'));
      const saved = await state(dst);
      for (const value of ['not a date', '2025-12-17 17:49:00 garbage', '2025-13-45 10:00:00']) {
        const r = await op<StateChange>(my, 'resetStateWorkflow', { config: config('upsert'), table: 'pedidos', cursor: value });
        assert.ok(r.error, value);
        assert.equal((r.error as { cause?: { cause?: { type?: string } } }).cause?.cause?.type, 'InvalidConfig');
        assert.match(failureChain(r.error), new RegExp(`\\.pedidos: reset-state --cursor "${value}" is not a value of cursor "updated_at" \\(datetime\\(6\\)\\); nothing changed`));
      }
      assert.deepEqual(await state(dst), saved);
      assert.deepEqual((await history(dst)).map((h) => h.action), ['run']);
    });
  });

  describe('PostgreSQL source', () => {
    beforeEach(async () => {
      await src.query(`CREATE TABLE ev (id integer PRIMARY KEY, v text, ts timestamp(6) NOT NULL, seq bigint NOT NULL)`);
      await src.query(`INSERT INTO ev VALUES (1, 'a', '2026-01-01 10:00:00', 1), (2, 'b', '2026-01-01 11:00:00', 2)`);
    });
    const config = (table: object = {}) => ({ source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'ev', mode: 'cursor', cursor: 'ts', ...table }] });

    it('a value that does not parse as timestamp is refused on the source, naming table and field', async () => {
      await sync(pg, config());
      const r = await op<StateChange>(pg, 'resetStateWorkflow', { config: config(), table: 'public.ev', cursor: 'yesterday-ish' });
      assert.match(failureChain(r.error), /public\.ev: reset-state --cursor "yesterday-ish" is not a value of cursor "ts" \(timestamp\(6\) without time zone\)/);
      const ok = await op<StateChange>(pg, 'resetStateWorkflow', { config: config(), table: 'ev', cursor: '2026-01-01T10:30' });
      assert.equal(ok.result!.after!.cursorValue, '2026-01-01 10:30:00', "PostgreSQL's canonical text");
    });

    it('a reset while a run goes wins: the run does not save its cursor over it, and the next run starts from the reset', async () => {
      await sync(pg, config());
      await src.query(`UPDATE ev SET v = 'b2', ts = '2026-01-01 12:00:00' WHERE id = 2`);
      // The run plans (reading the saved cursor), then waits in its chunk to write the target table.
      const lock = await lockPgTable(dst, 'public.ev', 'SHARE'); // reads (planning) pass, the chunk's writes wait
      let running: ReturnType<typeof runSyncInProcess> | undefined;
      try {
        running = runSyncInProcess(pg, { ...FAST_RETRY, ...config() }, 'tstate-race');
        await waitFor('the run to reach its chunk', async () => (await rows(dst, `SELECT 1 FROM _migration_state WHERE target_table = 'ev' AND sync_status = 'running'`)).length > 0);
        const reset = await op<StateChange>(pg, 'resetStateWorkflow', { config: config(), table: 'ev', cursor: '2026-01-01 10:00:00' });
        assert.equal(reset.result?.applied, true, failureChain(reset.error));
      } finally {
        await lock.release();
      }
      const { outcome } = await running!;
      assert.ok(outcome.ok);
      const [t] = outcome.value.tables;
      assert.equal(t.status, 'failed');
      assert.match(t.error ?? '', /StateChanged|the saved state changed while this run went/);
      assert.equal((await state(dst)).cursor_value, '2026-01-01 10:00:00', 'the reset stands');
      assert.deepEqual(await rows(dst, 'SELECT id, v FROM ev ORDER BY id'), [{ id: 1, v: 'a' }, { id: 2, v: 'b' }], "the run's chunk rolled back");
      const next = await sync(pg, config());
      assert.deepEqual([next.tables[0].rowsCopied, next.tables[0].updated], [2, 1], 'reads from the reset value');
      assert.equal((await state(dst)).cursor_value, '2026-01-01 12:00:00');
    });

    it('changing the cursor column is a reset: refused without --force, done with it', async () => {
      await sync(pg, config());
      const saved = await state(dst);
      const refused = await op<SetModeResult>(pg, 'setModeWorkflow', { config: config(), table: 'ev', mode: 'cursor', cursor: 'seq' });
      assert.deepEqual([refused.result!.stateAction, refused.result!.applied], ['reset', false]);
      assert.match(refused.result!.refused!, /--force/);
      assert.deepEqual(await state(dst), saved);
      const forced = await op<SetModeResult>(pg, 'setModeWorkflow', { config: config(), table: 'ev', mode: 'cursor', cursor: 'seq', force: true });
      assert.deepEqual([forced.result!.stateAction, forced.result!.applied], ['reset', true]);
      assert.deepEqual(await state(dst), { mode: 'cursor', write: 'upsert', cursor_column: 'seq', cursor_value: null });
      const next = await sync(pg, config({ cursor: 'seq' }));
      assert.deepEqual([next.tables[0].rowsCopied, next.tables[0].inserted], [2, 0], 'reads everything again, adds nothing');
    });

    it('cursor/upsert → append preserves: rows become versions, the next run adds none twice; → compare drops the cursor', async () => {
      await sync(pg, config());
      const r = await op<SetModeResult>(pg, 'setModeWorkflow', { config: config(), table: 'ev', mode: 'cursor', write: 'append' });
      assert.deepEqual([r.result!.stateAction, r.result!.applied], ['preserve', true]);
      assert.deepEqual(await rows(dst, 'SELECT id, v FROM ev_latest ORDER BY id'), [{ id: 1, v: 'a' }, { id: 2, v: 'b' }]);
      await src.query(`UPDATE ev SET v = 'b2', ts = '2026-01-01 12:00:00' WHERE id = 2`);
      const next = await sync(pg, config({ write: 'append' }));
      assert.equal(next.tables[0].inserted, 1, 'the new version only');
      assert.deepEqual(await rows(dst, 'SELECT id, v FROM ev ORDER BY id, ts'), [{ id: 1, v: 'a' }, { id: 2, v: 'b' }, { id: 2, v: 'b2' }]);
      const compare = await op<SetModeResult>(pg, 'setModeWorkflow', { config: config({ write: 'append' }), table: 'ev', mode: 'compare' });
      assert.deepEqual([compare.result!.stateAction, compare.result!.applied], ['preserve', true]);
      assert.ok(compare.result!.warnings.some((w) => /saved cursor 2026-01-01 12:00:00 is dropped/.test(w)), compare.result!.warnings.join('\n'));
      assert.deepEqual(compare.result!.configLines, ['  - table: ev', '    mode: compare']);
      assert.deepEqual(await rows(dst, 'SELECT id, v FROM ev ORDER BY id'), [{ id: 1, v: 'a' }, { id: 2, v: 'b2' }]);
      const comparing = await sync(pg, { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [{ table: 'ev', mode: 'compare' }] });
      assert.deepEqual([comparing.tables[0].mode, comparing.tables[0].unchanged], ['compare', 2]);
      const back = await op<SetModeResult>(pg, 'setModeWorkflow', { config: config(), table: 'ev', mode: 'cursor', cursor: 'ts' });
      assert.deepEqual([back.result!.stateAction, back.result!.applied], ['preserve', true]);
      assert.ok(back.result!.warnings.some((w) => /no saved cursor: the next run reads every row/.test(w)));
      // A top-level deletes the new mode cannot carry out is turned off in the entry set-mode prints (the config would be refused otherwise).
      const softConfig = { source: { connection: 'src' }, target: { connection: 'dst' }, deletes: 'soft', tables: [{ table: 'ev', mode: 'compare' }] };
      const toCursor = await op<SetModeResult>(pg, 'setModeWorkflow', { config: softConfig, table: 'ev', mode: 'cursor', cursor: 'ts', dryRun: true });
      assert.deepEqual(toCursor.result!.configLines, ['  - table: ev', '    mode: cursor', '    cursor: ts', '    write: upsert', '    deletes: ignore']);
      const toAuto = await op<SetModeResult>(pg, 'setModeWorkflow', { config: softConfig, table: 'ev', mode: 'auto', dryRun: true });
      assert.deepEqual(toAuto.result!.configLines, ['  - table: ev', '    mode: auto']);
    });

    describe('the CLI forms', () => {
      let dir: string;
      let address: string;
      before(async () => {
        dir = mkdtempSync(join(tmpdir(), 'tablesync-tstate-'));
        address = (await temporal()).address;
      });
      after(() => rmSync(dir, { recursive: true, force: true }));
      const cli = (args: string[], config: object) => {
        const file = join(dir, `c${++seq}.json`);
        writeFileSync(file, JSON.stringify({ ...FAST_RETRY, ...config }));
        const env: Record<string, string> = { TEMPORAL_ADDRESS: address };
        for (const [name, url] of Object.entries(pg)) env[envConnectionName(name)] = url;
        return runCli([args[0], '--config', file, '--local', ...args.slice(1)], env);
      };

      it('reset-state, set-mode and status --config print the state; --dry-run changes nothing; status WORKFLOW_ID still needs its id', async () => {
        await sync(pg, config());
        const dry = await cli(['reset-state', 'ev', '--cursor', '2026-01-01 10:30:00', '--dry-run'], config());
        assert.equal(dry.code, 0, dry.stdout + dry.stderr);
        assert.match(dry.stdout, /public\.ev → public\.ev: would change \(dry run, nothing changed\)\n  before: mode cursor, write upsert, cursor ts = 2026-01-01 11:00:00\n  after:  mode cursor, write upsert, cursor ts = 2026-01-01 10:30:00/);
        assert.equal((await state(dst)).cursor_value, '2026-01-01 11:00:00');
        const reset = await cli(['reset-state', 'ev', '--cursor', '2026-01-01 10:30:00'], config());
        assert.equal(reset.code, 0, reset.stdout + reset.stderr);
        assert.match(reset.stdout, /: changed\n/);
        assert.equal((await state(dst)).cursor_value, '2026-01-01 10:30:00');
        const bad = await cli(['reset-state', 'ev', '--cursor', 'soon'], config());
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /^tablesync: InvalidConfig: public\.ev: reset-state --cursor "soon" is not a value of cursor "ts"/m);

        const mode = await cli(['set-mode', 'ev', '--mode', 'cursor', '--write', 'append'], config());
        assert.equal(mode.code, 0, mode.stdout + mode.stderr);
        assert.match(mode.stdout, /^state_action: preserve\n/);
        assert.match(mode.stdout, /  - table: ev\n    mode: cursor\n    cursor: ts\n    write: append\n/);
        const refused = await cli(['set-mode', 'ev', '--mode', 'cursor', '--cursor', 'seq'], config({ write: 'append' }));
        assert.equal(refused.code, 1, refused.stdout + refused.stderr);
        assert.match(refused.stdout, /^state_action: reset\n[\s\S]*refused: the saved cursor cannot be kept \(use --force to reset it\)/);

        const status = await cli(['status', '--json'], config({ write: 'append' }));
        assert.equal(status.code, 0, status.stdout + status.stderr);
        const [t] = JSON.parse(status.stdout) as TableStatus[];
        assert.deepEqual([t.table, t.mode, t.write, t.cursorColumn, t.cursorValue, t.lastRun?.status, t.lastRun?.rowsCopied], ['public.ev', 'cursor', 'append', 'ts', '2026-01-01 10:30:00', 'completed', 2]);
        const text = await cli(['status', 'ev'], config({ write: 'append' }));
        assert.match(text.stdout, /^public\.ev → public\.ev: mode cursor, write append, cursor ts = 2026-01-01 10:30:00 \(timestamp\(6\) without time zone\)\n  last run: completed tstate-/);
        const noId = await runCli(['status'], { TEMPORAL_ADDRESS: address });
        assert.equal(noId.code, 2);
        assert.match(noId.stderr, /missing required argument 'workflow-id' \(status WORKFLOW_ID, or status --config FILE/);
      });
    });
  });
});
