/**
 * Identifier quoting shared by every SQL text this project writes (each source
 * dialect, the target): one escaping routine, so no side can drift.
 */

export function rejectNul(name: string): string {
  if (name.includes('\u0000')) throw new Error(`Identifier contains a NUL character: ${JSON.stringify(name)}`);
  return name;
}

/** Standard SQL's quoted identifier, as PostgreSQL reads it: "name", each " doubled. */
export function doubleQuoted(name: string): string {
  return `"${rejectNul(name).replace(/"/g, '""')}"`;
}
