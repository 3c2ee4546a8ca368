import type { TableRef } from '../../types';
import { type SourceColumn, unsupportedType } from '../base';

export const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);

// Types whose values are catalog OIDs: copied as numbers they would name
// nothing (or something else) in the target, so they travel as their names.
const REG_TYPES = /^(regclass|regcollation|regconfig|regdictionary|regnamespace|regoper|regoperator|regproc|regprocedure|regrole|regtype)(\[\])*$/i;
export const isRegType = (type: string): boolean => REG_TYPES.test(type.trim());

/**
 * PostgreSQL to PostgreSQL: the type as format_type() spells it, typmod
 * included, except reg* types, whose names go as text, and oid, refused: its
 * number means nothing in another database.
 */
export function mapPgType(column: SourceColumn, table: TableRef): string {
  if (isRegType(column.type)) return column.type.replace(/^[a-z]+/i, 'text');
  if (/^oid(\[\])*$/i.test(column.type)) {
    throw unsupportedType(table, column, { type: 'bigint', why: 'to copy the numbers' }, 'holds object ids that name nothing in another database');
  }
  return column.type;
}
