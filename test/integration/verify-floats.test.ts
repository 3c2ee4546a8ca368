import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mysqlCanonical, mysqlFloatBits } from '../../lib/sources/mysql/digest';
import { useDatabases } from '../helpers/databases';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';
import { runTestVerify } from '../helpers/verify';

const DST = testDb('tablesync_it_vfloat_dst');
const MY = testDb('tablesync_it_vfloat_my');
const connections = { dst: pgUrl(DST), my: mysqlUrl(MY) };
const fast = { retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000 } };

/** Big-endian IEEE bits as float8send / float4send give them. */
const bits64 = (v: number): string => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return b.toString('hex');
};
const bits32 = (v: number): string => {
  const b = Buffer.alloc(4);
  b.writeFloatBE(v);
  return b.toString('hex');
};

/** A random finite value: random bits, so every exponent (subnormals included) is as likely as any other. */
function randomFinite(single: boolean): number {
  for (;;) {
    const b = randomBytes(8);
    const v = single ? b.readFloatBE(0) : b.readDoubleBE(0);
    if (Number.isFinite(v)) return v;
  }
}

/** The neighbour one ULP away from zero (towards it for the largest finite value). */
function oneUlp(v: number, single: boolean): number {
  const b = Buffer.alloc(8);
  if (single) {
    b.writeFloatBE(v);
    const u = b.readUInt32BE(0);
    b.writeUInt32BE((u & 0x7fffffff) === 0x7f7fffff ? u - 1 : u + 1);
    return b.readFloatBE(0);
  }
  b.writeDoubleBE(v);
  const u = b.readBigUInt64BE(0);
  b.writeBigUInt64BE((u & 0x7fffffffffffffffn) === 0x7fefffffffffffffn ? u - 1n : u + 1n);
  return b.readDoubleBE(0);
}

/** A double literal MariaDB parses back to exactly v (toExponential() gives the shortest digits that do). */
const literal = (v: number): string => (Object.is(v, -0) ? '-0e0' : v.toExponential());

// Edge values for both widths; `d` is a DOUBLE, `f` a FLOAT, `w` a FLOAT mapped to double precision.
const EDGES: [number, number][] = [
  [0, 0],
  [-0, -0], // MariaDB stores -0 as 0: both sides then hold +0
  [5e-324, 2 ** -149], // least subnormal
  [-5e-324, -(2 ** -149)],
  [2 ** -1022 - 5e-324, 2 ** -126 - 2 ** -149], // greatest subnormal
  [2 ** -1022, 2 ** -126], // least normal
  [Number.MAX_VALUE, 3.4028234663852886e38], // greatest finite
  [-Number.MAX_VALUE, -3.4028234663852886e38],
  [1 / 3, Math.fround(1 / 3)],
  [0.1, Math.fround(0.1)],
  [2 ** 53 + 1, 16777217], // round to 2^53 and 2^24, on both sides alike
  [2 ** 53 + 2, Math.fround(123456.789)],
  [1, 1],
  [2 ** 1023, 2 ** 127],
  [1 - 2 ** -53, 1 - 2 ** -24], // just below a power of two, where LOG2 rounds up
];
const RANDOM_ROWS = 4_000;

describe('MariaDB floats in verify, compared by exact value', () => {
  const { dst, my } = useDatabases({ pg: { dst: DST }, mysql: { my: MY } });
  const rows: { id: number; d: number; f: number; w: number }[] = [];
  const config = {
    source: { connection: 'my' },
    target: { connection: 'dst', schema: 'public' },
    tables: ['fl'],
    typeMap: { [`${MY}.fl.w`]: 'double precision' },
    verifyRowsPerRange: 1_000,
    ...fast,
  };

  before(async () => {
    await my.query('CREATE TABLE fl (id int PRIMARY KEY, d double, f float, w float)');
    EDGES.forEach(([d, f], i) => rows.push({ id: i + 1, d, f, w: f }));
    for (let i = 0; i < RANDOM_ROWS; i++) {
      rows.push({ id: rows.length + 1, d: randomFinite(false), f: randomFinite(true), w: randomFinite(true) });
    }
    rows.push({ id: rows.length + 1, d: NaN, f: NaN, w: NaN }); // NULLs, written as such below
    for (let i = 0; i < rows.length; i += 500) {
      const values = rows
        .slice(i, i + 500)
        .map((r) => (Number.isNaN(r.d) ? `(${r.id}, NULL, NULL, NULL)` : `(${r.id}, ${literal(r.d)}, ${literal(r.f)}, ${literal(r.w)})`));
      await my.query(`INSERT INTO fl VALUES ${values.join(', ')}`);
    }
    await syncOk(connections, config);
  });

  it('lands every float32 and float64 bit pattern exactly, and verify finds them all equal', async () => {
    const landed = await dst.query<{ id: number; d: string; f: string; w: string }>(
      `SELECT id, encode(float8send(d), 'hex') AS d, encode(float4send(f), 'hex') AS f, encode(float8send(w), 'hex') AS w FROM fl ORDER BY id`,
    );
    assert.equal(landed.rows.length, rows.length);
    const nullRow = rows.length;
    for (const [i, got] of landed.rows.entries()) {
      const r = rows[i];
      if (got.id === nullRow) {
        assert.deepEqual([got.d, got.f, got.w], [null, null, null]);
        continue;
      }
      const zero = (v: number) => (Object.is(v, -0) ? 0 : v);
      const want = { id: r.id, d: bits64(zero(r.d)), f: bits32(zero(Math.fround(r.f))), w: bits64(zero(Math.fround(r.w))) };
      assert.deepEqual(got, want, `row ${r.id}: d=${r.d} f=${r.f} w=${r.w}`);
    }

    const ok = await runTestVerify(connections, { config });
    assert.equal(ok.matches, true, JSON.stringify(ok.tables[0]));
    assert.equal(ok.tables[0].ranges > 1, true);
    assert.deepEqual(ok.tables[0].differing, []);
  });

  it('says DIFFER, floats checksummed, for a change of one ULP in any of them', async () => {
    const at = (v: number) => rows.findIndex((r) => Object.is(r.d, v)) + 1;
    const randomId = EDGES.length + 1 + Math.floor(Math.random() * RANDOM_ROWS);
    // [row id, column]: zero, the least subnormal, the greatest finite value, 1/3, 2^53 and a random row.
    const picks: [number, 'd' | 'f' | 'w'][] = [
      [at(0), 'd'],
      [at(5e-324), 'f'],
      [at(Number.MAX_VALUE), 'd'],
      [at(Number.MAX_VALUE), 'f'],
      [at(1 / 3), 'w'],
      [at(2 ** 53 + 1), 'd'],
      [randomId, 'd'],
      [randomId, 'f'],
    ];
    for (const [id, column] of picks) {
      const row = rows[id - 1];
      const single = column !== 'd';
      const stored = single ? Math.fround(row[column]) : row[column];
      const next = oneUlp(Object.is(stored, -0) ? 0 : stored, single);
      await my.query(`UPDATE fl SET ${column} = ${literal(next)} WHERE id = ${id}`);
      const drift = await runTestVerify(connections, { config });
      assert.equal(drift.matches, false, `row ${id} ${column}: ${stored} -> ${next} went unseen`);
      assert.equal(drift.tables[0].differing.length, 1, `row ${id} ${column}`);
      assert.deepEqual(drift.tables[0].differing[0].skippedColumns, []);
      await my.query(`UPDATE fl SET ${column} = ${literal(stored)} WHERE id = ${id}`);
    }
    const again = await runTestVerify(connections, { config });
    assert.equal(again.matches, true, JSON.stringify(again.tables[0]));
  });

  it('keeps the sign of -0, which MariaDB computes but never stores', async () => {
    const [r] = await my.query(
      `SELECT ${mysqlFloatBits('-0e0', false)} AS d, ${mysqlFloatBits('-0e0', true)} AS f, ${mysqlFloatBits('-5e-324', false)} AS s`,
    );
    assert.deepEqual((r as Record<string, string>[])[0], { d: bits64(-0), f: bits32(-0), s: bits64(-5e-324) });
  });

  it('leaves out only the float pairings that have no exact rule', () => {
    const canonical = (sourceType: string, targetType: string) =>
      mysqlCanonical({ name: 'x', targetName: 'x', sourceType, targetType, nullable: true }) !== null;
    assert.deepEqual(
      [
        canonical('float', 'real'),
        canonical('float(7,3) unsigned', 'real'),
        canonical('float', 'double precision'),
        canonical('double', 'double precision'),
        canonical('double', 'real'), // rounded on the way in: no exact rule
        canonical('decimal(10,2)', 'double precision'),
      ],
      [true, true, true, true, false, false],
    );
  });
});
