import { Transform, type TransformCallback } from 'node:stream';
import type { Pool, PoolClient } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { ColumnPlan, CursorPlan, PartitionRange, TablePlan, TableRef } from '../types';
import type { CursorDialect } from './cursor';
import {
  type CatalogEntry,
  type CopyStream,
  type Dialect,
  type KeyDialect,
  type NameRule,
  type RangeSum,
  EXACT_NAMES,
  type SourceColumn,
  type SourceConnection,
  type SourceTable,
  estimateOrCount,
  andWhere,
  cursorBoundsSql,
  encodeKey,
  keyTypes,
  planFilter,
  qualify,
  rangePredicate,
  rejectNul,
  evenCuts,
  samplePercent,
  unsupportedType,
} from './base';

const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);

const PG_TIME = /^(date|timestamp(\(\d\))?( with(out)? time zone)?|timestamptz(\(\d\))?)$/;
const PG_NUMBER = /^(smallint|integer|bigint|numeric(\(\d+(,\d+)?\))?)$/;

/** Sessions are pinned to ISO dates and UTC, so a value's text is exact and parses back to itself. */
export const pgCursor: CursorDialect = {
  kind: (c) => (PG_TIME.test(c.type) ? 'time' : PG_NUMBER.test(c.type) ? 'number' : null),
  text: (q) => `${q}::text`,
  param: (p, c) => `${p}::${c.type}`,
  minus: (e, lb) => ('seconds' in lb ? `(${e} - make_interval(secs => ${lb.seconds}))` : `(${e} - ${lb.amount})`),
};

// Key types whose text (pinned session settings) reads back as the same value; others run as one range.
const PG_KEY_SPLITS =
  /^(smallint|integer|bigint|numeric(\(\d+(,\d+)?\))?|uuid|text|bytea|date|character varying(\(\d+\))?|character(\(\d+\))?|(timestamp|time)(\(\d\))? with(out)? time zone)$/;

export const pgKey: KeyDialect = {
  splits: (type) => PG_KEY_SPLITS.test(type),
  text: (q) => `${q}::text`,
  param: (p, type) => `${p}::${type}`,
  rowValues: true,
};

export const postgresDialect: Dialect = {
  name: 'postgres',
  defaultSchema: 'public',
  quoteIdent: (name) => `"${rejectNul(name).replace(/"/g, '""')}"`,
  placeholder: (i) => `$${i}`,
  isIntegerType: (type) => INTEGER_TYPES.has(type),
  mapType: (column, table) => mapPgType(column, table),
  cursor: pgCursor,
  key: pgKey,
  canonicalText: (column) => {
    const q = quotePg(column.name);
    // A user type's target name means nothing in the source: compare its text as it is.
    const same = column.sourceType === column.targetType || column.userType;
    return pgCanonical(same ? q : `${q}::${column.targetType}`, column.targetType);
  },
  digest: {
    row: (columns) => pgFields(columns.map((c) => postgresDialect.canonicalText!(c)!)),
    md5: pgMd5,
    sum32: pgSum32,
    rangeWhere: (plan, range, first) => pgRangeWhere(plan, range, first),
  },
};

/** Canonical texts as one length-prefixed text, as pgChecksumSql hashes them. */
export function pgFields(canonical: string[]): string {
  return canonical.map((e) => `coalesce(char_length(${e})::text || ':' || ${e}, 'N')`).join(' || ');
}
export function pgMd5(text: string): string {
  return `md5(${text})`;
}
export function pgSum32(hex: string): string {
  return `coalesce(sum(('x' || left(${hex}, 8))::bit(32)::bigint), 0)::text`;
}

/** timestamptz in each spelling: timestamptz, timestamptz(3), timestamp(3) with time zone. */
export function isTimestamptz(type: string): boolean {
  return /^(timestamptz|timestamp(\s*\(\s*\d+\s*\))?\s+with time zone)(\s*\(\s*\d+\s*\))?$/i.test(type.trim());
}

// Types whose values are catalog OIDs: copied as numbers they would name
// nothing (or something else) in the target, so they travel as their names.
const REG_TYPES = /^(regclass|regcollation|regconfig|regdictionary|regnamespace|regoper|regoperator|regproc|regprocedure|regrole|regtype)(\[\])*$/i;
export const isRegType = (type: string): boolean => REG_TYPES.test(type.trim());

/**
 * PostgreSQL to PostgreSQL: the type as format_type() spells it, typmod
 * included, except reg* types, whose names go as text, and oid, refused: its
 * number means nothing in another database.
 */
export function mapPgType(column: SourceColumn, table: TableRef): string {
  if (isRegType(column.type)) return column.type.replace(/^[a-z]+/i, 'text');
  if (/^oid(\[\])*$/i.test(column.type)) {
    throw unsupportedType(table, column, { type: 'bigint', why: 'to copy the numbers' }, 'holds object ids that name nothing in another database');
  }
  return column.type;
}

/**
 * The canonical text of a value of a PostgreSQL type: what verification
 * compares. It depends on no session setting and tells apart every pair of
 * stored values: times with six fractional digits, in UTC, with their era
 * (AD/BC) and ±infinity spelled out; intervals as months, days and
 * microseconds; floats by their bits; hex for bytes; t/f for booleans; the
 * type's own output otherwise (numeric keeps its scale, jsonb its digits).
 */
export function pgCanonical(value: string, type: string): string {
  const expr = `(${value})`;
  const t = type.toLowerCase();
  const finite = (text: string) => `CASE WHEN isfinite(${expr}) THEN ${text} ELSE ${expr}::text END`;
  if (isTimestamptz(t)) {
    return finite(`to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US BC')`);
  }
  if (t.startsWith('timestamp')) return finite(`to_char(${expr}, 'YYYY-MM-DD HH24:MI:SS.US BC')`);
  if (t === 'date') return finite(`to_char(${expr}::timestamp, 'YYYY-MM-DD BC')`);
  if (/^time(\(\d\))? with time zone$|^timetz/.test(t)) {
    return `to_char(${expr}::time, 'HH24:MI:SS.US') || ' ' || extract(timezone FROM ${expr})::int`;
  }
  if (t.startsWith('time')) return `to_char(${expr}, 'HH24:MI:SS.US')`;
  if (/^interval/.test(t)) {
    const part = (f: string) => `extract(${f} FROM ${expr})`;
    return (
      `(${part('year')} * 12 + ${part('month')})::bigint || ' ' || ${part('day')}::bigint || ' ' || ` +
      `(${part('hour')} * 3600000000 + ${part('minute')} * 60000000 + ${part('microseconds')})::bigint`
    );
  }
  if (t === 'double precision') return `encode(float8send(${expr}), 'hex')`;
  if (t === 'real') return `encode(float4send(${expr}), 'hex')`;
  if (t === 'bytea') return `encode(${expr}, 'hex')`;
  if (t === 'boolean') return `CASE WHEN ${expr} THEN 't' WHEN NOT ${expr} THEN 'f' END`;
  return `${expr}::text`;
}

/**
 * Row count and the sum of the first 32 bits of md5 over each row's canonical
 * text: order-free, so PostgreSQL and MySQL compute the same figure without
 * agreeing on collation. Each field is length-prefixed ("<chars>:<text>", NULL
 * as "N"), so no value can pass for two fields, a NULL, or another split.
 */
/** `live`: a condition rows must meet to be counted (a soft-delete target's unmarked rows). */
export function pgChecksumSql(
  table: TableRef,
  canonical: string[],
  keyColumns: string | string[],
  range: PartitionRange,
  live?: string,
  /** The key columns' types, to bind bounds as (on the source); untyped: inferred from the columns. */
  types?: string[],
): { text: string; values: string[] } {
  const where = rangePredicate(postgresDialect, keyColumns, range, 1, types ? (p, i) => pgKey.param(p, types[i]) : undefined);
  if (live) where.sql += `${where.sql ? ' AND' : ' WHERE'} ${live}`;
  return {
    text: `SELECT count(*)::bigint AS rows, ${pgSum32(pgMd5(pgFields(canonical)))} AS sum FROM ${qualifyPg(table)}${where.sql}`,
    values: where.params,
  };
}

/** The collation a key column sorts in (no row: its type has none). */
export const pgKeyCollationSql = `SELECT n.nspname AS schema, c.collname AS name FROM pg_attribute a
  JOIN pg_collation c ON c.oid = a.attcollation JOIN pg_namespace n ON n.oid = c.collnamespace
  WHERE a.attrelid = to_regclass($1) AND a.attname = $2`;

/** A one-column key's histogram bounds ($1 schema, $2 table, $3 column) as the key's text, sorted in its collation. */
export function pgHistogramSql(type: string, collation: TableRef | null): string {
  const collate = collation ? ` COLLATE ${qualifyPg(collation)}` : '';
  // A partitioned or inheritance parent is read with its children: their histogram (inherited) when there is one.
  return `SELECT b::text AS k0 FROM (SELECT DISTINCT b${collate} AS b
      FROM (SELECT histogram_bounds FROM pg_stats WHERE schemaname = $1 AND tablename = $2 AND attname = $3
             ORDER BY inherited DESC LIMIT 1) s, unnest(s.histogram_bounds::text::${type}[]) AS b) h
    ORDER BY b`;
}

/**
 * Cut points from a page sample of the key columns: the sample sorted by the
 * key (each column in its own collation), every (n / pieces)-th row kept.
 * $1 the sample percentage, $2 the pieces. Sampled rows are distinct keys.
 */
export function pgSampleSql(plan: TablePlan, pieces: number, percent: number): { text: string; values: string[] } {
  const quoted = plan.primaryKey.map(quotePg);
  const texts = quoted.map((q, i) => `${pgKey.text(q, keyTypes(plan)[i])} AS k${i}`);
  return {
    text: `SELECT ${quoted.map((_, i) => `k${i}`).join(', ')} FROM (
  SELECT ${texts.join(', ')}, row_number() OVER (ORDER BY ${quoted.join(', ')}) AS rn, count(*) OVER () AS n
    FROM ${qualifyPg(plan.source)} TABLESAMPLE SYSTEM ($1::float8)) s
  WHERE rn < n AND (rn * $2::bigint) / n > ((rn - 1) * $2::bigint) / n
  ORDER BY rn`,
    values: [String(percent), String(pieces)],
  };
}

export const quotePg = postgresDialect.quoteIdent;
export const qualifyPg = (ref: TableRef): string => qualify(postgresDialect, ref);

type Queryable = Pick<Pool, 'query'>;

// Catalog queries, shared by the PostgreSQL source and the PostgreSQL target.
export const pgCatalog = {
  // Partitions and inheritance children are listed with their parent: reading
  // the parent reads their rows, so a pattern must not take them a second time.
  listTablesSql: `SELECT DISTINCT ON (n.nspname, c.relname) n.nspname AS schema, c.relname AS name,
      CASE WHEN c.relkind IN ('v', 'm') THEN 'view' WHEN c.relispartition THEN 'partition'
           WHEN p.oid IS NOT NULL THEN 'child' ELSE 'table' END AS kind,
      pn.nspname AS parent_schema, p.relname AS parent_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
    LEFT JOIN pg_class p ON p.oid = i.inhparent
    LEFT JOIN pg_namespace pn ON pn.oid = p.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%' AND c.relname NOT LIKE '\\_ts\\_stg\\_%'
    ORDER BY n.nspname, c.relname, i.inhseqno`,
  // Generated columns are listed and marked: a source's are read like any
  // column, a target's cannot be written (see planCompareColumns).
  columnsSql: `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
      t.typname AS data_type, a.attgenerated <> '' AS generated
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_type t ON t.oid = a.atttypid
    WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
      AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum`,
  primaryKeySql: `SELECT a.attname AS name
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE n.nspname = $1 AND c.relname = $2 AND i.indisprimary
    ORDER BY array_position(i.indkey::int2[], a.attnum)`,
  // Statistics only: NULL when never analyzed. (pg_relation_size would wait
  // behind any DDL lock on the table, so the catalog step avoids it.)
  estimateSql: `SELECT CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS estimate
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relname = $2`,

  async describeTable(db: Queryable, ref: TableRef): Promise<SourceTable | null> {
    const cols = await db.query(this.columnsSql, [ref.schema, ref.name]);
    if (cols.rowCount === 0) return null;
    const pk = await db.query(this.primaryKeySql, [ref.schema, ref.name]);
    return {
      ref,
      columns: cols.rows.map((r) => ({
        name: r.name,
        type: r.type,
        dataType: r.data_type,
        nullable: r.nullable,
        ...(r.generated && { generated: true }),
      })),
      primaryKey: pk.rows.map((r) => r.name),
    };
  },

  estimateRows(db: Queryable, ref: TableRef): Promise<number> {
    return estimateOrCount(
      [async () => (await db.query(this.estimateSql, [ref.schema, ref.name])).rows[0]?.estimate],
      async () => (await db.query(`SELECT count(*)::bigint AS n FROM ${qualifyPg(ref)}`)).rows[0]?.n,
    );
  },

  async hasRows(db: Queryable, ref: TableRef): Promise<boolean> {
    const r = await db.query(`SELECT EXISTS (SELECT 1 FROM ${qualifyPg(ref)}) AS has`);
    return r.rows[0].has === true;
  },
};

/**
 * Counts tuples in a binary COPY stream by walking field lengths, without
 * decoding values, so heartbeats can report rows while bytes pass through.
 */
export class BinaryCopyCounter extends Transform {
  rows = 0;
  private skip = 15; // signature (11) + flags (4)
  private state: 'ext' | 'tuple' | 'len' | 'end' = 'ext';
  private fieldsLeft = 0;
  private readonly tmp = Buffer.alloc(4);
  private tmpLen = 0;

  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.scan(chunk);
    cb(null, chunk);
  }

  private scan(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length && this.state !== 'end') {
      if (this.skip > 0) {
        const s = Math.min(this.skip, chunk.length - i);
        this.skip -= s;
        i += s;
        continue;
      }
      const want = this.state === 'tuple' ? 2 : 4;
      let value: number;
      if (this.tmpLen === 0 && chunk.length - i >= want) {
        value = want === 2 ? chunk.readInt16BE(i) : chunk.readInt32BE(i);
        i += want;
      } else {
        while (this.tmpLen < want && i < chunk.length) this.tmp[this.tmpLen++] = chunk[i++];
        if (this.tmpLen < want) return;
        value = want === 2 ? this.tmp.readInt16BE(0) : this.tmp.readInt32BE(0);
        this.tmpLen = 0;
      }
      if (this.state === 'ext') {
        this.skip = value;
        this.state = 'tuple';
      } else if (this.state === 'tuple') {
        if (value === -1) this.state = 'end';
        else {
          this.rows++;
          this.fieldsLeft = value;
          if (value > 0) this.state = 'len';
        }
      } else {
        if (value > 0) this.skip = value;
        if (--this.fieldsLeft === 0) this.state = 'tuple';
      }
    }
  }
}

/** Text COPY escapes newlines inside values, so each raw newline ends a row. */
export class TextCopyCounter extends Transform {
  rows = 0;
  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.rows++;
    cb(null, chunk);
  }
}

/** WHERE of one key range on the source, bounds bound as the key columns' own types, numbered from `first`. */
export function pgRangeWhere(plan: TablePlan, range: PartitionRange, first = 1): { sql: string; params: string[] } {
  const types = keyTypes(plan);
  return rangePredicate(postgresDialect, plan.primaryKey, range, first, (p, i) => pgKey.param(p, types[i]));
}

/** Text of the source-side COPY for one key range, and the settings it reads its bounds from. */
export function pgRangeCopySql(
  plan: TablePlan,
  range: PartitionRange,
  format: 'binary' | 'text',
): { sql: string; settings: string[] } {
  // COPY cannot take bind parameters, so the bounds are bound into session
  // settings with set_config($n) and read back, typed, by the query.
  const viaSettings: Dialect = { ...postgresDialect, placeholder: (i) => `current_setting('tablesync.p${i}')` };
  const types = keyTypes(plan);
  const byKey = rangePredicate(viaSettings, plan.primaryKey, range, 1, (p, i) => pgKey.param(p, types[i]));
  // Cursor bounds after the key bounds, each read back as the cursor column's own type.
  const n = byKey.params.length;
  const where = andWhere(byKey, planFilter(postgresDialect, plan, (i) => `current_setting('tablesync.p${n + i}')`));
  const cols = plan.columns
    .map((c) => {
      const q = quotePg(c.name); // source-side name
      // Binary COPY is type-exact: cast where the target's type differs.
      return format === 'binary' && c.sourceType !== c.targetType ? `${q}::${c.targetType}` : q;
    })
    .join(', ');
  return {
    sql: `COPY (SELECT ${cols} FROM ${qualifyPg(plan.source)}${where.sql}) TO STDOUT (FORMAT ${format})`,
    settings: where.params,
  };
}

export class PostgresSource implements SourceConnection {
  readonly dialect = postgresDialect;
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

  estimateRows(ref: TableRef): Promise<number> {
    return pgCatalog.estimateRows(this.pool, ref);
  }

  async keyBounds(ref: TableRef, column: string): Promise<{ min: string | null; max: string | null }> {
    const q = quotePg(column);
    const r = await this.pool.query(`SELECT min(${q})::text AS min, max(${q})::text AS max FROM ${qualifyPg(ref)}`);
    return { min: r.rows[0].min, max: r.rows[0].max };
  }

  /**
   * A one-column key's histogram (pg_stats, from the last ANALYZE) when it has
   * enough bounds; otherwise a page sample (TABLESAMPLE SYSTEM) of the key
   * columns. Either way sorted here, by the source, in the key's collation.
   */
  async sampleKeys(plan: TablePlan, pieces: number, estimatedRows: number): Promise<string[]> {
    if (plan.primaryKey.length === 1) {
      const collation = (await this.pool.query(pgKeyCollationSql, [qualifyPg(plan.source), plan.primaryKey[0]])).rows[0];
      const sql = pgHistogramSql(keyTypes(plan)[0], collation ? { schema: collation.schema, name: collation.name } : null);
      const bounds = (await this.pool.query(sql, [plan.source.schema, plan.source.name, plan.primaryKey[0]])).rows.map((r) => r.k0 as string);
      // The histogram's first and last bounds are its min and max: pieces - 1 cuts strictly between need pieces + 1 bounds.
      if (bounds.length > pieces) return evenCuts(bounds, pieces);
    }
    const { text, values } = pgSampleSql(plan, pieces, samplePercent(pieces, estimatedRows));
    const rows = (await this.pool.query({ text, values, rowMode: 'array' })).rows as string[][];
    return rows.map((r) => encodeKey(r));
  }

  async queryRows(sql: string, params: string[]): Promise<Record<string, unknown>[]> {
    return (await this.pool.query(sql, params)).rows;
  }

  async cursorBounds(ref: TableRef, cursor: CursorPlan): Promise<{ max: string | null; nulls: number }> {
    const r = await this.pool.query(cursorBoundsSql(postgresDialect, ref, cursor));
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

  async openCopy(plan: TablePlan, range: PartitionRange, preferBinary: boolean): Promise<CopyStream> {
    // Binary COPY needs identical types; a cast to a narrower varchar/char/bit would
    // silently truncate, so a table whose types differ goes as text, whose input
    // functions refuse a value that does not fit.
    // User types go as text too: binary arrays and composites carry the source's type OIDs;
    // a reg* column also goes as text, on either side: its binary form is an OID.
    const sameTypes = plan.columns.every((c) => c.sourceType === c.targetType && !c.userType && !isRegType(c.targetType));
    const format = preferBinary && sameTypes ? 'binary' : 'text';
    const { sql, settings } = pgRangeCopySql(plan, range, format);
    const client: PoolClient = await this.pool.connect();
    // A backend killed mid-COPY also emits 'error' on the client; the stream carries it.
    const ignore = () => undefined;
    client.on('error', ignore);
    try {
      // One snapshot for the whole range, and never a write on the source.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      if (settings.length) {
        const calls = settings.map((_, i) => `set_config('tablesync.p${i + 1}', $${i + 1}, true)`).join(', ');
        await client.query(`SELECT ${calls}`, settings);
      }
    } catch (err) {
      client.off('error', ignore);
      client.release(err as Error);
      throw err;
    }
    const counter = format === 'binary' ? new BinaryCopyCounter() : new TextCopyCounter();
    const raw = client.query(copyTo(sql));
    const stream = raw.pipe(counter);
    raw.on('error', (err) => counter.destroy(err));
    let released = false;
    return {
      stream,
      format,
      rows: () => counter.rows,
      warnings: () => ({}),
      finish: async (error?: unknown) => {
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
      },
    };
  }

  async checksumRange(plan: TablePlan, columns: ColumnPlan[], range: PartitionRange): Promise<RangeSum> {
    const canonical = columns.map((c) => postgresDialect.canonicalText!(c)!);
    const r = await this.pool.query(pgChecksumSql(plan.source, canonical, plan.primaryKey, range, undefined, keyTypes(plan)));
    return { rows: Number(r.rows[0].rows), sum: r.rows[0].sum };
  }

  async close(): Promise<void> {
    // The pool belongs to the connection registry.
  }
}
