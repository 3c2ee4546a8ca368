import type { TableRef } from '../../types';
import { caseInsensitiveNames, chunks, EXACT_NAMES, estimateOrCount, estimateOrCountMany, type NameRule, type SourceColumn } from '../base';
import { qualifyMssql } from './sql';

/** One row of mssqlCatalog.columnsSql: sys.columns as SQL Server reports it. */
export interface MssqlColumnRow {
  name: string;
  type_schema: string;
  type_name: string;
  is_user_defined: boolean;
  /** Bytes: nchar/nvarchar take 2 per character; -1 for (max). */
  max_length: number;
  precision: number;
  scale: number;
  is_nullable: boolean;
  /** A computed column (absent in recordings made before they were read). */
  is_computed?: boolean;
}

/** Columns as describeTable reports them, from the rows of mssqlCatalog.columnsSql. */
export function columnsFromCatalog(rows: MssqlColumnRow[]): SourceColumn[] {
  return rows.map((r) => {
    if (r.is_user_defined) {
      // Alias and CLR user types are named with their schema, so one called
      // like a system type ("dbo.int") can never be mapped as that type.
      const type = `${r.type_schema}.${r.type_name}`;
      return { name: r.name, type, dataType: type.toLowerCase(), nullable: r.is_nullable, ...(r.is_computed && { generated: true }) };
    }
    const dataType = r.type_name.toLowerCase();
    const column: SourceColumn = { name: r.name, type: dataType, dataType, nullable: r.is_nullable, ...(r.is_computed && { generated: true }) };
    switch (dataType) {
      case 'decimal':
      case 'numeric':
        column.precision = r.precision;
        column.scale = r.scale;
        column.type = `${dataType}(${r.precision},${r.scale})`;
        break;
      case 'float':
        column.precision = r.precision;
        if (r.precision !== 53) column.type = `float(${r.precision})`;
        break;
      case 'time':
      case 'datetime2':
      case 'datetimeoffset':
        column.scale = r.scale;
        column.type = `${dataType}(${r.scale})`;
        break;
      case 'char':
      case 'varchar':
      case 'binary':
      case 'varbinary':
        column.length = r.max_length;
        column.type = `${dataType}(${r.max_length === -1 ? 'max' : r.max_length})`;
        break;
      case 'nchar':
      case 'nvarchar':
        column.length = r.max_length === -1 ? -1 : r.max_length / 2;
        column.type = `${dataType}(${r.max_length === -1 ? 'max' : column.length})`;
        break;
    }
    return column;
  });
}

// Names as created come from INFORMATION_SCHEMA: Babelfish's sys views give
// them lower-cased (Invoice as invoice), its INFORMATION_SCHEMA as written;
// on SQL Server both are the same name. Matched under the database's collation.
const TABLE_NAME = `COALESCE(it.TABLE_NAME, t.name)`;
const JOIN_TABLE_NAME = `LEFT JOIN INFORMATION_SCHEMA.TABLES it ON it.TABLE_SCHEMA = s.name AND it.TABLE_NAME = t.name`;
const COLUMN_NAME = `COALESCE(icn.COLUMN_NAME, c.name)`;
const JOIN_COLUMN_NAME = `LEFT JOIN INFORMATION_SCHEMA.COLUMNS icn ON icn.TABLE_SCHEMA = s.name AND icn.TABLE_NAME = t.name AND icn.COLUMN_NAME = c.name`;

// Catalog queries. Names are always bound as @p1 (schema) and @p2 (table).
export const mssqlCatalog = {
  listTablesSql: `SELECT s.name AS [schema], ${TABLE_NAME} AS name
    FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id
    ${JOIN_TABLE_NAME}
    WHERE t.is_ms_shipped = 0
    ORDER BY s.name, t.name`,
  // Computed columns too, marked: their values are copied like any column's
  // (sys.columns gives the type of the computed result).
  columnsSql: `SELECT ${COLUMN_NAME} AS name, SCHEMA_NAME(ty.schema_id) AS type_schema, ty.name AS type_name,
      ty.is_user_defined AS is_user_defined, c.max_length AS max_length, c.precision AS precision,
      c.scale AS scale, c.is_nullable AS is_nullable, c.is_computed AS is_computed
    FROM sys.columns c
    JOIN sys.tables t ON t.object_id = c.object_id
    JOIN sys.schemas s ON s.schema_id = t.schema_id
    JOIN sys.types ty ON ty.user_type_id = c.user_type_id
    ${JOIN_COLUMN_NAME}
    WHERE s.name = @p1 AND t.name = @p2
    ORDER BY c.column_id`,
  primaryKeySql: `SELECT ${COLUMN_NAME} AS name
    FROM sys.indexes i
    JOIN sys.tables t ON t.object_id = i.object_id
    JOIN sys.schemas s ON s.schema_id = t.schema_id
    JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
    JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
    ${JOIN_COLUMN_NAME}
    WHERE s.name = @p1 AND t.name = @p2 AND i.is_primary_key = 1 AND ic.key_ordinal > 0
    ORDER BY ic.key_ordinal`,
  uniqueKeysSql: `SELECT i.name AS idx, c.name AS name
    FROM sys.indexes i
    JOIN sys.tables t ON t.object_id = i.object_id
    JOIN sys.schemas s ON s.schema_id = t.schema_id
    JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
    JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
    WHERE s.name = @p1 AND t.name = @p2 AND i.is_unique = 1 AND i.has_filter = 0 AND ic.key_ordinal > 0
      AND NOT EXISTS (SELECT 1 FROM sys.index_columns ic2 JOIN sys.columns c2 ON c2.object_id = ic2.object_id AND c2.column_id = ic2.column_id
        WHERE ic2.object_id = i.object_id AND ic2.index_id = i.index_id AND ic2.key_ordinal > 0 AND c2.is_nullable = 1)
    ORDER BY i.name, ic.key_ordinal`,
  // Heap (0) or clustered index (1): each row counted once. Maintained by the
  // engine, so no statistics need to exist, but it needs VIEW DATABASE STATE.
  estimateSql: `SELECT SUM(ps.row_count) AS estimate
    FROM sys.dm_db_partition_stats ps
    JOIN sys.tables t ON t.object_id = ps.object_id
    JOIN sys.schemas s ON s.schema_id = t.schema_id
    WHERE s.name = @p1 AND t.name = @p2 AND ps.index_id IN (0, 1)`,
  // Identifiers of objects in the database compare under its collation.
  collationSql: `SELECT CONVERT(nvarchar(128), DATABASEPROPERTYEX(DB_NAME(), 'Collation')) AS collation`,
  // The same count from metadata any reader of the table may see.
  estimateFallbackSql: `SELECT SUM(p.rows) AS estimate
    FROM sys.partitions p
    JOIN sys.tables t ON t.object_id = p.object_id
    JOIN sys.schemas s ON s.schema_id = t.schema_id
    WHERE s.name = @p1 AND t.name = @p2 AND p.index_id IN (0, 1)`,
};

/**
 * The same queries for many tables: a derived table of (i, schema, name)
 * bound as @p1, @p2, … (three a table: its position, as text, then its
 * names), joined by name under the database's collation, as the one-table
 * queries compare them; each row says which table it belongs to (w.i).
 */
export function mssqlCatalogMany(count: number) {
  const wanted = `(VALUES ${Array.from({ length: count }, (_, k) => `(CONVERT(int, @p${3 * k + 1}), @p${3 * k + 2}, @p${3 * k + 3})`).join(', ')}) AS w (i, sch, tab)`;
  const tables = `${wanted}
    JOIN sys.schemas s ON s.name = w.sch
    JOIN sys.tables t ON t.schema_id = s.schema_id AND t.name = w.tab`;
  return {
    columnsSql: `SELECT w.i AS i, ${COLUMN_NAME} AS name, SCHEMA_NAME(ty.schema_id) AS type_schema, ty.name AS type_name,
        ty.is_user_defined AS is_user_defined, c.max_length AS max_length, c.precision AS precision,
        c.scale AS scale, c.is_nullable AS is_nullable, c.is_computed AS is_computed
      FROM ${tables}
      JOIN sys.columns c ON c.object_id = t.object_id
      JOIN sys.types ty ON ty.user_type_id = c.user_type_id
      ${JOIN_COLUMN_NAME}
      ORDER BY w.i, c.column_id`,
    primaryKeySql: `SELECT w.i AS i, ${COLUMN_NAME} AS name
      FROM ${tables}
      JOIN sys.indexes i ON i.object_id = t.object_id AND i.is_primary_key = 1
      JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id AND ic.key_ordinal > 0
      JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
      ${JOIN_COLUMN_NAME}
      ORDER BY w.i, ic.key_ordinal`,
    estimateSql: `SELECT w.i AS i, SUM(ps.row_count) AS estimate
      FROM ${tables}
      JOIN sys.dm_db_partition_stats ps ON ps.object_id = t.object_id AND ps.index_id IN (0, 1)
      GROUP BY w.i`,
    estimateFallbackSql: `SELECT w.i AS i, SUM(p.rows) AS estimate
      FROM ${tables}
      JOIN sys.partitions p ON p.object_id = t.object_id AND p.index_id IN (0, 1)
      GROUP BY w.i`,
  };
}

/** The bound values of mssqlCatalogMany's derived table. */
export function mssqlWantedNames(refs: TableRef[]): string[] {
  return refs.flatMap((r, k) => [String(k + 1), r.schema, r.name]);
}

/** Tables per batched catalog query: three bound values each, under SQL Server's 2,100. */
export const MSSQL_CATALOG_CHUNK = 500;

/**
 * Schema and table names compare under the database's collation:
 * Latin1_General_CI_AS (the default) ignores case, *_CI_AI also accents;
 * *_CS_* and binary collations compare them as stored.
 */
export function mssqlNameRule(collation: string | null): NameRule {
  const c = (collation ?? '').toUpperCase();
  if (!c || /_BIN2?(_|$)/.test(c) || !/_CI(_|$)/.test(c)) return EXACT_NAMES;
  return caseInsensitiveNames(`collation ${collation}`, !/_AI(_|$)/.test(c));
}

/** A catalog query with its names bound as @p1, @p2, …: what MssqlSource runs, or a recording in tests. */
export type MssqlQuery = (sql: string, names: string[]) => Promise<Record<string, unknown>[]>;

/**
 * sys.dm_db_partition_stats (needs VIEW DATABASE STATE), then sys.partitions,
 * then COUNT_BIG(*): whatever the error (Babelfish and other stand-ins lack
 * the DMV and raise their own numbers), and for a missing or negative figure.
 */
export function mssqlEstimateRowsMany(query: MssqlQuery, refs: TableRef[]): Promise<Map<string, number>> {
  const byPosition = async (part: TableRef[], sql: (many: ReturnType<typeof mssqlCatalogMany>) => string): Promise<unknown[]> => {
    const values: unknown[] = [];
    for (const [c, chunk] of chunks(part, MSSQL_CATALOG_CHUNK).entries()) {
      const rows = await query(sql(mssqlCatalogMany(chunk.length)), mssqlWantedNames(chunk));
      const got = new Map(rows.map((r) => [Number(r.i), r.estimate]));
      chunk.forEach((_, k) => (values[c * MSSQL_CATALOG_CHUNK + k] = got.get(k + 1)));
    }
    return values;
  };
  return estimateOrCountMany(
    refs,
    [(part) => byPosition(part, (m) => m.estimateSql), (part) => byPosition(part, (m) => m.estimateFallbackSql)],
    async (part) => {
      const rows = await query(part.map((ref, k) => `SELECT ${k + 1} AS i, COUNT_BIG(*) AS n FROM ${qualifyMssql(ref)}`).join(' UNION ALL '), []);
      const got = new Map(rows.map((r) => [Number(r.i), r.n]));
      return part.map((_, k) => got.get(k + 1));
    },
  );
}

export function mssqlEstimateRows(query: MssqlQuery, ref: TableRef): Promise<number> {
  const names = [ref.schema, ref.name];
  return estimateOrCount(
    [
      async () => (await query(mssqlCatalog.estimateSql, names))[0]?.estimate,
      async () => (await query(mssqlCatalog.estimateFallbackSql, names))[0]?.estimate,
    ],
    async () => (await query(`SELECT COUNT_BIG(*) AS n FROM ${qualifyMssql(ref)}`, []))[0]?.n,
  );
}
