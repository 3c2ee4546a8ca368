import type { Dialect } from '../base';
import { pgCursor } from './cursor';
import { pgCanonicalText, pgDigest } from './digest';
import { pgKey } from './keys';
import { placeholder, quotePg } from './sql';
import { INTEGER_TYPES, mapPgType } from './types';

export const postgresDialect: Dialect = {
  name: 'postgres',
  defaultSchema: 'public',
  quoteIdent: quotePg,
  placeholder,
  isIntegerType: (type) => INTEGER_TYPES.has(type),
  mapType: (column, table) => mapPgType(column, table),
  cursor: pgCursor,
  key: pgKey,
  canonicalText: pgCanonicalText,
  digest: pgDigest,
};
