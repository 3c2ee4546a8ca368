import type { Dialect } from '../base';
import { mssqlCursor } from './cursor';
import { mssqlCanonical, mssqlDigest } from './digest';
import { mssqlKey } from './keys';
import { placeholder, quote } from './sql';
import { INTEGER_TYPES, mapMssqlType } from './types';

export const mssqlDialect: Dialect = {
  name: 'mssql',
  defaultSchema: 'dbo',
  quoteIdent: quote,
  placeholder,
  isIntegerType: (type) => INTEGER_TYPES.has(type),
  mapType: mapMssqlType,
  cursor: mssqlCursor,
  canonicalText: (column) => mssqlCanonical(column),
  digest: mssqlDigest,
  key: mssqlKey,
};
