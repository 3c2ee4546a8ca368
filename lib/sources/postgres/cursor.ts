import type { CursorDialect } from '../cursor';

const PG_TIME = /^(date|timestamp(\(\d\))?( with(out)? time zone)?|timestamptz(\(\d\))?)$/;
const PG_NUMBER = /^(smallint|integer|bigint|numeric(\(\d+(,\d+)?\))?)$/;

/** Sessions are pinned to ISO dates and UTC, so a value's text is exact and parses back to itself. */
export const pgCursor: CursorDialect = {
  kind: (c) => (PG_TIME.test(c.type) ? 'time' : PG_NUMBER.test(c.type) ? 'number' : null),
  text: (q) => `${q}::text`,
  param: (p, c) => `${p}::${c.type}`,
  minus: (e, lb) => ('seconds' in lb ? `(${e} - make_interval(secs => ${lb.seconds}))` : `(${e} - ${lb.amount})`),
};
