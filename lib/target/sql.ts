import { doubleQuoted } from '../identifiers';
import type { TableRef } from '../types';

// The target's own PostgreSQL toolkit: every statement tablesync runs in the
// target (its tables, staging, state) quotes with these, never with a source
// dialect's helpers. The escaping itself is shared (lib/identifiers.ts).

/** A quoted identifier in the target. */
export const quotePg = doubleQuoted;

/** A schema-qualified relation in the target. */
export const qualifyPg = (ref: TableRef): string => `${quotePg(ref.schema)}.${quotePg(ref.name)}`;

/** What a key range's WHERE (rangePredicate) needs in the target: values as $n, keys compared as row values. */
export const targetRanges = { quoteIdent: quotePg, placeholder: (i: number): string => `$${i}`, key: { rowValues: true } };
