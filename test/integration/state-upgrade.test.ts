import assert from 'node:assert/strict';
import { useDatabases } from '../helpers/databases';
import { pgUrl, testDb } from '../helpers/pg';
import { runSyncInProcess } from '../helpers/run';

// initializeState skips its DDL when one query finds the state current; a
// state an older version made must still be brought up to date, not skipped.
const SRC = testDb('tablesync_it_upgrade_src');
const DST = testDb('tablesync_it_upgrade_dst');
const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };
const config = {
  source: { connection: 'src' },
  target: { connection: 'dst' },
  tables: [{ table: 'events', mode: 'cursor', cursor: 'updated_at' }],
  retry: { maximumAttempts: 1 },
};

describe('state tables made by an older version (real PostgreSQL, Temporal)', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } }, { perTest: true });

  it('a _tablesync_tables without column_types gets the column back and the cursor table keeps syncing from its saved cursor', async () => {
    await src.query(`CREATE TABLE events (id int PRIMARY KEY, v text, updated_at timestamp NOT NULL)`);
    await src.query(`INSERT INTO events VALUES (1, 'a', '2026-01-01'), (2, 'b', '2026-01-02')`);
    const first = await runSyncInProcess(connections, config, 'upgrade');
    assert.ok(first.outcome.ok, first.outcome.ok ? '' : first.outcome.error.message);
    // What a table state of the version before typed columns looks like.
    await dst.query(`ALTER TABLE public._tablesync_tables DROP COLUMN column_types`);
    await src.query(`UPDATE events SET v = 'b2', updated_at = '2026-01-03' WHERE id = 2`);
    const second = await runSyncInProcess(connections, config, 'upgrade');
    assert.ok(second.outcome.ok, second.outcome.ok ? '' : second.outcome.error.message);
    const [t] = second.outcome.value.tables;
    assert.equal(t.status, 'completed');
    // Read from the saved cursor (2026-01-02, inclusive): rows 2 only, updated.
    assert.deepEqual([t.rowsCopied, t.inserted, t.updated], [1, 0, 1]);
    const cols = await dst.query(`SELECT 1 FROM pg_attribute WHERE attrelid = 'public._tablesync_tables'::regclass AND attname = 'column_types' AND NOT attisdropped`);
    assert.equal(cols.rowCount, 1, 'column_types was not added back');
    const types = await dst.query(`SELECT column_types FROM public._tablesync_tables WHERE source_table = 'events'`);
    assert.ok(types.rows[0].column_types, 'the run saved no column types');
  });
});
