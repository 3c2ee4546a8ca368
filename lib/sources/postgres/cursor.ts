import type { CursorDialect } from '../cursor';

const PG_TIME = /^(date|timestamp(\(\d\))?( with(out)? time zone)?|timestamptz(\(\d\))?)$/;
const PG_NUMBER = /^(smallint|integer|bigint|numeric(\(\d+(,\d+)?\))?)$/;

const INTEGER_MIN: Record<string, string> = { smallint: '-32768', integer: '-2147483648', bigint: '-9223372036854775808' };

/** Sessions are pinned to ISO dates and UTC, so a value's text is exact and parses back to itself. */
export const pgCursor: CursorDialect = {
  kind: (c) => (PG_TIME.test(c.type) ? 'time' : PG_NUMBER.test(c.type) ? 'number' : null),
  text: (q) => `${q}::text`,
  textOnTarget: true,
  param: (p, c) => `${p}::${c.type}`,
  minus: (e, lb, _kind, c) => {
    if ('seconds' in lb) return `(${e} - make_interval(secs => ${lb.seconds}))`;
    const min = INTEGER_MIN[c.type];
    // integer - amount is computed in the integer type and fails below its minimum; numeric cannot overflow.
    // Back in the column's type (rounded up: the same rows for >=), so the comparison can use its index.
    return min === undefined ? `(${e} - ${lb.amount})` : `ceil(GREATEST((${e})::numeric - ${lb.amount}, ${min}))::${c.type}`;
  },
};
