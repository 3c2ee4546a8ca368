import type { CursorDialect } from '../cursor';

const MYSQL_TIME = new Set(['date', 'datetime', 'timestamp']);
const MYSQL_NUMBER = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric']);

/** The smallest value of each signed integer type (unsigned ones: 0). */
const SIGNED_MIN: Record<string, string> = {
  tinyint: '-128',
  smallint: '-32768',
  mediumint: '-8388608',
  int: '-2147483648',
  integer: '-2147483648',
  bigint: '-9223372036854775808',
};

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
  minus: (e, lb, _kind, c) => {
    if ('seconds' in lb) return `(${e} - INTERVAL ${lb.seconds} SECOND)`;
    const min = /unsigned/i.test(c.type) ? '0' : SIGNED_MIN[c.dataType];
    // An integer minus the lookback is computed in the column's own integer type (unsigned: out of range
    // below 0); as a decimal it cannot overflow, and GREATEST keeps it at the type's minimum.
    return min === undefined ? `(${e} - ${lb.amount})` : `GREATEST(CAST(${e} AS DECIMAL(65,30)) - ${lb.amount}, ${min})`;
  },
};
