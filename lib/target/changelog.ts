import { qualifyPg, quotePg } from './sql';
import type { TableRef } from '../types';
import { DELETED_AT_COLUMN } from './soft-deletes';

/**
 * Deletes (or, with a soft-delete flag, marks) the target rows of the given
 * keys: the keys a change log says are gone. The keys are one bound text[]
 * value, cast to the key's type; a row already marked is not marked again.
 * With `fold` (the source compares the key ignoring case or trailing spaces)
 * a key matches the target rows the source would call equal to it: a row
 * synced as 'Def ' is the one a log names 'DEF'.
 */
export function deleteKeysSql(
  target: TableRef,
  keyColumn: string,
  keyType: string,
  keys: string[],
  softDeleteColumn?: string,
  fold?: { lower: boolean; rtrim: boolean },
): { text: string; values: unknown[] } {
  const folded = (e: string) => {
    const trimmed = fold?.rtrim ? `rtrim(${e}::text, ' ')` : `${e}::text`;
    return fold?.lower ? `lower(${trimmed})` : trimmed;
  };
  const match = fold
    ? `${folded(quotePg(keyColumn))} IN (SELECT ${folded('k')} FROM unnest($1::text[]) AS k)`
    : `${quotePg(keyColumn)} = ANY($1::text[]::${keyType}[])`;
  if (!softDeleteColumn) return { text: `DELETE FROM ${qualifyPg(target)} WHERE ${match}`, values: [keys] };
  const flag = quotePg(softDeleteColumn);
  return {
    text: `UPDATE ${qualifyPg(target)} SET ${flag} = true, ${quotePg(DELETED_AT_COLUMN)} = clock_timestamp() WHERE ${match} AND ${flag} IS NOT TRUE`,
    values: [keys],
  };
}
