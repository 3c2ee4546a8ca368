// tables[].where: the rows a table syncs. Pure (config parsing, workflows'
// types, the activities' input guard all use it).
//
// Two forms. A predicate in the source's SQL, run on the source as written,
// inside parentheses: it must not be able to leave them. Rather than a SQL
// parser (none at hand lexes PostgreSQL, MySQL/MariaDB with its backslash
// escapes and sql_mode, and T-SQL/Babelfish exactly as the servers do, and a
// parser that reads a string's end differently from the server is exactly
// the way out), the text is held to a small lexical rule that the three
// dialects read alike: string literals '…' and quoted names "…" / `…` with
// their doubled-quote escapes, balanced parentheses, and none of the tokens
// that end a statement, start a comment, or that one dialect reads as a
// quote or a parameter where another does not (see predicateProblem).
// The structured form { column: value } compares columns (checked against
// the source catalog) with values bound as parameters, never spliced.

/** A structured filter's value: compared with `=`, or `IS NULL` for null. */
export type WhereValue = string | number | boolean | null;

/** tables[].where as the config gives it. */
export type WhereSetting = string | Record<string, WhereValue>;

/**
 * The filter a table plan carries (made by planning from the config, and
 * held to the config by the activities' input guard): the predicate text, or
 * per column its value as bound text (null: IS NULL), type and base type as
 * the source catalog spells them.
 */
export type RowFilterPlan = { sql: string } | { equals: [column: string, value: string | null, type: string, dataType: string][] };

// Outside literals: statement ends and comments (;  --  /* */  #), PostgreSQL's
// dollar quotes and $n parameters ($), MySQL's positional parameters (?),
// T-SQL's bracketed names ([ ]: text PostgreSQL and MySQL read otherwise), ODBC escapes ({ }).
const REFUSED: [token: string, why: string][] = [
  [';', 'ends a statement'],
  ['--', 'starts a comment'],
  ['/*', 'starts a comment'],
  ['*/', 'ends a comment'],
  ['#', 'starts a comment in MySQL'],
  ['$', 'starts a dollar-quoted string or names a parameter in PostgreSQL'],
  ['?', 'is a parameter marker in MySQL'],
  ['[', 'quotes a name in SQL Server only'],
  [']', 'quotes a name in SQL Server only'],
  ['{', 'starts an ODBC escape'],
  ['}', 'ends an ODBC escape'],
];

/**
 * Why a where predicate is refused (null: it is not). Refused everywhere: a
 * backslash (MySQL reads it as an escape inside strings, PostgreSQL only in
 * E'' strings, so the dialects would disagree on where a string ends) and
 * control characters. Outside literals: the REFUSED tokens, and parentheses
 * that do not balance (a `)` closing more than the text opened would leave
 * the parentheses it is wrapped in).
 */
export function predicateProblem(text: string): string | null {
  if (text.trim() === '') return 'is empty';
  if (text.includes('\\')) return 'contains a backslash (the databases disagree on what it escapes in a string); write the value without one, or use the structured form { column: value }';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) return 'contains a control character';
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"' || c === '`') {
      // A doubled quote is the quote itself, in every dialect.
      let j = i + 1;
      for (;;) {
        j = text.indexOf(c, j);
        if (j < 0) return `has a ${c} that is never closed`;
        if (text[j + 1] === c) j += 2;
        else break;
      }
      i = j;
      continue;
    }
    for (const [token, why] of REFUSED) {
      if (text.startsWith(token, i)) return `contains "${token}" outside a string literal (it ${why}); a predicate is one condition`;
    }
    if (c === '(') depth++;
    if (c === ')' && --depth < 0) return 'closes a parenthesis it did not open';
  }
  return depth > 0 ? 'leaves a parenthesis open' : null;
}

/** The where setting as the config spells it, for comparing a plan's filter with it. */
export function filterMatchesSetting(filter: RowFilterPlan, setting: WhereSetting | undefined): boolean {
  if (setting === undefined) return false;
  if ('sql' in filter) return typeof setting === 'string' && setting === filter.sql;
  if (typeof setting === 'string' || !Array.isArray(filter.equals)) return false;
  const entries = Object.entries(setting);
  return (
    entries.length === filter.equals.length &&
    filter.equals.every((e) => Array.isArray(e) && e[0] in setting && boundText(setting[e[0]]).includes(e[1]))
  );
}

/**
 * A structured value as bound text, the ways a dialect may spell it: a
 * boolean is 'true'/'false' for PostgreSQL and '1'/'0' for MySQL's tinyint(1)
 * and SQL Server's bit (the first form listed is PostgreSQL's).
 */
export function boundText(value: WhereValue): (string | null)[] {
  if (value === null) return [null];
  if (typeof value === 'boolean') return value ? ['true', '1'] : ['false', '0'];
  return [String(value)];
}
