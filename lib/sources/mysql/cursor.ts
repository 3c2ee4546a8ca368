import type { CursorDialect } from '../cursor';

const MYSQL_TIME = new Set(['date', 'datetime', 'timestamp']);
const MYSQL_NUMBER = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric']);

/**
 * Values bound as text and cast to the column's kind on the server: MySQL
 * would otherwise compare a DECIMAL with a string as doubles. The session
 * runs in UTC, so TIMESTAMP text is the instant.
 */
export const mysqlCursor: CursorDialect = {
  kind: (c) => (MYSQL_TIME.has(c.dataType) ? 'time' : MYSQL_NUMBER.has(c.dataType) && !/\(1\)$/.test(c.type) ? 'number' : null),
  text: (q) => `CAST(${q} AS CHAR)`,
  param: (p, c) => {
    if (c.dataType === 'date') return `CAST(${p} AS DATE)`;
    if (MYSQL_TIME.has(c.dataType)) return `CAST(${p} AS DATETIME(6))`;
    if (c.dataType === 'decimal' || c.dataType === 'numeric') return `CAST(${p} AS DECIMAL(65,30))`;
    return /unsigned/i.test(c.type) ? `CAST(${p} AS UNSIGNED)` : `CAST(${p} AS SIGNED)`;
  },
  minus: (e, lb) => ('seconds' in lb ? `(${e} - INTERVAL ${lb.seconds} SECOND)` : `(${e} - ${lb.amount})`),
};
