import type { ColumnPlan } from '../../types';
import type { DigestDialect } from '../base';
import { mysqlRangeWhere } from './keys';

/** Canonical texts as one length-prefixed text: the same fields as pgChecksumSql. */
export function mysqlFields(canonical: string[]): string {
  return `CONCAT(${canonical.map((e) => `COALESCE(CONCAT(CHAR_LENGTH(${e}), ':', ${e}), 'N')`).join(', ')})`;
}

/** MySQL expression giving the text pgCanonical gives for the same value in the target type. */
export function mysqlCanonical(column: ColumnPlan): string | null {
  const c = `\`${column.name.replace(/`/g, '``')}\``;
  const t = column.targetType.toLowerCase();
  // Zero dates were loaded as NULL; compare them as NULL. MySQL has no BC dates.
  if (t.startsWith('timestamp')) return `NULLIF(DATE_FORMAT(${c}, '%Y-%m-%d %H:%i:%s.%f AD'), '0000-00-00 00:00:00.000000 AD')`;
  if (t === 'date') return `NULLIF(DATE_FORMAT(${c}, '%Y-%m-%d AD'), '0000-00-00 AD')`;
  if (t.startsWith('time')) return `TIME_FORMAT(${c}, '%H:%i:%s.%f')`;
  if (t.startsWith('interval')) {
    // A TIME (up to ±838 h) as pgCanonical's "months days microseconds".
    const us = `((HOUR(${c}) * 3600 + MINUTE(${c}) * 60 + SECOND(${c})) * 1000000 + MICROSECOND(${c}))`;
    return `CONCAT('0 0 ', IF(${c} < TIME'00:00:00', -1, 1) * ${us})`;
  }
  if (t === 'bytea') return `LOWER(HEX(${c}))`;
  if (t === 'boolean') return `CASE WHEN ${c} IS NULL THEN NULL WHEN ${c} <> 0 THEN 't' ELSE 'f' END`;
  if (t.startsWith('bit')) return `LPAD(BIN(${c}), ${Number(/\((\d+)\)/.exec(t)?.[1] ?? 1)}, '0')`;
  if (t === 'real' || t === 'double precision') {
    // A FLOAT is compared as the real it was read into; a DOUBLE (or a FLOAT
    // widened) as a double; any other pairing has no exact rule.
    const single = /^float\b/i.test(column.sourceType);
    if (t === 'real' ? !single : !single && !/^(double|real)\b/i.test(column.sourceType)) return null;
    return mysqlFloatBits(`CAST(${c} AS DOUBLE)`, t === 'real');
  }
  if (t === 'inet') return null;
  // ZEROFILL pads the text form only: + 0 gives the number itself (decimals keep their scale).
  if (/\bzerofill\b/i.test(column.sourceType)) return `CAST(${c} + 0 AS CHAR)`;
  return `CAST(${c} AS CHAR)`;
}

/**
 * The IEEE bits of a finite double x, as lowercase hex: what float8send (or,
 * for a value that is a float32, float4send) gives. MySQL has no function for
 * them, so they are computed with exact arithmetic only: POW(2, integer) and
 * dividing by it are exact in binary64, and so are the comparisons. LOG2 only
 * guesses the exponent (it is log()/ln 2, off by one near powers of two, and
 * 1024 for the largest double); clamped to the normal range and corrected by
 * one either way, e is the exponent with 2^e <= |x| < 2^(e+1), or the least
 * normal one for a subnormal. Then m = |x| / 2^(e - mantissa bits) is an
 * exact integer (< 2^53, or 2^24), and (e + bias - 1) * 2^bits + m is the
 * value's exponent and fraction fields for normals and subnormals alike. The
 * sign is that of ATAN2(x, -1), which -0 also has (though MariaDB stores -0
 * as 0). MariaDB cannot store NaN or ±Infinity, so they need no rule.
 */
export function mysqlFloatBits(x: string, single: boolean): string {
  const [bits, bias] = single ? [23, 127] : [52, 1023];
  const a = `ABS(${x})`;
  const guess = `LEAST(${bias}, GREATEST(${1 - bias}, FLOOR(LOG2(${a}))))`;
  const p = `POW(2, ${guess})`;
  // |x| - 2^g is exact wherever it decides (Sterbenz), and never overflows as 2^(g+1) would.
  const e = `(${guess} - (${guess} > ${1 - bias} AND ${a} < ${p}) + (${a} - ${p} >= ${p}))`;
  const fields = `CAST(${e} + ${bias - 1} AS UNSIGNED) * ${2 ** bits} + CAST(${a} / POW(2, ${e} - ${bits}) AS UNSIGNED)`;
  const sign = `(ATAN2(${x}, -1) < 0) << ${bits === 23 ? 31 : 63}`;
  return `LPAD(LOWER(HEX(${sign} | CASE WHEN ${x} = 0 THEN 0 ELSE ${fields} END)), ${single ? 8 : 16}, '0')`;
}

export const mysqlDigest: DigestDialect = {
  row: (columns) => mysqlFields(columns.map((c) => mysqlCanonical(c)!)),
  md5: (text) => `MD5(${text})`,
  sum32: (hex) => `CAST(COALESCE(SUM(CAST(CONV(LEFT(${hex}, 8), 16, 10) AS UNSIGNED)), 0) AS CHAR)`,
  rangeWhere: (plan, range) => mysqlRangeWhere(plan, range),
};
