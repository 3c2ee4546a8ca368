// A PostgreSQL type name as it may be spliced into DDL and casts: a name
// (schema-qualified, quoted or not), the words of the multi-word built-in
// types, one modifier list and array brackets. Nothing else gets through, so
// a clause (DEFAULT …, GENERATED …, COLLATE …, a second statement) never does.

const IDENT = '(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")';
// "double precision", "character varying", "timestamp(3) with time zone", "interval day to second(3)".
const WORD = '(?:precision|varying|character|char|with|without|time|zone|year|month|day|hour|minute|second|to)';
const MODIFIERS = '\\(\\s*\\d+\\s*(?:,\\s*-?\\d+\\s*)?\\)';
const TYPE_NAME = new RegExp(`^${IDENT}(?:\\.${IDENT})?(?: +${WORD})*(?: *${MODIFIERS})?(?: +${WORD})*(?:\\[\\d*\\])*$`, 'i');

export const TYPE_NAME_HINT = 'must be a PostgreSQL type name, e.g. "text", "numeric(12,2)", "timestamp(3) with time zone", "integer[]"';

export function isTypeName(text: string): boolean {
  return text.length <= 200 && TYPE_NAME.test(text.trim());
}
