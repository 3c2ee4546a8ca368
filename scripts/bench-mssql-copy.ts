// Case 5's hand-written baseline: the mssql driver streams dbo.bench and its
// rows go into PostgreSQL's COPY as text, nothing else (no plan, no state, no
// workflow). Values that JS numbers or Dates would change are converted to
// text on the server, as any careful hand copy would.
//   node dist/scripts/bench-mssql-copy.js <mssql url> <postgres url> <target table>
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { ConnectionPool } from 'mssql';
import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { parseMssqlUrl } from '../lib/sources/mssql';

const SELECT = `SELECT CONVERT(varchar(20), id), name, qty,
  CONVERT(varchar(33), created_at, 127), CONVERT(varchar(26), updated_at, 121), CONVERT(varchar(20), amount), note, flag FROM dbo.bench`;

const escape = (v: unknown): string =>
  v === null || v === undefined ? '\\N' : typeof v === 'boolean' ? (v ? 't' : 'f') : String(v).replace(/[\\\n\r\t]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!);

async function main(): Promise<void> {
  const [msUrl, pgUrl, table] = process.argv.slice(2);
  const pool = await new ConnectionPool(parseMssqlUrl(msUrl)).connect();
  const pg = new Client({ connectionString: pgUrl });
  await pg.connect();
  try {
    const request = pool.request();
    request.arrayRowMode = true;
    const rows = request.toReadableStream();
    void request.query(SELECT).catch(() => undefined);
    const lines = Readable.from(
      (async function* () {
        for await (const row of rows) yield `${(row as unknown[]).map(escape).join('\t')}\n`;
      })(),
    );
    await pipeline(lines, pg.query(copyFrom(`COPY ${table} (id, name, qty, created_at, updated_at, amount, note, flag) FROM STDIN`)));
  } finally {
    await pg.end();
    await pool.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
