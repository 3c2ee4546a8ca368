import type { WorkflowHandle } from '@temporalio/client';
import type { Connection } from 'mysql2/promise';
import type { Pool } from 'pg';
import type { CdcProgress, CdcResult } from '../../workflows/cdc';
import { waitFor } from './guarantees';
import type { Outcome } from './run';
import { testWorker } from './temporal';

/** A side's rows as comparable strings, in the order its query gives them. */
export type ReadRows = () => Promise<string[]>;

/** Until the target's rows are the source's; on timeout, says the first difference. */
export async function caughtUpWith(source: ReadRows, target: ReadRows, timeoutMs = 60_000): Promise<void> {
  let last = '';
  await waitFor(
    'the target to catch up with the source',
    async () => {
      // A target that cannot be read yet (a column on its way with a schema change) is not caught up either.
      const b = await target().catch((err: Error) => [`(${err.message})`]);
      const a = await source();
      last = `source ${a.length} rows, target ${b.length}; first difference: source ${a.find((x, i) => x !== b[i])} / target ${b.find((x, i) => x !== a[i])}`;
      return a.length === b.length && a.every((x, i) => x === b[i]);
    },
    timeoutMs,
  ).catch((err) => {
    throw new Error(`${(err as Error).message} (${last})`);
  });
}

export const cdcProgress = (h: WorkflowHandle) => h.query<CdcProgress>('cdcProgress');

/** Until the stream's snapshot is done and it streams. */
export const streaming = (h: WorkflowHandle) => waitFor('the stream', async () => (await cdcProgress(h)).phase === 'streaming');

/**
 * A cdc workflow under a given id (its slot's name comes from it) on a test
 * worker of these connections, with `during` while it runs; how it ended. A
 * `during` that throws terminates the stream, so no test leaves one running.
 */
export async function runCdc(
  connections: Record<string, string>,
  prefix: string,
  workflowId: string,
  input: object,
  during?: (h: WorkflowHandle) => Promise<void>,
): Promise<Outcome<CdcResult>> {
  const { env, taskQueue, worker, close } = await testWorker(connections, prefix);
  const started = Date.now();
  try {
    return await worker.runUntil(async (): Promise<Outcome<CdcResult>> => {
      const h = await env.client.workflow.start('cdcWorkflow', { taskQueue, workflowId, args: [input] });
      try {
        await during?.(h);
      } catch (err) {
        await h.terminate('test failed').catch(() => undefined);
        throw err;
      }
      try {
        return { ok: true, value: (await h.result()) as CdcResult, ms: Date.now() - started };
      } catch (error) {
        return { ok: false, error: error as Error, ms: Date.now() - started };
      }
    });
  } finally {
    await close();
  }
}

/** The replication slots of the pool's database, by name. */
export async function replicationSlots(src: Pool): Promise<string[]> {
  return (await src.query(`SELECT slot_name FROM pg_replication_slots WHERE database = current_database() ORDER BY 1`)).rows.map((r) => r.slot_name);
}

/** A MariaDB query's rows, each as its values' text (JSON of an array). */
async function mariadbRows(my: Connection, sql: string): Promise<string[]> {
  const [rows] = await my.query({ sql, rowsAsArray: true });
  return (rows as unknown[][]).map((r) => JSON.stringify(r.map((v) => (v === null ? null : String(v)))));
}

/** A PostgreSQL query's rows in the same text as mariadbRows'. */
async function pgArrayRows(dst: Pool, sql: string): Promise<string[]> {
  const r = await dst.query({ text: sql, rowMode: 'array' });
  return (r.rows as unknown[][]).map((row) => JSON.stringify(row.map((v) => (v === null ? null : String(v)))));
}

/** Until the target's rows (by `dstSql`, values as text) are the MariaDB source's (by `srcSql`). */
export const mariadbCaughtUp = (my: Connection, dst: Pool, srcSql: string, dstSql = srcSql, timeoutMs = 60_000) =>
  caughtUpWith(() => mariadbRows(my, srcSql), () => pgArrayRows(dst, dstSql), timeoutMs);
