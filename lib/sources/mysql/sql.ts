import { rejectNul } from '../../identifiers';
import type { TableRef } from '../../types';

/** MySQL's quoted identifier: `name`, each ` doubled. */
export const quote = (name: string): string => `\`${rejectNul(name).replace(/`/g, '``')}\``;

/** Bound parameters are positional. */
export const placeholder = (): string => '?';

export const qualifyMysql = (ref: TableRef): string => `${quote(ref.schema)}.${quote(ref.name)}`;
