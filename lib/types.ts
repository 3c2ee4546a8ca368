import type { Counts } from './counts';
import type { SyncModeName } from './modes/names';
import type { ChangelogPlan } from './modes/changelog/types';
import type { CursorPlan } from './modes/cursor/types';
import type { RowFilterPlan } from './row-filter';

export type { ChangelogPlan, CursorPlan };

// Types shared by workflows and activities. Plain data only: these travel in
// Temporal payloads, so no class instances, no bigint, no Date.

export interface TableRef {
  schema: string;
  name: string;
}

export interface ColumnPlan {
  /** Name in the source. */
  name: string;
  /** Name in the target (differs only with target.naming: snake_case). */
  targetName: string;
  /** Source type as the source catalog spells it. */
  sourceType: string;
  /** Target type as PostgreSQL's format_type() spells it. */
  targetType: string;
  nullable: boolean;
  /**
   * The source type is a user type (enum, domain, composite, or an array of
   * one): its name is the source database's and its binary form carries
   * catalog OIDs, so it is read as text and never cast on the source.
   */
  userType?: boolean;
}

/** What a cursor or change-log table's state remembers of one synced column's types. */
export interface ColumnTypes {
  /** The source type as the source catalog spelled it (null: unknown, a column dropped before types were kept). */
  source: string | null;
  /** That type mapped to PostgreSQL by the dialect (no typeMap): what narrowings are judged by; null if it has no mapping. */
  mapped: string | null;
  /** The target column's type. */
  target: string;
  /** The source dropped the column (kept in the target): its values there are stale from then on. */
  dropped?: true;
}

export interface PgTypeName {
  schema: string;
  name: string;
}

/** A user type a full load creates in the target (if missing) before its table. */
export interface TargetUserType {
  source: PgTypeName;
  target: PgTypeName;
  /** One line, type references as in the target: compared with an existing type's. */
  definition: string;
  /** CREATE statement; for an enum its head, the labels bound when it runs. */
  ddl: string;
  labels?: string[];
}

export interface TablePlan {
  source: TableRef;
  target: TableRef;
  /** full: load a new table and swap it in; compare: staging + upsert of what differs. */
  mode: SyncModeName;
  /** Columns copied: present in both source and target, in source order. */
  columns: ColumnPlan[];
  /** Source names of the key columns. */
  primaryKey: string[];
  /** Single-column integer key: split into ranges of equal width (other keys: by sampled cut points). */
  integerKey: boolean;
  /**
   * Set by createSyncTasks when the key is split by sampled cut points:
   * whether the target orders the key exactly as the source (sameOrderOnTarget),
   * so ranges may be evaluated on the target too. Absent: integerKey says.
   */
  rangesOnTarget?: boolean;
  /** mode cursor: the cursor column and, once tasks are planned, the run's read window. */
  cursor?: CursorPlan;
  /** mode changelog: the log and, once tasks are planned, the run's log window. */
  changelog?: ChangelogPlan;
  /**
   * tables[].where: the only rows of the source this table syncs, in every
   * read (copies, bounds, verify). Made by planning from the config, and held
   * to the config by the activities' input guard (see activities/input-guard.ts).
   */
  rowFilter?: RowFilterPlan;
  /** Deletes for this table (per-table config), else the config's. */
  deletes?: 'ignore' | 'hard' | 'soft';
  /** Cursor and change-log tables: the column types their state saves (absent in plans from before: saved as unknown). */
  columnTypes?: Record<string, ColumnTypes>;
  /** Schema drift and similar remarks, reported but not fatal. */
  notes: string[];
  /**
   * deletes: soft: the target's flag column. Rows a key range's source lacks
   * are marked (flag true, _tablesync_deleted_at set) instead of deleted, and
   * unmarked when they come back. Absent: deletes are hard or ignored.
   */
  softDeleteColumn?: string;
  /**
   * The soft-delete flag the target carries (from deletes: soft in this mode
   * or one the table had before), whatever the delete rule now: a row any
   * mode writes is unmarked (it is in the source), and verify counts only
   * unmarked rows. Set for tables written in place (not append tables, whose
   * new versions are written unmarked).
   */
  marks?: string;
  /** PostgreSQL sources: user types to create before a full load's table, dependencies first. */
  userTypes?: TargetUserType[];
  /**
   * The run's claim on the target table (_tablesync_generations): every commit
   * to the table checks it is still current. Absent in plans from before, and
   * in verify without repair, which writes nothing.
   */
  generation?: number;
  /**
   * compare: how each chunk's rows are digested on both sides so that equal
   * key ranges are skipped (see lib/modes/compare/digests.ts), or why every
   * row is copied instead. Absent (plans from before, other modes): every row.
   */
  rangeDigests?: { scheme: 'binary' | 'md5'; wholeOnly?: string } | { fallback: string };
}

/**
 * Key range (lo, hi]; null means unbounded on that side. Bounds are key
 * values as the source's text (decimal strings for integer keys), a JSON
 * array of them for a composite key (see encodeKey).
 */
export interface PartitionRange {
  index: number;
  count: number;
  lo: string | null;
  hi: string | null;
  /** Sampled keys: the cut points between the range's chunks, in the source's order (planned once). */
  splits?: string[];
  /**
   * lo, hi and splits are heap block numbers of a PostgreSQL source, not keys:
   * the range is the rows stored in blocks [lo, hi) (ctid ranges, a TID Range
   * Scan), read under the one snapshot its load exported. Planned only for
   * full loads, which read every row and never compare ranges with the target.
   */
  blocks?: true;
}

export interface SyncTask {
  table: TablePlan;
  estimatedRows: number;
  /** Key bounds when planned (integer keys of tables bigger than one batch); they fix the chunks. */
  keyMin?: string | null;
  keyMax?: string | null;
  partitions: PartitionRange[];
  /** Set by createSyncTasks when planning this table failed (the others still sync): it is reported, never run. */
  failed?: FailedTable;
  /**
   * A cursor or change-log run past its first: one partition of one chunk that reads only what changed since
   * the saved position. A sync of only such a table runs it in its own workflow, without a child (a child's
   * start and end cost more than the read).
   */
  changesOnly?: boolean;
}

export interface SkippedTable {
  table: string;
  reason: string;
}

/** A table (or config entry) refused before any row moved; the other tables still sync. */
export interface FailedTable {
  table: string;
  target?: string;
  /** Error type, PascalCase: UnknownTable, UnsupportedType, NameCollision, … */
  type: string;
  reason: string;
}

export interface PartitionResult extends Counts {
  index: number;
  attempt: number;
  /** Values the target cannot hold that were changed as documented (e.g. zero dates → NULL). */
  warnings: string[];
}

export interface TableResult extends Counts {
  table: string;
  target: string;
  status: 'completed' | 'failed';
  partitions: number;
  mode: SyncModeName;
  /** compare: why every row was copied (no range digests for this table), said every run. */
  copiedEveryRow?: string;
  /** Present when the run verified the table after syncing. */
  verification?: TableVerification;
  warnings: string[];
  error?: string;
  /** Type of the error when the table failed before any row moved (at discovery). */
  errorType?: string;
}

export interface SyncSummary extends Counts {
  tablesSynced: number;
  tablesFailed: number;
  tablesUnchanged: number;
  tablesSkipped: number;
  warnings: number;
  tables: TableResult[];
  skipped: SkippedTable[];
  /** What the config's entries resolved to and what patterns left out, said before rows moved. */
  plan?: string[];
  /** Warnings of the run, not of a table (a webhook it could not tell); counted in `warnings`. */
  runWarnings?: string[];
  message: string;
  /**
   * A sync of many tables (in batches): `tables` lists only its failed
   * tables, and `tables`, `skipped` and `plan` at most SUMMARY_LISTED
   * entries each; the counts and message cover every table. Every entry is
   * in the target's state for a week, by this run and its batches: the
   * client's completeSummary (what `tablesync run` prints) reads them back.
   */
  listed?: { syncWorkflowId: string; syncRunId: string; batches: number };
}

export interface RangeChecksum {
  range: PartitionRange;
  sourceRows: number;
  targetRows: number;
  /** Sum over rows of the first 32 bits of md5(canonical row text): order-free, computed in each database. */
  sourceSum: string;
  targetSum: string;
  /** Columns left out of the checksum because their text forms differ by design (e.g. floats across dialects). */
  skippedColumns: string[];
}

export interface TableVerification {
  table: string;
  target: string;
  /** How the table syncs: says what its row differences mean (see RowDifferences). */
  mode?: SyncModeName;
  sourceRows: number;
  targetRows: number;
  ranges: number;
  /** Ranges whose counts or checksums differ. */
  differing: RangeChecksum[];
  /** Ranges re-synced by --repair, and whether they matched afterwards. */
  repaired: number;
  /**
   * The rows behind the differing ranges, row by row. Absent when nothing
   * differs (and in results from before row-level checks).
   */
  rows?: RowDifferences;
  /** Why --repair left the table alone, and the like. */
  notes?: string[];
  /** No anomaly: counts and checksums agree, or every difference is pending (cursor and change-log tables). */
  matches: boolean;
}

/** How many rows fall in one category, and the keys of the first few (bounded). */
export interface KeySample {
  count: number;
  /** The first keys found (at most 10), as text ("(a, b)" for composite keys). */
  keys: string[];
}

/**
 * Rows that differ, by what that means for the table's mode. `changed`,
 * `missing` and `extra` are anomalies (they fail verify); `pending` rows
 * are ones the next run brings anyway (cursor and change-log tables only). In a cursor table, `changed` and
 * `missing` are rows whose cursor the next run does not read (below the
 * saved cursor minus the lookback, or NULL): changed without moving the
 * cursor. In a change-log table, they are rows whose key has no log entry
 * past the saved position: changed without a log entry.
 */
export interface RowDifferences {
  /** In both, with different values. */
  changed: KeySample;
  /** In the source, not (or only soft-deleted) in the target. */
  missing: KeySample;
  /** Live in the target, not in the source. */
  extra: KeySample;
  /** Rows that differ in any of these ways but that the next run brings (cursor the next run reads, or a pending log entry); not counted above. */
  pending: KeySample;
}

