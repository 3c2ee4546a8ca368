import type { TableRef } from '../../types';
import { type SourceColumn, unsupportedType } from '../base';

export const INTEGER = /^(tinyint|smallint|mediumint|int|integer|bigint)\b/i;

/** MySQL/MariaDB column → PostgreSQL type. Exact or refused, never lossy. */
export function mapMysqlType(c: SourceColumn, table: TableRef): string {
  const type = c.type.toLowerCase();
  const unsigned = /\bunsigned\b/.test(type);
  const frac = c.scale ?? 0;
  switch (c.dataType.toLowerCase()) {
    case 'tinyint':
      // MySQL's BOOLEAN is tinyint(1); a value other than 0/1 fails the load
      // with the column named instead of silently becoming true.
      return /^tinyint\(1\)$/.test(type) ? 'boolean' : 'smallint';
    case 'smallint':
      return unsigned ? 'integer' : 'smallint';
    case 'mediumint':
      return 'integer';
    case 'int':
    case 'integer':
      return unsigned ? 'bigint' : 'integer';
    case 'bigint':
      return unsigned ? 'numeric(20,0)' : 'bigint';
    case 'decimal':
    case 'numeric':
      return `numeric(${c.precision},${c.scale ?? 0})`;
    case 'float':
      return 'real';
    case 'double':
    case 'real':
      return 'double precision';
    case 'bit':
      return `bit(${c.precision ?? 1})`;
    case 'date':
      return 'date';
    case 'datetime':
      return `timestamp(${frac})`;
    case 'timestamp':
      // Read with the session time zone pinned to UTC: an instant.
      return `timestamptz(${frac})`;
    case 'time':
      return `time(${frac})`;
    case 'year':
      return 'smallint';
    case 'char':
    case 'varchar':
      // MySQL returns CHAR values without trailing pad; varchar keeps them as returned.
      return `varchar(${c.length})`;
    case 'tinytext':
    case 'text':
    case 'mediumtext':
    case 'longtext':
    case 'enum':
    case 'set':
      return 'text';
    case 'json':
      return 'json';
    case 'binary':
    case 'varbinary':
    case 'tinyblob':
    case 'blob':
    case 'mediumblob':
    case 'longblob':
      return 'bytea';
    case 'uuid':
      return 'uuid';
    case 'inet4':
    case 'inet6':
      return 'inet';
    default:
      throw unsupportedType(table, c, SPATIAL.test(c.dataType)
        ? { type: 'bytea', why: "MySQL's own SRID + WKB bytes, byte for byte" }
        : { type: 'text', why: 'the text MySQL returns for it' });
  }
}

const SPATIAL = /^(geometry|point|linestring|polygon|multipoint|multilinestring|multipolygon|geometrycollection|geomcollection)$/i;
