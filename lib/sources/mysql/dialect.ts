import type { Dialect } from '../base';
import { mysqlCursor } from './cursor';
import { mysqlCanonical, mysqlDigest } from './digest';
import { mysqlKey } from './keys';
import { placeholder, quote } from './sql';
import { INTEGER, mapMysqlType } from './types';

export const mysqlDialect: Dialect = {
  name: 'mysql',
  // The database named in the URL; MysqlSource fills it in.
  defaultSchema: '',
  quoteIdent: quote,
  placeholder,
  isIntegerType: (type) => INTEGER.test(type),
  mapType: mapMysqlType,
  canonicalText: mysqlCanonical,
  digest: mysqlDigest,
  cursor: mysqlCursor,
  key: mysqlKey,
};
