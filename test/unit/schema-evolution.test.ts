import assert from 'node:assert/strict';
import { chunkReads } from '../../lib/modes/backfill';
import { narrows, typeChange } from '../../lib/schema-evolution';
import type { TablePlan } from '../../lib/types';

describe('schema evolution: how a source type relates to its target column', () => {
  const cases: [string, string, ReturnType<typeof typeChange>][] = [
    ['varchar(50)', 'character varying(20)', 'wider'],
    ['text', 'character varying(20)', 'wider'],
    ['integer', 'smallint', 'wider'],
    ['bigint', 'integer', 'wider'],
    ['numeric(14,2)', 'numeric(12,2)', 'wider'],
    ['timestamp(6) without time zone', 'timestamp(0) without time zone', 'wider'],
    ['timestamptz', 'timestamp(3) with time zone', 'wider'],
    ['varchar(10)', 'character varying(20)', 'same'], // the target holds every value
    ['integer', 'bigint', 'same'],
    ['numeric(12,4)', 'numeric(12,2)', 'same'], // rounding: the lossy-pairing check refuses it
    ['numeric', 'numeric(10,2)', 'same'],
    ['integer', 'numeric(12,2)', 'same'],
    ['timestamp', 'timestamptz', 'same'],
    ['varchar(10)', 'integer', 'changed'],
    ['numeric(12,2)', 'integer', 'changed'],
    ['timestamp', 'numeric', 'changed'],
    ['jsonb', 'text', 'same'],
  ];
  for (const [from, to, want] of cases) it(`${from} → target ${to}: ${want}`, () => assert.equal(typeChange(from, to), want));
});

describe('schema evolution: which source type changes narrow (both types as mapped to PostgreSQL)', () => {
  const cases: [string, string, boolean][] = [
    ['varchar(50)', 'varchar(10)', true],
    ['bigint', 'integer', true],
    ['numeric(12,2)', 'numeric(8,2)', true],
    ['timestamp(6)', 'timestamp(3)', true],
    ['text', 'integer', true],
    ['text', 'varchar(200)', true],
    ['varchar(10)', 'varchar(50)', false],
    ['integer', 'bigint', false],
    ['integer', 'text', false], // text holds every integer; the target's check refuses an integer target
    ['timestamp(3)', 'timestamp(6)', false],
    ['varchar(20)', 'VARCHAR(20)', false],
    ['jsonb', 'text', false], // pairings without a known order are left to the target's input functions
  ];
  for (const [before, after, want] of cases) it(`${before} → ${after}: ${want ? 'narrows' : 'does not narrow'}`, () => assert.equal(narrows(before, after), want));
});

describe('schema evolution: a backfill\'s reads', () => {
  const base = { source: { schema: 's', name: 't' }, target: { schema: 'd', name: 't' }, mode: 'changelog', primaryKey: ['id'], integerKey: true, notes: [] };
  const col = (name: string) => ({ name, targetName: name, sourceType: 'integer', targetType: 'integer', nullable: true });
  const log = { table: { schema: 's', name: 'log' }, key: 'k', action: 'a', position: 'p', positionType: 'integer', positionDataType: 'integer', keyType: 'integer', keyDataType: 'integer', actions: {}, where: [], saved: '7', started: true };
  const table = (started: boolean): TablePlan => ({
    ...base,
    mode: 'changelog',
    columns: [col('id'), col('a'), col('b')],
    changelog: { ...log, started, backfill: ['b'], window: { from: started ? '7' : null, to: '9', started } },
  });
  const chunks = [{ lo: null, hi: '10' }, { lo: '10', hi: '20' }, { lo: '20', hi: null }];

  it('a change-log run past its first read: every chunk backfills key and new column without the log window, then one read of the log', () => {
    const reads = chunkReads(table(true), chunks);
    assert.deepEqual(reads.map((r) => [r.table.changelog!.phase ?? 'log', r.chunk.lo, r.chunk.hi]), [
      ['backfill', null, '10'],
      ['backfill', '10', '20'],
      ['backfill', '20', null],
      ['log', null, null],
    ]);
    assert.deepEqual(reads[0].table.columns.map((c) => c.name), ['id', 'b']);
    assert.equal(reads[0].table.changelog!.window, undefined, 'the backfill reads every row');
    assert.deepEqual(reads[3].table.changelog!.window, { from: '7', to: '9', started: true });
  });

  it('no backfill: the chunks as they are', () => {
    const plain = { ...table(true), changelog: { ...table(true).changelog!, backfill: undefined } };
    assert.deepEqual(chunkReads(plain, chunks).map((r) => r.chunk), chunks);
  });
});
