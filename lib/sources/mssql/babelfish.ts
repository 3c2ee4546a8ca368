import type { Dialect } from '../base';
import { baseType, mssqlKey } from './keys';

// Babelfish for PostgreSQL (SQL Server's protocol and T-SQL on PostgreSQL,
// e.g. behind Aurora) where no SQL both servers accept exists; everything
// else is read with the same SQL as SQL Server (see the portable choices in
// read.ts, cursor.ts, catalog.ts and hashed.ts).

/** @@VERSION names Babelfish; Microsoft SQL Server never does. */
export function isBabelfishVersion(version: unknown): boolean {
  return typeof version === 'string' && /babelfish/i.test(version);
}

/**
 * Babelfish decodes CONVERT(varchar, <bytes>, 2) and CONVERT(varbinary, <hex>, 2)
 * as text, so a binary key has no exact text to bound a range with: such a
 * table is read as one range there.
 */
export function babelfishDialect(dialect: Dialect): Dialect {
  return {
    ...dialect,
    key: { ...mssqlKey, splits: (type) => !['binary', 'varbinary'].includes(baseType(type)) && mssqlKey.splits(type) },
  };
}
