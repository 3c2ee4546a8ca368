import { quotePg } from './sql';
import type { ColumnPlan } from '../types';

/** The target-side column list of a plan, quoted. */
export function columnList(columns: ColumnPlan[]): string {
  return columns.map((c) => quotePg(c.targetName)).join(', ');
}

/** Target-side names of the key columns, in key order. */
export function targetKey(columns: ColumnPlan[], primaryKey: string[]): string[] {
  return primaryKey.map((k) => columns.find((c) => c.name === k)?.targetName ?? k);
}
