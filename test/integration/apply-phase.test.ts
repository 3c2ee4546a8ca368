import assert from 'node:assert/strict';
import { readProgress } from '../../client/progress';
import { useDatabases } from '../helpers/databases';
import { lockPgTable, waitFor } from '../helpers/guarantees';
import { pgUrl, testDb } from '../helpers/pg';
import { syncOk } from '../helpers/run';

// The progress a user sees says when a table's rows are being applied, not only copied.
const SRC = testDb('tablesync_it_phase_src');
const DST = testDb('tablesync_it_phase_dst');

describe('progress: the apply phase (real PostgreSQL, Temporal)', () => {
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });

  it('a table whose chunk waits to write the target shows phase apply, then completes', async () => {
    for (const db of [src, dst]) {
      await db.query('CREATE TABLE items (id int PRIMARY KEY, v text)');
      await db.query(`INSERT INTO items SELECT g, 'v' FROM generate_series(1, 500) g`);
    }
    await src.query(`UPDATE items SET v = 'changed' WHERE id <= 10`);
    // Reads of the target pass (planning, staging's shape); the upsert waits on this lock.
    const lock = await lockPgTable(dst, 'public.items', 'SHARE');
    let seen = '';
    const summary = await syncOk(
      { src: pgUrl(SRC), dst: pgUrl(DST) },
      { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['items'], timeouts: { heartbeatSeconds: 5 } },
      {
        during: async ({ env, workflowId }) => {
          try {
            seen = await waitFor('phase apply', async () => {
              const p = await readProgress(env.client, workflowId).catch(() => null);
              const t = p?.tables.find((x) => x.table === 'public.items');
              return t?.phase === 'apply' && t.phase;
            });
          } finally {
            await lock.release();
          }
        },
      },
    );
    assert.equal(seen, 'apply');
    assert.deepEqual([summary.tables[0].status, summary.tables[0].updated], ['completed', 10]);
  });
});
