// Types shared by workflows and activities. Plain data only: these travel in
// Temporal payloads, so no class instances, no bigint, no Date.

export interface TableRef {
  schema: string;
  name: string;
}

export interface ColumnPlan {
  name: string;
  /** Source type as the source catalog spells it. */
  sourceType: string;
  /** Target type as PostgreSQL's format_type() spells it. */
  targetType: string;
}

export interface TablePlan {
  source: TableRef;
  target: TableRef;
  /** Columns copied: present in both source and target, in source order. */
  columns: ColumnPlan[];
  primaryKey: string[];
  /** Single-column integer key: the only shape split into ranges. */
  integerKey: boolean;
  /** Schema drift and similar remarks, reported but not fatal. */
  notes: string[];
}

/** Key range (lo, hi]; null means unbounded on that side. Values are decimal strings. */
export interface PartitionRange {
  index: number;
  count: number;
  lo: string | null;
  hi: string | null;
}

export interface SyncTask {
  table: TablePlan;
  estimatedRows: number;
  partitions: PartitionRange[];
}

export interface SkippedTable {
  table: string;
  reason: string;
}

export interface PartitionResult {
  index: number;
  rowsCopied: number;
  inserted: number;
  updated: number;
  unchanged: number;
  attempt: number;
}

export interface TableResult {
  table: string;
  target: string;
  status: 'completed' | 'failed';
  partitions: number;
  rowsCopied: number;
  inserted: number;
  updated: number;
  unchanged: number;
  error?: string;
}

export interface SyncSummary {
  tablesSynced: number;
  tablesFailed: number;
  tablesUnchanged: number;
  tablesSkipped: number;
  inserted: number;
  updated: number;
  unchanged: number;
  rowsCopied: number;
  tables: TableResult[];
  skipped: SkippedTable[];
  message: string;
}
