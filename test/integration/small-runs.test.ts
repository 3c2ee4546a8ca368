import assert from 'node:assert/strict';
import { defaultPayloadConverter } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { Pool } from 'pg';
import { readProgress, type LiveProgress } from '../../client/progress';
import type { DiscoverTablesResult } from '../../activities';
import { readFilterOf } from '../../lib/modes';
import { pgRangeCopySql } from '../../lib/sources/postgres/read';
import { useDatabases } from '../helpers/databases';
import { activityRuns, childWorkflowIds, fetchHistory } from '../helpers/history';
import { pgUrl, testDb } from '../helpers/pg';
import { closeStagingGate, waitFor, waitingAtGate } from '../helpers/guarantees';
import { failureChain, runSyncInProcess, FAST_RETRY, type RunOptions, type RunningWorkflow } from '../helpers/run';

// A sync of one cursor or change-log table past its first run (issue 20 §3):
// the fewest Temporal steps (no child workflow, no createSyncTasks, no
// collectResults) and, for a cursor the target prints as the source does, no
// MAX over the source before the read. Still exact, and still followed by
// the progress reader.
const SRC = testDb('tablesync_it_small_src');
const DST = testDb('tablesync_it_small_dst');
const pg = { src: pgUrl(SRC), dst: pgUrl(DST) };

const rows = async (db: Pool, sql: string) => (await db.query(sql)).rows;

type History = temporal.api.history.v1.IHistory;

/** A sync that must complete, with its history's client. */
async function syncOk(connections: Record<string, string>, config: object, options: string | RunOptions) {
  const { workflowId, client, outcome } = await runSyncInProcess(connections, config, options);
  if (!outcome.ok) throw new Error(`sync ${workflowId} failed: ${failureChain(outcome.error)}`);
  return { ...outcome.value, workflowId, client };
}

/** What discoverTables returned in a sync's history. */
function discovered(history: History): DiscoverTablesResult {
  const events = history.events ?? [];
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'discoverTables');
  const done = events.find((e) => Number(e.activityTaskCompletedEventAttributes?.scheduledEventId) === Number(scheduled?.eventId));
  return defaultPayloadConverter.fromPayload(done!.activityTaskCompletedEventAttributes!.result!.payloads![0]);
}

describe('small runs: one table past its first run, in the fewest steps (real PostgreSQL, Temporal)', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } }, { perTest: true });
  const base = { ...FAST_RETRY, source: { connection: 'src' }, target: { connection: 'dst' } };

  describe('cursor mode', () => {
    beforeEach(async () => {
      // A numeric cursor with a scale: its saved text must keep it ('3.100', not '3.1').
      await src.query(`CREATE TABLE ev (id integer PRIMARY KEY, v text, seq numeric(12,3) NOT NULL)`);
      await src.query(`INSERT INTO ev VALUES (1, 'a', 1.500), (2, 'b', 2.250), (3, 'c', 0.125)`);
    });
    const config = (extra: object = {}) => ({ ...base, tables: [{ table: 'ev', mode: 'cursor', cursor: 'seq', ...extra }] });
    const saved = async () => (await rows(dst, `SELECT cursor_value FROM _tablesync_tables WHERE target_table = 'ev'`))[0]?.cursor_value;

    it('runs without a child workflow or a MAX over the source, and saves the largest cursor it copied, exactly', async () => {
      const first = await syncOk(pg, config(), 'small');
      assert.equal(first.tables[0].inserted, 3);
      assert.equal(childWorkflowIds(await fetchHistory(first.client, first.workflowId)).length, 1, 'the first run loads the table in its own workflow');
      assert.equal(await saved(), '2.250');

      await src.query(`UPDATE ev SET v = 'c2', seq = 3.100 WHERE id = 3`);
      const second = await syncOk(pg, config(), 'small');
      const [t] = second.tables;
      // Inclusive: the row at the saved cursor (id 2) is read again, unchanged.
      assert.deepEqual([t.status, t.rowsCopied, t.updated, t.unchanged], ['completed', 2, 1, 1]);
      assert.equal(await saved(), '3.100');
      assert.deepEqual(await rows(dst, 'SELECT id, v, seq::text FROM ev ORDER BY id'), [
        { id: 1, v: 'a', seq: '1.500' },
        { id: 2, v: 'b', seq: '2.250' },
        { id: 3, v: 'c2', seq: '3.100' },
      ]);
      const history = await fetchHistory(second.client, second.workflowId);
      assert.deepEqual(childWorkflowIds(history), [], 'no child workflow');
      assert.deepEqual(activityRuns(history).map((r) => r.type), ['initializeState', 'discoverTables', 'syncPartition']);
      const window = discovered(history).tasks?.[0].table.cursor?.window;
      assert.deepEqual([window?.from, window?.to, window?.open], ['2.250', null, true], 'no upper bound read from the source');
      const runs = await rows(dst, `SELECT sync_status FROM _migration_state WHERE workflow_id = '${second.workflowId}'`);
      assert.deepEqual(runs, [{ sync_status: 'completed' }], '_migration_state records the run');
    });

    it("reads past the saved cursor comparing the bound computed once (a sequential scan's first test), and still by an index on the cursor", async () => {
      await syncOk(pg, config({ lookback: '1' }), 'small');
      await src.query(`UPDATE ev SET seq = 3.000 WHERE id = 1`);
      const run = await syncOk(pg, config({ lookback: '1' }), 'small');
      assert.equal(run.tables[0].updated, 1);
      const task = discovered(await fetchHistory(run.client, run.workflowId)).tasks![0];
      const { sql, settings } = pgRangeCopySql(task.table, task.partitions[0], 'text', readFilterOf(task.table));
      const select = sql.replace(/^COPY \(/, '').replace(/\) TO STDOUT \(FORMAT text\)$/, '');
      // The plan of the COPY's query, with its bounds bound as the read binds them.
      const plan = async () => {
        const client = await src.connect();
        try {
          await client.query('BEGIN');
          for (const [i, value] of settings.entries()) await client.query(`SELECT set_config('tablesync.p${i + 1}', $1, true)`, [value]);
          return (await client.query(`EXPLAIN ${select}`)).rows.map((r) => r['QUERY PLAN'] as string).join('\n');
        } finally {
          await client.query('ROLLBACK');
          client.release();
        }
      };
      // A sequential scan tests the bound computed once (an InitPlan's $0) before the one that reads the setting per row.
      assert.match(await plan(), /Seq Scan on ev[\s\S]*Filter: \(\(seq >= \$0\) AND \(seq >= .*current_setting/);
      // With an index on the cursor and a narrow window, the planner still estimates the bound from its value
      // (2 of 20,003 rows; a bound known only when the scan starts is estimated at a third of them).
      await src.query(`INSERT INTO ev SELECT g, 'x', 0.001 FROM generate_series(10, 20009) AS g; CREATE INDEX ev_seq ON ev (seq); ANALYZE ev`);
      const indexed = await plan();
      assert.match(indexed, /Index (Only )?Scan using ev_seq on ev|Bitmap Index Scan on ev_seq/);
      const estimate = Number(/rows=(\d+)/.exec(indexed)?.[1]);
      assert.ok(estimate < 100, `estimated ${estimate} rows: ${indexed}`);
    });

    it('never moves the saved cursor back: a lookback re-reads older rows, a run that reads nothing past it keeps it', async () => {
      await syncOk(pg, config({ lookback: '2' }), 'small');
      assert.equal(await saved(), '2.250');
      // Rows at 0.250 … 2.250 are re-read (2.250 - 2); none is past the saved cursor.
      await src.query(`UPDATE ev SET v = 'a2' WHERE id = 1`);
      const again = await syncOk(pg, config({ lookback: '2' }), 'small');
      assert.deepEqual([again.tables[0].rowsCopied, again.tables[0].updated], [2, 1]);
      assert.equal(await saved(), '2.250');
      await src.query(`DELETE FROM ev WHERE seq >= 1`);
      const none = await syncOk(pg, config({ lookback: '2' }), 'small');
      assert.deepEqual([none.tables[0].status, none.tables[0].rowsCopied], ['completed', 0]);
      assert.equal(await saved(), '2.250', 'nothing read: the saved cursor stays');
    });

    it('a nullable cursor column still reads its bound (and its NULL rows) from the source before the read', async () => {
      await src.query(`CREATE TABLE nul (id integer PRIMARY KEY, seq integer)`);
      await src.query(`INSERT INTO nul VALUES (1, 1), (2, NULL)`);
      const cfg = { ...base, tables: [{ table: 'nul', mode: 'cursor', cursor: 'seq' }] };
      await syncOk(pg, cfg, 'small');
      await src.query(`UPDATE nul SET seq = 5 WHERE id = 1`);
      const second = await syncOk(pg, cfg, 'small');
      const window = discovered(await fetchHistory(second.client, second.workflowId)).tasks?.[0].table.cursor?.window;
      assert.deepEqual([window?.to, window?.open], ['5', undefined]);
      assert.match(second.tables[0].warnings.join('\n'), /1 × row with a NULL cursor "seq"/);
    });

    it('a table the sync runs itself that fails is a failed table in the summary, with its state; the run completes', async () => {
      await syncOk(pg, config(), 'small');
      await dst.query(`ALTER TABLE ev ADD CONSTRAINT short_v CHECK (length(v) < 3)`);
      await src.query(`UPDATE ev SET v = 'toolong', seq = 5 WHERE id = 1`);
      const run = await syncOk(pg, config(), 'small');
      assert.equal(run.tablesFailed, 1);
      assert.match(run.tables[0].error ?? '', /violates check constraint "short_v"/);
      assert.deepEqual(childWorkflowIds(await fetchHistory(run.client, run.workflowId)), []);
      const state = await rows(dst, `SELECT sync_status FROM _migration_state WHERE workflow_id = '${run.workflowId}'`);
      assert.deepEqual(state, [{ sync_status: 'failed' }]);
      assert.equal(await saved(), '2.250', 'the saved cursor did not move');
    });

    it('the progress reader follows the table the sync runs itself: its phase and running partition', async () => {
      await syncOk(pg, config(), 'small');
      await src.query(`UPDATE ev SET seq = 4 WHERE id = 1`);
      const gate = await closeStagingGate(dst);
      let seen: LiveProgress | undefined;
      try {
        const during = async ({ client, workflowId }: RunningWorkflow) => {
          await waitFor('the partition at the gate', async () => (await waitingAtGate(dst, DST, 'ev')) === 1);
          seen = await readProgress(client, workflowId);
          await gate.release();
        };
        const run = await syncOk(pg, config(), { prefix: 'small', during });
        assert.equal(run.tables[0].updated, 1);
      } finally {
        await gate.release();
        await dst.query('DROP EVENT TRIGGER IF EXISTS tablesync_it_gate');
      }
      assert.equal(seen?.phase, 'sync');
      assert.deepEqual(
        seen?.tables.map((t) => [t.table, t.phase, t.here, t.partitionsRunning]),
        [['public.ev', 'copy', true, 1]],
      );
    });
  });

  describe('change-log mode', () => {
    it('runs without a child workflow past its first run, its deletes and position as before', async () => {
      await src.query(`CREATE TABLE item (id integer PRIMARY KEY, v text NOT NULL)`);
      await src.query(`CREATE TABLE item_log (pos bigserial PRIMARY KEY, item_id integer NOT NULL, action text NOT NULL)`);
      await src.query(`INSERT INTO item VALUES (1, 'a'), (2, 'b')`);
      const cfg = { ...base, tables: [{ table: 'item', mode: 'changelog', deletes: 'hard', changelog: { table: 'item_log', key: 'item_id', position: 'pos' } }] };
      await syncOk(pg, cfg, 'small');
      await src.query(`UPDATE item SET v = 'b2' WHERE id = 2; DELETE FROM item WHERE id = 1; INSERT INTO item_log (item_id, action) VALUES (2, 'update'), (1, 'delete')`);
      const second = await syncOk(pg, cfg, 'small');
      assert.deepEqual([second.tables[0].updated, second.tables[0].deleted], [1, 1]);
      assert.deepEqual(await rows(dst, 'SELECT id, v FROM item ORDER BY id'), [{ id: 2, v: 'b2' }]);
      const history = await fetchHistory(second.client, second.workflowId);
      assert.deepEqual(childWorkflowIds(history), []);
      assert.deepEqual(activityRuns(history).map((r) => r.type), ['initializeState', 'discoverTables', 'syncPartition']);
      assert.equal((await rows(dst, `SELECT cursor_value FROM _tablesync_tables WHERE target_table = 'item'`))[0]?.cursor_value, '2', 'the log position read');
    });
  });
});
