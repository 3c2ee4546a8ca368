import type { Pool, QueryResult } from 'pg';
import type { TableRef } from '../../types';
import { chunks, COUNT_CHUNK, estimateOrCount, estimateOrCountMany, refKey, type SourceTable } from '../base';
import { qualifyPg } from './sql';

type Queryable = Pick<Pool, 'query'>;

/** The tables a batched catalog query asks for: (schema, name) pairs with their position. */
const WANTED = `unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(schema, name, i)`;
/** Tables per batched catalog query. */
const CATALOG_CHUNK = 5_000;


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
      t.typname AS data_type, a.attgenerated <> '' AS generated, a.atthasdef AND a.attgenerated = '' AS has_default
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
  uniqueKeysSql: `SELECT i.indexrelid::text AS idx, a.attname AS name
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE n.nspname = $1 AND c.relname = $2 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
      AND NOT EXISTS (SELECT 1 FROM pg_attribute b WHERE b.attrelid = i.indrelid AND b.attnum = ANY (i.indkey) AND NOT b.attnotnull)
    ORDER BY i.indexrelid, array_position(i.indkey::int2[], a.attnum)`,
  // Statistics only: NULL when never analyzed. (pg_relation_size would wait
  // behind any DDL lock on the table, so the catalog step avoids it.)
  estimateSql: `SELECT CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS estimate
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relname = $2`,

  // The same queries for many tables at once: the tables wanted are an array of (schema, name) pairs,
  // joined by name, each row tagged with its pair's position (w.i).
  columnsManySql: `SELECT w.i::int AS i, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
      t.typname AS data_type, a.attgenerated <> '' AS generated, a.atthasdef AND a.attgenerated = '' AS has_default
    FROM ${WANTED}
    JOIN pg_namespace n ON n.nspname = w.schema
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.name AND c.relkind IN ('r', 'p')
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_type t ON t.oid = a.atttypid
    ORDER BY w.i, a.attnum`,
  primaryKeyManySql: `SELECT w.i::int AS i, a.attname AS name
    FROM ${WANTED}
    JOIN pg_namespace n ON n.nspname = w.schema
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.name
    JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    ORDER BY w.i, array_position(i.indkey::int2[], a.attnum)`,
  estimateManySql: `SELECT w.i::int AS i, CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS estimate
    FROM ${WANTED}
    JOIN pg_namespace n ON n.nspname = w.schema
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.name`,

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
        ...(r.has_default && { hasDefault: true }),
      })),
      primaryKey: pk.rows.map((r) => r.name),
    };
  },

  /**
   * describeTable of many tables in two queries: each table found, keyed by
   * refKey. A table not found is left out (describeTable then says null).
   */
  async describeTables(db: Queryable, refs: TableRef[]): Promise<Map<string, SourceTable>> {
    const found = new Map<string, SourceTable>();
    for (const part of chunks(refs, CATALOG_CHUNK)) {
      const names = [part.map((r) => r.schema), part.map((r) => r.name)];
      const cols = await db.query(this.columnsManySql, names);
      const pk = await db.query(this.primaryKeyManySql, names);
      for (const r of cols.rows) {
        const ref = part[r.i - 1];
        const key = refKey(ref);
        let table = found.get(key);
        if (!table) found.set(key, (table = { ref, columns: [], primaryKey: [] }));
        table.columns.push({
          name: r.name,
          type: r.type,
          dataType: r.data_type,
          nullable: r.nullable,
          ...(r.generated && { generated: true }),
          ...(r.has_default && { hasDefault: true }),
        });
      }
      for (const r of pk.rows) found.get(refKey(part[r.i - 1]))?.primaryKey.push(r.name);
    }
    return found;
  },

  /** estimateRows of many tables: the statistics in one query, the tables never analyzed counted a group a statement. */
  estimateRowsMany(db: Queryable, refs: TableRef[]): Promise<Map<string, number>> {
    return estimateOrCountMany(
      refs,
      [
        async (part) => {
          const r = await db.query(this.estimateManySql, [part.map((t) => t.schema), part.map((t) => t.name)]);
          const byIndex = new Map<number, unknown>(r.rows.map((row) => [row.i, row.estimate]));
          return part.map((_, i) => byIndex.get(i + 1));
        },
      ],
      async (part) => {
        // Serially: tables never analyzed are mostly new or tiny (autovacuum analyzes none under 50 changed rows), and
        // a union of 100 counts was planned as a Parallel Append: two worker processes started for a few pages each.
        // SET LOCAL holds for this one statement's implicit transaction (the pool's session keeps its setting).
        const counted = await db.query(
          `SET LOCAL max_parallel_workers_per_gather = 0; ${part.map((t, i) => `SELECT ${i + 1} AS i, count(*)::bigint AS n FROM ${qualifyPg(t)}`).join(' UNION ALL ')}`,
        );
        const r = (Array.isArray(counted) ? counted[counted.length - 1] : counted) as QueryResult;
        const byIndex = new Map<number, unknown>(r.rows.map((row) => [Number(row.i), row.n]));
        return part.map((_, i) => byIndex.get(i + 1));
      },
    );
  },

  /** hasRows of many tables, a group a statement; a group whose statement fails is left out (ask hasRows). */
  async hasRowsMany(db: Queryable, refs: TableRef[]): Promise<Map<string, boolean>> {
    const found = new Map<string, boolean>();
    for (const part of chunks(refs, COUNT_CHUNK)) {
      try {
        const r = await db.query(`SELECT ${part.map((t, i) => `EXISTS (SELECT 1 FROM ${qualifyPg(t)}) AS h${i}`).join(', ')}`);
        part.forEach((t, i) => found.set(refKey(t), r.rows[0][`h${i}`] === true));
      } catch {
        // Each table of the group on its own, where its own error is reported.
      }
    }
    return found;
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
