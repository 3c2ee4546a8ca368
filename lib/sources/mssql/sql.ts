import { rejectNul } from '../../identifiers';
import type { TableRef } from '../../types';

/** SQL Server's quoted identifier: [name], each ] doubled. */
export const quote = (name: string): string => `[${rejectNul(name).replace(/]/g, ']]')}]`;

/** Bound parameters are named @p1, @p2, … (see MssqlSource, which declares them). */
export const placeholder = (i: number): string => `@p${i}`;

export const qualifyMssql = (ref: TableRef): string => `${quote(ref.schema)}.${quote(ref.name)}`;
