// PostgreSQL as a source, one file per role:
//   sql.ts         identifier quoting and parameter markers
//   types.ts       source types → target types (reg* as text, oid refused)
//   user-types.ts  enums, domains and composites: read and recreated in the target
//   catalog.ts     tables, columns, keys, row estimates (also read on the target)
//   cursor.ts      cursor columns: kinds, exact text, typed parameters
//   keys.ts        key ranges: range WHERE, histogram and page-sample cut points
//   read.ts        the COPY of one range and its row counters
//   digest.ts      canonical text and checksums for verify
//   dialect.ts     the Dialect assembled from the above
//   connection.ts  PostgresSource
export { postgresDialect } from './dialect';
export { PostgresSource } from './connection';
