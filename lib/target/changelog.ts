import { qualifyPg, quotePg } from './sql';
import type { TableRef } from '../types';
import { DELETED_AT_COLUMN } from './soft-deletes';

/**
 * Deletes (or, with a soft-delete flag, marks) the target rows of the given
 * keys: the keys a change log says are gone. The keys are one bound text[]
 * value, cast to the key's type; a row already marked is not marked again.
 */
export function deleteKeysSql(target: TableRef, keyColumn: string, keyType: string, keys: string[], softDeleteColumn?: string): { text: string; values: unknown[] } {
  const match = `${quotePg(keyColumn)} = ANY($1::text[]::${keyType}[])`;
  if (!softDeleteColumn) return { text: `DELETE FROM ${qualifyPg(target)} WHERE ${match}`, values: [keys] };
  const flag = quotePg(softDeleteColumn);
  return {
    text: `UPDATE ${qualifyPg(target)} SET ${flag} = true, ${quotePg(DELETED_AT_COLUMN)} = clock_timestamp() WHERE ${match} AND ${flag} IS NOT TRUE`,
    values: [keys],
  };
}
