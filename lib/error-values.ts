// Database errors about bad data quote the value (`invalid input syntax for
// type integer: "TOPSECRET"`, `Duplicate entry '42' for key 'PRIMARY'`). Such
// a message is stored (_migration_state.error_message), returned (the
// workflow result) and kept in history, where whoever can start a workflow
// reads it: one chosen value per run. So the value goes; the column, the
// type and the reason stay. Each pattern runs from the value's first quote
// to the last possible end of it, so a value holding quotes or the words
// around it is still removed whole.

const HIDDEN = '(value withheld)';

const RULES: [RegExp, string][] = [
  // MySQL/MariaDB: Incorrect integer value: 'x' for column 'c' at row 1; Data truncated …; Duplicate entry 'x' for key 'k'.
  [/'[\s\S]*'( for column [`'][^`']*[`'] at row \d+)$/, `${HIDDEN}$1`],
  [/\bentry '[\s\S]*'( for key '[^']*')$/, `entry ${HIDDEN}$1`],
  // SQL Server: Conversion failed when converting the varchar value 'x' to data type int.
  [/\b(the \w+ value )'[\s\S]*'( to data type )/i, `$1${HIDDEN}$2`],
  // SQL Server: The duplicate key value is (x).
  [/(duplicate key value is )\([\s\S]*\)/i, `$1${HIDDEN}`],
  // PostgreSQL: invalid input syntax for type integer: "x"; invalid input value for enum e: "x";
  // date/time field value out of range: "x"; malformed array literal: "x".
  [/(: )"[\s\S]*"$/, `$1${HIDDEN}`],
  // PostgreSQL and tablesync's own converters: value "x" is out of range for type integer; value 2 is not a boolean; time value 25:00:00 is outside ….
  [/\bvalue [\s\S]* is (not|out|outside)\b/, `${HIDDEN} is $1`],
  // PostgreSQL: invalid byte sequence for encoding "UTF8": 0xe9 0x41.
  [/0x[0-9a-f]{2}(?:\s*0x[0-9a-f]{2})*/gi, `0x${HIDDEN}`],
];

/** The message without the row value it quotes (if it quotes one); everything else as it was. */
export function withoutValues(message: string): string {
  return RULES.reduce((text, [pattern, replacement]) => text.replace(pattern, replacement), message);
}
