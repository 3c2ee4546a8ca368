import assert from 'node:assert/strict';
import { groupSmallTasks, MAX_GROUP_TABLES, MAX_GROUP_TABLES_BEFORE, planPartitions, type PlanInput } from '../../lib/planner';

const base: PlanInput = {
  estimatedRows: 3_000_000,
  integerKey: true,
  min: '1',
  max: '3000000',
  threshold: 1_000_000,
  maxPartitions: 6,
  rowsPerPartition: 500_000,
};

describe('partition planner', () => {
  it("splits the seed's 3M-row example into 6 ranges of 500K, open at both ends", () => {
    const parts = planPartitions(base);
    assert.deepEqual(
      parts.map((p) => [p.lo, p.hi]),
      [
        [null, '500000'],
        ['500000', '1000000'],
        ['1000000', '1500000'],
        ['1500000', '2000000'],
        ['2000000', '2500000'],
        ['2500000', null],
      ],
    );
    assert.ok(parts.every((p, i) => p.index === i && p.count === 6));
  });

  it('uses min(MAX_PARTITIONS_PER_TABLE, rows / 500K)', () => {
    assert.equal(planPartitions({ ...base, estimatedRows: 1_200_000 }).length, 2);
    assert.equal(planPartitions({ ...base, estimatedRows: 50_000_000 }).length, 6);
    assert.equal(planPartitions({ ...base, maxPartitions: 3 }).length, 3);
  });

  it('keeps one partition below the threshold, for composite or non-integer keys, and for empty tables', () => {
    const whole = [{ index: 0, count: 1, lo: null, hi: null }];
    assert.deepEqual(planPartitions({ ...base, estimatedRows: 999_999 }), whole);
    assert.deepEqual(planPartitions({ ...base, integerKey: false }), whole);
    assert.deepEqual(planPartitions({ ...base, min: null, max: null }), whole);
  });

  it('handles keys beyond 2^53 and negative keys exactly', () => {
    const parts = planPartitions({ ...base, min: '-9223372036854775808', max: '9223372036854775807', maxPartitions: 2 });
    assert.deepEqual(parts.map((p) => [p.lo, p.hi]), [[null, '-1'], ['-1', null]]);
  });

  it('never makes more ranges than distinct keys', () => {
    const parts = planPartitions({ ...base, min: '10', max: '12' });
    assert.deepEqual(parts.map((p) => [p.lo, p.hi]), [[null, '10'], ['10', '11'], ['11', null]]);
  });
});

describe('chunk planner (resumable partitions)', () => {
  const { planChunks } = require('../../lib/planner') as typeof import('../../lib/planner');
  const base = { integerKey: true, min: '1', max: '1000000', estimatedRows: 1_000_000, batchSize: 100_000 };

  it('cuts an open-ended partition into batch-sized chunks that keep its open ends', () => {
    const chunks = planChunks({ ...base, range: { index: 0, count: 2, lo: null, hi: '500000' } });
    assert.equal(chunks.length, 5);
    assert.deepEqual(chunks[0], { lo: null, hi: '100000' });
    assert.deepEqual(chunks[4], { lo: '400000', hi: '500000' });
    const last = planChunks({ ...base, range: { index: 1, count: 2, lo: '500000', hi: null } });
    assert.deepEqual(last[0].lo, '500000');
    assert.deepEqual(last[last.length - 1].hi, null);
  });

  it('chunks tile the range with no gap and no overlap', () => {
    const chunks = planChunks({ ...base, batchSize: 33_333, range: { index: 0, count: 1, lo: null, hi: null } });
    for (let i = 1; i < chunks.length; i++) assert.equal(chunks[i].lo, chunks[i - 1].hi);
    assert.equal(chunks[0].lo, null);
    assert.equal(chunks[chunks.length - 1].hi, null);
  });

  it('keeps one chunk for small tables and keys that cannot be split', () => {
    const range = { index: 0, count: 1, lo: null, hi: null };
    assert.deepEqual(planChunks({ ...base, estimatedRows: 100_000, range }), [{ lo: null, hi: null }]);
    assert.deepEqual(planChunks({ ...base, integerKey: false, range }), [{ lo: null, hi: null }]);
  });
});

describe('small-table groups (groupSmallTasks)', () => {
  const config = { batchSize: 100, verifyAfterSync: false };
  const tiny = (n: number, rows = 1) => Array.from({ length: n }, () => ({ estimatedRows: rows, partitions: [{}] }));
  const sizes = (r: { groups: number[][] }) => r.groups.map((g) => g.length);

  it('a batch of 200 one-row tables in 4 slots: one group a slot, 50 tables each (25 before small-groups-of-50)', () => {
    const now = groupSmallTasks(tiny(200), config, 4);
    assert.deepEqual(sizes(now), [50, 50, 50, 50]);
    assert.deepEqual(now.groups.flat(), Array.from({ length: 200 }, (_, i) => i));
    assert.deepEqual(now.alone, []);
    assert.deepEqual(sizes(groupSmallTasks(tiny(200), config, 4, MAX_GROUP_TABLES_BEFORE)), Array(8).fill(25));
  });

  it('never more than MAX_GROUP_TABLES tables, nor more than one chunk of rows, in a group', () => {
    assert.deepEqual(sizes(groupSmallTasks(tiny(500), config, 4)), Array(10).fill(MAX_GROUP_TABLES));
    // 40 rows a table, chunks of 100 rows: two tables a group.
    assert.deepEqual(sizes(groupSmallTasks(tiny(10, 40), config, 2)), [2, 2, 2, 2, 2]);
  });

  it('no groups for as many small tables as slots, or with verifyAfterSync; a group of one stays alone', () => {
    assert.deepEqual(groupSmallTasks(tiny(4), config, 4), { groups: [], alone: [0, 1, 2, 3] });
    assert.deepEqual(groupSmallTasks(tiny(10), { ...config, verifyAfterSync: true }, 4).groups, []);
    // Table 4 (101 rows) is no small table; of the 5 small ones in 2 slots, groups of 3: [0, 1, 2], then
    // [3] (table 5's 100 rows would pass one chunk with it) and [5], each a group of one, so alone.
    const mixed = [...tiny(4), { estimatedRows: 101, partitions: [{}] }, { estimatedRows: 100, partitions: [{}] }];
    const r = groupSmallTasks(mixed, config, 2);
    assert.deepEqual(r, { groups: [[0, 1, 2]], alone: [3, 4, 5] });
  });
});
