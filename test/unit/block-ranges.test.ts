import assert from 'node:assert/strict';
import { planBlockPartitions, planChunks } from '../../lib/planner';
import { blockPredicate, pgRangeCopySql } from '../../lib/sources/postgres/read';
import type { TablePlan } from '../../lib/types';

describe('block-range partitions (PostgreSQL full loads)', () => {
  const sizing = { threshold: 1_000_000, maxPartitions: 6, rowsPerPartition: 500_000, batchSize: 100_000 };

  it('cuts a table into partitions of equal block counts whose chunks cover every block once', () => {
    const parts = planBlockPartitions({ ...sizing, estimatedRows: 1_000_000, blocks: 12_346 });
    assert.equal(parts.length, 2);
    const chunks = parts.flatMap((range) => planChunks({ range, integerKey: false, min: null, max: null, estimatedRows: 1_000_000, batchSize: 100_000 }));
    assert.equal(chunks.length, 10);
    assert.equal(chunks[0].lo, null, 'the first starts at block 0');
    assert.equal(chunks[chunks.length - 1].hi, null, 'the last is open above: blocks the table grew by are read too');
    for (let i = 1; i < chunks.length; i++) assert.equal(chunks[i].lo, chunks[i - 1].hi, 'no gap, no overlap');
    assert.deepEqual(parts[1].lo, '6173');
    assert.ok(parts.every((p) => p.blocks));
  });

  it('plans one range for a table below the threshold, chunked by rows, never more chunks than blocks', () => {
    const [one, ...rest] = planBlockPartitions({ ...sizing, estimatedRows: 250_000, blocks: 2 });
    assert.deepEqual(rest, []);
    assert.deepEqual([one.lo, one.hi, one.splits], [null, null, ['1']]);
  });

  it('reads [lo, hi) by ctid, bounds written as checked literals', () => {
    assert.equal(blockPredicate({ lo: '10', hi: '20' }).sql, ` WHERE ctid >= '(10,0)'::tid AND ctid < '(20,0)'::tid`);
    assert.equal(blockPredicate({ lo: null, hi: null }).sql, '');
    assert.throws(() => blockPredicate({ lo: `1,0)'::tid OR true --`, hi: null }), /not a block number/);
    const plan = {
      source: { schema: 'public', name: 't' },
      primaryKey: ['id'],
      columns: [{ name: 'id', sourceType: 'uuid', targetType: 'uuid' }],
    } as unknown as TablePlan;
    const { sql, settings } = pgRangeCopySql(plan, { index: 1, count: 2, lo: '5', hi: null, blocks: true }, 'binary');
    assert.equal(sql, `COPY (SELECT "id" FROM "public"."t" WHERE ctid >= '(5,0)'::tid) TO STDOUT (FORMAT binary)`);
    assert.deepEqual(settings, []);
  });
});
