import type { CursorDialect, CursorKind } from '../cursor';
import type { MssqlQuery } from './catalog';

export const MSSQL_TIME = new Set(['date', 'datetime', 'datetime2', 'smalldatetime', 'datetimeoffset']);
const MSSQL_NUMBER = new Set(['tinyint', 'smallint', 'int', 'bigint', 'decimal', 'numeric']);

function mssqlCursorKind(dataType: string): CursorKind | null {
  if (MSSQL_TIME.has(dataType)) return 'time';
  if (MSSQL_NUMBER.has(dataType)) return 'number';
  if (dataType === 'rowversion' || dataType === 'timestamp') return 'binary';
  return null;
}

/**
 * A cursor value's exact text: every fractional digit SQL Server keeps (style
 * 121 for datetime2(7): 7 digits; 127 with the offset for datetimeoffset),
 * numbers as printed, rowversion as 0x-prefixed hex (style 1).
 */
export function mssqlCursorText(q: string, dataType: string): string {
  switch (dataType) {
    case 'date':
      return `CONVERT(varchar(10), ${q}, 23)`;
    case 'datetime':
    case 'smalldatetime':
    case 'datetime2':
      return `CONVERT(varchar(27), ${q}, 121)`;
    case 'datetimeoffset':
      return `CONVERT(varchar(34), ${q}, 121)`;
    case 'rowversion':
    case 'timestamp':
      return `CONVERT(varchar(18), CONVERT(binary(8), ${q}), 1)`;
    default:
      return `CONVERT(varchar(50), ${q})`;
  }
}

/** A bound nvarchar parameter as the cursor column's type, parsed with the style its text was printed in. */
export function mssqlCursorParam(p: string, type: string, dataType: string): string {
  switch (dataType) {
    case 'date':
      return `CONVERT(date, ${p}, 23)`;
    case 'datetime':
    case 'smalldatetime':
    case 'datetime2':
      return `CONVERT(datetime2(7), ${p}, 121)`;
    case 'datetimeoffset':
      return `CONVERT(datetimeoffset(7), ${p}, 121)`;
    case 'rowversion':
    case 'timestamp':
      return `CONVERT(binary(8), ${p}, 1)`;
    default:
      return `CONVERT(${type}, ${p})`;
  }
}

/**
 * A text as the cursor column's type, back as SQL Server's own text of it
 * (all 7 digits of datetime2(7), rowversion hex), or null when it is not a
 * value of the type: TRY_CONVERT, with the style a saved cursor is read in.
 */
export async function mssqlCursorValueText(query: MssqlQuery, column: { type: string; dataType: string }, value: string): Promise<string | null> {
  const parsed = `TRY_${mssqlCursorParam('@p1', column.type, column.dataType)}`;
  const [row] = await query(`SELECT ${mssqlCursorText(parsed, column.dataType)} AS v`, [value]);
  return (row?.v as string | null | undefined) ?? null;
}

export const mssqlCursor: CursorDialect = {
  kind: (c) => mssqlCursorKind(c.dataType),
  text: (q, c) => mssqlCursorText(q, c.dataType),
  param: (p, c) => mssqlCursorParam(p, c.type, c.dataType),
  minus: (e, lb) => ('seconds' in lb ? `DATEADD(second, -${lb.seconds}, ${e})` : `(${e} - ${lb.amount})`),
};
