import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import type { CdcProgress } from '../../workflows/cdc';
import { caughtUpWith, cdcProgress, runCdc, streaming } from '../helpers/cdc';
import { useDatabases } from '../helpers/databases';
import { duplicateKeys } from '../helpers/guarantees';
import { freshCdcDatabase, PG_CDC_BASE, pgUrl, testDb } from '../helpers/pg';

// cdc applies a batch set-based (lib/modes/cdc/apply.ts, BatchApply): each
// table's changes gathered per key, written in a few statements. These
// source transactions change the same keys many times over, so the target
// is right only if the gathered writes end as the changes one by one would.
const SRC = testDb('tablesync_it_cdcbatch_src');
const DST = testDb('tablesync_it_cdcbatch_dst');
const connections = { src: `${PG_CDC_BASE}/${SRC}`, dst: pgUrl(DST) };
const FAST = { timeouts: { heartbeatSeconds: 3 }, retry: { maximumAttempts: 5, initialIntervalMs: 200, maximumIntervalMs: 500 } };

const rows = async (pool: Pool, sql: string) => (await pool.query(sql)).rows.map((r) => JSON.stringify(r));

describe('cdc mode: a batch applied set-based ends as its changes one by one (real servers)', function () {
  this.timeout(180_000);
  const { dst } = useDatabases({ pg: { dst: DST } }, { perTest: true });
  let src: Pool;
  beforeEach(async () => {
    src = await freshCdcDatabase(SRC);
  });
  afterEach(async () => {
    await src.end();
  });

  it('insert, update, delete of one key; a key moved and its old key reused; unchanged TOAST values; soft deletes', async () => {
    await src.query(`CREATE TABLE kv (id int PRIMARY KEY, name text NOT NULL, n int, doc text)`);
    // Stored out of line, uncompressed: an update that leaves doc alone sends it as 'unchanged TOAST'.
    await src.query(`ALTER TABLE kv ALTER doc SET STORAGE EXTERNAL`);
    await src.query(`CREATE TABLE soft (id int PRIMARY KEY, v text)`);
    const big = Array.from({ length: 5000 }, (_, i) => (i * 7919).toString(36)).join('');
    await src.query(`INSERT INTO kv SELECT g, 'kv ' || g, g, CASE WHEN g <= 6 THEN $1 || g END FROM generate_series(1, 50) g`, [big]);
    await src.query(`INSERT INTO soft SELECT g, 'v' || g FROM generate_series(1, 10) g`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, mode: 'cdc', tables: ['kv', { table: 'soft', deletes: 'soft' }], ...FAST };
    let before: CdcProgress | undefined;
    const outcome = await runCdc(connections, 'cdcbatch', `cdc-batch-${process.pid}`, { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      before = await cdcProgress(h);
      // One source transaction: one batch, every change of a key in it gathered together.
      await src.query(
        `BEGIN;
         INSERT INTO kv VALUES (100, 'new', 1, NULL); UPDATE kv SET n = 2 WHERE id = 100; DELETE FROM kv WHERE id = 100;
         INSERT INTO kv VALUES (101, 'first', 1, NULL); DELETE FROM kv WHERE id = 101; INSERT INTO kv VALUES (101, 'back', 2, 'small');
         UPDATE kv SET id = 400 WHERE id = 40; INSERT INTO kv VALUES (40, 'reused', 40, NULL); UPDATE kv SET name = 'moved' WHERE id = 400;
         UPDATE kv SET name = 'patched' WHERE id = 1; UPDATE kv SET n = -1 WHERE id = 1;
         INSERT INTO kv VALUES (200, 'toasted', 0, $1); UPDATE kv SET name = 'toasted, renamed' WHERE id = 200;
         UPDATE kv SET name = 'gone' WHERE id = 2; DELETE FROM kv WHERE id = 2;
         UPDATE kv SET id = 300 WHERE id = 3; INSERT INTO kv VALUES (3, 'reused 3', 3, NULL);
         UPDATE kv SET id = 500, name = 'moved twice' WHERE id = 4; UPDATE kv SET id = 501 WHERE id = 500; UPDATE kv SET name = 'kept doc' WHERE id = 501;
         DELETE FROM kv WHERE id = 5; INSERT INTO kv VALUES (5, 'five again', 5, NULL);
         DELETE FROM kv WHERE id = 6; INSERT INTO kv VALUES (6, 'six again', 6, NULL); UPDATE kv SET id = 600 WHERE id = 6;
         DELETE FROM soft WHERE id = 1; INSERT INTO soft VALUES (1, 'live again');
         INSERT INTO soft VALUES (11, 'eleven'); UPDATE soft SET v = 'eleven, updated' WHERE id = 11; DELETE FROM soft WHERE id = 11;
         UPDATE soft SET v = 'two, updated' WHERE id = 2; DELETE FROM soft WHERE id = 2; DELETE FROM soft WHERE id = 3;
         COMMIT`.replace('$1', `'${big}x'`),
      );
      await caughtUpWith(() => rows(src, 'SELECT id, name, n, md5(doc) AS doc FROM kv ORDER BY id'), () => rows(dst, 'SELECT id, name, n, md5(doc) AS doc FROM kv ORDER BY id'));
      await caughtUpWith(() => rows(src, 'SELECT id, v FROM soft ORDER BY id'), () => rows(dst, 'SELECT id, v FROM soft WHERE NOT is_deleted ORDER BY id'));
      const p = await cdcProgress(h);
      const delta = (k: 'inserted' | 'updated' | 'deleted') => p.totals[k] - before!.totals[k];
      // Counted as one by one: each insert and update once; a delete when it removed (or marked) a row.
      assert.deepEqual([delta('inserted'), delta('updated'), delta('deleted')], [10, 14, 9]);
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
    assert.equal(await duplicateKeys(dst, 'public.kv', ['id']), 0);
    const kept = await dst.query(`SELECT id, name, length(doc) AS len FROM kv WHERE id IN (1, 300, 400, 501) ORDER BY id`);
    assert.deepEqual(
      kept.rows,
      [
        { id: 1, name: 'patched', len: big.length + 1 },
        { id: 300, name: 'kv 3', len: big.length + 1 },
        { id: 400, name: 'moved', len: null },
        { id: 501, name: 'kept doc', len: big.length + 1 },
      ],
      'values the log did not repeat are the target’s, never NULL',
    );
    const soft = await dst.query(`SELECT id, v, is_deleted FROM soft WHERE id <= 3 OR id = 11 ORDER BY id`);
    assert.deepEqual(
      soft.rows.map((r) => [r.id, r.v, r.is_deleted]),
      [
        [1, 'live again', false],
        [2, 'two, updated', true],
        [3, 'v3', true],
        [11, 'eleven, updated', true],
      ],
      'a soft-deleted row keeps the values it had when deleted',
    );
  });

  it('many rows of a batch go through COPY: tabs, newlines, backslashes, a literal \\N, NULL, bytea and jsonb arrive exact', async () => {
    await src.query(`CREATE TABLE odd (id int PRIMARY KEY, t text, b bytea, j jsonb, x numeric)`);
    await src.query(`INSERT INTO odd VALUES (0, 'seed', NULL, NULL, NULL)`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, mode: 'cdc', tables: ['odd'], ...FAST };
    const sql = 'SELECT id, t, encode(b, \'hex\') AS b, j::text AS j, x::text AS x FROM odd ORDER BY id';
    const outcome = await runCdc(connections, 'cdcbatch', `cdc-copy-${process.pid}`, { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      // 300 rows in one transaction, each key written twice: well past the rows that go as bound parameters.
      await src.query(
        `BEGIN;
         INSERT INTO odd SELECT g, E'tab\\there, line\\nbreak, back\\\\slash ' || g, decode('00ff5c0a09' || lpad(to_hex(g), 4, '0'), 'hex'),
           jsonb_build_object('k', E'q\\"uote\\\\', 'g', g), g / 7.0 FROM generate_series(1, 300) g;
         UPDATE odd SET t = CASE WHEN id % 3 = 0 THEN NULL WHEN id % 3 = 1 THEN '\\N' ELSE t || E'\\r' END WHERE id > 0;
         COMMIT`,
      );
      await caughtUpWith(() => rows(src, sql), () => rows(dst, sql));
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
    const nulls = await dst.query(`SELECT count(*) FILTER (WHERE t IS NULL)::int AS nulls, count(*) FILTER (WHERE t = '\\N')::int AS literal FROM odd`);
    assert.deepEqual(nulls.rows[0], { nulls: 100, literal: 100 }, 'NULL and the text \\N stay apart');
  });

  it('new keys are COPYed straight into the target; one the target has already (written by hand) makes them upserts, every row exact', async () => {
    await src.query(`CREATE TABLE fresh (id int PRIMARY KEY, v text NOT NULL)`);
    await src.query(`INSERT INTO fresh VALUES (0, 'seed')`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, mode: 'cdc', tables: ['fresh'], ...FAST };
    const sql = 'SELECT id, v FROM fresh ORDER BY id';
    const outcome = await runCdc(connections, 'cdcbatch', `cdc-fresh-${process.pid}`, { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      // 300 new keys, some updated and some deleted in the same transaction: the inserts' final rows go by COPY.
      await src.query(
        `BEGIN;
         INSERT INTO fresh SELECT g, 'new ' || g FROM generate_series(1, 300) g;
         UPDATE fresh SET v = v || ' updated' WHERE id % 10 = 0;
         DELETE FROM fresh WHERE id % 7 = 0;
         COMMIT`,
      );
      await caughtUpWith(() => rows(src, sql), () => rows(dst, sql));
      // A key the source inserts next is in the target already: the COPY fails, and the batch upserts instead.
      await dst.query(`INSERT INTO fresh VALUES (450, 'written by hand')`);
      await src.query(`INSERT INTO fresh SELECT g, 'second ' || g FROM generate_series(301, 600) g`);
      await caughtUpWith(() => rows(src, sql), () => rows(dst, sql));
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
    assert.equal(outcome.value.totals.inserted, 600, 'every insert counted once');
    assert.deepEqual((await dst.query(`SELECT v FROM fresh WHERE id = 450`)).rows, [{ v: 'second 450' }]);
  });

  it('deletes of many text keys in one statement: quotes, backslashes, commas, braces, the text NULL and the empty key each delete only their row', async () => {
    // The keys of a one-column key go as one array parameter: every character an array literal treats specially.
    const odd = ['', ' ', 'NULL', 'null', '"', '\\', '\\"', ',', '{', '}', '{a,b}', 'a"b', 'a\\b', "it's", 'tab\there', 'é', '漢字', 'x y'];
    await src.query(`CREATE TABLE tk (k text PRIMARY KEY, v int)`);
    await src.query(`INSERT INTO tk SELECT k, ordinality::int FROM unnest($1::text[]) WITH ORDINALITY k`, [odd]);
    await src.query(`INSERT INTO tk SELECT 'keep ' || k, 0 FROM unnest($1::text[]) k`, [odd]);
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, mode: 'cdc', tables: ['tk'], ...FAST };
    const sql = 'SELECT k, v FROM tk ORDER BY k COLLATE "C"';
    const outcome = await runCdc(connections, 'cdcbatch', `cdc-textkeys-${process.pid}`, { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      assert.equal((await dst.query('SELECT count(*)::int AS n FROM tk')).rows[0].n, odd.length * 2, 'the snapshot has every key');
      await src.query(`DELETE FROM tk WHERE k = ANY($1::text[])`, [odd]);
      await caughtUpWith(() => rows(src, sql), () => rows(dst, sql));
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
    const left = await dst.query(`SELECT k FROM tk ORDER BY k COLLATE "C"`);
    assert.deepEqual(left.rows.map((r) => r.k), odd.map((k) => `keep ${k}`).sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : 1)));
  });
});
