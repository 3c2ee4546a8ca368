import assert from 'node:assert/strict';
import { Client } from 'pg';
import { PG_SESSION_SETTINGS, pinnedPgConnection } from '../../activities/connections';
import { isTimestamptz, pgCanonical } from '../../lib/canonical';
import { pgUrl } from '../helpers/pg';

describe('pinned sessions', () => {
  it('a URL with its own options keeps them, and ours come last so they win', () => {
    const plain = pinnedPgConnection('postgres://u@h:5432/db');
    assert.equal(plain.connectionString, 'postgres://u@h:5432/db');
    assert.match(plain.options, /-c DateStyle=ISO,MDY .*-c TimeZone=UTC/);
    const own = pinnedPgConnection('postgres://u@h:5432/db?options=-c%20TimeZone%3DEurope%2FParis&sslmode=disable');
    assert.equal(own.connectionString, 'postgres://u@h:5432/db?sslmode=disable');
    assert.ok(own.options.startsWith('-c TimeZone=Europe/Paris -c '), own.options);
    assert.ok(own.options.lastIndexOf('TimeZone=UTC') > own.options.indexOf('Europe/Paris'));
  });

  it('startup options beat a session-level default and the server reports every pinned value', async () => {
    const { connectionString, options } = pinnedPgConnection(`${pgUrl('postgres')}?options=-c%20TimeZone%3DAsia%2FTokyo%20-c%20DateStyle%3DSQL%2CDMY`);
    const client = new Client({ connectionString, options });
    await client.connect();
    try {
      for (const [name, value] of Object.entries(PG_SESSION_SETTINGS)) {
        const r = await client.query('SELECT current_setting($1) AS v', [name]);
        assert.equal(r.rows[0].v.replace(', ', ','), value, name);
      }
    } finally {
      await client.end();
    }
  });

  it('recognises timestamptz in every spelling, so verify compares instants in UTC', async () => {
    for (const t of ['timestamptz', 'timestamptz(3)', 'timestamp with time zone', 'timestamp(6) with time zone', 'TIMESTAMPTZ(0)']) {
      assert.ok(isTimestamptz(t), t);
    }
    for (const t of ['timestamp', 'timestamp(3)', 'timestamp without time zone', 'time with time zone', 'timetz', 'text']) {
      assert.ok(!isTimestamptz(t), t);
    }
    // Whatever the session's zone, the canonical text of an instant is its UTC time.
    const client = new Client({ connectionString: pgUrl('postgres'), options: '-c TimeZone=America/New_York' });
    await client.connect();
    try {
      const value = `'2026-03-08 06:30:00.5+00'::timestamptz(3)`;
      const r = await client.query(`SELECT ${pgCanonical(value, 'timestamptz(3)')} AS a, ${pgCanonical(value, 'timestamp(3) with time zone')} AS b`);
      assert.deepEqual(r.rows[0], { a: '2026-03-08 06:30:00.500000 AD', b: '2026-03-08 06:30:00.500000 AD' });
    } finally {
      await client.end();
    }
  });
});

describe('lossy column pairings', () => {
  const { lossyPairing } = require('../../lib/table-plan') as typeof import('../../lib/table-plan');
  const lossy: [string, string][] = [
    ['numeric', 'numeric(10,2)'],
    ['numeric(12,4)', 'numeric(14,2)'],
    ['double precision', 'numeric(10,2)'],
    ['double precision', 'real'],
    ['numeric(5,2)', 'double precision'],
    ['bigint', 'double precision'],
    ['integer', 'real'],
    ['timestamp(6) without time zone', 'timestamp(0) without time zone'],
    ['timestamptz(6)', 'timestamp(3) with time zone'],
    ['time(6) without time zone', 'time(0) without time zone'],
    ['interval', 'interval(0)'],
    ['timestamp(3) without time zone', 'date'],
  ];
  const exact: [string, string][] = [
    ['numeric(8,2)', 'numeric(12,2)'],
    ['numeric', 'numeric'],
    ['integer', 'numeric(10,0)'],
    ['numeric', 'integer'], // the input function refuses 1.5
    ['smallint', 'real'],
    ['real', 'double precision'],
    ['timestamp(0)', 'timestamp without time zone'],
    ['timestamp(6) with time zone', 'timestamp(6) without time zone'],
    ['text', 'varchar(3)'], // too long is an error
    ['date', 'date'],
  ];
  for (const [from, to] of lossy) it(`${from} → ${to} is lossy`, () => assert.ok(lossyPairing(from, to)));
  for (const [from, to] of exact) it(`${from} → ${to} is not`, () => assert.equal(lossyPairing(from, to), null));
});
