// Upper bounds for the numbers a workflow starter chooses: each is far past any
// sensible setting, and keeps one input from pinning a worker (a batch held in
// memory, a partition that never times out, retries without end).
export const MAX = {
  /** Rows per chunk: a chunk's rows pass through one COPY and one transaction. */
  batchSize: 10_000_000,
  /** Row counts for partitioning and verify ranges. */
  rows: 1_000_000_000_000,
  attempts: 100,
  /** One hour between attempts. */
  intervalMs: 3_600_000,
  backoff: 10,
  /** A week for one partition. */
  partitionMinutes: 7 * 24 * 60,
  heartbeatSeconds: 3_600,
  /** Webhooks of one config (notify:), each called at the run's end. */
  webhooks: 10,
  /** maintenance_work_mem's own ceiling on 64-bit builds is far higher; 64 GB is past any one index build. */
  keyBuildMemoryMB: 65_536,
  /** Changes of one source transaction a cdc batch holds in memory (cdcTransactionChanges). */
  cdcTransactionChanges: 10_000_000,
};

// Defaults of config fields that bound memory.
export const DEFAULTS = {
  /**
   * A cdc source transaction with more changes than this is applied in
   * pieces of this many, each in its own target commit (the worker holds one
   * piece at a time, not the whole transaction): about 100 MB of a worker's
   * memory for rows of about 1 kB.
   */
  cdcTransactionChanges: 100_000,
};
