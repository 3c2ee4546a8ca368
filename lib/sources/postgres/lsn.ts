// PostgreSQL log positions (pg_lsn): compared as numbers, spelled as PostgreSQL does.

/** A pg_lsn as a number, to compare. */
export function lsnValue(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]+)\/([0-9A-Fa-f]+)$/.exec(lsn);
  if (!m) throw new Error(`not a PostgreSQL LSN: "${lsn}"`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/** PostgreSQL's own spelling of an LSN (hex halves without leading zeros). */
export function lsnText(lsn: string): string {
  return lsnFromValue(lsnValue(lsn));
}

/** A number as PostgreSQL spells an LSN. */
export function lsnFromValue(v: bigint): string {
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
}
