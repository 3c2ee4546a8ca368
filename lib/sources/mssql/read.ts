import type { ColumnPlan, PartitionRange, TablePlan } from '../../types';
import { andWhere, EVERY_ROW, type CopyStream, type ReadFilter } from '../base';
import { asBoolean, asBytea, asText, RowCopyEncoder, type ValueEncoder } from './copy-text';
import { mssqlDialect } from './dialect';
import { mssqlRangeWhere } from './keys';
import { qualifyMssql, quote } from './sql';
import { asScalarText, readMappedColumn } from './types';

/**
 * All four decimals of money, exactly: as decimal(19,4) / (10,4). Style 2 would
 * too on SQL Server, but Babelfish pads it and prints two.
 */
export const mssqlMoneyText = (q: string, type: string): string =>
  `CONVERT(varchar(50), CONVERT(${type === 'smallmoney' ? 'decimal(10,4)' : 'decimal(19,4)'}, ${q}))`;

/**
 * A datetimeoffset's offset as "+05:30", from DATEPART(tzoffset), which gives
 * minutes on SQL Server and Babelfish alike (Babelfish's DATENAME gives minutes too).
 */
export function mssqlOffsetText(q: string): string {
  const minutes = `ABS(DATEPART(tzoffset, ${q}))`;
  const two = (e: string) => `RIGHT('0' + CONVERT(varchar(2), ${e}), 2)`;
  return `CASE WHEN DATEPART(tzoffset, ${q}) < 0 THEN '-' ELSE '+' END + ${two(`${minutes} / 60`)} + ':' + ${two(`${minutes} % 60`)}`;
}

/** The float text that parses back to the same IEEE value; String() alone loses the sign of -0. */
const asFloat: ValueEncoder = (v) => (typeof v === 'number' && Object.is(v, -0) ? '-0' : asText(v));

/**
 * How one column is read: the expression selected on SQL Server and the COPY
 * text encoder for what the driver returns for it.
 *
 * Values the driver would turn into lossy JS values are converted to exact
 * text on the server: decimal/numeric/money (JS numbers), bigint, and every
 * date/time type (JS Date holds milliseconds, and time zone handling in
 * between would be one more thing to get wrong).
 *
 * Fractional seconds: datetime2(7), time(7) and datetimeoffset(7) keep 100 ns;
 * PostgreSQL keeps microseconds. The 7th digit is TRUNCATED, never rounded:
 * the value is widened to datetime2(7) (exact, 7 digits always), printed in
 * style 121 and the text cut after the 6th digit, on the server. Rounding
 * (CAST to datetime2(6), or letting PostgreSQL round a 7-digit literal, which
 * it does) could carry into the next second, day or year, and fails outright
 * on 9999-12-31 23:59:59.9999999. Offsets are whole minutes, so cutting the
 * local time cuts the instant the same way.
 */
export function readColumn(column: Pick<ColumnPlan, 'name' | 'sourceType'>): { expression: string; encode: ValueEncoder } {
  const q = quote(column.name);
  const base = column.sourceType.replace(/\(.*\)$/, '').toLowerCase();
  const text = (expression: string) => ({ expression, encode: asText });
  const widened = `CONVERT(varchar(27), CONVERT(datetime2(7), ${q}), 121)`; // yyyy-mm-dd hh:mi:ss.fffffff
  switch (base) {
    case 'bit':
      return { expression: q, encode: asBoolean };
    case 'tinyint':
    case 'smallint':
    case 'int':
      return text(q);
    case 'bigint':
      return text(`CONVERT(varchar(20), ${q})`);
    case 'decimal':
    case 'numeric':
      return text(`CONVERT(varchar(50), ${q})`);
    case 'money':
    case 'smallmoney':
      return text(mssqlMoneyText(q, base));
    case 'float':
    case 'real':
      // The driver's double is the stored value exactly (a real widens
      // exactly), and its shortest text parses back to it.
      return { expression: q, encode: asFloat };
    case 'date':
      return text(`CONVERT(char(10), ${q}, 23)`);
    case 'datetime':
      // Its 1/300 s ticks as SQL Server itself prints them (.000/.003/.007).
      return text(`CONVERT(varchar(23), ${q}, 121)`);
    case 'smalldatetime':
      return text(`CONVERT(varchar(19), ${q}, 120)`);
    case 'datetime2':
      return text(`LEFT(${widened}, 26)`);
    case 'time':
      return text(`SUBSTRING(${widened}, 12, 15)`);
    case 'datetimeoffset':
      // Local time and its offset ("+05:30"): PostgreSQL stores the instant.
      // NULL stays NULL because tedious sessions run with CONCAT_NULL_YIELDS_NULL on.
      return text(`LEFT(${widened}, 26) + ${mssqlOffsetText(q)}`);
    case 'uniqueidentifier':
      // SQL Server's own text, whose byte order differs from the stored bytes.
      return text(`CONVERT(char(36), ${q})`);
    case 'char':
    case 'varchar':
    case 'nchar':
    case 'nvarchar':
    case 'sysname':
    case 'text':
    case 'ntext':
    case 'xml':
      return text(q);
    case 'binary':
    case 'varbinary':
    case 'image':
    case 'rowversion':
    case 'timestamp':
      return { expression: q, encode: asBytea };
    default:
      return { expression: q, encode: asScalarText(column.sourceType) };
  }
}

/** The source-side SELECT for one key range, its bounds as @p1/@p2. */
export function mssqlSelectSql(plan: TablePlan, range: PartitionRange, filter: ReadFilter = EVERY_ROW): { sql: string; params: string[]; keyParams: number } {
  const byKey = mssqlRangeWhere(plan, range);
  // Cursor values follow the key bounds, bound as text and converted in the SQL.
  const where = andWhere(byKey, filter(mssqlDialect, (i) => `@p${byKey.params.length + i}`));
  const columns = plan.columns.map((c) => (readMappedColumn(c) ?? readColumn(c)).expression).join(', ');
  return { sql: `SELECT ${columns} FROM ${qualifyMssql(plan.source)}${where.sql}`, params: where.params, keyParams: byKey.params.length };
}

/** The events and controls of mssql's Request that a streamed read uses. */
export interface StreamingRequest {
  on(event: 'recordset' | 'row' | 'error' | 'done', listener: (...args: any[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  cancel(): unknown;
  query(sql: string): Promise<unknown>;
}

/**
 * Runs `sql` on a request in stream + array-row mode and turns its rows into
 * COPY text. Resolves once SQL Server has sent the result's column metadata,
 * so compile, permission and missing-object errors reject here.
 */
export async function streamRows(request: StreamingRequest, sql: string, columns: ColumnPlan[]): Promise<CopyStream> {
  const reads = columns.map((c) => readMappedColumn(c) ?? readColumn(c));
  const encoder = new RowCopyEncoder(
    reads.map((r) => r.encode),
    columns.map((c) => c.name),
  );
  let opened = false;
  let failure: Error | undefined;
  let finished = false;
  let markDone!: () => void;
  const done = new Promise<void>((resolve) => (markDone = resolve));
  const ready = new Promise<void>((resolve, reject) => {
    request.on('recordset', () => {
      opened = true;
      resolve();
    });
    request.on('error', (err: Error) => {
      failure ??= err;
      // Before the caller has the stream, nobody listens to it: reject instead.
      if (opened) encoder.destroy(failure);
      else reject(failure);
    });
    request.on('done', () => {
      finished = true;
      if (!opened) reject(failure ?? new Error('SQL Server returned no result set'));
      else if (!failure) encoder.end();
      markDone();
    });
  });
  request.on('row', (row: unknown[]) => {
    if (encoder.destroyed) return;
    if (!encoder.write(row)) request.pause();
  });
  encoder.on('drain', () => request.resume());
  // The first rows can arrive in the same tick as the column metadata, before
  // the caller consumes the stream. An error then (a value it cannot encode,
  // a cancel) stays in the stream's errored state for pipeline() or for-await
  // to report; without a listener it would be thrown and end the process.
  encoder.on('error', () => undefined);
  // In stream mode the promise never rejects: errors arrive as 'error' events.
  void request.query(sql);
  await ready;
  return {
    stream: encoder,
    format: 'text',
    rows: () => encoder.rows,
    warnings: () => ({}),
    finish: async (error?: unknown) => {
      if (error) {
        // Rows still arriving are dropped instead of buffered.
        encoder.destroy();
        // Cancelling sends an attention to the server; tedious resumes a paused
        // request to read up to its acknowledgement, then frees the connection.
        if (!finished) request.cancel();
      }
      await done;
      if (!error && failure) throw failure;
    },
  };
}
