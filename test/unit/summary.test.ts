import assert from 'node:assert/strict';
import { failedTableResult, runLabel, summarize, tableDoneDetails, withRunWarnings } from '../../lib/summary';
import type { TableResult } from '../../lib/types';

function table(name: string, mode: 'full' | 'compare', status: 'completed' | 'failed', rows = 10): TableResult {
  return {
    table: `public.${name}`,
    target: `public.${name}`,
    status,
    mode,
    partitions: 1,
    rowsCopied: rows,
    inserted: status === 'completed' ? rows : 0,
    updated: 0,
    unchanged: 0,
    deleted: 0,
    warnings: [],
    ...(status === 'failed' ? { error: 'partition 1/1: boom' } : {}),
  };
}

describe('summary message names the mode of the run', () => {
  it('a failed full load is a full load that failed, not an incremental sync', () => {
    const s = summarize([table('a', 'full', 'failed')], []);
    assert.match(s.message, /^Full load failed: 0 tables synced, 1 failed/);
  });

  it('all full loads: "Full load complete"', () => {
    assert.match(summarize([table('a', 'full', 'completed'), table('b', 'full', 'completed')], []).message, /^Full load complete: 2 tables synced/);
  });

  it('all incremental: "Incremental sync complete"', () => {
    assert.match(summarize([table('a', 'compare', 'completed')], []).message, /^Incremental sync complete: 1 table synced/);
  });

  it('a mix says how many of each, failed tables included', () => {
    const tables = [
      table('a', 'full', 'completed'),
      table('b', 'full', 'failed'),
      ...['c', 'd', 'e', 'f', 'g'].map((n) => table(n, 'compare', 'completed')),
    ];
    assert.match(summarize(tables, []).message, /^Sync complete: 2 full loads, 5 incremental; 6 tables synced, 1 failed/);
  });

  it('tables refused at discovery have no mode and do not make a full load incremental', () => {
    const refused = failedTableResult({ table: 'public.geo', type: 'UnsupportedType', reason: 'column "g" type geometry' });
    assert.match(summarize([table('a', 'full', 'completed'), refused], []).message, /^Full load complete: 1 table synced, 1 failed/);
    assert.match(summarize([refused], []).message, /^Sync failed: 0 tables synced, 1 failed/);
  });
});

describe('summary: warnings of the run', () => {
  it('withRunWarnings counts them with the tables\' warnings and says so in the message', () => {
    const s = summarize([table('a', 'full', 'completed')], []);
    assert.equal(withRunWarnings(s, []), s);
    const warned = withRunWarnings(s, ['notify[0] (W) was not notified: down']);
    assert.deepEqual(warned.runWarnings, ['notify[0] (W) was not notified: down']);
    assert.equal(warned.warnings, s.warnings + 1);
    assert.match(warned.message, /, 1 warning$/);
    assert.doesNotMatch(s.message, /warning/);
  });
});

describe('summary: Web UI labels', () => {
  it('runLabel names connections, tables as configured (the first three) and mode, from input not yet validated', () => {
    const config = { source: { connection: 'src' }, target: { connection: 'dst' }, mode: 'cursor', tables: ['a', { table: 'b*' }, 'c', 'd', 'e'] };
    assert.equal(runLabel(config), 'sync src → dst: a, b*, c and 2 more (mode cursor)');
    assert.equal(runLabel(config, 'verify', ['x']), 'verify src → dst: x (mode cursor)');
    assert.equal(runLabel(null), 'sync ? → ?: no tables (mode auto)');
  });
  it('tableDoneDetails says the counts, warnings and error', () => {
    const failed = { ...table('a', 'compare', 'failed'), warnings: ['w'], error: 'boom' };
    assert.equal(tableDoneDetails(failed), 'failed: 0 inserted, 0 updated, 0 unchanged; 1 warning (boom)');
    assert.equal(tableDoneDetails(table('b', 'full', 'completed', 1234)), 'completed: full load, 1234 rows');
  });
});
