import { createHash } from 'node:crypto';
import type { SourceColumn } from '../../lib/sources/base';
import { columnsFromCatalog, type MssqlColumnRow } from '../../lib/sources/mssql/catalog';
import canonicalTexts from '../fixtures/mssql/canonical-texts.json';

export interface CanonicalCase {
  ddl: string;
  tsql: string;
  pgType: string;
  pg: string | null;
  text: string | null;
}
export const CASES = canonicalTexts.cases as CanonicalCase[];

/** The sys.columns row SQL Server reports for a declared type, read as describeTable reads it. */
export function sourceColumnOf(ddl: string): SourceColumn {
  const [, name, a, b] = /^(\w+)(?:\((\w+)(?:,(\d+))?\))?$/.exec(ddl)!;
  const n = a === undefined ? undefined : a === 'max' ? -1 : Number(a);
  const row: MssqlColumnRow = { name: 'v', type_schema: 'sys', type_name: name, is_user_defined: false, max_length: 0, precision: 0, scale: 0, is_nullable: true };
  if (name === 'decimal' || name === 'numeric') Object.assign(row, { precision: n, scale: Number(b ?? 0) });
  else if (name === 'float') row.precision = n ?? 53;
  else if (['time', 'datetime2', 'datetimeoffset'].includes(name)) row.scale = n ?? 7;
  else if (['char', 'varchar', 'binary', 'varbinary'].includes(name)) row.max_length = n ?? 1;
  else if (['nchar', 'nvarchar'].includes(name)) row.max_length = n === -1 ? -1 : (n ?? 1) * 2;
  return columnsFromCatalog([row])[0];
}

/**
 * What mssqlChecksumSql computes for one row whose fields SQL Server spelled
 * `texts`: "<characters>:<text>" (NULL as "N"), MD5 of the UTF-8 bytes, the
 * first 32 bits as an unsigned number.
 */
export function rowHash(texts: (string | null)[]): bigint {
  const row = texts.map((t) => (t === null ? 'N' : `${[...t].length}:${t}`)).join('');
  return BigInt(`0x${createHash('md5').update(row, 'utf8').digest('hex').slice(0, 8)}`);
}
