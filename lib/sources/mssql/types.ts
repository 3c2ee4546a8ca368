import type { ColumnPlan, TableRef } from '../../types';
import { type SourceColumn, unsupportedType } from '../base';
import { asText, type ValueEncoder } from './copy-text';
import { quote } from './sql';

export const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'int', 'bigint']);

/**
 * SQL Server column → PostgreSQL type, exact or refused. Fractional seconds
 * beyond PostgreSQL's 6 digits are truncated on the way (see readColumn).
 */
export function mapMssqlType(c: SourceColumn, table: TableRef): string {
  const fraction = Math.min(c.scale ?? 7, 6);
  switch (c.dataType) {
    case 'bit':
      return 'boolean';
    case 'tinyint': // 0..255: PostgreSQL has no unsigned or 1-byte integer
    case 'smallint':
      return 'smallint';
    case 'int':
      return 'integer';
    case 'bigint':
      return 'bigint';
    case 'decimal':
    case 'numeric':
      return `numeric(${c.precision},${c.scale})`;
    case 'money':
      return 'numeric(19,4)';
    case 'smallmoney':
      return 'numeric(10,4)';
    case 'float':
      return (c.precision ?? 53) <= 24 ? 'real' : 'double precision';
    case 'real':
      return 'real';
    case 'date':
      return 'date';
    case 'time':
      return `time(${fraction})`;
    case 'datetime':
      return 'timestamp(3)';
    case 'smalldatetime':
      return 'timestamp(0)';
    case 'datetime2':
      return `timestamp(${fraction})`;
    case 'datetimeoffset':
      return `timestamptz(${fraction})`;
    // SQL Server counts bytes (varchar) or UTF-16 units (nvarchar, a 4-byte
    // character takes 2); either is at least the number of characters, which
    // is what PostgreSQL's varchar(n) counts, so every value fits.
    case 'char':
    case 'varchar':
    case 'nchar':
    case 'nvarchar':
      return c.length === -1 ? 'text' : `varchar(${c.length})`;
    case 'sysname': // the system alias of nvarchar(128), used in catalog-like tables
      return 'varchar(128)';
    case 'text':
    case 'ntext':
      return 'text';
    case 'uniqueidentifier':
      return 'uuid';
    case 'binary':
    case 'varbinary':
    case 'image':
    case 'rowversion':
    case 'timestamp': // SQL Server's timestamp is rowversion, not a date
      return 'bytea';
    case 'xml':
      return 'xml';
    default:
      throw unsupportedType(table, c, mssqlSuggestion(c.dataType));
  }
}

/**
 * Types no rule below knows (user types mapped with typeMap) are read as the
 * driver returns them; only scalars have an unambiguous text form.
 */
export function asScalarText(sourceType: string): ValueEncoder {
  return (v) => {
    if (typeof v === 'object' && v !== null) {
      throw new Error(`source type ${sourceType} arrives as ${Buffer.isBuffer(v) ? 'bytes' : 'an object'}, which has no exact text form`);
    }
    return asText(v);
  };
}

/** Types SQL Server can print as text on the server when typeMap maps them to text. */
const MSSQL_AS_TEXT: Record<string, { expression: (q: string) => string; why: string }> = {
  geography: { expression: (q) => `${q}.ToString()`, why: 'its WKT text, as ToString() prints it' },
  geometry: { expression: (q) => `${q}.ToString()`, why: 'its WKT text, as ToString() prints it' },
  hierarchyid: { expression: (q) => `${q}.ToString()`, why: 'its path text, e.g. /1/2/' },
  sql_variant: { expression: (q) => `CONVERT(nvarchar(4000), ${q})`, why: 'each value converted to text on the server' },
};

/** A typeMap target that really reads this type (see readMappedColumn), or none. */
function mssqlSuggestion(dataType: string): { type: string; why: string } | null {
  const known = MSSQL_AS_TEXT[dataType.toLowerCase()];
  if (known) return { type: 'text', why: known.why };
  // Alias types (schema-qualified) arrive as the value of their base type.
  if (dataType.includes('.')) return { type: 'text', why: "for an alias type, its base type's value" };
  return null;
}

/** The read of a column whose source type has no mapping of its own but a typeMap to text. */
export function readMappedColumn(column: Pick<ColumnPlan, 'name' | 'sourceType' | 'targetType'>): { expression: string; encode: ValueEncoder } | null {
  const asText = MSSQL_AS_TEXT[column.sourceType.replace(/\(.*\)$/, '').toLowerCase()];
  if (!asText || !/^(text|character varying|varchar)/i.test(column.targetType)) return null;
  return { expression: asText.expression(quote(column.name)), encode: asScalarText(column.sourceType) };
}
