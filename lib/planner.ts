import type { DialectName } from './sources/base';
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

export interface SampledPlanInput {
  estimatedRows: number;
  /** Cut points read from the source (sampleKeys): sorted in the source's order, distinct. */
  cuts: string[];
  threshold: number;
  maxPartitions: number;
  rowsPerPartition: number;
}

/**
 * Partitions and their chunks on a key of any type, from cut points the
 * source sorted: the pieces between consecutive cuts are the chunks, dealt to
 * partitions in order, so partition bounds are cuts too. Only positions are
 * chosen here, never values compared: JavaScript does not know the source's
 * collation, and a bound out of the source's order would make two ranges
 * overlap. The chunks' inner cuts travel in the range (`splits`), planned
 * once, so every attempt resumes on the same chunks.
 */
export function planSampledPartitions(input: SampledPlanInput): PartitionRange[] {
  const pieces = input.cuts.length + 1;
  if (pieces < 2) return [WHOLE_TABLE];
  const wanted = input.estimatedRows < input.threshold ? 1 : Math.floor(input.estimatedRows / input.rowsPerPartition);
  const count = Math.max(1, Math.min(input.maxPartitions, wanted, pieces));
  // Partition p takes pieces [first(p), first(p + 1)); cut k ends piece k.
  const first = (p: number) => Math.floor((p * pieces) / count);
  return Array.from({ length: count }, (_, index) => {
    const from = first(index);
    const to = first(index + 1);
    return {
      index,
      count,
      lo: index === 0 ? null : input.cuts[from - 1],
      hi: index === count - 1 ? null : input.cuts[to - 1],
      splits: input.cuts.slice(from, to - 1),
    };
  });
}

export interface BlockPlanInput {
  estimatedRows: number;
  /** The table's size in heap blocks when planned (it may grow: the last range is open above). */
  blocks: number;
  threshold: number;
  maxPartitions: number;
  rowsPerPartition: number;
  batchSize: number;
}

/**
 * Partitions and chunks of a full load read by storage blocks (PostgreSQL):
 * ranges [lo, hi) of equal block counts, a chunk aiming at batchSize rows.
 * The first range starts at block 0, the last is open above, so a table that
 * grew since it was measured is still read whole (its snapshot decides which
 * rows are seen). Partitions by the same rule as key ranges; chunk bounds
 * travel as `splits`, so every attempt resumes on the same chunks.
 */
export function planBlockPartitions(input: BlockPlanInput): PartitionRange[] {
  const pieces = Math.max(1, Math.min(MAX_CHUNKS, input.blocks, Math.ceil(input.estimatedRows / input.batchSize)));
  // Piece k covers blocks [cut(k), cut(k + 1)): dealt to partitions as sampled key cuts are.
  const cuts = Array.from({ length: pieces - 1 }, (_, k) => String(Math.floor(((k + 1) * input.blocks) / pieces)));
  return planSampledPartitions({ ...input, cuts }).map((range) => ({ ...range, splits: range.splits ?? [], blocks: true as const }));
}

/** Chunks a sampled split aims at: one per batch, at most MAX_CHUNKS. */
export function samplePieces(estimatedRows: number, batchSize: number, partitions: number): number {
  return Math.min(MAX_CHUNKS, Math.max(partitions, Math.ceil(estimatedRows / batchSize)));
}

/**
 * Whether the target orders a key column exactly as the source does, so a
 * range evaluated on the target holds the same rows as on the source:
 * integers, exact numerics, dates and timestamps of at most microseconds, and
 * PostgreSQL uuids into uuid. Strings never (collations differ, PAD SPACE,
 * case), nor MySQL or SQL Server uuids (text or byte-group order).
 */
export function sameOrderOnTarget(dialect: DialectName, sourceType: string, targetType: string, integer: boolean): boolean {
  const s = sourceType.toLowerCase();
  const t = targetType.toLowerCase();
  const targetInteger = /^(smallint|integer|bigint)$/.test(t);
  const targetNumeric = /^numeric\b/.test(t);
  const targetTime = /^(date|timestamp(\(\d\))? with(out)? time zone)$/.test(t);
  if (integer) return targetInteger || targetNumeric;
  if (/^(numeric|decimal)\b/.test(s)) return targetNumeric;
  if (dialect === 'postgres') return (s === 'uuid' && t === 'uuid') || (/^(date|timestamp\b)/.test(s) && targetTime);
  if (dialect === 'mysql') return /^(date|datetime|timestamp)\b/.test(s) && targetTime;
  return s === 'date' && t === 'date';
}

export interface ChunkInput {
  range: PartitionRange;
  integerKey: boolean;
  /** Smallest and largest key of the whole table when the task was planned. */
  min: string | null;
  max: string | null;
  /** Estimated rows of the whole table. */
  estimatedRows: number;
  /** Rows per chunk (DEFAULT_INCREMENTAL_BATCH_SIZE). */
  batchSize: number;
}

const MAX_CHUNKS = 1_000;

/**
 * Splits a partition's key range into chunks of about batchSize rows, each
 * committed on its own so a retried partition resumes after the last chunk
 * that committed instead of starting over. Chunks keep the range's open ends.
 * Pure and deterministic: every attempt computes the same chunks.
 */
export function planChunks(input: ChunkInput): { lo: string | null; hi: string | null }[] {
  const whole = [{ lo: input.range.lo, hi: input.range.hi }];
  const splits = input.range.splits;
  if (splits?.length) {
    const bounds = [input.range.lo, ...splits, input.range.hi];
    return bounds.slice(1).map((hi, k) => ({ lo: bounds[k], hi }));
  }
  // Block ranges are chunked by their splits alone: their bounds are no keys.
  if (input.range.blocks) return whole;
  if (!input.integerKey || input.min === null || input.max === null || input.estimatedRows <= input.batchSize) return whole;
  const min = BigInt(input.min);
  const max = BigInt(input.max);
  const lo = input.range.lo === null ? min - 1n : BigInt(input.range.lo);
  const hi = input.range.hi === null ? max : BigInt(input.range.hi);
  if (hi <= lo) return whole;
  const tableWidth = max - min + 1n;
  const rows = (input.estimatedRows * Number(hi - lo)) / Number(tableWidth);
  const n = Math.min(MAX_CHUNKS, Math.ceil(rows / input.batchSize));
  const width = hi - lo;
  if (n < 2 || width < BigInt(n)) return whole;
  const bounds = Array.from({ length: n - 1 }, (_, k) => lo + (width * BigInt(k + 1)) / BigInt(n));
  return Array.from({ length: n }, (_, k) => ({
    lo: k === 0 ? input.range.lo : bounds[k - 1].toString(),
    hi: k === n - 1 ? input.range.hi : bounds[k].toString(),
  }));
}

/**
 * Tables of one small-table activity at most: a failed group's fallback redoes at most this many. Its full
 * loads commit in transactions of at most MAX_TRANSACTION_TABLES (see activities/small-loads.ts).
 */
export const MAX_GROUP_TABLES = 50;
/** MAX_GROUP_TABLES of runs started before patched('small-groups-of-50'): one transaction a group. */
export const MAX_GROUP_TABLES_BEFORE = 25;
/**
 * Tables in one target transaction of a group at most: fewer savepoints than the 64 subtransactions a
 * PostgreSQL backend tracks before other sessions' snapshots get slower, and about 280 locks (11 a one-row
 * table: the table, its TOAST table and their indexes, their types), 8 groups' worth a third of PostgreSQL's
 * default lock table (64 × max_connections 100) that every session of the server shares.
 */
export const MAX_TRANSACTION_TABLES = 25;

/**
 * Which tasks run together in one syncSmallTables activity, and which run as
 * their own syncTableWorkflow. Small (one partition of at most one chunk, no
 * verify) tasks are grouped only when more of them wait than `limit` slots
 * run: then each table's workflow start, activity dispatch and completion
 * cost the Temporal server more than the table's copy, while a group pays them
 * once. With `limit` or fewer, every table runs at once anyway and keeps its
 * own workflow in the Web UI. Returns indices into tasks.
 */
export function groupSmallTasks(
  tasks: readonly { estimatedRows: number; partitions: readonly unknown[] }[],
  config: { batchSize: number; verifyAfterSync: boolean },
  limit: number,
  maxGroup = MAX_GROUP_TABLES,
): { groups: number[][]; alone: number[] } {
  const small: number[] = [];
  const alone: number[] = [];
  tasks.forEach((t, i) => (!config.verifyAfterSync && t.partitions.length === 1 && t.estimatedRows <= config.batchSize ? small : alone).push(i));
  if (small.length <= limit) return { groups: [], alone: tasks.map((_, i) => i) };
  // Enough groups to fill every slot, each at most maxGroup tables and one chunk's rows (a group
  // runs its tables one after another, so a group of big ones would hold its slot while others idle).
  const size = Math.min(maxGroup, Math.ceil(small.length / limit));
  const groups: number[][] = [];
  let group: number[] = [];
  let rows = 0;
  for (const i of small) {
    const n = tasks[i].estimatedRows;
    if (group.length && (group.length === size || rows + n > config.batchSize)) {
      groups.push(group);
      group = [];
      rows = 0;
    }
    group.push(i);
    rows += n;
  }
  groups.push(group);
  // A group of one saves nothing; the table keeps its own workflow.
  return { groups: groups.filter((g) => g.length > 1), alone: [...alone, ...groups.filter((g) => g.length === 1).flat()].sort((a, b) => a - b) };
}
