import assert from 'node:assert/strict';
import { cursorTypeChange } from '../../lib/modes/cursor/plan';
import { compareCursorText, cursorPredicate, laterCursor } from '../../lib/modes/cursor/window';
import { mysqlCursor } from '../../lib/sources/mysql/cursor';
import { pgCursor } from '../../lib/sources/postgres/cursor';

describe('cursor windows (pure)', () => {
  it('never moves the saved cursor back: the later of saved and the source maximum, by value', () => {
    assert.equal(laterCursor('number', '20', '10'), '20');
    assert.equal(laterCursor('number', '9', '10'), '10');
    assert.equal(laterCursor('number', '-1.50', '-1.5'), '-1.5', 'equal values: the source text');
    assert.equal(laterCursor('number', '100.01', '99.999'), '100.01');
    assert.equal(laterCursor('number', null, '5'), '5');
    assert.equal(laterCursor('number', '5', null), '5', 'an emptied table keeps the saved cursor');
    assert.equal(laterCursor('time', '2026-01-01 10:00:00.5', '2026-01-01 10:00:00'), '2026-01-01 10:00:00.5');
    assert.equal(laterCursor('time', '2026-01-01 10:00:00+00', '2026-01-01 09:00:00.25+00'), '2026-01-01 10:00:00+00');
    assert.equal(laterCursor('time', '2026-01-01 10:00:00+01:00', '2026-01-01 09:30:00+00:00'), '2026-01-01 09:30:00+00:00', 'unlike zones: the source maximum');
    assert.equal(laterCursor('binary', '0x00000000000007D1', '0x00000000000007d0'), '0x00000000000007D1');
    assert.equal(compareCursorText('number', '-3', '-20'), 1);
    assert.equal(compareCursorText('number', '0.0', '-0'), 0);
  });

  it('keeps a saved cursor across a type change only when it means the same value', () => {
    assert.equal(cursorTypeChange('number', 'integer', 'bigint'), 'keep');
    assert.equal(cursorTypeChange('number', 'int(11) unsigned', 'bigint(20) unsigned'), 'keep');
    assert.equal(cursorTypeChange('number', 'bigint', 'numeric(20,2)'), 'keep');
    assert.equal(cursorTypeChange('time', 'timestamp(3) without time zone', 'timestamp(6) without time zone'), 'keep');
    assert.equal(cursorTypeChange('time', 'datetime', 'datetime(6)'), 'keep');
    assert.equal(cursorTypeChange('time', 'timestamp without time zone', 'timestamp with time zone'), 'refuse');
    assert.equal(cursorTypeChange('time', 'datetime(6)', 'timestamp(6)'), 'refuse');
    assert.equal(cursorTypeChange('time', 'datetime2', 'datetimeoffset'), 'refuse');
    assert.equal(cursorTypeChange('time', 'date', 'timestamp without time zone'), 'refuse');
  });

  it('a numeric lookback stops at the type minimum instead of overflowing (MariaDB unsigned and signed, PostgreSQL integers)', () => {
    const window = { from: '5', to: '9', includeNull: false, lookback: '100' };
    const on = (dialect: typeof mysqlCursor, type: string, dataType: string) =>
      cursorPredicate(dialect, '"c"', { type, dataType }, 'number', window, () => '?').sql;
    assert.match(on(mysqlCursor, 'bigint(20) unsigned', 'bigint'), /GREATEST\(CAST\(CAST\(\? AS UNSIGNED\) AS DECIMAL\(65,30\)\) - 100, 0\)/);
    assert.match(on(mysqlCursor, 'tinyint(4)', 'tinyint'), /GREATEST\(.* - 100, -128\)/);
    assert.match(on(mysqlCursor, 'decimal(10,2)', 'decimal'), /\(CAST\(\? AS DECIMAL\(65,30\)\) - 100\)/);
    assert.match(on(pgCursor, 'integer', 'integer'), /ceil\(GREATEST\(\(\?::integer\)::numeric - 100, -2147483648\)\)::integer/);
    assert.match(on(pgCursor, 'numeric(12,2)', 'numeric'), /\(\?::numeric\(12,2\) - 100\)/);
  });
});
