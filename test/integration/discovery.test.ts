import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SyncSummary } from '../../lib/types';
import { connectionEnv, runCli } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import { leftoverTables, mariadbTextRows, pgTextRows } from '../helpers/guarantees';
import { mysqlUrl } from '../helpers/mysql';
import { freshDatabase, pgUrl, testDb } from '../helpers/pg';
import { FAST_RETRY, syncOk } from '../helpers/run';
import { temporal } from '../helpers/temporal';

// Each case: what main did before (silent loss, doubling, one table stopping
// all, work run against another process's databases), now refused or right.
const SRC = testDb('tablesync_it_disc_src');
const DST = testDb('tablesync_it_disc_dst');
const DST2 = testDb('tablesync_it_disc_dst2');
const MY = testDb('tablesync_it_disc_my');
const pgConnections = { src: pgUrl(SRC), dst: pgUrl(DST) };
const myConnections = { my: mysqlUrl(MY), dst: pgUrl(DST) };

const sync = (connections: Record<string, string>, config: object, prefix: string) => syncOk(connections, { ...FAST_RETRY, ...config }, prefix);

const statusOf = (s: SyncSummary) => Object.fromEntries(s.tables.map((t) => [t.table, t.status]));

describe('discovery: nothing lost, doubled or misrouted (real PostgreSQL, MariaDB, Temporal)', () => {
  const { src, dst, my } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { my: MY } }, { perTest: true });

  describe('names that would collide in the target', () => {
    it('two MariaDB tables whose 64-character names differ only in the last character land in two target tables', async () => {
      const base = 't'.repeat(63);
      await my.query(`CREATE TABLE ${base}a (id int PRIMARY KEY, v text)`);
      await my.query(`CREATE TABLE ${base}b (id int PRIMARY KEY, v text)`);
      await my.query(`INSERT INTO ${base}a VALUES (1, 'from a')`);
      await my.query(`INSERT INTO ${base}b VALUES (1, 'from b'), (2, 'also b')`);
      const summary = await sync(myConnections, { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: [`${MY}.*`] }, 'disc-long');
      assert.equal(summary.tablesFailed, 0, JSON.stringify(summary.tables));
      const targets = summary.tables.map((t) => t.target.replace(/^public\./, ''));
      assert.equal(new Set(targets).size, 2, `two distinct targets: ${targets}`);
      for (const t of targets) assert.ok(Buffer.byteLength(t) <= 63, `${t} fits PostgreSQL's limit`);
      const rows = async (t: string) => (await dst.query(`SELECT v FROM public."${t}" ORDER BY id`)).rows.map((r) => r.v);
      const byName = Object.fromEntries(summary.tables.map((t) => [t.table.slice(-1), t.target.replace(/^public\./, '')]));
      assert.deepEqual(await rows(byName.a), ['from a']);
      assert.deepEqual(await rows(byName.b), ['from b', 'also b']);
      assert.ok(summary.plan?.some((l) => /longer than PostgreSQL's 63 bytes/.test(l)), `the plan says so: ${summary.plan}`);
      // An incremental run finds the same (shortened) targets again.
      await my.query(`UPDATE ${base}b SET v = 'changed' WHERE id = 2`);
      const again = await sync(myConnections, { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: [`${MY}.*`] }, 'disc-long2');
      assert.deepEqual(again.tables.map((t) => [t.table.slice(-1), t.mode, t.updated]).sort(), [['a', 'compare', 0], ['b', 'compare', 1]]);
    });

    it('64-character column names that differ only in the last character land in two target columns', async () => {
      const base = 'c'.repeat(63);
      await my.query(`CREATE TABLE widecols (id int PRIMARY KEY, ${base}1 int, ${base}2 int)`);
      await my.query('INSERT INTO widecols VALUES (1, 10, 20)');
      const summary = await sync(myConnections, { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: ['widecols'] }, 'disc-longcol');
      assert.equal(summary.tablesFailed, 0, JSON.stringify(summary.tables));
      const cols = await dst.query(`SELECT attname FROM pg_attribute WHERE attrelid = 'public.widecols'::regclass AND attnum > 0 ORDER BY attnum`);
      assert.equal(new Set(cols.rows.map((r) => r.attname)).size, 3);
      assert.deepEqual(await pgTextRows(dst, 'public.widecols'), [['1', '10', '20']]);
    });

    it('snake_case tables Foo and foo both fail, naming each other, and nothing is written; the other tables sync', async () => {
      await src.query('CREATE TABLE "Foo" (id int PRIMARY KEY, v text)');
      await src.query('CREATE TABLE foo (id int PRIMARY KEY, v text)');
      await src.query('CREATE TABLE bar (id int PRIMARY KEY)');
      await src.query(`INSERT INTO "Foo" VALUES (1, 'upper'); INSERT INTO foo VALUES (1, 'lower'); INSERT INTO bar VALUES (1)`);
      const summary = await sync(pgConnections, { source: { connection: 'src' }, target: { connection: 'dst', naming: 'snake_case' }, tables: ['public.*'] }, 'disc-snake');
      assert.deepEqual(statusOf(summary), { 'public.Foo': 'failed', 'public.foo': 'failed', 'public.bar': 'completed' });
      for (const t of summary.tables.filter((t) => t.status === 'failed')) {
        assert.equal(t.errorType, 'NameCollision');
        assert.match(t.error ?? '', /"public\.Foo" and "public\.foo" both become target table public\.foo/);
      }
      assert.equal((await dst.query(`SELECT to_regclass('public.foo') AS t`)).rows[0].t, null, 'nothing written for either');
      assert.equal(summary.tablesFailed, 2);
    });

    it('snake_case columns UserId and user_id fail the table before the load, naming both', async () => {
      await src.query('CREATE TABLE people (id int PRIMARY KEY, "UserId" int, user_id int)');
      await src.query('INSERT INTO people VALUES (1, 2, 3)');
      const summary = await sync(pgConnections, { source: { connection: 'src' }, target: { connection: 'dst', naming: 'snake_case' }, tables: ['people'] }, 'disc-snakecol');
      const [t] = summary.tables;
      assert.deepEqual([t.status, t.errorType], ['failed', 'NameCollision']);
      assert.match(t.error ?? '', /columns "UserId" and "user_id" both become "user_id"/);
      assert.deepEqual(await leftoverTables(dst), []);
    });
  });

  describe('PostgreSQL partitioned tables and inheritance', () => {
    beforeEach(async () => {
      await src.query(`CREATE TABLE events (id int, day date, v text, PRIMARY KEY (id, day)) PARTITION BY RANGE (day)`);
      await src.query(`CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')`);
      await src.query(`CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`);
      await src.query(`INSERT INTO events SELECT g, DATE '2025-06-01' + (g * 2), 'v' || g FROM generate_series(1, 200) g`);
      await src.query('CREATE TABLE animals (id int PRIMARY KEY, name text)');
      await src.query('CREATE TABLE dogs (breed text) INHERITS (animals)');
      await src.query(`INSERT INTO animals VALUES (1, 'cat'); INSERT INTO dogs VALUES (2, 'rex', 'collie')`);
      await src.query('CREATE VIEW event_names AS SELECT v FROM events');
    });

    it('a pattern syncs a partitioned table once, through its parent, and says what it left out', async () => {
      const summary = await sync(pgConnections, { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.*'] }, 'disc-part');
      assert.deepEqual(Object.keys(statusOf(summary)).sort(), ['public.animals', 'public.events']);
      const events = summary.tables.find((t) => t.table === 'public.events')!;
      assert.equal(events.inserted, 200, 'every row once');
      assert.equal((await dst.query('SELECT count(*)::int AS n FROM public.events')).rows[0].n, 200);
      assert.equal((await dst.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname IN ('events_2025', 'events_2026', 'dogs')`)).rows[0].n, 0);
      // The parent of an inheritance tree reads its children's rows too.
      assert.deepEqual(await pgTextRows(dst, 'public.animals'), [['1', 'cat'], ['2', 'rex']]);
      const plan = (summary.plan ?? []).join('\n');
      assert.match(plan, /left out: .*partition public\.events_2025 \(of public\.events\)/);
      assert.match(plan, /inheritance child public\.dogs \(of public\.animals\)/);
      assert.match(plan, /view public\.event_names/);
      assert.match(plan, /public\.events: its 2 partitions are read through it/);
      // Incremental counts are not doubled either.
      await src.query(`UPDATE events SET v = 'changed' WHERE id <= 10`);
      const again = await sync(pgConnections, { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.*'] }, 'disc-part2');
      const e2 = again.tables.find((t) => t.table === 'public.events')!;
      assert.deepEqual([e2.mode, e2.updated, e2.unchanged], ['compare', 10, 190]);
    });

    it('a partition named explicitly is synced as named, and the plan says its parent exists', async () => {
      const summary = await sync(pgConnections, { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['events_2026'] }, 'disc-partnamed');
      assert.equal(summary.tables[0].status, 'completed');
      const n = (await src.query('SELECT count(*)::int AS n FROM events_2026')).rows[0].n;
      assert.equal(summary.tables[0].inserted, n);
      assert.match((summary.plan ?? []).join('\n'), /events_2026 is a partition of public\.events.*parent also exists/);
    });
  });

  it('a sync of twenty tables where three have different problems fails exactly those three, with their reasons', async () => {
    for (let i = 1; i <= 17; i++) {
      await my.query(`CREATE TABLE good_${String(i).padStart(2, '0')} (id int PRIMARY KEY, v varchar(10))`);
      await my.query(`INSERT INTO good_${String(i).padStart(2, '0')} VALUES (1, 'x${i}'), (2, NULL)`);
    }
    await my.query('CREATE TABLE bad_geo (id int PRIMARY KEY, g geometry)');
    await my.query('CREATE TABLE bad_cols (id int PRIMARY KEY, `UserId` int, user_id int)');
    const summary = await sync(
      myConnections,
      { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public', naming: 'snake_case' }, tables: [`${MY}.good_*`, 'bad_geo', 'bad_cols', 'bad_missing'] },
      'disc-twenty',
    );
    const failed = summary.tables.filter((t) => t.status === 'failed').map((t) => [t.table.replace(`${MY}.`, ''), t.errorType]);
    assert.deepEqual(failed.sort(), [['bad_cols', 'NameCollision'], ['bad_geo', 'UnsupportedType'], ['bad_missing', 'UnknownTable']]);
    assert.equal(summary.tablesSynced, 17);
    for (let i = 1; i <= 17; i++) {
      const t = `good_${String(i).padStart(2, '0')}`;
      assert.deepEqual(await pgTextRows(dst, `public.${t}`), await mariadbTextRows(my, MY, t));
    }
    assert.match(summary.tables.find((t) => t.table.endsWith('bad_geo'))!.error ?? '', /column "g" type geometry/);
  });

  it('two concurrent `run --local` processes with different connection maps on one dev server each write only their own target', async function () {
    this.timeout(120_000);
    const env = await temporal();
    const dst2 = await freshDatabase(DST2);
    const dir = mkdtempSync(join(tmpdir(), 'tablesync-local-'));
    try {
      // Same connection names, different databases: a shared queue would mix them.
      await src.query('CREATE TABLE shared (id int PRIMARY KEY, v text)');
      await src.query(`INSERT INTO shared SELECT g, 'pg' FROM generate_series(1, 3000) g`);
      await my.query('CREATE TABLE shared (id int PRIMARY KEY, v text)');
      await my.query(`INSERT INTO shared SELECT seq, 'my' FROM seq_1_to_2000`);
      const pgSide = { src: pgUrl(SRC), dst: pgUrl(DST) };
      const mySide = { src: mysqlUrl(MY), dst: pgUrl(DST2) };
      const run = (connections: Record<string, string>, schema: string) => {
        // The schema differs per side: public on PostgreSQL, the database on MariaDB.
        const cfg = join(dir, `${schema}.yaml`);
        writeFileSync(cfg, `source: { connection: src, schema: "${schema}" }\ntarget: { connection: dst, schema: public }\ntables: [shared]\nbatchSize: 200\n`);
        return runCli(['run', '--config', cfg, '--local'], { TEMPORAL_ADDRESS: env.address, ...connectionEnv(connections) });
      };
      const [a, b] = await Promise.all([run(pgSide, 'public'), run(mySide, MY)]);
      assert.equal(a.code, 0, a.out);
      assert.equal(b.code, 0, b.out);
      assert.match(a.out, /task queue "tablesync-local-/);
      assert.deepEqual((await dst.query('SELECT v, count(*)::int AS n FROM public.shared GROUP BY v')).rows, [{ v: 'pg', n: 3000 }]);
      assert.deepEqual((await dst2.query('SELECT v, count(*)::int AS n FROM public.shared GROUP BY v')).rows, [{ v: 'my', n: 2000 }]);
      assert.equal((await dst2.query(`SELECT to_regclass('public._migration_state') IS NOT NULL AS t`)).rows[0].t, true);
      const stray = await dst.query(`SELECT count(*)::int AS n FROM public._migration_state WHERE source_schema = $1`, [MY]);
      assert.equal(stray.rows[0].n, 0, 'no state of the other run in this target');
    } finally {
      await dst2.end();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
