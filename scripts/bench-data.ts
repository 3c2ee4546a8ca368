// Source data for the benchmark, built inside the databases (generate_series
// in PostgreSQL, the SEQUENCE engine's seq_1_to_N in MariaDB) so building 1M
// rows takes seconds, and the checksums that decide whether a run counts.
import { createHash } from 'node:crypto';
import type { Connection as MysqlConnection } from 'mysql2/promise';
import type { Client as PgClient } from 'pg';

/** Bumped whenever the generator changes, so stale source tables are rebuilt. */
const DATA_VERSION = 2;

export const COLUMNS = ['id', 'name', 'qty', 'created_at', 'updated_at', 'amount', 'note', 'flag'] as const;
export const COLUMN_LIST = COLUMNS.join(', ');

/** PostgreSQL column types of the PG source (and of every PG→PG target). */
export const PG_SOURCE_TYPES = ['bigint', 'text', 'integer', 'timestamptz', 'timestamp', 'numeric(12,2)', 'text', 'boolean'];
/** What tablesync maps the MariaDB source's columns to; the MariaDB baselines load into the same types. */
export const PG_FROM_MYSQL_TYPES = ['bigint', 'varchar(100)', 'integer', 'timestamptz(6)', 'timestamp(6)', 'numeric(12,2)', 'text', 'boolean'];

/** CREATE TABLE for the bench shape; `key` adds the primary key up front. */
export function pgTableDdl(table: string, types: string[], key: boolean): string {
  const cols = COLUMNS.map((c, i) => `${c} ${types[i]}${c === 'note' ? '' : ' NOT NULL'}`);
  return `CREATE TABLE ${table} (${cols.join(', ')}${key ? ', PRIMARY KEY (id)' : ''})`;
}

// Every value is a function of the row number g, identical in both engines,
// ASCII only and without tabs, newlines or backslashes (so the mariadb
// --batch baseline needs no unescaping), ~150 bytes a row, 10% NULL notes.
const pgRowsSql = (table: string, from: number, to: number) => `
INSERT INTO ${table} (${COLUMN_LIST})
SELECT g, 'name-' || g || '-' || md5(g::text), (g * 13) % 1000,
       timestamptz '2020-01-01 00:00:00+00' + g * interval '1 second' + (g % 999983) * interval '1 microsecond',
       timestamp '2024-01-01 00:00:00' + g * interval '3 second' + (g % 1000003) * interval '1 microsecond',
       ((g * 37) % 10000000) / 100.0,
       CASE WHEN g % 10 = 0 THEN NULL ELSE 'note ' || md5((g * 7)::text) || ' ' || g END,
       g % 3 = 0
FROM generate_series(${from}::bigint, ${to}::bigint) g`;

const mysqlRowsSql = (table: string, from: number, to: number) => `
INSERT INTO ${table} (${COLUMN_LIST})
SELECT seq, CONCAT('name-', seq, '-', MD5(seq)), (seq * 13) % 1000,
       TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq SECOND + INTERVAL (seq % 999983) MICROSECOND,
       TIMESTAMP'2024-01-01 00:00:00' + INTERVAL (seq * 3) SECOND + INTERVAL (seq % 1000003) MICROSECOND,
       ((seq * 37) % 10000000) / 100,
       IF(seq % 10 = 0, NULL, CONCAT('note ', MD5(seq * 7), ' ', seq)),
       seq % 3 = 0
FROM seq_1_to_${to} WHERE seq >= ${from}`;

const MYSQL_DDL = (table: string) => `CREATE TABLE ${table} (
  id bigint NOT NULL PRIMARY KEY, name varchar(100) NOT NULL, qty int NOT NULL,
  created_at timestamp(6) NOT NULL, updated_at datetime(6) NOT NULL, amount decimal(12,2) NOT NULL,
  note text NULL, flag tinyint(1) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

// ------------------------------------------------------------ PostgreSQL source

async function pgMetaRows(pg: PgClient, name: string): Promise<number | null> {
  await pg.query('CREATE TABLE IF NOT EXISTS public.bench_meta (name text PRIMARY KEY, rows bigint, version int)');
  const r = await pg.query('SELECT rows, version FROM public.bench_meta WHERE name = $1', [name]);
  return r.rowCount && r.rows[0].version === DATA_VERSION ? Number(r.rows[0].rows) : null;
}

async function pgSetMeta(pg: PgClient, name: string, rows: number): Promise<void> {
  await pg.query(
    `INSERT INTO public.bench_meta VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET rows = $2, version = $3`,
    [name, rows, DATA_VERSION],
  );
}

/** (Re)builds a PG source table of `rows` rows unless the right one is already there. Returns true if built. */
export async function ensurePgTable(pg: PgClient, table: string, rows: number): Promise<boolean> {
  if ((await pgMetaRows(pg, table)) === rows) return false;
  await pg.query(`DROP TABLE IF EXISTS ${table}`);
  // Key built after the load: the fast way to fill a table, and the data is ours.
  await pg.query(pgTableDdl(table, PG_SOURCE_TYPES, false));
  const chunk = 2_000_000;
  for (let from = 1; from <= rows; from += chunk) await pg.query(pgRowsSql(table, from, Math.min(rows, from + chunk - 1)));
  await pg.query(`ALTER TABLE ${table} ADD PRIMARY KEY (id)`);
  // Sets hint bits and the visibility map once, so no timed run pays for it,
  // and gives the planner (and tablesync's row estimate) real statistics.
  await pg.query(`VACUUM (ANALYZE) ${table}`);
  await pgSetMeta(pg, table, rows);
  return true;
}

/** The bench table keyed otherwise (case 8): by a uuid (md5 of id, so in no physical order), or by (qty, name) (ties on qty). */
export const KEYED_TABLES = {
  'public.bench_uuid': { select: `md5(id::text)::uuid AS uid, ${COLUMN_LIST}`, key: 'uid' },
  'public.bench_comp': { select: COLUMN_LIST, key: 'qty, name' },
} as const;

/** (Re)builds a KEYED_TABLES table from public.bench (of `rows` rows) unless it is there. Returns true if built. */
export async function ensurePgKeyedTable(pg: PgClient, table: keyof typeof KEYED_TABLES, rows: number): Promise<boolean> {
  if ((await pgMetaRows(pg, table)) === rows) return false;
  const { select, key } = KEYED_TABLES[table];
  await pg.query(`DROP TABLE IF EXISTS ${table}`);
  await pg.query(`CREATE TABLE ${table} AS SELECT ${select} FROM public.bench`);
  await pg.query(`ALTER TABLE ${table} ADD PRIMARY KEY (${key})`);
  await pg.query(`VACUUM (ANALYZE) ${table}`);
  await pgSetMeta(pg, table, rows);
  return true;
}

export const MANY_TABLES = 100;
export const MANY_ROWS = 1_000;
export const manyTableName = (i: number): string => `t${String(i).padStart(3, '0')}`;

/** Schema `many` with 100 tables of 1,000 rows each (case 4). */
export async function ensurePgManyTables(pg: PgClient): Promise<boolean> {
  if ((await pgMetaRows(pg, 'many.*')) === MANY_TABLES * MANY_ROWS) return false;
  await pg.query('DROP SCHEMA IF EXISTS many CASCADE; CREATE SCHEMA many');
  for (let i = 1; i <= MANY_TABLES; i++) {
    const t = `many.${manyTableName(i)}`;
    await pg.query(pgTableDdl(t, PG_SOURCE_TYPES, true));
    await pg.query(pgRowsSql(t, 1, MANY_ROWS));
  }
  await pg.query('ANALYZE');
  await pgSetMeta(pg, 'many.*', MANY_TABLES * MANY_ROWS);
  return true;
}

/**
 * Changes `qty`, `updated_at` and (NULL ↔ value) `note` of the rows whose
 * id % 1000 is one of the `slots` slots from `slot` on: exactly
 * N × slots/1000 rows, spread over the whole key range.
 */
export async function mutatePgSource(pg: PgClient, table: string, slot: number, slots = 1): Promise<number> {
  const r = await pg.query(
    `UPDATE ${table} SET qty = qty + 1, updated_at = updated_at + interval '1 second',
            note = CASE WHEN note IS NULL THEN 'changed by bench' ELSE NULL END
      WHERE ((id - $1) % 1000 + 1000) % 1000 < $2`,
    [slot, slots],
  );
  return r.rowCount ?? 0;
}

// --------------------------------------------------------------- MariaDB source

/** (Re)builds the MariaDB source table unless the right one is already there. Returns true if built. */
export async function ensureMysqlTable(my: MysqlConnection, table: string, rows: number): Promise<boolean> {
  await my.query('CREATE TABLE IF NOT EXISTS bench_meta (name varchar(64) PRIMARY KEY, `rows` bigint, version int)');
  const [meta] = (await my.query('SELECT `rows`, version FROM bench_meta WHERE name = ?', [table])) as unknown as [
    { rows: string; version: number }[],
  ];
  if (meta.length && Number(meta[0].rows) === rows && meta[0].version === DATA_VERSION) return false;
  await my.query(`DROP TABLE IF EXISTS ${table}`);
  await my.query(MYSQL_DDL(table));
  // Chunks keep each transaction's undo log small; ids arrive in key order.
  const chunk = 1_000_000;
  for (let from = 1; from <= rows; from += chunk) await my.query(mysqlRowsSql(table, from, Math.min(rows, from + chunk - 1)));
  // Fresh statistics: tablesync sizes partitions from information_schema.TABLES.TABLE_ROWS.
  await my.query(`ANALYZE TABLE ${table}`);
  await my.query('REPLACE INTO bench_meta VALUES (?, ?, ?)', [table, rows, DATA_VERSION]);
  return true;
}

// -------------------------------------------------------------------- checksums

export interface Checksum {
  rows: number;
  /** md5 over per-block md5s of the canonical row text, in key order. */
  digest: string;
}

const BLOCK = 100_000;

// One canonical text per row, spelled so both engines produce the same bytes:
// timestamps as epoch seconds with 6 decimals (timestamptz is an instant, the
// naive timestamp read as UTC), booleans as 0/1, NULL as \N.
const PG_ROW_TEXT = `concat_ws('|', id, name, qty, extract(epoch from created_at), extract(epoch from updated_at),
  amount, coalesce(note, '\\N'), flag::int)`;
const MYSQL_ROW_TEXT = `CONCAT_WS('|', id, name, qty, UNIX_TIMESTAMP(created_at), UNIX_TIMESTAMP(updated_at),
  amount, COALESCE(note, '\\\\N'), flag)`;

function combine(blocks: { b: string | number; n: string | number; h: string | null }[]): Checksum {
  const hash = createHash('md5');
  let rows = 0;
  for (const { b, n, h } of blocks) {
    if (Number(n) === 0) continue;
    hash.update(`${b}:${n}:${h}\n`);
    rows += Number(n);
  }
  return { rows, digest: hash.digest('hex') };
}

/**
 * Ordered checksum of a bench-shaped PG table: md5 of the rows' canonical
 * text in key order, per block of 100,000 ids (one string per block keeps
 * far below PostgreSQL's 1 GB value limit at 10M rows), blocks spread over
 * `lanes` connections because a checksum of 1M rows costs ~4 s of one core.
 */
export async function pgChecksum(connect: () => Promise<PgClient>, table: string, lanes = 2): Promise<Checksum> {
  const clients = await Promise.all(Array.from({ length: lanes }, connect));
  try {
    return await pgChecksumWith(clients, table);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

/** pgChecksum on clients the caller owns (one is enough for small tables). */
export async function pgChecksumWith(clients: PgClient[], table: string): Promise<Checksum> {
  for (const c of clients) await c.query("SET jit = off; SET work_mem = '64MB'");
  const bounds = await clients[0].query(`SELECT min(id) AS lo, max(id) AS hi FROM ${table}`);
  if (bounds.rows[0].lo === null) return combine([]);
  const first = Math.floor(Number(bounds.rows[0].lo) / BLOCK);
  const last = Math.floor(Number(bounds.rows[0].hi) / BLOCK);
  const blocks: { b: number; n: string; h: string | null }[] = [];
  let next = first;
  await Promise.all(
    clients.map(async (c) => {
      while (next <= last) {
        const b = next++;
        const r = await c.query(
          `SELECT count(*) AS n, md5(string_agg(${PG_ROW_TEXT}, E'\\n' ORDER BY id)) AS h
             FROM ${table} WHERE id >= $1 AND id < $2`,
          [b * BLOCK, (b + 1) * BLOCK],
        );
        blocks.push({ b, ...r.rows[0] });
      }
    }),
  );
  return combine(blocks.sort((x, y) => x.b - y.b));
}

/** The same checksum computed by MariaDB (one query; the source is checksummed once per case). */
export async function mysqlChecksum(my: MysqlConnection, table: string): Promise<Checksum> {
  await my.query(`SET SESSION group_concat_max_len = ${BLOCK * 200}`);
  const [rows] = (await my.query(
    `SELECT id DIV ${BLOCK} AS b, COUNT(*) AS n, MD5(GROUP_CONCAT(${MYSQL_ROW_TEXT} ORDER BY id SEPARATOR '\\n')) AS h
       FROM ${table} GROUP BY b ORDER BY b`,
  )) as unknown as [{ b: string; n: string; h: string }[]];
  return combine(rows);
}

/** Why two checksums differ, or null when they are equal. */
export function checksumMismatch(expected: Checksum, actual: Checksum): string | null {
  if (expected.rows !== actual.rows) return `row count ${actual.rows}, source has ${expected.rows}`;
  if (expected.digest !== actual.digest) return `checksum differs from the source's (same row count ${actual.rows})`;
  return null;
}
