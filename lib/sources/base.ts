import type { Readable } from 'node:stream';
import type { PartitionRange, TablePlan, TableRef } from '../types';

export type DialectName = 'postgres' | 'mysql' | 'mssql';

/** What differs between source databases in the SQL text itself. Pure. */
export interface Dialect {
  readonly name: DialectName;
  readonly defaultSchema: string;
  quoteIdent(name: string): string;
  /** Bound-parameter marker for the i-th value (1-based). */
  placeholder(i: number): string;
  isIntegerType(type: string): boolean;
}

export interface SourceColumn {
  name: string;
  type: string;
  nullable: boolean;
}

export interface SourceTable {
  ref: TableRef;
  columns: SourceColumn[];
  primaryKey: string[];
}

export interface CopyStream {
  /** COPY data for the staging table, in `format`. */
  stream: Readable;
  format: 'binary' | 'text';
  /** Rows produced so far (for heartbeats). */
  rows(): number;
  /** Ends the read: commits on success, discards the connection on error. */
  finish(error?: unknown): Promise<void>;
}

/** The one interface every source implements; each dialect overrides what differs. */
export interface SourceConnection {
  readonly dialect: Dialect;
  listTables(): Promise<TableRef[]>;
  describeTable(ref: TableRef): Promise<SourceTable | null>;
  estimateRows(ref: TableRef): Promise<number>;
  keyBounds(ref: TableRef, column: string): Promise<{ min: string | null; max: string | null }>;
  openCopy(plan: TablePlan, range: PartitionRange, preferBinary: boolean): Promise<CopyStream>;
  close(): Promise<void>;
}

export function rejectNul(name: string): string {
  if (name.includes('\u0000')) throw new Error(`Identifier contains a NUL character: ${JSON.stringify(name)}`);
  return name;
}

export function qualify(dialect: Dialect, ref: TableRef): string {
  return `${dialect.quoteIdent(ref.schema)}.${dialect.quoteIdent(ref.name)}`;
}

/**
 * WHERE clause of a key range (lo, hi] with bound parameters, numbered from `first`.
 * Returns an empty clause for the whole table.
 */
export function rangePredicate(
  dialect: Dialect,
  keyColumn: string,
  range: PartitionRange,
  first = 1,
): { sql: string; params: string[] } {
  const key = dialect.quoteIdent(keyColumn);
  const parts: string[] = [];
  const params: string[] = [];
  if (range.lo !== null) {
    params.push(range.lo);
    parts.push(`${key} > ${dialect.placeholder(first + params.length - 1)}`);
  }
  if (range.hi !== null) {
    params.push(range.hi);
    parts.push(`${key} <= ${dialect.placeholder(first + params.length - 1)}`);
  }
  return { sql: parts.length ? ` WHERE ${parts.join(' AND ')}` : '', params };
}
