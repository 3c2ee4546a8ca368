import { doubleQuoted } from '../../identifiers';
import type { TableRef } from '../../types';

/** The source's quoted identifier (the target has its own toolkit, lib/target/sql.ts). */
export const quotePg = doubleQuoted;

/** Bound parameters are $1, $2, … */
export const placeholder = (i: number): string => `$${i}`;

export const qualifyPg = (ref: TableRef): string => `${quotePg(ref.schema)}.${quotePg(ref.name)}`;
