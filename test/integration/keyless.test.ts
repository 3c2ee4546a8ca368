import assert from 'node:assert/strict';
import { runLocalCli } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { FAST_RETRY, syncOk } from '../helpers/run';
import { runTestVerify } from '../helpers/verify';

// Tables without a primary key: reloaded by full (and auto), appended by a
// cursor with write: append, keyed by primaryKey: where the source bears it
// out, refused (exit 1) by modes that need a key unless keyless: skip, and
// verified whole by count and digest.
const SRC = testDb('tablesync_it_keyless_src');
const DST = testDb('tablesync_it_keyless_dst');
const MY = testDb('tablesync_it_keyless_my');
const connections = { src: pgUrl(SRC), my: mysqlUrl(MY), dst: pgUrl(DST) };
const pgBase = { source: { connection: 'src' }, target: { connection: 'dst' }, ...FAST_RETRY };

/** The target's rows as sorted text (duplicates kept). */
async function rows(db: { query: (sql: string) => Promise<{ rows: { r: string }[] }> }, table: string): Promise<string[]> {
  return (await db.query(`SELECT t::text AS r FROM ${table} t ORDER BY 1`)).rows.map((r) => r.r);
}

describe('tables without a primary key (Temporal)', () => {
  const { src, dst, my } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { my: MY } }, { perTest: true });

  it('mode full and auto load a keyless table with its duplicate rows, and a rerun reloads it; verify compares it whole', async () => {
    await src.query('CREATE TABLE logs (a int, b text)');
    await src.query("INSERT INTO logs VALUES (1, 'x'), (1, 'x'), (2, NULL)");
    await src.query('CREATE TABLE notes (n int, t text)');
    await src.query("INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 500) g");
    const config = { ...pgBase, tables: [{ table: 'logs', mode: 'full' as const }, 'notes'], batchSize: 100 };
    const first = await syncOk(connections, config);
    assert.deepEqual(first.skipped, []);
    assert.deepEqual(first.tables.map((t) => [t.table, t.status, t.mode, t.inserted]), [
      ['public.logs', 'completed', 'full', 3],
      ['public.notes', 'completed', 'full', 500],
    ]);
    assert.deepEqual(await rows(dst, 'public.logs'), ['(1,x)', '(1,x)', '(2,)']);
    assert.ok(first.plan?.some((l) => /public\.notes: no primary key: reloaded in full on every run/.test(l)), JSON.stringify(first.plan));

    await src.query("INSERT INTO logs VALUES (1, 'x')");
    await src.query('DELETE FROM notes WHERE n > 250');
    const second = await syncOk(connections, config);
    assert.deepEqual(second.tables.map((t) => [t.table, t.status, t.mode]), [
      ['public.logs', 'completed', 'full'],
      ['public.notes', 'completed', 'full'],
    ]);
    assert.deepEqual(await rows(dst, 'public.logs'), ['(1,x)', '(1,x)', '(1,x)', '(2,)']);
    assert.equal((await dst.query('SELECT count(*)::int AS n FROM public.notes')).rows[0].n, 250);

    const same = await runTestVerify(connections, { config });
    assert.equal(same.matches, true, JSON.stringify(same));
    assert.deepEqual(same.tables.map((t) => [t.table, t.sourceRows, t.targetRows, t.matches]), [
      ['public.logs', 4, 4, true],
      ['public.notes', 250, 250, true],
    ]);
    // Same count, one row changed: only the digest tells.
    await dst.query("UPDATE public.logs SET b = 'y' WHERE a = 2");
    const differs = await runTestVerify(connections, { config, repair: true });
    assert.equal(differs.matches, false);
    const logs = differs.tables.find((t) => t.table === 'public.logs')!;
    assert.deepEqual([logs.sourceRows, logs.targetRows, logs.differing.length, logs.matches, logs.rows], [4, 4, 1, false, undefined]);
    assert.match(logs.notes?.join() ?? '', /not repaired: a table without a primary key is repaired by a full load/);
    assert.match(logs.notes?.join() ?? '', /no primary key: compared whole, by row count and an order-free digest/);
  });

  it('cursor with write: append appends new versions of a keyless table', async () => {
    await src.query('CREATE TABLE readings (sensor text, v numeric, at timestamptz NOT NULL)');
    await src.query("INSERT INTO readings VALUES ('a', 1, '2026-01-01 10:00Z'), ('a', 1, '2026-01-01 10:00Z'), ('b', 2, '2026-01-01 11:00Z')");
    const config = { ...pgBase, tables: [{ table: 'readings', mode: 'cursor' as const, cursor: 'at', write: 'append' as const }] };
    const first = await syncOk(connections, config);
    assert.deepEqual(first.tables.map((t) => [t.status, t.inserted]), [['completed', 2]], JSON.stringify(first));
    await src.query("INSERT INTO readings VALUES ('a', 3, '2026-01-01 12:00Z'), ('c', 4, '2026-01-01 12:00Z')");
    const second = await syncOk(connections, config);
    assert.deepEqual(second.tables.map((t) => [t.status, t.inserted]), [['completed', 2]]);
    assert.deepEqual(
      (await dst.query('SELECT sensor, v::int FROM public.readings ORDER BY at, sensor')).rows.map((r) => `${r.sensor}${r.v}`),
      ['a1', 'b2', 'a3', 'c4'],
    );
    assert.equal((await dst.query("SELECT to_regclass('public.readings_latest') AS v")).rows[0].v, null, 'no latest-per-key view without a key');
    const verified = await runTestVerify(connections, { config });
    assert.deepEqual(verified.skipped, [{ table: 'public.readings', reason: 'no primary key: its target keeps every version read, which no source row matches' }]);
    assert.equal(verified.matches, false);
  });

  it('primaryKey: keys a keyless table where the source has no NULL or duplicate there, and refuses it otherwise, naming table and columns', async () => {
    await src.query('CREATE TABLE people (email text, name text, team text)');
    await src.query("INSERT INTO people VALUES ('a@x', 'Ann', 'red'), ('b@x', 'Bob', 'red'), ('c@x', 'Cy', NULL)");
    const keyed = { ...pgBase, tables: [{ table: 'people', mode: 'compare' as const, primaryKey: ['email'] }], mode: 'auto' as const };
    // compare needs a target with rows: the first run (auto → full) makes it, keyed.
    await syncOk(connections, { ...pgBase, tables: [{ table: 'people', primaryKey: ['email'] }] });
    const pk = await dst.query(`SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                                 WHERE i.indrelid = 'public.people'::regclass AND i.indisprimary`);
    assert.deepEqual(pk.rows.map((r) => r.attname), ['email']);
    await src.query("UPDATE people SET name = 'Bobby' WHERE email = 'b@x'");
    const second = await syncOk(connections, keyed);
    assert.deepEqual(second.tables.map((t) => [t.status, t.mode, t.inserted, t.updated]), [['completed', 'compare', 0, 1]]);
    assert.ok(second.plan?.some((l) => /keyed by tables\[0\]\.primaryKey \(email\)/.test(l)), JSON.stringify(second.plan));

    // A unique index over NOT NULL columns guarantees the key without a look at the rows.
    await src.query('CREATE TABLE codes (code text NOT NULL, label text)');
    await src.query('CREATE UNIQUE INDEX codes_code ON codes (code)');
    await src.query("INSERT INTO codes VALUES ('a', 'A'), ('b', 'B')");
    const indexed = await syncOk(connections, { ...pgBase, tables: [{ table: 'codes', primaryKey: ['code'] }] });
    assert.deepEqual(indexed.tables.map((t) => [t.status, t.inserted]), [['completed', 2]]);
    assert.ok(indexed.plan?.some((l) => /codes: keyed by tables\[0\]\.primaryKey \(code\): .*a unique index over NOT NULL columns guarantees it/.test(l)), JSON.stringify(indexed.plan));

    const refused = await syncOk(connections, { ...pgBase, tables: [{ table: 'people', primaryKey: ['team'] }] });
    const byError = refused.tables.map((t) => [t.status, t.errorType, t.error]);
    assert.equal(byError[0][0], 'failed');
    assert.match(String(byError[0][2]), /public\.people: tables\[0\]\.primaryKey \(team\) cannot key the table: the source has 1 row with a NULL in them and 1 value held by more than one row/);
  });

  it('a mode that needs a key refuses a keyless table (exit 1), saying what works; keyless: skip skips it (exit 0)', async () => {
    await src.query('CREATE TABLE plain (a int)');
    await src.query('INSERT INTO plain VALUES (1)');
    await src.query('CREATE TABLE keyed (id int PRIMARY KEY)');
    await src.query('INSERT INTO keyed VALUES (1)');
    const refused = await runLocalCli(['run', '--wait'], { ...pgBase, tables: ['keyed', { table: 'plain', mode: 'cursor', cursor: 'a' }] }, connections);
    assert.equal(refused.code, 1, refused.out);
    assert.match(refused.out, /public\.plain has no primary key, which mode cursor needs: write: upsert keeps the latest version per key.*Use mode: full \(reloads it\), or write: append, or tables\[1\]\.primaryKey: \[columns\]/s);
    assert.doesNotMatch(refused.out, /skipped/);
    assert.equal((await dst.query('SELECT count(*)::int AS n FROM public.keyed')).rows[0].n, 1, 'the other table still syncs');

    const skipped = await runLocalCli(['run', '--wait'], { ...pgBase, mode: 'compare', keyless: 'skip', tables: ['plain'] }, connections);
    assert.equal(skipped.code, 0, skipped.out);
    assert.match(skipped.out, /public\.plain.*no primary key \(keyless: skip\)/);
  });

  it('a keyless target that later gets primaryKey: is reloaded keyed under auto, then compared; compare on it fails (exit 1), never skipped', async () => {
    await src.query('CREATE TABLE readings (id int NOT NULL, v text)');
    await src.query(`INSERT INTO readings SELECT g, 'v' || g FROM generate_series(1, 40) g`);
    const keyless = { ...pgBase, tables: ['readings'] };
    const first = await syncOk(connections, keyless);
    assert.deepEqual(first.tables.map((t) => [t.status, t.mode]), [['completed', 'full']]);
    const targetKey = async () =>
      (await dst.query(`SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'public.readings'::regclass AND i.indisprimary`)).rows.map((r) => r.attname);
    assert.deepEqual(await targetKey(), []);

    // Explicit compare on the keyless target with the key now named: refused with what to do, exit 1.
    const keyed = (extra: object) => ({ ...pgBase, tables: [{ table: 'readings', primaryKey: ['id'], ...extra }] });
    const refused = await runLocalCli(['run', '--wait'], keyed({ mode: 'compare' }), connections);
    assert.equal(refused.code, 1, refused.out);
    assert.match(refused.out, /public\.readings: target primary key \(none\) differs from source primary key \(id\): compare updates rows by key, and the target has none\. Run it once with mode: full \(or auto\)/);
    assert.doesNotMatch(refused.out, /skip/);
    // keyless: skip is about a table without a key; this one has one now, so it is not skipped either.
    const stillRefused = await runLocalCli(['run', '--wait'], { ...keyed({ mode: 'compare' }), keyless: 'skip' }, connections);
    assert.equal(stillRefused.code, 1, stillRefused.out);

    // auto (the default): reloaded in full with the key, said in the plan.
    await src.query(`UPDATE readings SET v = 'changed' WHERE id = 3`);
    const reload = await syncOk(connections, keyed({}));
    assert.deepEqual(reload.tables.map((t) => [t.status, t.mode, t.inserted]), [['completed', 'full', 40]]);
    assert.deepEqual(reload.skipped, []);
    assert.ok(reload.plan?.some((l) => /public\.readings: target table public\.readings has no primary key: reloaded in full keyed by \(id\); later runs compare in place/.test(l)), JSON.stringify(reload.plan));
    assert.deepEqual(await targetKey(), ['id']);
    assert.equal((await dst.query(`SELECT v FROM public.readings WHERE id = 3`)).rows[0].v, 'changed');

    // And from then on compared in place.
    await src.query(`UPDATE readings SET v = 'again' WHERE id = 4`);
    const compared = await syncOk(connections, keyed({}));
    assert.deepEqual(compared.tables.map((t) => [t.status, t.mode, t.inserted, t.updated, t.unchanged]), [['completed', 'compare', 0, 1, 39]]);
  });

  it('MariaDB: a unique index over NOT NULL columns is found as a key for primaryKey:', async () => {
    await my.query('CREATE TABLE coded (code varchar(10) NOT NULL, v int, UNIQUE KEY (code), UNIQUE KEY (v))');
    await my.query("INSERT INTO coded VALUES ('a', 1), ('b', NULL)");
    const { MysqlSource } = await import('../../lib/sources/mysql');
    const source = new MysqlSource(mysqlUrl(MY));
    try {
      assert.deepEqual(await source.uniqueKeys({ schema: MY, name: 'coded' }), [['code']], 'the index over a nullable column is no key');
    } finally {
      await source.close();
    }
  });

  it('a MariaDB keyless table full-loads with its duplicates', async () => {
    await my.query('CREATE TABLE nokey (a int, b text)');
    await my.query("INSERT INTO nokey VALUES (1, 'x'), (1, 'x')");
    const summary = await syncOk(connections, { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: ['nokey'], ...FAST_RETRY });
    assert.deepEqual(summary.tables.map((t) => [t.status, t.mode, t.inserted, t.error]), [["completed", "full", 2, undefined]]);
    assert.deepEqual(await rows(dst, 'public.nokey'), ['(1,x)', '(1,x)']);
    const verified = await runTestVerify(connections, { config: { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: ['nokey'] } });
    assert.equal(verified.matches, true, JSON.stringify(verified));
  });
});
