import assert from 'node:assert/strict';
import { checkPlanFilter } from '../../activities/input-guard';
import { parseSyncConfig } from '../../lib/config';
import { filterMatchesSetting, predicateProblem } from '../../lib/row-filter';
import { mssqlDialect } from '../../lib/sources/mssql';
import { mysqlDialect } from '../../lib/sources/mysql';
import { postgresDialect } from '../../lib/sources/postgres';
import { bothFilters, rowFilterPlan, rowFilterSql } from '../../lib/sources/row-filter';
import type { SourceTable } from '../../lib/sources/base';
import type { TablePlan } from '../../lib/types';

const minimal = { source: { connection: 'src' }, target: { connection: 'dst' } };

describe('row filters (tables[].where)', () => {
  describe('the predicate rule', () => {
    const accepted = [
      "region = 'EU' AND deleted_at IS NULL",
      "name = 'it''s; -- not a comment /* nor this */'",
      `"odd ""name""" = 1`,
      'a IN (SELECT b FROM c WHERE (d > 1))',
      "status::text <> 'x'",
      '`col` = 1',
    ];
    for (const text of accepted) it(`takes ${text}`, () => assert.equal(predicateProblem(text), null));
    const refused: [string, RegExp][] = [
      ["region = 'EU'; DROP TABLE t", /";" outside a string literal/],
      ['1 = 1 -- tail', /"--"/],
      ['1 = 1 /* x */', /"\/\*"/],
      ["1 = 1 # mysql comment", /"#"/],
      ['x = $1', /"\$"/],
      ['x = $$a$$', /"\$"/],
      ['x = ?', /"\?"/],
      ["[a'] = 1", /"\["/],
      ['x = 1) OR (1 = 1', /closes a parenthesis/],
      ['(x = 1', /leaves a parenthesis open/],
      ["x = 'open", /never closed/],
      ["x = 'a\\'' OR 1 = 1 OR 'b' = 'b'", /backslash/],
      ['   ', /is empty/],
      ['x = 1\u0000', /control character/],
    ];
    for (const [text, why] of refused) it(`refuses ${JSON.stringify(text)}`, () => assert.match(predicateProblem(text) ?? '', why));
  });

  describe('config', () => {
    it('refuses where on a mode that does not take it (cdc), naming the table entry and the field', () => {
      assert.throws(
        () => parseSyncConfig({ ...minimal, tables: [{ table: 'a', mode: 'cdc', where: "x = 'y'" }] }),
        /tables\[0\]\.where applies to mode full, compare, cursor, changelog only \(this table's mode is cdc\)/,
      );
    });
    it('takes where on full, compare, cursor, changelog and auto', () => {
      for (const entry of [
        { table: 'a', where: 'x = 1' },
        { table: 'a', mode: 'full', where: { x: 1 } },
        { table: 'a', mode: 'compare', where: { x: null, y: true } },
        { table: 'a', mode: 'cursor', cursor: 'ts', where: "r = 'EU'" },
        { table: 'a', mode: 'changelog', changelog: { table: 'log', key: 'k' }, where: { r: "O'Brien" } },
      ]) {
        assert.deepEqual((parseSyncConfig({ ...minimal, tables: [entry] }).tables[0] as { where: unknown }).where, entry.where);
      }
    });
    it('refuses a predicate that could leave its parentheses, naming the field', () => {
      assert.throws(() => parseSyncConfig({ ...minimal, tables: [{ table: 'a', where: 'x = 1); DELETE FROM a; (' }] }), /tables\[0\]\.where: the predicate closes a parenthesis it did not open/);
    });
    it('refuses an empty structured filter and values that are not scalars', () => {
      assert.throws(() => parseSyncConfig({ ...minimal, tables: [{ table: 'a', where: {} }] }), /tables\[0\]\.where: names no column/);
      assert.throws(() => parseSyncConfig({ ...minimal, tables: [{ table: 'a', where: { x: [1] } }] }), /tables\[0\]\.where/);
    });
  });

  describe('SQL', () => {
    const table: SourceTable = {
      ref: { schema: 's', name: 't' },
      primaryKey: ['id'],
      columns: [
        { name: 'id', type: 'integer', dataType: 'integer', nullable: false },
        { name: 'region', type: 'character varying(3)', dataType: 'character varying', nullable: true },
        { name: 'code', type: 'character(2)', dataType: 'character', nullable: true },
        { name: 'active', type: 'boolean', dataType: 'boolean', nullable: true },
      ],
    };
    it('wraps a predicate in parentheses, binds nothing', () => {
      assert.deepEqual(rowFilterSql(postgresDialect, { sql: "a = 'b' OR c" }, (i) => `$${i}`), { sql: "(a = 'b' OR c)", params: [] });
    });
    it('binds structured values, never splices them; casts to the type without its length (no cut to fit)', () => {
      const plan = rowFilterPlan(postgresDialect, table, { region: "EU'; DROP TABLE t; --", code: 'ab', active: true, id: null }, 'tables[0].where', 's.t');
      const sql = rowFilterSql(postgresDialect, plan, (i) => `$${i + 4}`);
      assert.equal(sql.sql, `("region" = $5::character varying AND "code" = $6::bpchar AND "active" = $7::boolean AND "id" IS NULL)`);
      assert.deepEqual(sql.params, ["EU'; DROP TABLE t; --", 'ab', 'true']);
    });
    it('MySQL and SQL Server: booleans bound as 1/0, text bound as it is (the column collation compares)', () => {
      const my: SourceTable = { ...table, columns: [{ name: 'region', type: 'varchar(3)', dataType: 'varchar', nullable: true }, { name: 'flag', type: 'tinyint(1)', dataType: 'tinyint', nullable: true }] };
      const plan = rowFilterPlan(mysqlDialect, my, { region: 'EU', flag: false }, 'tables[0].where', 's.t');
      assert.deepEqual(rowFilterSql(mysqlDialect, plan, () => '?'), { sql: '(`region` = ? AND `flag` = ?)', params: ['EU', '0'] });
      const ms: SourceTable = { ...table, columns: [{ name: 'region', type: 'nvarchar(3)', dataType: 'nvarchar', nullable: true }] };
      const p2 = rowFilterPlan(mssqlDialect, ms, { region: 'EUROPE' }, 'tables[0].where', 's.t');
      assert.deepEqual(rowFilterSql(mssqlDialect, p2, (i) => `@p${i}`), { sql: '([region] = @p1)', params: ['EUROPE'] });
    });
    it('refuses a column the table does not have, and a non-number for a number column, naming table and column', () => {
      assert.throws(() => rowFilterPlan(postgresDialect, table, { nope: 1 }, 'tables[2].where', 's.t'), /s\.t: tables\[2\]\.where names column "nope", which the table does not have/);
      assert.throws(() => rowFilterPlan(mysqlDialect, table, { id: 'abc' }, 'tables[2].where', 's.t'), /tables\[2\]\.where\.id: "abc" is not a number/);
    });
    it('ANDs a mode filter and the where, numbering values in order', () => {
      const window = () => ({ sql: 'ts >= $1', params: ['x'] });
      const plan = rowFilterPlan(postgresDialect, table, { region: 'EU' }, 'w', 's.t');
      const both = bothFilters(window, (d, p) => rowFilterSql(d, plan, p))(postgresDialect, (i) => `$${i}`);
      assert.deepEqual(both, { sql: `(ts >= $1) AND (("region" = $2::character varying))`, params: ['x', 'EU'] });
    });
  });

  describe('input guard', () => {
    const config = parseSyncConfig({ ...minimal, tables: [{ table: 't', where: "region = 'EU'" }, { table: 'u', where: { region: 'EU', active: true } }] });
    const plan = (rowFilter: unknown) => ({ source: { schema: 's', name: 't' }, rowFilter }) as unknown as TablePlan;
    it('passes a plan whose filter is one the config gives', () => {
      checkPlanFilter(config, plan({ sql: "region = 'EU'" }), 'syncPartition');
      checkPlanFilter(config, plan({ equals: [['region', 'EU', 'text', 'text'], ['active', '1', 'bit', 'bit']] }), 'syncPartition');
    });
    it('refuses SQL or values the config does not give', () => {
      assert.throws(() => checkPlanFilter(config, plan({ sql: 'true' }), 'syncPartition'), /syncPartition: table s\.t: its rowFilter is not a where the config gives/);
      assert.throws(() => checkPlanFilter(config, plan({ equals: [['region', 'US', 'text', 'text'], ['active', '1', 'bit', 'bit']] }), 'x'), /not a where the config gives/);
      assert.throws(() => checkPlanFilter(config, plan({ equals: [['region', 'EU', 'text', 'text']] }), 'x'), /not a where the config gives/);
      assert.throws(() => checkPlanFilter(config, plan('region'), 'x'), /not a where the config gives/);
    });
    it('matches settings exactly', () => {
      assert.equal(filterMatchesSetting({ sql: 'a' }, 'a '), false);
      assert.equal(filterMatchesSetting({ equals: [['a', null, 't', 't']] }, { a: null }), true);
    });
  });
});
