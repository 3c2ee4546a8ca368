import { readFilterOf } from '../lib/modes';
import type { CopyStream, ReadFilter, SourceConnection } from '../lib/sources/base';
import { bothFilters } from '../lib/sources/row-filter';
import { displayName } from '../lib/tables';
import type { PartitionRange, PartitionResult, TablePlan } from '../lib/types';
import { nonRetryable } from './errors';

// What a partition's transfer shares with the small-table group loads: its
// progress as _migration_state holds it, its result, the activity it runs in
// and its read (one file, so transfer.ts and small-loads.ts do not import each other).

/** What a partition's committed chunks did, and where a retried attempt resumes. */
export interface PartitionProgress {
  nextChunk: number;
  rowsCopied: number;
  /** compare: source rows of digest buckets found equal, not copied. */
  skipped: number;
  inserted: number;
  updated: number;
  deleted: number;
  warnings: Record<string, number>;
}

export type ChunkCounts = Omit<PartitionProgress, 'nextChunk'>;

export const NO_PROGRESS: PartitionProgress = { nextChunk: 0, rowsCopied: 0, skipped: 0, inserted: 0, updated: 0, deleted: 0, warnings: {} };

/** Progress as _migration_state holds it. */
export function progressOf(row: Record<string, unknown>): PartitionProgress {
  // Rows skipped as equal are unchanged rows that were not copied (_migration_state keeps both figures).
  const copiedUnchanged = Number(row.rows_copied) - Number(row.rows_inserted) - Number(row.rows_updated);
  return {
    nextChunk: Number(row.chunks_done),
    rowsCopied: Number(row.rows_copied),
    skipped: Math.max(0, Number(row.rows_unchanged ?? 0) - copiedUnchanged),
    inserted: Number(row.rows_inserted),
    updated: Number(row.rows_updated),
    deleted: Number(row.rows_deleted),
    warnings: (row.warnings as Record<string, number> | null) ?? {},
  };
}

export function partitionResult(index: number, attempt: number, p: PartitionProgress): PartitionResult {
  const { rowsCopied, skipped, inserted, updated, deleted } = p;
  const warnings = Object.entries(p.warnings).map(([what, n]) => `${n} × ${what}`);
  return {
    index,
    rowsCopied,
    ...(skipped ? { rowsSkipped: skipped } : {}),
    inserted,
    updated,
    unchanged: rowsCopied + skipped - inserted - updated,
    deleted,
    attempt,
    warnings,
  };
}

/** What one partition's transfer needs of the activity running it (syncPartition, or syncSmallTables for each of its tables). */
export interface PartitionRun {
  attempt: number;
  heartbeat(details: unknown): void;
  signal: AbortSignal;
  /** The activity was cancelled by its workflow (not timed out or shut down). */
  cancelRequested(): boolean;
}

/** Opens a chunk's read; a block range's snapshot that is gone fails the load for good (no retry can bring it back). */
/** The chunk's rows the mode reads (and, where compare's digests narrowed it, only those in `narrowed`). */
export async function openRead(source: Pick<SourceConnection, 'openCopy'>, table: TablePlan, chunk: PartitionRange, binary: boolean, snapshot?: string, narrowed?: ReadFilter): Promise<CopyStream> {
  const filter = narrowed ? bothFilters(readFilterOf(table), narrowed) : readFilterOf(table);
  try {
    return await source.openCopy(table, chunk, binary, filter, chunk.blocks ? snapshot : undefined);
  } catch (err) {
    if (chunk.blocks && /invalid snapshot identifier/i.test((err as Error).message ?? '')) {
      throw nonRetryable(
        'SourceSnapshotLost',
        `${displayName(table.source)}: the source snapshot this load reads its block ranges under is gone (the worker that held it stopped, ` +
          `or its session was ended); the load is given up and the next run loads the table again`,
      );
    }
    throw err;
  }
}
