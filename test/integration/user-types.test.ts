import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import { useDatabases } from '../helpers/databases';
import { pgUrl, tableRows, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';

const SRC = testDb('tablesync_it_usertypes_src');
const DST = testDb('tablesync_it_usertypes_dst');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000 } };

async function columnTypes(pool: Pool, table: string): Promise<string[]> {
  const r = await pool.query(
    `SELECT attname || ' ' || format_type(atttypid, atttypmod) AS c FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [table],
  );
  return r.rows.map((x) => x.c);
}

describe('PostgreSQL user-defined types (enum, domain, composite, arrays of them)', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });

  before(async () => {
    await src.query(`CREATE SCHEMA app;
      CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy', 'it''s "fine"');
      CREATE DOMAIN app.year AS integer NOT NULL CONSTRAINT year_range CHECK (VALUE BETWEEN 1900 AND 2100);
      CREATE DOMAIN app.good_mood AS app.mood DEFAULT 'ok' CHECK (VALUE <> 'sad');
      CREATE TYPE app.spot AS (x double precision, label app.mood, years app.year[]);
      CREATE TABLE app.t (id int PRIMARY KEY, m app.mood, y app.year, g app.good_mood, s app.spot,
                          ms app.mood[], ys app.year[], gs app.good_mood[], ss app.spot[]);
      CREATE TABLE app.u (id int PRIMARY KEY, m app.mood NOT NULL, g app.good_mood);
      INSERT INTO app.t SELECT i, (ARRAY['sad','ok','happy','it''s "fine"']::app.mood[])[1 + i % 4], 1900 + i,
          (ARRAY['ok','happy']::app.mood[])[1 + i % 2], ROW(i / 3.0, 'happy', ARRAY[2000 + i])::app.spot,
          ARRAY['sad', 'it''s "fine"']::app.mood[], ARRAY[1999, 2000 + i]::app.year[], ARRAY['happy']::app.good_mood[],
          ARRAY[ROW(1.5, 'ok', ARRAY[1950])::app.spot, NULL]
        FROM generate_series(1, 40) i;
      INSERT INTO app.t (id, y) VALUES (41, 2100);
      INSERT INTO app.u SELECT i, 'happy', 'ok' FROM generate_series(1, 30) i;`);
  });
  const config = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['app.t', 'app.u'], ...fast };

  it('full load into another schema creates the types there from the source definitions; then an incremental run', async () => {
    const summary = await syncOk(connections, { ...config, target: { connection: 'dst', schema: 'dw' } });
    assert.deepEqual(
      summary.tables.map((t) => [t.table, t.status, t.mode, t.inserted, t.error]),
      [
        ['app.t', 'completed', 'full', 41, undefined],
        ['app.u', 'completed', 'full', 30, undefined],
      ],
    );
    assert.deepEqual(await columnTypes(dst, 'dw.t'), [
      'id integer',
      'm dw.mood',
      'y dw.year',
      'g dw.good_mood',
      's dw.spot',
      'ms dw.mood[]',
      'ys dw.year[]',
      'gs dw.good_mood[]',
      'ss dw.spot[]',
    ]);
    const defs = await dst.query(`SELECT
        (SELECT array_agg(enumlabel ORDER BY enumsortorder)::text FROM pg_enum WHERE enumtypid = 'dw.mood'::regtype) AS labels,
        (SELECT typnotnull FROM pg_type WHERE oid = 'dw.year'::regtype) AS year_not_null,
        (SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), '; ') FROM pg_constraint WHERE contypid = 'dw.year'::regtype) AS year_check,
        (SELECT format_type(typbasetype, typtypmod) || ' default ' || typdefault FROM pg_type WHERE oid = 'dw.good_mood'::regtype) AS good_mood,
        (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'dw.spot'::regclass) AS spot`);
    assert.deepEqual(defs.rows[0], {
      labels: `{sad,ok,happy,"it's \\"fine\\""}`,
      year_not_null: true,
      year_check: 'year_range CHECK (((VALUE >= 1900) AND (VALUE <= 2100)))',
      good_mood: `dw.mood default 'ok'::dw.mood`,
      spot: 'x double precision, label dw.mood, years dw.year[]',
    });
    assert.deepEqual(await tableRows(dst, 'dw.t'), await tableRows(src, 'app.t'));
    assert.deepEqual(await tableRows(dst, 'dw.u'), await tableRows(src, 'app.u'));
    // The domain's rules hold in the target.
    await assert.rejects(dst.query(`INSERT INTO dw.t (id, y) VALUES (100, 1800)`), /year_range/);
    await assert.rejects(dst.query(`INSERT INTO dw.t (id) VALUES (100)`), /does not allow null values/);

    await src.query(`UPDATE app.t SET ms = ARRAY['happy']::app.mood[], s = ROW(0, 'sad', '{}')::app.spot WHERE id <= 3;
                     INSERT INTO app.t (id, y, ss) VALUES (42, 1950, ARRAY[ROW(2, 'it''s "fine"', ARRAY[1901])::app.spot])`);
    const again = await syncOk(connections, { ...config, target: { connection: 'dst', schema: 'dw' } });
    assert.deepEqual(
      again.tables.map((t) => [t.table, t.status, t.mode, t.inserted, t.updated, t.error]),
      [
        ['app.t', 'completed', 'compare', 1, 3, undefined],
        ['app.u', 'completed', 'compare', 0, 0, undefined],
      ],
    );
    assert.deepEqual(await tableRows(dst, 'dw.t'), await tableRows(src, 'app.t'));
  });

  it('loads in chunks into the source schema, creating the types once for tables loading in parallel', async () => {
    const summary = await syncOk(connections, { ...config, batchSize: 7 });
    assert.deepEqual(summary.tables.map((t) => [t.status, t.inserted, t.error]), [
      ['completed', 42, undefined],
      ['completed', 30, undefined],
    ]);
    assert.equal((await columnTypes(dst, 'app.t'))[8], 'ss app.spot[]');
    assert.deepEqual(await tableRows(dst, 'app.t'), await tableRows(src, 'app.t'));
    assert.deepEqual(await tableRows(dst, 'app.u'), await tableRows(src, 'app.u'));
  });

  it('maps a type to a built-in one with typeMap by "schema.type", wherever it is used', async () => {
    const summary = await syncOk(connections, {
      ...config,
      target: { connection: 'dst', schema: 'mapped' },
      typeMap: { 'app.mood': 'text' },
    });
    assert.deepEqual(summary.tables.map((t) => t.status), ['completed', 'completed']);
    assert.deepEqual(await columnTypes(dst, 'mapped.t'), [
      'id integer',
      'm text',
      'y mapped.year',
      'g mapped.good_mood',
      's mapped.spot',
      'ms text[]',
      'ys mapped.year[]',
      'gs mapped.good_mood[]',
      'ss mapped.spot[]',
    ]);
    const base = await dst.query(`SELECT format_type(typbasetype, typtypmod) AS b FROM pg_type WHERE oid = 'mapped.good_mood'::regtype`);
    assert.equal(base.rows[0].b, 'text');
    assert.equal((await dst.query(`SELECT to_regtype('mapped.mood') AS t`)).rows[0].t, null, 'no enum created');
    assert.deepEqual(await tableRows(dst, 'mapped.t'), await tableRows(src, 'app.t'));
  });

  it('refuses at discovery a target type that exists with another definition, naming both', async () => {
    await dst.query(`CREATE SCHEMA clash; CREATE TYPE clash.mood AS ENUM ('sad', 'ok')`);
    // The table fails alone, at discovery, before anything is loaded.
    const summary = await syncOk(connections, { ...config, target: { connection: 'dst', schema: 'clash' } });
    assert.ok(summary.tables.length > 0 && summary.tables.every((t) => t.status === 'failed' && t.errorType === 'TypeConflict'), JSON.stringify(summary.tables));
    const chain = summary.tables.map((t) => t.error).join('\n');
    assert.match(chain, /type clash\.mood exists in the target as enum \('sad', 'ok'\), but source type app\.mood is enum \('sad', 'ok', 'happy', 'it''s "fine"'\)/);
    const made = await dst.query(`SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'clash'`);
    assert.deepEqual(made.rows, [], 'nothing was loaded');
  });
});
