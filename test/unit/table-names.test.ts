import assert from 'node:assert/strict';
import { TablesyncError } from '../../lib/errors';
import { catalogName, EXACT_NAMES } from '../../lib/sources/base';
import { mssqlNameRule } from '../../lib/sources/mssql/catalog';
import { mysqlNameRule } from '../../lib/sources/mysql/catalog';
import { matchesPattern } from '../../lib/tables';
import type { TableRef } from '../../lib/types';

const t = (schema: string, name: string): TableRef => ({ schema, name });

describe('table names match the way the source matches them', () => {
  const listing = [t('dbo', 'Genre'), t('dbo', 'MediaType'), t('Sales', 'Café')];

  it('MySQL: lower_case_table_names 0 is exact, 1 and 2 ignore case (database names too)', () => {
    assert.equal(mysqlNameRule(0), EXACT_NAMES);
    for (const l of [1, 2]) {
      const rule = mysqlNameRule(l);
      assert.match(rule.description, new RegExp(`lower_case_table_names=${l}`));
      assert.deepEqual(catalogName(t('DBO', 'genre'), listing, rule), t('dbo', 'Genre'));
      assert.equal(matchesPattern(t('dbo', 'media*'), t('dbo', 'MediaType'), rule.key), true);
    }
    assert.deepEqual(catalogName(t('dbo', 'genre'), listing, mysqlNameRule(0)), t('dbo', 'genre'), 'no such table under 0');
  });

  it('SQL Server: per the database collation', () => {
    const ci = mssqlNameRule('SQL_Latin1_General_CP1_CI_AS');
    assert.deepEqual(catalogName(t('dbo', 'GENRE'), listing, ci), t('dbo', 'Genre'));
    assert.deepEqual(catalogName(t('sales', 'cafe'), listing, ci), t('sales', 'cafe'), 'accent-sensitive: no match');
    const ai = mssqlNameRule('Latin1_General_100_CI_AI');
    assert.deepEqual(catalogName(t('sales', 'CAFE'), listing, ai), t('Sales', 'Café'));
    for (const exact of ['Latin1_General_100_CS_AS_SC_UTF8', 'Latin1_General_BIN2', 'SQL_Latin1_General_CP1_CS_AS', null]) {
      assert.equal(mssqlNameRule(exact), EXACT_NAMES, String(exact));
    }
  });

  it('prefers the exact spelling, and refuses a name that means two catalog tables', () => {
    const both = [t('shop', 'Genre'), t('shop', 'genre')];
    const rule = mysqlNameRule(2);
    assert.deepEqual(catalogName(t('shop', 'genre'), both, rule), t('shop', 'genre'));
    assert.throws(
      () => catalogName(t('shop', 'GENRE'), both, rule),
      (err: unknown) => err instanceof TablesyncError && err.type === 'InvalidConfig' && /shop\.Genre, shop\.genre/.test(err.message),
    );
  });

  it('PostgreSQL patterns stay exact', () => {
    assert.equal(matchesPattern(t('public', 'genre*'), t('public', 'Genre')), false);
    assert.equal(matchesPattern(t('public', 'Gen?e'), t('public', 'Genre')), true);
  });
});
