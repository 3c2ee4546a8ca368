import { caseInsensitiveNames, EXACT_NAMES, type NameRule, type SourceColumn } from '../base';

export const mysqlCatalog = {
  // MariaDB lists system-versioned tables as 'SYSTEM VERSIONED': tables all the same.
  listTablesSql: `SELECT TABLE_SCHEMA AS \`schema\`, TABLE_NAME AS name,
      CASE WHEN TABLE_TYPE = 'VIEW' THEN 'view' ELSE 'table' END AS kind
    FROM information_schema.TABLES
    WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'VIEW') AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
    ORDER BY 1, 2`,
  // Every column, generated ones included (EXTRA tells them apart, see isGeneratedExtra).
  columnsSql: `SELECT COLUMN_NAME AS name, DATA_TYPE AS data_type, COLUMN_TYPE AS column_type, IS_NULLABLE AS nullable,
      CHARACTER_MAXIMUM_LENGTH AS length, NUMERIC_PRECISION AS \`precision\`,
      COALESCE(NUMERIC_SCALE, DATETIME_PRECISION) AS scale, EXTRA AS extra
    FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
    ORDER BY ORDINAL_POSITION`,
  // MariaDB's JSON is longtext with a json_valid() check; map those columns to json.
  jsonChecksSql: `SELECT CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS
    WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`,
  primaryKeySql: `SELECT COLUMN_NAME AS name FROM information_schema.STATISTICS
    WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`,
  uniqueKeysSql: `SELECT s.INDEX_NAME AS idx, s.COLUMN_NAME AS name FROM information_schema.STATISTICS s
    WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? AND s.NON_UNIQUE = 0
      AND NOT EXISTS (SELECT 1 FROM information_schema.STATISTICS s2
        LEFT JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s2.TABLE_SCHEMA AND c.TABLE_NAME = s2.TABLE_NAME AND c.COLUMN_NAME = s2.COLUMN_NAME
        WHERE s2.TABLE_SCHEMA = s.TABLE_SCHEMA AND s2.TABLE_NAME = s.TABLE_NAME AND s2.INDEX_NAME = s.INDEX_NAME
          AND (c.IS_NULLABLE IS NULL OR c.IS_NULLABLE <> 'NO'))
    ORDER BY s.INDEX_NAME, s.SEQ_IN_INDEX`,
  estimateSql: `SELECT TABLE_ROWS AS estimate FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
};

/**
 * The same queries for many tables of one schema: `TABLE_SCHEMA = ? AND
 * TABLE_NAME IN (…)` (constants, which information_schema looks up without
 * opening every table of the server), each row with its TABLE_NAME.
 */
export function mysqlCatalogMany(count: number) {
  const names = `(${Array(count).fill('?').join(', ')})`;
  return {
    columnsSql: `SELECT TABLE_NAME AS tbl, COLUMN_NAME AS name, DATA_TYPE AS data_type, COLUMN_TYPE AS column_type, IS_NULLABLE AS nullable,
        CHARACTER_MAXIMUM_LENGTH AS length, NUMERIC_PRECISION AS \`precision\`,
        COALESCE(NUMERIC_SCALE, DATETIME_PRECISION) AS scale, EXTRA AS extra
      FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ${names}
      ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    jsonChecksSql: `SELECT TABLE_NAME AS tbl, CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS
      WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME IN ${names}`,
    primaryKeySql: `SELECT TABLE_NAME AS tbl, COLUMN_NAME AS name FROM information_schema.STATISTICS
      WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ${names} AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME, SEQ_IN_INDEX`,
    estimateSql: `SELECT TABLE_NAME AS tbl, TABLE_ROWS AS estimate FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ${names}`,
  };
}

/** The column names a table's CHECK clauses say hold JSON (MariaDB's JSON is longtext CHECK (json_valid(`c`))). */
export function jsonColumnsOf(clauses: string[]): Set<string> {
  const json = new Set<string>();
  for (const clause of clauses) {
    const m = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(clause.trim());
    if (m) json.add(m[1].replace(/``/g, '`'));
  }
  return json;
}

export interface MysqlColumnRow {
  name: string;
  data_type: string;
  column_type: string;
  nullable: string;
  length: number | string | null;
  precision: number | string | null;
  scale: number | string | null;
  /** information_schema.COLUMNS.EXTRA: "VIRTUAL GENERATED", "DEFAULT_GENERATED on update CURRENT_TIMESTAMP", … */
  extra?: string | null;
}

/**
 * A generated column as EXTRA spells it: MySQL and MariaDB 10.2+ say
 * "VIRTUAL GENERATED" / "STORED GENERATED", older MariaDB "VIRTUAL" /
 * "PERSISTENT". MySQL 8's "DEFAULT_GENERATED" marks an ordinary column with an
 * expression default (DEFAULT CURRENT_TIMESTAMP), which is not one.
 */
export function isGeneratedExtra(extra: string | null | undefined): boolean {
  return /(^|\s)(VIRTUAL|STORED|PERSISTENT)(\s+GENERATED)?(\s|$)/i.test(extra ?? '');
}

const num = (v: number | string | null): number | null => (v === null || v === undefined ? null : Number(v));

export function columnsFromCatalog(rows: MysqlColumnRow[], jsonColumns: Set<string>): SourceColumn[] {
  return rows.map((r) => {
    const json = jsonColumns.has(r.name) && /text$/i.test(r.data_type);
    return {
      name: r.name,
      type: json ? 'json' : r.column_type,
      dataType: json ? 'json' : r.data_type.toLowerCase(),
      nullable: r.nullable === 'YES',
      length: num(r.length),
      precision: num(r.precision),
      scale: num(r.scale),
      unsigned: /\bunsigned\b/i.test(r.column_type),
      ...(isGeneratedExtra(r.extra) && { generated: true }),
    };
  });
}

/**
 * lower_case_table_names: 0 compares database and table names as stored, case
 * included; 1 stores them lower-cased and 2 compares them lower-cased, so
 * `Genre` and `genre` are one table.
 */
export function mysqlNameRule(lowerCaseTableNames: number): NameRule {
  return lowerCaseTableNames === 0 ? EXACT_NAMES : caseInsensitiveNames(`lower_case_table_names=${lowerCaseTableNames}`);
}
