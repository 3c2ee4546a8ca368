import type { CursorDialect, CursorKind, Lookback } from '../cursor';
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
 * 121 for datetime2(7): 7 digits; with the offset for datetimeoffset),
 * numbers as printed, rowversion as the unsigned number its 8 bytes are.
 *
 * datetime goes through datetime2(3): on SQL Server that prints its 1/300 s
 * tick as style 121 does (.003), on Babelfish the exact milliseconds it keeps
 * (its style 121 rounds them); mssqlCursorParam reads either back exactly.
 * rowversion as a number, not hex: Babelfish decodes CONVERT(varchar, bytes, 1)
 * as text, while CONVERT(bigint, rowversion) reads the 8 bytes big-endian on both.
 */
export function mssqlCursorText(q: string, dataType: string): string {
  switch (dataType) {
    case 'date':
      return `CONVERT(varchar(10), ${q}, 23)`;
    case 'datetime':
      return `CONVERT(varchar(23), CONVERT(datetime2(3), ${q}), 121)`;
    case 'smalldatetime':
    case 'datetime2':
      return `CONVERT(varchar(27), ${q}, 121)`;
    case 'datetimeoffset':
      return `CONVERT(varchar(34), ${q}, 121)`;
    case 'rowversion':
    case 'timestamp':
      return `CONVERT(varchar(20), CONVERT(bigint, ${q}))`;
    default:
      return `CONVERT(varchar(50), ${q})`;
  }
}

/**
 * A bound nvarchar parameter as the cursor column's own type, so the column is
 * compared with a value of its type: a datetime with CONVERT(datetime2(7), …)
 * would compare its .0033333 tick with .003 and leave the newest row out.
 * datetime2 text reads back the same under any DATEFORMAT; Babelfish's
 * CONVERT(datetime, …, 121) rounds to SQL Server's ticks, its CAST does not.
 * A rowversion cursor saved as hex (before it was saved as a number) still reads.
 */
export function mssqlCursorParam(p: string, type: string, dataType: string): string {
  switch (dataType) {
    case 'date':
      return `CONVERT(date, ${p}, 23)`;
    case 'datetime':
      return `CAST(CAST(${p} AS datetime2(3)) AS datetime)`;
    case 'smalldatetime':
      return `CAST(CAST(${p} AS datetime2(7)) AS smalldatetime)`;
    case 'datetime2':
      return `CONVERT(datetime2(7), ${p}, 121)`;
    case 'datetimeoffset':
      return `CONVERT(datetimeoffset(7), ${p}, 121)`;
    case 'rowversion':
    case 'timestamp':
      return `CASE WHEN ${p} LIKE '0x%' THEN TRY_CONVERT(binary(8), ${p}, 1) ELSE CONVERT(binary(8), TRY_CONVERT(bigint, ${p})) END`;
    default:
      return `CONVERT(${type}, ${p})`;
  }
}

/**
 * `e` minus a lookback. A date takes no DATEADD(second) (error 9810): it is
 * widened to datetime2 first, which compares with the date column exactly.
 */
export function mssqlCursorMinus(e: string, lookback: Lookback, dataType?: string): string {
  if (!('seconds' in lookback)) return `(${e} - ${lookback.amount})`;
  const widened = dataType === 'date' ? `CONVERT(datetime2(7), ${e})` : e;
  return `DATEADD(second, -${lookback.seconds}, ${widened})`;
}

/**
 * A text as the cursor column's type, back as SQL Server's own text of it
 * (all 7 digits of datetime2(7), rowversion hex), or null when it is not a
 * value of the type: TRY_CONVERT, with the style a saved cursor is read in.
 */
export async function mssqlCursorValueText(query: MssqlQuery, column: { type: string; dataType: string }, value: string): Promise<string | null> {
  // Every conversion as its TRY_ form: a text that is not a value gives NULL, not an error.
  const parsed = mssqlCursorParam('@p1', column.type, column.dataType).replace(/\b(CONVERT|CAST)\(/g, 'TRY_$1(');
  const [row] = await query(`SELECT ${mssqlCursorText(parsed, column.dataType)} AS v`, [value]);
  return (row?.v as string | null | undefined) ?? null;
}

export const mssqlCursor: CursorDialect = {
  kind: (c) => mssqlCursorKind(c.dataType),
  text: (q, c) => mssqlCursorText(q, c.dataType),
  param: (p, c) => mssqlCursorParam(p, c.type, c.dataType),
  minus: (e, lb, _kind, column) => mssqlCursorMinus(e, lb, column?.dataType),
};
