import assert from 'node:assert/strict';
import { BinaryCopyCounter, TextCopyCounter } from '../../lib/sources/postgres/read';

function binaryCopy(rows: (string | null)[][]): Buffer {
  const parts: Buffer[] = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(4), Buffer.from([0, 0, 0, 0])];
  for (const row of rows) {
    const n = Buffer.alloc(2);
    n.writeInt16BE(row.length);
    parts.push(n);
    for (const v of row) {
      const len = Buffer.alloc(4);
      if (v === null) {
        len.writeInt32BE(-1);
        parts.push(len);
      } else {
        const data = Buffer.from(v);
        len.writeInt32BE(data.length);
        parts.push(len, data);
      }
    }
  }
  parts.push(Buffer.from([0xff, 0xff]));
  return Buffer.concat(parts);
}

async function count(counter: BinaryCopyCounter | TextCopyCounter, data: Buffer, chunk: number): Promise<number> {
  for (let i = 0; i < data.length; i += chunk) {
    await new Promise<void>((res, rej) => counter.write(data.subarray(i, i + chunk), (e) => (e ? rej(e) : res())));
  }
  counter.end();
  counter.resume();
  return counter.rows;
}

describe('COPY row counters', () => {
  const rows = Array.from({ length: 57 }, (_, i) => [String(i), i % 3 ? 'x'.repeat(i) : null, '']);
  const data = binaryCopy(rows);
  for (const chunk of [1, 2, 3, 7, 64, data.length]) {
    it(`counts binary COPY tuples split into ${chunk}-byte chunks`, async () => {
      assert.equal(await count(new BinaryCopyCounter(), data, chunk), 57);
    });
  }
  it('counts text COPY rows', async () => {
    assert.equal(await count(new TextCopyCounter(), Buffer.from('1\ta\\nb\n2\t\\N\n'), 3), 2);
  });
});
