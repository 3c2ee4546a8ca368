import assert from 'node:assert/strict';
import { typeChange } from '../../lib/schema-evolution';

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
