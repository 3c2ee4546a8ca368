// PostgreSQL's canonical text of a value: what verify compares, on every
// side. The target and the PostgreSQL source compute it with these; the other
// dialects compute the same text in their own SQL (see their digest.ts).

/** Canonical texts as one length-prefixed text, as pgChecksumSql hashes them. */
export function pgFields(canonical: string[]): string {
  return canonical.map((e) => `coalesce(char_length(${e})::text || ':' || ${e}, 'N')`).join(' || ');
}
export function pgMd5(text: string): string {
  return `md5(${text})`;
}
export function pgSum32(hex: string): string {
  return `coalesce(sum(('x' || left(${hex}, 8))::bit(32)::bigint), 0)::text`;
}

/** timestamptz in each spelling: timestamptz, timestamptz(3), timestamp(3) with time zone. */
export function isTimestamptz(type: string): boolean {
  return /^(timestamptz|timestamp(\s*\(\s*\d+\s*\))?\s+with time zone)(\s*\(\s*\d+\s*\))?$/i.test(type.trim());
}

/**
 * The canonical text of a value of a PostgreSQL type: what verification
 * compares. It depends on no session setting and tells apart every pair of
 * stored values: times with six fractional digits, in UTC, with their era
 * (AD/BC) and ±infinity spelled out; intervals as months, days and
 * microseconds; floats by their bits; hex for bytes; t/f for booleans; the
 * type's own output otherwise (numeric keeps its scale, jsonb its digits).
 */
export function pgCanonical(value: string, type: string): string {
  const expr = `(${value})`;
  const t = type.toLowerCase();
  const finite = (text: string) => `CASE WHEN isfinite(${expr}) THEN ${text} ELSE ${expr}::text END`;
  if (isTimestamptz(t)) {
    return finite(`to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US BC')`);
  }
  if (t.startsWith('timestamp')) return finite(`to_char(${expr}, 'YYYY-MM-DD HH24:MI:SS.US BC')`);
  if (t === 'date') return finite(`to_char(${expr}::timestamp, 'YYYY-MM-DD BC')`);
  if (/^time(\(\d\))? with time zone$|^timetz/.test(t)) {
    return `to_char(${expr}::time, 'HH24:MI:SS.US') || ' ' || extract(timezone FROM ${expr})::int`;
  }
  if (t.startsWith('time')) return `to_char(${expr}, 'HH24:MI:SS.US')`;
  if (/^interval/.test(t)) {
    const part = (f: string) => `extract(${f} FROM ${expr})`;
    return (
      `(${part('year')} * 12 + ${part('month')})::bigint || ' ' || ${part('day')}::bigint || ' ' || ` +
      `(${part('hour')} * 3600000000 + ${part('minute')} * 60000000 + ${part('microseconds')})::bigint`
    );
  }
  if (t === 'double precision') return `encode(float8send(${expr}), 'hex')`;
  if (t === 'real') return `encode(float4send(${expr}), 'hex')`;
  if (t === 'bytea') return `encode(${expr}, 'hex')`;
  if (t === 'boolean') return `CASE WHEN ${expr} THEN 't' WHEN NOT ${expr} THEN 'f' END`;
  return `${expr}::text`;
}
