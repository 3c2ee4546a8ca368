import type { PartitionRange } from './types';

export interface PlanInput {
  estimatedRows: number;
  integerKey: boolean;
  /** Smallest and largest key as decimal strings; null when the table is empty. */
  min: string | null;
  max: string | null;
  threshold: number;
  maxPartitions: number;
  rowsPerPartition: number;
}

const WHOLE_TABLE: PartitionRange = { index: 0, count: 1, lo: null, hi: null };

/**
 * Splits a table into key ranges of equal width. The first range is open
 * below and the last open above, so rows inserted outside [min, max] while
 * the sync runs still land in some partition.
 */
export function planPartitions(input: PlanInput): PartitionRange[] {
  const wanted = Math.min(input.maxPartitions, Math.floor(input.estimatedRows / input.rowsPerPartition));
  if (
    input.estimatedRows < input.threshold ||
    wanted < 2 ||
    !input.integerKey ||
    input.min === null ||
    input.max === null
  ) {
    return [WHOLE_TABLE];
  }
  const min = BigInt(input.min);
  const max = BigInt(input.max);
  const width = max - min + 1n;
  const n = width < BigInt(wanted) ? Number(width) : wanted;
  const bounds: bigint[] = [];
  for (let k = 1; k < n; k++) {
    const b = min + (width * BigInt(k)) / BigInt(n) - 1n;
    if (bounds.length === 0 || b > bounds[bounds.length - 1]) bounds.push(b);
  }
  if (bounds.length === 0) return [WHOLE_TABLE];
  const count = bounds.length + 1;
  return Array.from({ length: count }, (_, index) => ({
    index,
    count,
    lo: index === 0 ? null : bounds[index - 1].toString(),
    hi: index === count - 1 ? null : bounds[index].toString(),
  }));
}
