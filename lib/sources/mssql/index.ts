// SQL Server as a source, one file per role:
//   sql.ts         identifier quoting and parameter markers
//   types.ts       SQL Server types → PostgreSQL types (and typeMap reads)
//   catalog.ts     tables, columns, keys, name rule, row estimates
//   cursor.ts      cursor columns: kinds, exact text, typed parameters
//   keys.ts        key ranges: bound text, range WHERE, sampling, bound types
//   read.ts        reading one range: the SELECT and its rows as COPY text
//   copy-text.ts   COPY text encoding of driver values
//   digest.ts      canonical text and checksums for verify
//   dialect.ts     the Dialect assembled from the above
//   connection.ts  URL parsing, the pool and MssqlSource
// Babelfish (SQL Server's protocol on PostgreSQL) is read as SQL Server today;
// should it ever need different SQL, the differences belong in babelfish.ts here.
export { mssqlDialect } from './dialect';
export { MssqlSource, parseMssqlUrl } from './connection';
