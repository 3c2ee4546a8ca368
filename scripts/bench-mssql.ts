// Case 5, SQL Server → PG: only when MSSQL_URL names a server (none runs on
// the reference machine, so this case is written to the same pattern as the
// others but verifies row counts only).
import type { CaseReport, Variant } from './bench-report';

export const MSSQL_URL = process.env.MSSQL_URL;

const generateSql = (rows: number) => `
IF OBJECT_ID('dbo.bench') IS NOT NULL DROP TABLE dbo.bench;
CREATE TABLE dbo.bench (id bigint NOT NULL PRIMARY KEY, name nvarchar(100) NOT NULL, qty int NOT NULL,
  created_at datetimeoffset(6) NOT NULL, updated_at datetime2(6) NOT NULL, amount decimal(12,2) NOT NULL,
  note nvarchar(max) NULL, flag bit NOT NULL);
WITH d AS (SELECT n FROM (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) v(n)),
     s AS (SELECT TOP (${rows}) CAST(ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS bigint) AS g
             FROM d a CROSS JOIN d b CROSS JOIN d c CROSS JOIN d e CROSS JOIN d f CROSS JOIN d h CROSS JOIN d i CROSS JOIN d j)
INSERT INTO dbo.bench
SELECT g, CONCAT('name-', g, '-', (g * 7919) % 1000003, '-', (g * 104729) % 999983), (g * 13) % 1000,
       DATEADD(MICROSECOND, g % 999983, DATEADD(SECOND, CAST(g AS int), CAST('2020-01-01T00:00:00+00:00' AS datetimeoffset(6)))),
       DATEADD(MICROSECOND, g % 1000003, DATEADD(SECOND, CAST(g * 3 AS int), CAST('2024-01-01T00:00:00' AS datetime2(6)))),
       CAST(((g * 37) % 10000000) / 100.0 AS decimal(12,2)),
       CASE WHEN g % 10 = 0 THEN NULL ELSE CONCAT('note ', (g * 7) % 99991, ' ', (g * 31337) % 1000033, ' ', g) END,
       CASE WHEN g % 3 = 0 THEN 1 ELSE 0 END
FROM s;`;

/** Builds dbo.bench on the server named by MSSQL_URL. */
export async function ensureMssqlTable(rows: number): Promise<void> {
  // Loaded on demand: the driver is only needed when a server is given.
  // Text built without CONVERT(…, bytes, 2), which Babelfish decodes as text.
  const mssql = await import('mssql');
  const { parseMssqlUrl } = await import('../lib/sources/mssql');
  const pool = await new mssql.ConnectionPool(parseMssqlUrl(MSSQL_URL!)).connect();
  try {
    const have = await pool.request().query(`SELECT COUNT_BIG(*) AS n FROM sys.tables WHERE name = 'bench'`);
    const count = have.recordset[0].n > 0 ? (await pool.request().query('SELECT COUNT_BIG(*) AS n FROM dbo.bench')).recordset[0].n : -1;
    if (Number(count) !== rows) await pool.request().batch(generateSql(rows));
  } finally {
    await pool.close();
  }
}

export function skippedMssqlCase(): CaseReport {
  const v: Variant = { name: 'tablesync', role: 'tablesync', rows: 0, runs: [], skipped: 'MSSQL_URL is not set: no SQL Server to read from' };
  return { id: '5', title: 'SQL Server -> PG first sync', variants: [v], notes: [] };
}
