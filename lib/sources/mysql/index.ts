// MySQL and MariaDB as a source, one file per role:
//   sql.ts         identifier quoting and parameter markers
//   types.ts       MySQL types → PostgreSQL types
//   catalog.ts     tables, columns (JSON checks, generated columns), keys, name rule
//   cursor.ts      cursor columns: kinds, exact text, typed parameters
//   keys.ts        key ranges: bound text, range WHERE, the key walk for cut points
//   read.ts        the SELECT of one range
//   copy.ts        row packets straight into COPY data (hooks mysql2's row parser)
//   copy-bytes.ts  COPY field writers over raw bytes (text and binary)
//   digest.ts      canonical text and checksums for verify
//   dialect.ts     the Dialect assembled from the above
//   connection.ts  URL parsing, the pinned session and MysqlSource
export { mysqlDialect } from './dialect';
export { MysqlSource } from './connection';
