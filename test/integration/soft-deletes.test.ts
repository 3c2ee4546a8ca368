import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import type { SyncConfigInput } from '../../lib/config';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, stagingTables, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';
import { runTestVerify } from '../helpers/verify';

const SRC = testDb('tablesync_it_softdel_src');
const DST = testDb('tablesync_it_softdel_dst');
const MY = testDb('tablesync_it_softdel_my');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST), my: mysqlUrl(MY) };
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000 } };
// 6,000 rows in 4 partitions of 2 chunks each: deletes are found per key range, in parallel.
const split = { partitionThreshold: 1_000, rowsPerPartition: 1_500, maxPartitionsPerTable: 4, batchSize: 800 };

function configFor(table: string, extra: Partial<SyncConfigInput> = {}): SyncConfigInput {
  return { source: { connection: 'src' }, target: { connection: 'dst' }, tables: [`public.${table}`], deletes: 'soft', ...split, ...fast, ...extra };
}

/** Target rows as (id, name, flag, marked): what a soft delete leaves and an un-delete restores. */
async function targetState(dst: Pool, table: string, flag = 'is_deleted'): Promise<Map<number, { name: string; flag: boolean; at: Date | null }>> {
  const r = await dst.query(`SELECT id, name, "${flag}" AS flag, _tablesync_deleted_at AS at FROM ${table} ORDER BY id`);
  return new Map(r.rows.map((x) => [x.id, { name: x.name, flag: x.flag, at: x.at }]));
}

/** Live target rows equal the source's rows, as text. */
async function assertLiveEqual(src: Pool, dst: Pool, table: string, flag = 'is_deleted'): Promise<void> {
  const s = await src.query(`SELECT id, name FROM ${table} ORDER BY id`);
  const t = await dst.query(`SELECT id, name FROM ${table} WHERE NOT "${flag}" ORDER BY id`);
  assert.deepEqual(t.rows, s.rows);
}

async function columnsOf(db: Pool, table: string): Promise<string[]> {
  const r = await db.query(
    `SELECT column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '-') AS c
       FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  return r.rows.map((x) => x.c);
}

async function stateDeleted(dst: Pool, workflowId: string): Promise<{ partitions: number; deleted: number; updated: number }> {
  const r = await dst.query(
    `SELECT count(*)::int AS partitions, sum(rows_deleted)::int AS deleted, sum(rows_updated)::int AS updated
       FROM _migration_state WHERE workflow_id = $1 AND sync_status = 'completed'`,
    [workflowId],
  );
  return r.rows[0];
}

describe('deletes: soft', () => {
  const { src, dst, my } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { my: MY } });

  before(async () => {
    for (const t of ['items', 'plain', 'custom', 'hard']) {
      await src.query(`CREATE TABLE ${t} (id int PRIMARY KEY, name text NOT NULL, qty int)`);
      await src.query(`INSERT INTO ${t} SELECT g, 'item ' || g, g % 10 FROM generate_series(1, 6000) g`);
      await src.query(`ANALYZE ${t}`);
    }
  });

  describe('in compare mode, PostgreSQL → PostgreSQL', () => {
    let marked: Map<number, { name: string; flag: boolean; at: Date | null }>;

    it('a full load with deletes: soft creates the flag and the deletion time in the new table', async () => {
      const summary = await syncOk(connections, configFor('items'));
      assert.equal(summary.tablesFailed, 0, JSON.stringify(summary.tables));
      assert.equal(summary.tables[0].mode, 'full');
      assert.deepEqual(await columnsOf(dst, 'items'), [
        'id integer NO -',
        'name text NO -',
        'qty integer YES -',
        'is_deleted boolean NO false',
        '_tablesync_deleted_at timestamp with time zone YES -',
      ]);
      const flags = await dst.query(`SELECT is_deleted, count(*)::int AS n, count(_tablesync_deleted_at)::int AS at FROM items GROUP BY 1`);
      assert.deepEqual(flags.rows, [{ is_deleted: false, n: 6000, at: 0 }]);
    });

    it('marks the rows gone from the source in every partition, once, and counts them as deleted', async () => {
      await src.query('DELETE FROM items WHERE id IN (1, 1600, 3333, 6000)'); // first, second, third and last (open) range
      await src.query(`UPDATE items SET name = 'renamed' WHERE id = 4500`);
      const summary = await syncOk(connections, { ...configFor('items'), verifyAfterSync: true });
      const [t] = summary.tables;
      assert.equal(t.status, 'completed', t.error);
      assert.equal(t.mode, 'compare');
      assert.equal(t.partitions, 4);
      // Every source row is copied or, its key range's digests matching, skipped as equal.
      assert.deepEqual([t.inserted, t.updated, t.deleted, t.rowsCopied + (t.rowsSkipped ?? 0)], [0, 1, 4, 5996]);
      assert.ok(t.rowsCopied < 1_000, `only the differing digest buckets are copied: ${t.rowsCopied}`);
      assert.match(summary.message, /1 updated, 4 deleted\. Verified 1 table: all match/);
      assert.equal(t.verification?.targetRows, 5996, 'verify counts only live rows');
      assert.deepEqual(await stateDeleted(dst, summary.workflowId), { partitions: 4, deleted: 4, updated: 1 });

      marked = await targetState(dst, 'items');
      assert.equal(marked.size, 6000, 'no row is deleted');
      const flagged = [...marked].filter(([, r]) => r.flag).map(([id]) => id);
      assert.deepEqual(flagged, [1, 1600, 3333, 6000]);
      for (const [, r] of marked) assert.equal(r.at !== null, r.flag);
      assert.equal(marked.get(1)!.name, 'item 1', 'a marked row keeps its last values');
      await assertLiveEqual(src, dst, 'items');
      assert.deepEqual(await stagingTables(dst), []);
    });

    it('counts nothing on a second run with nothing changed, and leaves marked rows as they are', async () => {
      const summary = await syncOk(connections, configFor('items'));
      const [t] = summary.tables;
      assert.deepEqual([t.inserted, t.updated, t.deleted, t.unchanged], [0, 0, 0, 5996]);
      assert.equal(summary.tablesUnchanged, 1);
      assert.deepEqual(await stateDeleted(dst, summary.workflowId), { partitions: 4, deleted: 0, updated: 0 });
      assert.deepEqual(await targetState(dst, 'items'), marked, 'deletion times are not moved');
    });

    it('un-deletes a row that comes back, and counts it as updated', async () => {
      await src.query(`INSERT INTO items VALUES (1600, 'item 1600', 0), (3333, 'back again', 3)`); // the same values, and new ones
      const summary = await syncOk(connections, { ...configFor('items'), verifyAfterSync: true });
      const [t] = summary.tables;
      assert.deepEqual([t.inserted, t.updated, t.deleted], [0, 2, 0]);
      assert.equal(t.verification?.matches, true);
      const now = await targetState(dst, 'items');
      assert.deepEqual(now.get(1600), { name: 'item 1600', flag: false, at: null });
      assert.deepEqual(now.get(3333), { name: 'back again', flag: false, at: null });
      assert.deepEqual([...now].filter(([, r]) => r.flag).map(([id]) => id), [1, 6000]);
      await assertLiveEqual(src, dst, 'items');
    });

    it('verify --repair marks rows the source lacks instead of deleting them', async () => {
      await dst.query(`INSERT INTO items (id, name) VALUES (7000, 'stray')`);
      await dst.query(`UPDATE items SET name = 'tampered' WHERE id = 5000`);
      const drift = await runTestVerify(connections, { config: configFor('items') });
      assert.equal(drift.matches, false);
      const repaired = await runTestVerify(connections, { config: configFor('items'), repair: true });
      assert.equal(repaired.matches, true, JSON.stringify(repaired.tables[0]?.differing));
      const now = await targetState(dst, 'items');
      assert.equal(now.get(7000)?.flag, true, 'marked, not deleted');
      assert.equal(now.get(7000)?.name, 'stray');
      assert.deepEqual(now.get(5000), { name: 'item 5000', flag: false, at: null });
      assert.deepEqual(now.get(1), marked.get(1), 'a row marked before is not re-marked');
    });

    it('adds the columns to an existing target that lacks them, then marks', async () => {
      const first = await syncOk(connections, { ...configFor('plain'), deletes: 'ignore' });
      assert.equal(first.tables[0].mode, 'full');
      assert.deepEqual(await columnsOf(dst, 'plain'), ['id integer NO -', 'name text NO -', 'qty integer YES -']);
      await src.query('DELETE FROM plain WHERE id IN (100, 2500, 4000, 5500)');
      const summary = await syncOk(connections, configFor('plain'));
      const [t] = summary.tables;
      assert.equal(t.status, 'completed', t.error);
      assert.equal(t.partitions, 4);
      assert.deepEqual([t.inserted, t.updated, t.deleted], [0, 0, 4]);
      assert.deepEqual((await columnsOf(dst, 'plain')).slice(3), ['is_deleted boolean NO false', '_tablesync_deleted_at timestamp with time zone YES -']);
      const flagged = await dst.query('SELECT id FROM plain WHERE is_deleted AND _tablesync_deleted_at IS NOT NULL ORDER BY id');
      assert.deepEqual(flagged.rows.map((r) => r.id), [100, 2500, 4000, 5500]);
      assert.equal((await dst.query('SELECT count(*)::int AS n FROM plain')).rows[0].n, 6000);
      await assertLiveEqual(src, dst, 'plain');
    });

    it('uses softDeleteColumn as the flag', async () => {
      const custom = { ...configFor('custom'), softDeleteColumn: 'Removed?' };
      await syncOk(connections, custom);
      await src.query('DELETE FROM custom WHERE id IN (7, 3001)');
      const summary = await syncOk(connections, custom);
      assert.equal(summary.tables[0].deleted, 2);
      assert.deepEqual((await columnsOf(dst, 'custom')).slice(3), ['Removed? boolean NO false', '_tablesync_deleted_at timestamp with time zone YES -']);
      const flagged = await dst.query('SELECT id FROM custom WHERE "Removed?" ORDER BY id');
      assert.deepEqual(flagged.rows.map((r) => r.id), [7, 3001]);
      await assertLiveEqual(src, dst, 'custom', 'Removed?');
    });

    it('leaves deletes: hard as it was: rows are deleted, no columns added', async () => {
      await syncOk(connections, { ...configFor('hard'), deletes: 'hard' });
      await src.query('DELETE FROM hard WHERE id IN (2, 2999, 5999)');
      const summary = await syncOk(connections, { ...configFor('hard'), deletes: 'hard' });
      assert.equal(summary.tables[0].deleted, 3);
      assert.deepEqual(await columnsOf(dst, 'hard'), ['id integer NO -', 'name text NO -', 'qty integer YES -']);
      const rows = await dst.query('SELECT id, name FROM hard ORDER BY id');
      assert.deepEqual(rows.rows, (await src.query('SELECT id, name FROM hard ORDER BY id')).rows);
    });

    it('fails a table whose source has a column named like a soft-delete column, naming both; the others sync', async () => {
      await src.query('CREATE TABLE clash (id int PRIMARY KEY, is_deleted boolean)');
      await src.query('INSERT INTO clash VALUES (1, false)');
      await src.query('CREATE TABLE clash_at (id int PRIMARY KEY, "_tablesync_deleted_at" timestamptz)');
      await src.query('CREATE TABLE typed (id int PRIMARY KEY, name text)');
      await src.query(`INSERT INTO typed VALUES (1, 'a')`);
      await dst.query('CREATE TABLE typed (id int PRIMARY KEY, name text, is_deleted int)');
      await dst.query(`INSERT INTO typed VALUES (1, 'a', 0)`);
      const summary = await syncOk(connections, {
        ...configFor('clash'),
        tables: ['public.clash', 'public.clash_at', 'public.typed', 'public.items'],
      });
      const byName = new Map(summary.tables.map((t) => [t.table, t]));
      assert.equal(byName.get('public.items')?.status, 'completed');
      assert.equal(summary.tablesFailed, 3);
      assert.equal(byName.get('public.clash')?.errorType, 'NameCollision');
      assert.match(byName.get('public.clash')!.error!, /public\.clash: source column "is_deleted" would land in target column "is_deleted", the flag of deletes: soft \(softDeleteColumn "is_deleted"\)/);
      assert.match(byName.get('public.clash_at')!.error!, /source column "_tablesync_deleted_at" would land in target column "_tablesync_deleted_at", the deletion time/);
      assert.equal(byName.get('public.typed')?.errorType, 'NameCollision');
      assert.match(byName.get('public.typed')!.error!, /target column "is_deleted" is integer, .* must be boolean/);
      assert.equal((await dst.query(`SELECT to_regclass('public.clash') AS t`)).rows[0].t, null, 'nothing created');
      assert.deepEqual(await columnsOf(dst, 'typed'), ['id integer NO -', 'name text YES -', 'is_deleted integer YES -'], 'target untouched');
    });
  });

  describe('MariaDB → PostgreSQL', () => {
    const myConfig: SyncConfigInput = {
      source: { connection: 'my' },
      target: { connection: 'dst', schema: 'public' },
      tables: ['orders'],
      deletes: 'soft',
      ...fast,
    };

    it('marks deleted rows, un-deletes one that comes back, and counts nothing when nothing changed', async () => {
      await my.query('CREATE TABLE orders (id int PRIMARY KEY, name varchar(20) NOT NULL)');
      await my.query(`INSERT INTO orders VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')`);
      const first = await syncOk(connections, myConfig);
      assert.equal(first.tables[0].inserted, 4);

      await my.query('DELETE FROM orders WHERE id IN (2, 4)');
      const marking = await syncOk(connections, myConfig);
      assert.deepEqual([marking.tables[0].inserted, marking.tables[0].updated, marking.tables[0].deleted], [0, 0, 2]);
      assert.deepEqual(await stateDeleted(dst, marking.workflowId), { partitions: 1, deleted: 2, updated: 0 });
      const after = await targetState(dst, 'orders');
      assert.deepEqual([...after].map(([id, r]) => [id, r.flag, r.at !== null]), [[1, false, false], [2, true, true], [3, false, false], [4, true, true]]);

      await my.query(`INSERT INTO orders VALUES (4, 'd')`);
      const back = await syncOk(connections, myConfig);
      assert.deepEqual([back.tables[0].inserted, back.tables[0].updated, back.tables[0].deleted], [0, 1, 0]);
      assert.deepEqual((await targetState(dst, 'orders')).get(4), { name: 'd', flag: false, at: null });

      const again = await syncOk(connections, myConfig);
      assert.deepEqual([again.tables[0].inserted, again.tables[0].updated, again.tables[0].deleted], [0, 0, 0]);
      assert.deepEqual((await targetState(dst, 'orders')).get(2), after.get(2), 'not re-marked');
      const verified = await runTestVerify(connections, { config: myConfig });
      assert.equal(verified.matches, true, JSON.stringify(verified.tables[0]?.differing));
    });

    it('after a move to cursor mode, a marked row that comes back is unmarked by the cursor upsert; verify leaves marked rows out', async () => {
      await my.query('CREATE TABLE moved (id int PRIMARY KEY, name varchar(20) NOT NULL, ts datetime(6) NOT NULL)');
      await my.query(`INSERT INTO moved VALUES (1, 'a', '2026-01-01'), (2, 'b', '2026-01-01'), (3, 'c', '2026-01-01')`);
      const soft = { ...myConfig, tables: ['moved'] };
      await syncOk(connections, soft);
      await my.query('DELETE FROM moved WHERE id IN (2, 3)');
      await syncOk(connections, soft);
      await my.query(`INSERT INTO moved VALUES (2, 'b again', '2026-01-02')`);
      // The top-level deletes: soft does not apply to a cursor table: its entry says so.
      const cursor = { ...myConfig, tables: [{ table: 'moved', mode: 'cursor', cursor: 'ts', deletes: 'ignore' }], verifyAfterSync: true };
      const [t] = (await syncOk(connections, cursor)).tables;
      assert.equal(t.status, 'completed', t.error);
      const now = await targetState(dst, 'moved');
      assert.deepEqual([...now].map(([id, r]) => [id, r.name, r.flag, r.at !== null]), [[1, 'a', false, false], [2, 'b again', false, false], [3, 'c', true, true]]);
      assert.equal(t.verification?.matches, true, JSON.stringify(t.verification));
      assert.equal(t.verification?.targetRows, 2);
    });
  });
});
