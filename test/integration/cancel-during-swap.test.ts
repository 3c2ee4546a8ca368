import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TableStatus } from '../../activities';
import { useDatabases } from '../helpers/databases';
import { leftoverTables, lockPgTable, pgBackends, stateRows, waitFor } from '../helpers/guarantees';
import { pgUrl, testDb } from '../helpers/pg';
import { runWorkflow } from '../helpers/run';

// A full load cancelled while its swap builds the key: the state must say what
// is in the target. The swap step did not heartbeat, so the cancelled workflow
// dropped the load table under the running key build, the swap failed, no
// table was swapped in, and the partitions' rows still said "completed":
// status showed a completed load of a target table that did not exist.
const SRC = testDb('tablesync_it_cancelswap_src');
const DST = testDb('tablesync_it_cancelswap_dst');
const pg = { src: pgUrl(SRC), dst: pgUrl(DST) };

const config = {
  source: { connection: 'src' },
  target: { connection: 'dst' },
  tables: ['public.big'],
  mode: 'full',
  partitionThreshold: 2_000,
  rowsPerPartition: 2_000,
  maxPartitionsPerTable: 3,
  batchSize: 1_000,
  retry: { maximumAttempts: 2, initialIntervalMs: 200, maximumIntervalMs: 500 },
  timeouts: { partitionMinutes: 10, heartbeatSeconds: 5 },
};

describe('a full load cancelled during its swap (real PostgreSQL, Temporal)', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } }, { perTest: true });

  it('leaves no target table, and its state says cancelled: every partition, and the last run status shows', async () => {
    await src.query(`CREATE TABLE big (id int PRIMARY KEY, v text)`);
    await src.query(`INSERT INTO big SELECT g, 'v' || g FROM generate_series(1, 6000) g`);
    await src.query('ANALYZE big');
    // The load must not finish before the test holds its table: a load that
    // did never made the key build wait. Every load table gets a trigger whose
    // writes wait on an advisory lock the test holds until then.
    await dst.query(`CREATE FUNCTION hold_load() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NULL; END $$`);
    await dst.query(`CREATE FUNCTION gate_load_tables() RETURNS event_trigger LANGUAGE plpgsql AS $$
      DECLARE r record;
      BEGIN
        FOR r IN SELECT objid::regclass AS t FROM pg_event_trigger_ddl_commands() WHERE object_identity LIKE '%\\_ts\\_load\\_%' LOOP
          EXECUTE format('CREATE TRIGGER hold_load BEFORE INSERT ON %s FOR EACH STATEMENT EXECUTE FUNCTION hold_load()', r.t);
        END LOOP;
      END $$`);
    await dst.query(`CREATE EVENT TRIGGER gate_load_tables ON ddl_command_end WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS') EXECUTE FUNCTION gate_load_tables()`);
    const gate = await dst.connect();
    await gate.query('SELECT pg_advisory_lock(4242)');
    const openGate = async () => {
      await gate.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
    };
    let childId = '';
    const { workflowId, outcome, client } = await runWorkflow(pg, 'incrementalSyncWorkflow', config, {
      prefix: 'cancelswap',
      during: async ({ client, workflowId }) => {
        childId = `${workflowId}/public.big`;
        const load = await waitFor('the load table', async () => (await dst.query(`SELECT relname FROM pg_class WHERE relname LIKE '\\_ts\\_load\\_%' AND relkind = 'r'`)).rows[0]?.relname);
        await waitFor('a partition write held at the gate', async () => (await pgBackends(dst, DST, 'COPY%')).some((b) => b.waiting));
        // Partitions write through this lock; the key build (ALTER TABLE ... ADD PRIMARY KEY) waits on it.
        const lock = await lockPgTable(dst, `public."${load}"`, 'ACCESS SHARE');
        await openGate();
        try {
          await waitFor('the key build waiting on the lock', async () => (await pgBackends(dst, DST, 'ALTER TABLE%PRIMARY KEY%')).some((b) => b.waiting));
          await client.workflow.getHandle(workflowId).cancel();
          // Long enough for a cancelled run to act on it (drop its load table) before the key build can go on.
          await sleep(4_000);
        } finally {
          await lock.release();
        }
        await waitFor('the table workflow closed', async () => (await client.workflow.getHandle(childId).describe()).status.name !== 'RUNNING');
      },
    }).finally(async () => {
      await openGate();
      gate.release();
    });
    assert.equal(outcome.ok, false, 'the run was cancelled');
    // Whatever the swap activity still does, let it end before looking.
    await waitFor('no statement of the load left', async () => (await pgBackends(dst, DST, '%\\_ts\\_load\\_%')).length === 0 && true);
    await sleep(1_000);
    assert.equal((await client.workflow.getHandle(childId).describe()).status.name, 'CANCELLED');

    const present = (await dst.query(`SELECT to_regclass('public.big') IS NOT NULL AS p`)).rows[0].p;
    assert.equal(present, false, 'the load was not swapped in');
    assert.deepEqual(await leftoverTables(dst, ['big']), [], 'and its load table is gone');
    const rows = await stateRows(dst, workflowId);
    assert.equal(rows.length, 3, JSON.stringify(rows));
    assert.deepEqual(rows.map((r) => r.sync_status), ['cancelled', 'cancelled', 'cancelled'], JSON.stringify(rows));
    assert.ok(rows.every((r) => !/does not exist/.test(r.error_message ?? '')), JSON.stringify(rows));

    const status = await runWorkflow<TableStatus[]>(pg, 'tableStatusWorkflow', { config }, 'cancelswap-status');
    assert.ok(status.outcome.ok);
    const [big] = status.outcome.value;
    assert.equal(big.lastRun?.workflowId, workflowId);
    assert.equal(big.lastRun?.status, 'cancelled');
  });
});
