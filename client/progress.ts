import { defaultPayloadConverter, type Client } from '@temporalio/client';
import type { SyncProgress, TableProgress } from '../workflows/progress';

/** A table as a reader sees it: its committed partitions plus what its running partitions heartbeat. */
export interface LiveTableProgress extends TableProgress {
  /** Partitions whose activity is running now. */
  partitionsRunning: number;
}

export interface LiveProgress extends Omit<SyncProgress, 'tables'> {
  workflowId: string;
  /** The workflow's status: RUNNING, COMPLETED, FAILED, CANCELLED, … */
  status: string;
  tables: LiveTableProgress[];
  rowsCopied: number;
  estimatedRows: number;
}

/** What syncPartition heartbeats: committed chunks of this attempt and rows of the chunk being copied. */
interface PartitionHeartbeat {
  rowsCopied?: number;
  inFlight?: number;
  /** copy: its chunk's rows stream in; apply: the chunk's rows are being applied to the target. */
  phase?: 'copy' | 'apply';
}

/** Rows the running activities of one workflow report, from their last heartbeat (Temporal throttles these). */
async function heartbeatRows(client: Client, workflowId: string): Promise<{ rows: number; running: number; applying: number }> {
  const d = await client.workflow.getHandle(workflowId).describe();
  let rows = 0;
  let running = 0;
  let applying = 0;
  for (const a of d.raw.pendingActivities ?? []) {
    if (a.activityType?.name !== 'syncPartition') continue;
    running++;
    const payload = a.heartbeatDetails?.payloads?.[0];
    if (!payload) continue;
    const beat = defaultPayloadConverter.fromPayload<PartitionHeartbeat>(payload);
    rows += (beat?.rowsCopied ?? 0) + (beat?.inFlight ?? 0);
    if (beat?.phase === 'apply') applying++;
  }
  return { rows, running, applying };
}

/**
 * The progress of a sync workflow: its `progress` query, and for each table
 * still running the child's own `progress` query and its partitions'
 * heartbeat details. Needs a worker on the workflow's queue to answer the
 * queries (queries are answered by workers).
 */
export async function readProgress(client: Client, workflowId: string): Promise<LiveProgress> {
  const handle = client.workflow.getHandle(workflowId);
  const [parent, description] = await Promise.all([handle.query<SyncProgress>('progress'), handle.describe()]);
  // A sync of many tables: its running batches know their tables' plans and phases.
  const planned = new Map<string, TableProgress>();
  for (const batchId of parent.batches ?? []) {
    const batch = await client.workflow.getHandle(batchId).query<SyncProgress>('progress').catch(() => null);
    for (const t of batch?.tables ?? []) planned.set(t.table, t);
  }
  // Batches in the state: the sync lists no table, its running batches list theirs; the counts of the rest are the sync's.
  const inState = parent.rowsCopied !== undefined;
  const listed = inState ? [...planned.values()] : parent.tables.map((t) => planned.get(t.table) ?? t);
  const tables = await Promise.all(
    listed.map(async (t): Promise<LiveTableProgress> => {
      if (t.phase !== 'copy') return { ...t, partitionsRunning: 0 };
      if (t.grouped) return { ...t, partitionsRunning: 1 };
      if (t.here) {
        // Run by the sync itself: its entry is live, and its partition's activity is the sync's.
        const beat = await heartbeatRows(client, workflowId).catch(() => ({ rows: 0, running: 0, applying: 0 }));
        const phase = beat.running > 0 && beat.applying === beat.running ? 'apply' : t.phase;
        return { ...t, phase, rowsCopied: t.rowsCopied + beat.rows, partitionsRunning: beat.running };
      }
      const childId = `${workflowId}/${t.table}`;
      try {
        const [child, beat] = await Promise.all([
          client.workflow.getHandle(childId).query<TableProgress>('progress'),
          heartbeatRows(client, childId),
        ]);
        // Every running partition applying its chunk: the table is in its apply phase.
        const phase = beat.running > 0 && beat.applying === beat.running ? 'apply' : child.phase;
        return { ...child, phase, rowsCopied: child.rowsCopied + beat.rows, partitionsRunning: beat.running };
      } catch {
        // The child not started yet, or just closed: the parent's view is the best there is.
        return { ...t, partitionsRunning: 0 };
      }
    }),
  );
  const { batches: _batches, rowsCopied: endedRows = 0, ...counts } = parent;
  const live = {
    tablesDone: tables.filter((t) => t.phase === 'done').length,
    tablesFailed: tables.filter((t) => t.phase === 'failed').length,
    tablesRunning: tables.filter((t) => !['done', 'failed', 'waiting'].includes(t.phase)).length,
  };
  const rowsCopied = endedRows + tables.reduce((n, t) => n + t.rowsCopied, 0);
  return {
    ...counts,
    ...(inState
      ? { tablesDone: counts.tablesDone + live.tablesDone, tablesFailed: counts.tablesFailed + live.tablesFailed, tablesRunning: live.tablesRunning }
      : planned.size && live),
    workflowId,
    status: description.status.name,
    tables,
    rowsCopied,
    estimatedRows: endedRows + tables.reduce((n, t) => n + Math.max(t.estimatedRows, t.rowsCopied), 0),
  };
}
