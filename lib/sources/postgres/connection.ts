import { Client, type ClientConfig, type Pool, type PoolClient } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { ColumnPlan, CursorPlan, PartitionRange, TablePlan, TableRef } from '../../types';
import {
  cursorBoundsSql,
  encodeKey,
  evenCuts,
  EXACT_NAMES,
  keyTypes,
  samplePercent,
  type CatalogEntry,
  type CopyStream,
  type HeldSnapshot,
  type NameRule,
  type RangeSum,
  type ReadSession,
  type SourceConnection,
  type SourceTable,
  EVERY_ROW,
  type ReadFilter,
  uniqueKeysOf,
} from '../base';
import { pgCatalog } from './catalog';
import { pgCursor } from './cursor';
import { postgresDialect } from './dialect';
import { pgCanonicalText, pgChecksumSql } from './digest';
import { pgHistogramSql, pgKeyCollationSql, pgSampleSql } from './keys';
import { PgChangeCapture } from './cdc';
import { BinaryCopyCounter, pgRangeCopySql, TextCopyCounter } from './read';
import { qualifyPg, quotePg } from './sql';
import { isRegType } from './types';
import { filterWhere, rowFilterOf } from '../row-filter';

// pg's own resolution of a client config (the URL with its query string, the
// PG* environment, the defaults): what a Client of this config connects to.
const ConnectionParameters = require('pg/lib/connection-parameters') as new (config: ClientConfig) => {
  host: string;
  port: number;
  user: string;
  database: string;
};

/**
 * Where a pool of this config connects, as the driver reads it: `?host=` and
 * `?port=` in the query string beat the URL's authority (socket-style URLs
 * are written that way), and what the URL leaves out comes from PGHOST,
 * PGPORT, ... and the driver's defaults.
 */
export function pgEndpoint(config: ClientConfig): Record<string, string> {
  const p = new ConnectionParameters(config);
  // Host names fold case; a socket directory is a path and does not.
  const host = String(p.host).startsWith('/') ? String(p.host) : String(p.host).toLowerCase();
  return { host, port: String(p.port), database: String(p.database), user: String(p.user) };
}

export class PostgresSource implements SourceConnection {
  readonly dialect = postgresDialect;
  readonly changeCapture = new PgChangeCapture(this);
  constructor(readonly pool: Pool) {}

  async listTables(): Promise<CatalogEntry[]> {
    const r = await this.pool.query(pgCatalog.listTablesSql);
    return r.rows.map((row) => ({
      schema: row.schema,
      name: row.name,
      kind: row.kind,
      ...(row.parent_name !== null && { parent: { schema: row.parent_schema, name: row.parent_name } }),
    }));
  }

  /** Names in the config are quoted identifiers: matched exactly, case included. */
  async nameRule(): Promise<NameRule> {
    return EXACT_NAMES;
  }

  describeTable(ref: TableRef): Promise<SourceTable | null> {
    return pgCatalog.describeTable(this.pool, ref);
  }

  describeTables(refs: TableRef[]): Promise<Map<string, SourceTable>> {
    return pgCatalog.describeTables(this.pool, refs);
  }

  estimateRows(ref: TableRef): Promise<number> {
    return pgCatalog.estimateRows(this.pool, ref);
  }

  estimateRowsMany(refs: TableRef[]): Promise<Map<string, number>> {
    return pgCatalog.estimateRowsMany(this.pool, refs);
  }

  async keyBounds(ref: TableRef, column: string, filter: ReadFilter = EVERY_ROW): Promise<{ min: string | null; max: string | null }> {
    const q = quotePg(column);
    const where = filterWhere(postgresDialect, filter);
    const r = await this.pool.query(`SELECT min(${q})::text AS min, max(${q})::text AS max FROM ${qualifyPg(ref)}${where.sql}`, where.params);
    return { min: r.rows[0].min, max: r.rows[0].max };
  }

  /**
   * A one-column key's histogram (pg_stats, from the last ANALYZE) when it has
   * enough bounds; otherwise a page sample (TABLESAMPLE SYSTEM) of the key
   * columns. Either way sorted here, by the source, in the key's collation.
   */
  async sampleKeys(plan: TablePlan, pieces: number, estimatedRows: number): Promise<string[]> {
    // The histogram describes every row; a filtered table's cut points come from a sample of its own rows.
    if (plan.primaryKey.length === 1 && !plan.rowFilter) {
      const collation = (await this.pool.query(pgKeyCollationSql, [qualifyPg(plan.source), plan.primaryKey[0]])).rows[0];
      const sql = pgHistogramSql(keyTypes(plan)[0], collation ? { schema: collation.schema, name: collation.name } : null);
      const bounds = (await this.pool.query(sql, [plan.source.schema, plan.source.name, plan.primaryKey[0]])).rows.map((r) => r.k0 as string);
      // The histogram's first and last bounds are its min and max: pieces - 1 cuts strictly between need pieces + 1 bounds.
      if (bounds.length > pieces) return evenCuts(bounds, pieces);
    }
    const { text, values } = pgSampleSql(plan, pieces, samplePercent(pieces, estimatedRows), rowFilterOf(plan)(postgresDialect, (i) => `$${2 + i}`));
    const rows = (await this.pool.query({ text, values, rowMode: 'array' })).rows as string[][];
    return rows.map((r) => encodeKey(r));
  }

  uniqueKeys(ref: TableRef): Promise<string[][]> {
    return uniqueKeysOf(this, pgCatalog.uniqueKeysSql, ref);
  }

  async queryRows(sql: string, params: string[]): Promise<Record<string, unknown>[]> {
    return (await this.pool.query(sql, params)).rows;
  }

  async cursorBounds(ref: TableRef, cursor: CursorPlan, filter: ReadFilter = EVERY_ROW): Promise<{ max: string | null; nulls: number }> {
    const { sql, params } = cursorBoundsSql(postgresDialect, ref, cursor, filter);
    const r = await this.pool.query(sql, params);
    return { max: r.rows[0].max_value, nulls: Number(r.rows[0].null_rows) };
  }

  async cursorValueText(column: { type: string; dataType: string }, value: string): Promise<string | null> {
    try {
      const r = await this.pool.query(`SELECT ${pgCursor.text(pgCursor.param('$1', column), column)} AS v`, [value]);
      return r.rows[0].v;
    } catch (err) {
      // Class 22 (data exception): the text is not a value of the type; anything else is a real failure.
      if (/^22/.test((err as { code?: string }).code ?? '')) return null;
      throw err;
    }
  }

  /** `snapshot`: read as of an exported snapshot (a cdc stream's starting point) instead of a new one. */
  async openCopy(plan: TablePlan, range: PartitionRange, preferBinary: boolean, filter: ReadFilter = EVERY_ROW, snapshot?: string): Promise<CopyStream> {
    const copy = rangeCopy(plan, range, preferBinary, filter);
    const client: PoolClient = await this.pool.connect();
    // A backend killed mid-COPY also emits 'error' on the client; the stream carries it.
    const ignore = () => undefined;
    client.on('error', ignore);
    try {
      // One snapshot for the whole range, and never a write on the source.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      if (snapshot !== undefined) {
        if (!/^[0-9A-F-]+$/i.test(snapshot)) throw new Error(`not a snapshot name: "${snapshot}"`);
        await client.query(`SET TRANSACTION SNAPSHOT '${snapshot}'`);
      }
      await bindRangeSettings(client, copy);
    } catch (err) {
      client.off('error', ignore);
      client.release(err as Error);
      throw err;
    }
    let released = false;
    return startCopy(client, copy, async (error) => {
      if (released) return;
      released = true;
      client.off('error', ignore);
      if (error) {
        client.release(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      try {
        await client.query('COMMIT');
        client.release();
      } catch (err) {
        client.release(err as Error);
        throw err;
      }
    });
  }

  /**
   * Reads of many small tables (a group of small loads) one after another on
   * one session, in one read-only transaction: each table's read is its COPY
   * alone, with no BEGIN, COMMIT or pool checkout of its own. A read that
   * fails (or is given up before its rows were all read) ends the session's
   * connection; the next read opens another.
   */
  async readSession(): Promise<ReadSession> {
    let open: { client: PoolClient; ignore: () => void } | null = null;
    const end = (error?: Error) => {
      if (!open) return;
      const { client, ignore } = open;
      open = null;
      client.off('error', ignore);
      client.release(error);
    };
    return {
      openCopy: async (plan, range, preferBinary, filter = EVERY_ROW) => {
        if (!open) {
          const client = await this.pool.connect();
          const ignore = () => undefined;
          client.on('error', ignore);
          open = { client, ignore };
          try {
            await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
          } catch (err) {
            end(err as Error);
            throw err;
          }
        }
        const session = open;
        const read = rangeCopy(plan, range, preferBinary, filter);
        try {
          await bindRangeSettings(session.client, read);
        } catch (err) {
          end(err as Error);
          throw err;
        }
        let ended = false;
        const copy = startCopy(session.client, read, async (error) => {
          // A read stopped before its COPY ended leaves the session mid-COPY: it cannot be used again.
          if (error && !ended && open === session) end(error instanceof Error ? error : new Error(String(error)));
        });
        copy.stream.once('end', () => (ended = true));
        copy.stream.once('error', (err) => open === session && end(err));
        return copy;
      },
      close: async () => {
        if (!open) return;
        const { client } = open;
        try {
          await client.query('COMMIT');
          end();
        } catch (err) {
          end(err as Error);
          throw err;
        }
      },
    };
  }

  async blockCount(ref: TableRef): Promise<number | null> {
    // TID Range Scans came with PostgreSQL 14: before, each block range would scan the whole table.
    // Plain tables only: a view has no blocks, and a partitioned table's blocks are its partitions'.
    const r = await this.pool.query(
      `SELECT CASE WHEN current_setting('server_version_num')::int >= 140000 AND c.relkind = 'r'
              THEN pg_relation_size(c.oid) / current_setting('block_size')::int END AS blocks
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2`,
      [ref.schema, ref.name],
    );
    const blocks = r.rows[0]?.blocks;
    return blocks === null || blocks === undefined ? null : Number(blocks);
  }

  /**
   * A session of its own (not one of the pool's, which partitions need) with a
   * REPEATABLE READ transaction whose snapshot it exports; every block range of
   * a load reads under that snapshot, so the ranges together hold each row
   * exactly once, however rows move between blocks while the load runs.
   */
  async holdSnapshot(): Promise<HeldSnapshot> {
    const client = new Client((this.pool as unknown as { options: ClientConfig }).options);
    let lost: Error | null = null;
    client.on('error', (err) => (lost ??= err));
    client.on('end', () => (lost ??= new Error('the session holding the snapshot was closed')));
    let name: string;
    try {
      await client.connect();
      // Held open on purpose, idle, for as long as the load reads: a server-wide idle timeout would end it.
      await client.query('SET idle_in_transaction_session_timeout = 0');
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      name = (await client.query('SELECT pg_export_snapshot() AS name')).rows[0].name;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    let released = false;
    return {
      name,
      get lost() {
        return released ? null : lost;
      },
      release: async () => {
        if (released) return;
        released = true;
        await client.query('ROLLBACK').catch(() => undefined);
        await client.end().catch(() => undefined);
      },
    };
  }

  async checksumRange(plan: TablePlan, columns: ColumnPlan[], range: PartitionRange): Promise<RangeSum> {
    const canonical = columns.map((c) => pgCanonicalText(c));
    const filter = rowFilterOf(plan);
    const r = await this.pool.query(pgChecksumSql(plan.source, canonical, plan.primaryKey, range, undefined, keyTypes(plan), (p) => filter(postgresDialect, p)));
    return { rows: Number(r.rows[0].rows), sum: r.rows[0].sum };
  }

  async close(): Promise<void> {
    // The pool belongs to the connection registry; the change streams this worker holds open end here.
    await this.changeCapture.closeAll();
  }
}


/** Binary COPY only when every column's type is the target's (see startCopy). */
function copyFormat(plan: TablePlan, preferBinary: boolean): 'binary' | 'text' {
  // Binary COPY needs identical types; a cast to a narrower varchar/char/bit would
  // silently truncate, so a table whose types differ goes as text, whose input
  // functions refuse a value that does not fit.
  // User types go as text too: binary arrays and composites carry the source's type OIDs;
  // a reg* column also goes as text, on either side: its binary form is an OID.
  const sameTypes = plan.columns.every((c) => c.sourceType === c.targetType && !c.userType && !isRegType(c.targetType));
  return preferBinary && sameTypes ? 'binary' : 'text';
}

/** A range's COPY: its format, its text, and the bounds it reads back from settings (COPY takes no parameters). */
type RangeCopy = ReturnType<typeof pgRangeCopySql> & { format: 'binary' | 'text' };

function rangeCopy(plan: TablePlan, range: PartitionRange, preferBinary: boolean, filter: ReadFilter): RangeCopy {
  const format = copyFormat(plan, preferBinary);
  return { ...pgRangeCopySql(plan, range, format, filter), format };
}

/** Binds the range's bounds into transaction-local settings the COPY reads back. */
async function bindRangeSettings(client: PoolClient, { settings }: RangeCopy): Promise<void> {
  if (settings.length) {
    const calls = settings.map((_, i) => `set_config('tablesync.p${i + 1}', $${i + 1}, true)`).join(', ');
    await client.query(`SELECT ${calls}`, settings);
  }
}

/** Starts the range's COPY on a client already in its read transaction (no round trip awaited). */
function startCopy(client: PoolClient, { sql, format }: RangeCopy, finish: (error?: unknown) => Promise<void>): CopyStream {
  const counter = format === 'binary' ? new BinaryCopyCounter() : new TextCopyCounter();
  const raw = client.query(copyTo(sql));
  const stream = raw.pipe(counter);
  raw.on('error', (err) => counter.destroy(err));
  return { stream, format, rows: () => counter.rows, warnings: () => ({}), finish };
}
