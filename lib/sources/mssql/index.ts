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
//   hashed.ts      verify's rows hashed by the worker (no UTF-8 collation)
//   babelfish.ts   what Babelfish needs that no SQL both servers accept gives
export { mssqlDialect } from './dialect';
export { MssqlSource, parseMssqlUrl } from './connection';
