import assert from 'node:assert/strict';
import { postgresDialect } from '../../lib/sources/postgres';
import { pgRangeCopySql } from '../../lib/sources/postgres/read';
import { quotePg } from '../../lib/sources/postgres/sql';
import { rangePredicate, type ReadFilter } from '../../lib/sources/base';
import { cursorPredicate } from '../../lib/modes/cursor/window';
import { createStagingSql, deleteMissingSql, stagingName, upsertSql } from '../../lib/target';
import type { TablePlan } from '../../lib/types';

describe('PostgreSQL SQL', () => {
  describe('identifier quoting', () => {
    const cases: [string, string][] = [
      ['users', '"users"'],
      ['Order Details', '"Order Details"'],
      ['say "hi"', '"say ""hi"""'],
      ['select', '"select"'],
      ['InvoiceLine', '"InvoiceLine"'],
      ['café_ñandú_表', '"café_ñandú_表"'],
      ['a.b', '"a.b"'],
      ['"; DROP TABLE x; --', '"""; DROP TABLE x; --"'],
    ];
    for (const [name, quoted] of cases) {
      it(`quotes ${JSON.stringify(name)}`, () => assert.equal(quotePg(name), quoted));
    }
    it('rejects NUL, which PostgreSQL identifiers cannot hold', () => {
      assert.throws(() => quotePg('a\u0000b'), /NUL/);
    });
  });

  const plan: TablePlan = {
    source: { schema: 'Sales', name: 'Order Lines' },
    target: { schema: 'public', name: 'Order Lines' },
    columns: [
      { name: 'Id', targetName: 'Id', sourceType: 'integer', targetType: 'bigint', nullable: false },
      { name: 'doc', targetName: 'doc', sourceType: 'json', targetType: 'json', nullable: true },
      { name: 'qty', targetName: 'qty', sourceType: 'integer', targetType: 'integer', nullable: true },
    ],
    mode: 'compare',
    primaryKey: ['Id'],
    integerKey: true,
    notes: [],
  };

  it('builds the upsert with IS DISTINCT FROM on every non-key column and xmax counting, equal rows dropped before it', () => {
    const sql = upsertSql(plan.target, { schema: 'public', name: '_ts_stg_x' }, plan.columns, plan.primaryKey);
    assert.deepEqual(sql, {
      text: `WITH applied AS (
  INSERT INTO "public"."Order Lines" AS t ("Id", "doc", "qty")
  SELECT s."Id", s."doc", s."qty" FROM (SELECT "Id", "doc", "qty" FROM "public"."_ts_stg_x") AS s
  WHERE NOT EXISTS (SELECT 1 FROM "public"."Order Lines" AS cur WHERE cur."Id" = s."Id"
      AND NOT (cur."doc"::text IS DISTINCT FROM s."doc"::text)
      AND NOT (cur."qty" IS DISTINCT FROM s."qty"))
  ON CONFLICT ("Id") DO UPDATE SET "doc" = EXCLUDED."doc", "qty" = EXCLUDED."qty"
    WHERE t."doc"::text IS DISTINCT FROM EXCLUDED."doc"::text
       OR t."qty" IS DISTINCT FROM EXCLUDED."qty"
  RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted)::bigint AS inserted, count(*) FILTER (WHERE NOT inserted)::bigint AS updated FROM applied`,
      values: [],
    });
  });

  it("reads only the chunk's key range of the target for the equal-row filter, bounds bound", () => {
    const range = { index: 1, count: 3, lo: '10', hi: '20' };
    const sql = upsertSql(plan.target, { schema: 'public', name: '_ts_stg_x' }, plan.columns, plan.primaryKey, undefined, undefined, range);
    assert.ok(sql.text.includes('AS cur WHERE cur."Id" > $1 AND cur."Id" <= $2\n      AND cur."Id" = s."Id"\n'), sql.text);
    assert.deepEqual(sql.values, ['10', '20']);
  });

  it('compares identity types directly, strings under "C", floats by bits, numerics by value and scale and every other type by its text', () => {
    const cases: [string, string][] = [
      ['bigint', 't."c" IS DISTINCT FROM EXCLUDED."c"'],
      ['timestamp(3) with time zone', 't."c" IS DISTINCT FROM EXCLUDED."c"'],
      ['timestamptz(0)', 't."c" IS DISTINCT FROM EXCLUDED."c"'],
      ['integer[]', 't."c" IS DISTINCT FROM EXCLUDED."c"'],
      ['character varying(5)[]', 't."c" COLLATE "C" IS DISTINCT FROM EXCLUDED."c" COLLATE "C"'],
      ['text', 't."c" COLLATE "C" IS DISTINCT FROM EXCLUDED."c" COLLATE "C"'],
      ['double precision', 'float8send(t."c") IS DISTINCT FROM float8send(EXCLUDED."c")'],
      ['real', 'float4send(t."c") IS DISTINCT FROM float4send(EXCLUDED."c")'],
      ['numeric(10,2)', '(t."c" IS DISTINCT FROM EXCLUDED."c" OR scale(t."c") IS DISTINCT FROM scale(EXCLUDED."c"))'],
      ['numeric', '(t."c" IS DISTINCT FROM EXCLUDED."c" OR scale(t."c") IS DISTINCT FROM scale(EXCLUDED."c"))'],
      ['numeric[]', 't."c"::text IS DISTINCT FROM EXCLUDED."c"::text'],
      ['interval', 't."c"::text IS DISTINCT FROM EXCLUDED."c"::text'],
      ['time with time zone', 't."c"::text IS DISTINCT FROM EXCLUDED."c"::text'],
      ['citext', 't."c"::text IS DISTINCT FROM EXCLUDED."c"::text'],
      ['my_domain', 't."c"::text IS DISTINCT FROM EXCLUDED."c"::text'],
      ['double precision[]', 't."c"::text IS DISTINCT FROM EXCLUDED."c"::text'],
    ];
    for (const [type, where] of cases) {
      const cols = [
        { name: 'id', targetName: 'id', sourceType: 'integer', targetType: 'integer', nullable: false },
        { name: 'c', targetName: 'c', sourceType: type, targetType: type, nullable: true },
      ];
      assert.ok(upsertSql(plan.target, plan.target, cols, ['id']).text.includes(`WHERE ${where}\n`), type);
    }
  });

  it('with a soft-delete flag, writes rows live and rewrites a marked row even when its values are equal', () => {
    const sql = upsertSql(plan.target, { schema: 'public', name: '_ts_stg_x' }, plan.columns, plan.primaryKey, 'gone "x"').text;
    assert.ok(sql.includes(`INSERT INTO "public"."Order Lines" AS t ("Id", "doc", "qty", "gone ""x""")\n  SELECT s."Id", s."doc", s."qty", false FROM`), sql);
    // A marked row is never dropped by the equal-row filter, so the upsert unmarks it.
    assert.ok(sql.includes(`AND NOT (cur."qty" IS DISTINCT FROM s."qty")\n      AND cur."gone ""x""" IS NOT TRUE)\n`), sql);
    assert.ok(sql.includes(`"qty" = EXCLUDED."qty", "gone ""x""" = false, "_tablesync_deleted_at" = NULL\n`), sql);
    assert.ok(sql.includes(`OR t."qty" IS DISTINCT FROM EXCLUDED."qty"\n       OR t."gone ""x""" IS TRUE\n`), sql);
    const keyOnly = upsertSql(plan.target, plan.target, [plan.columns[0]], ['Id'], 'd').text;
    assert.ok(keyOnly.includes(`DO UPDATE SET "d" = false, "_tablesync_deleted_at" = NULL\n    WHERE t."d" IS TRUE\n`), keyOnly);
  });

  it('marks missing rows of a range, bounds bound, only those not marked yet; deletes them without a flag', () => {
    const range = { index: 1, count: 3, lo: '10', hi: '20' };
    const stg = { schema: 'public', name: '_ts_stg_x' };
    assert.deepEqual(deleteMissingSql(plan.target, stg, plan.columns, plan.primaryKey, range, 'd'), {
      text:
        'UPDATE "public"."Order Lines" AS t SET "d" = true, "_tablesync_deleted_at" = now() WHERE t."Id" > $1 AND t."Id" <= $2 ' +
        'AND NOT EXISTS (SELECT 1 FROM "public"."_ts_stg_x" AS s WHERE s."Id" = t."Id") AND t."d" IS NOT TRUE',
      values: ['10', '20'],
    });
    assert.deepEqual(deleteMissingSql(plan.target, stg, plan.columns, plan.primaryKey, { ...range, lo: null, hi: null }), {
      text: 'DELETE FROM "public"."Order Lines" AS t WHERE NOT EXISTS (SELECT 1 FROM "public"."_ts_stg_x" AS s WHERE s."Id" = t."Id")',
      values: [],
    });
  });

  it('does nothing on conflict when every column is part of the key', () => {
    const cols = [{ name: 'a', targetName: 'a', sourceType: 'integer', targetType: 'integer', nullable: false }];
    assert.match(upsertSql(plan.target, plan.target, cols, ['a']).text, /ON CONFLICT \("a"\) DO NOTHING/);
  });

  it('creates staging with the exact target column types and no indexes', () => {
    assert.equal(
      createStagingSql({ schema: 'public', name: '_ts_stg_x' }, plan.target, plan.columns, true),
      'CREATE UNLOGGED TABLE IF NOT EXISTS "public"."_ts_stg_x" AS SELECT "Id", "doc", "qty" FROM "public"."Order Lines" WITH NO DATA',
    );
  });

  it('names staging per run, table and partition, within 63 bytes', () => {
    const a = stagingName('wf/run', { schema: 's', name: 'x'.repeat(200) }, 3);
    assert.equal(a, stagingName('wf/run', { schema: 's', name: 'x'.repeat(200) }, 3));
    assert.notEqual(a, stagingName('wf/run', { schema: 's', name: 'x'.repeat(200) }, 4));
    assert.notEqual(a, stagingName('wf/run2', { schema: 's', name: 'x'.repeat(200) }, 3));
    assert.ok(Buffer.byteLength(a) <= 63, a);
    assert.match(stagingName('r', { schema: 's', name: 'Order "Lines" ü' }, 0), /^_ts_stg_Order__Lines____p0_[0-9a-f]{12}$/);
  });

  it('binds range bounds as parameters', () => {
    assert.deepEqual(rangePredicate(postgresDialect, 'Id', { index: 1, count: 3, lo: '10', hi: '20' }), {
      sql: ' WHERE "Id" > $1 AND "Id" <= $2',
      params: ['10', '20'],
    });
    assert.deepEqual(rangePredicate(postgresDialect, 'Id', { index: 0, count: 1, lo: null, hi: null }), {
      sql: '',
      params: [],
    });
  });

  it('reads COPY range bounds from settings (COPY takes no parameters) and casts where target types differ', () => {
    const { sql, settings } = pgRangeCopySql(plan, { index: 2, count: 3, lo: '10', hi: null }, 'binary');
    assert.equal(
      sql,
      `COPY (SELECT "Id"::bigint, "doc", "qty" FROM "Sales"."Order Lines" WHERE "Id" > current_setting('tablesync.p1')::integer) TO STDOUT (FORMAT binary)`,
    );
    assert.deepEqual(settings, ['10']);
    assert.doesNotMatch(pgRangeCopySql(plan, { index: 0, count: 1, lo: null, hi: null }, 'text').sql, /::bigint/);
  });

  it("compares a cursor bound read from a setting as is (the planner's estimate) and computed once (what a scan tests per row)", () => {
    const window = { from: '5', to: '9', includeNull: false, lookback: '2' };
    const filter: ReadFilter = (d, p) => cursorPredicate(d.cursor!, d.quoteIdent('qty'), { type: 'integer', dataType: 'integer' }, 'number', window, p);
    const { sql, settings } = pgRangeCopySql(plan, { index: 0, count: 1, lo: null, hi: null }, 'text', filter);
    const from = `ceil(GREATEST((current_setting('tablesync.p1')::integer)::numeric - 2, -2147483648))::integer`;
    const to = `current_setting('tablesync.p2')::integer`;
    assert.equal(
      sql,
      `COPY (SELECT "Id", "doc", "qty" FROM "Sales"."Order Lines" WHERE ("qty" >= ${from} AND "qty" >= (SELECT ${from}) AND "qty" <= ${to} AND "qty" <= (SELECT ${to}))) TO STDOUT (FORMAT text)`,
    );
    assert.deepEqual(settings, ['5', '9']);
    // Statements with real parameters (folded to constants) keep the one comparison.
    assert.doesNotMatch(cursorPredicate(postgresDialect.cursor!, '"qty"', { type: 'integer', dataType: 'integer' }, 'number', window, (i) => `$${i}`).sql, /SELECT/);
  });
});
