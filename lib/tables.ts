import type { TableRef } from './types';

/** Splits "schema.table" (or "table") from INCLUDE_TABLES; quotes keep dots inside a name. */
export function parseTableName(spec: string, defaultSchema: string): TableRef {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < spec.length; i++) {
    const ch = spec[i];
    if (ch === '"') {
      if (quoted && spec[i + 1] === '"') {
        current += '"';
        i++;
      } else {
        quoted = !quoted;
      }
    } else if (ch === '.' && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  if (quoted || parts.length > 2 || parts.some((p) => p === '')) {
    throw new Error(`Invalid table name "${spec}": expected table or schema.table (quote names containing dots)`);
  }
  return parts.length === 2 ? { schema: parts[0], name: parts[1] } : { schema: defaultSchema, name: parts[0] };
}

export function isPattern(ref: TableRef): boolean {
  return /[*?]/.test(ref.schema) || /[*?]/.test(ref.name);
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** `key` folds names as the source compares them (see NameRule); * and ? survive it. */
export function matchesPattern(pattern: TableRef, table: TableRef, key: (name: string) => string = (n) => n): boolean {
  return globToRegExp(key(pattern.schema)).test(key(table.schema)) && globToRegExp(key(pattern.name)).test(key(table.name));
}

export function displayName(ref: TableRef): string {
  return `${ref.schema}.${ref.name}`;
}

/** InvoiceLine → invoice_line, InvoiceId → invoice_id, HTMLParser → html_parser, "Order Details" → order_details. */
export function snakeCase(name: string): string {
  return name
    .replace(/(\p{Ll}|\p{N})(\p{Lu})/gu, '$1_$2')
    .replace(/(\p{Lu}+)(\p{Lu}\p{Ll})/gu, '$1_$2')
    .replace(/[^\p{L}\p{N}_]+/gu, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase();
}
