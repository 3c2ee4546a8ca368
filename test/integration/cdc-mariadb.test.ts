import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import type { Connection } from 'mysql2/promise';
import type { Pool } from 'pg';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CdcResult } from '../../workflows/cdc';
import { connectionEnv, runCli } from '../helpers/cli';
import { cdcProgress, mariadbCaughtUp, runCdc, streaming } from '../helpers/cdc';
import { useDatabases } from '../helpers/databases';
import { duplicateKeys, lockPgTable, pgBackends, pgTextRows, waitFor } from '../helpers/guarantees';
import { freshMysqlCdcDatabase, MYSQL_BASE, MYSQL_CDC_BASE } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { failureChain, runWorkflow } from '../helpers/run';
import { temporal, uniqueTaskQueue } from '../helpers/temporal';
import { workerProcesses } from '../helpers/worker-process';

// cdc mode against a real MariaDB with the binary log on (the second instance
// scripts/services.sh starts on 3307, TABLESYNC_TEST_MYSQL_CDC) into the usual target.
const SRC = testDb('tablesync_it_mcdc_src');
const DST = testDb('tablesync_it_mcdc_dst');
const connections = { src: `${MYSQL_CDC_BASE}/${SRC}`, dst: pgUrl(DST) };
const FAST = { timeouts: { heartbeatSeconds: 5 }, retry: { maximumAttempts: 5, initialIntervalMs: 200, maximumIntervalMs: 500 } };

/** Until the target's rows (by `dstSql`, values as text) are the source's (by `srcSql`). */
const caughtUp = mariadbCaughtUp;

/** A cdc workflow under a given id, with `during` while it runs; how it ended. */
const cdcRun = (workflowId: string, input: object, during?: (h: WorkflowHandle) => Promise<void>, conns: Record<string, string> = connections) =>
  runCdc(conns, 'mcdc', workflowId, input, during);

const progressOf = cdcProgress;
let runs = 0;
const wid = (what: string) => `mcdc-${what}-${process.pid}-${++runs}`;

describe('cdc mode: MariaDB binary log (real servers)', function () {
  this.timeout(240_000);
  const { dst } = useDatabases({ pg: { dst: DST } }, { perTest: true });
  let my: Connection;
  beforeEach(async () => {
    my = await freshMysqlCdcDatabase(SRC);
  });
  afterEach(async () => {
    await my.end();
  });

  it('snapshot under concurrent writes, then every change kind and type, 2 tables in one transaction, in commit order, nothing lost or doubled', async () => {
    await my.query(`CREATE TABLE items (id int PRIMARY KEY, name varchar(50) NOT NULL, n int, doc text) ENGINE=InnoDB`);
    await my.query(`CREATE TABLE ledger (id int PRIMARY KEY, item int, amount decimal(12,2), doubled int AS (item * 2) VIRTUAL, tripled int AS (item * 3) STORED)`);
    // Every type the load maps: rows 1-2 go through the snapshot (the load), rows 101-102 through the binlog; their values must be the same.
    await my.query(`CREATE TABLE kinds (id int PRIMARY KEY, ti tinyint, b1 tinyint(1), si smallint unsigned, mi mediumint, ui int unsigned, bi bigint,
      ubi bigint unsigned, d decimal(30,10), f float, db double, bt bit(10), dt date, dtm datetime(6), ts timestamp(3) NULL, tm time(2), y year,
      c char(5), vc varchar(20), tx text, e enum('a','b,c'), st set('x','y'), j json, bn binary(4), vb varbinary(10), bl blob, u uuid, i4 inet4, i6 inet6,
      lat varchar(10) CHARACTER SET latin1)`);
    const kindsRow = (id: number) => `(${id}, -5, 1, 65535, -8388608, 4294967295, -9223372036854775808, 18446744073709551615, -12345678901234567890.0123456789,
      0.1, 0.1, b'1000000001', '2024-02-29', '2024-02-29 23:59:59.123456', '2038-01-19 03:14:07.999', '12:34:56.78', 2155, 'ab  ', 'x ', 'héllo ☃ 😀',
      'b,c', 'x,y', '{"a": [1, 2.50, "é"]}', 'ab', 0x00ff, 0xdeadbeef, '123e4567-e89b-12d3-a456-426614174000', '10.0.0.1', '2001:db8::1', 'café'),
      (${id + 1}, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '0000-00-00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
      NULL, NULL, NULL, NULL, NULL, NULL, NULL)`;
    await my.query(`INSERT INTO kinds VALUES ${kindsRow(1)}`);
    await my.query(`INSERT INTO items SELECT seq, CONCAT('item ', seq), seq, NULL FROM seq_1_to_20000`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst', schema: 'public' }, tables: ['items', 'ledger', 'kinds'], mode: 'cdc', ...FAST };
    // Writes that keep going while the snapshot is read: each lands in the snapshot or the stream, once.
    const writerConn = await freshWriter();
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        const k = 20000 + ++written;
        await writerConn.query(`BEGIN; INSERT INTO items VALUES (${k}, 'late ${k}', ${k}, NULL); UPDATE items SET n = n + 1 WHERE id = ${(written % 20000) + 1}; COMMIT`);
      }
    })();
    const outcome = await cdcRun(wid('all'), { config, waitMs: 1_000, batchesPerRun: 2 }, async (h) => {
      await streaming(h);
      writing = false;
      await writer;
      await writerConn.end();
      await caughtUp(my, dst, 'SELECT * FROM items ORDER BY id');
      await my.query(`INSERT INTO kinds VALUES ${kindsRow(101)}`);
      await my.query(`UPDATE items SET name = 'renamed', doc = REPEAT('d', 60000) WHERE id <= 3`);
      await my.query(`UPDATE items SET id = id + 1000000 WHERE id = 2`); // a key change
      await my.query(`DELETE FROM items WHERE id BETWEEN 10 AND 19`);
      await my.query(`INSERT INTO items VALUES (0, 'zero', NULL, 'small')`);
      // One transaction over both tables: applied together, in order (an insert then its update then its delete).
      await my.query(`BEGIN; INSERT INTO ledger (id, item, amount) VALUES (1, 1, 9.99), (2, 1, 0.01); UPDATE items SET n = -1 WHERE id = 1;
        UPDATE ledger SET amount = 100.50, item = 7 WHERE id = 1; DELETE FROM ledger WHERE id = 2; INSERT INTO items VALUES (5000000, 'in txn', 5, NULL); COMMIT`);
      // A rolled-back transaction leaves nothing.
      await my.query(`BEGIN; INSERT INTO items VALUES (6000000, 'rolled back', 0, NULL); ROLLBACK`);
      await caughtUp(my, dst, 'SELECT id, name, n, doc FROM items ORDER BY id');
      await caughtUp(my, dst, 'SELECT id, item, amount, doubled, tripled FROM ledger ORDER BY id');
      await waitFor('the streamed kinds rows', async () => (await dst.query('SELECT count(*)::int AS n FROM kinds')).rows[0].n === 4);
      const p = await progressOf(h);
      assert.match(p.position ?? '', /^mariadb-bin\.\d+:\d+$/);
      assert.ok(p.lagBytes !== null && p.lagBytes >= 0);
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(outcome.ok, outcome.ok ? '' : failureChain(outcome.error));
    assert.ok(outcome.value.totals.batches > 2, `continued as new (every 2 batches) along the way: ${outcome.value.totals.batches} batches`);
    assert.equal(outcome.value.slotKept, null, 'nothing kept on the source');
    assert.equal(outcome.value.holdsLog, false);
    assert.ok(written > 0, 'the writer ran during the snapshot');
    assert.equal(await duplicateKeys(dst, 'public.items', ['id']), 0);
    // The binlog's values are the load's: the streamed copies of rows 1 and 2 equal the snapshot's, column for column.
    const kinds = await pgTextRows(dst, 'public.kinds', 'kinds.id');
    assert.deepEqual(kinds.map((r) => r[0]), ['1', '2', '101', '102']);
    assert.deepEqual(kinds[2].slice(1), kinds[0].slice(1), 'row 101 (streamed) = row 1 (loaded)');
    assert.deepEqual(kinds[3].slice(1), kinds[1].slice(1), 'row 102 (streamed) = row 2 (loaded)');
    assert.deepEqual(kinds[0].slice(1), [
      '-5', 'true', '65535', '-8388608', '4294967295', '-9223372036854775808', '18446744073709551615', '-12345678901234567890.0123456789', '0.1', '0.1',
      '1000000001', '2024-02-29', '2024-02-29 23:59:59.123456', '2038-01-19 03:14:07.999+00', '12:34:56.78', '2155', 'ab', 'x ', 'héllo ☃ 😀', 'b,c', 'x,y',
      '{"a": [1, 2.50, "é"]}', '\\x61620000', '\\x00ff', '\\xdeadbeef', '123e4567-e89b-12d3-a456-426614174000', '10.0.0.1/32', '2001:db8::1/128', 'café',
    ]);
    assert.equal(kinds[1][12], null, "a zero date is NULL, as the load makes it");
    const state = await dst.query(`SELECT target_table, mode, cursor_value, cursor_type FROM _tablesync_tables ORDER BY 1`);
    assert.deepEqual(state.rows.map((r) => [r.target_table, r.mode, r.cursor_type]), [['items', 'cdc', 'binlog'], ['kinds', 'cdc', 'binlog'], ['ledger', 'cdc', 'binlog']]);
    assert.match(state.rows[0].cursor_value, /^mariadb-bin\.\d+:\d+$/);
  });

  /** A second session on the source database (the writer runs beside the test's). */
  async function freshWriter(): Promise<Connection> {
    const { createConnection } = await import('mysql2/promise');
    return createConnection({ uri: `${MYSQL_CDC_BASE}/${SRC}`, multipleStatements: true });
  }

  it('soft deletes mark rows and a key that comes back is live again; TRUNCATE is applied (hard) or refused (ignore), naming the setting', async () => {
    for (const t of ['soft', 'hard', 'keep']) {
      await my.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v text)`);
      await my.query(`INSERT INTO ${t} SELECT seq, CONCAT('v', seq) FROM seq_1_to_50`);
    }
    const config = { source: { connection: 'src' }, target: { connection: 'dst', schema: 'public' }, mode: 'cdc', tables: [{ table: 'soft', deletes: 'soft' }, 'hard', { table: 'keep', deletes: 'ignore' }], ...FAST };
    const outcome = await cdcRun(wid('soft'), { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      await my.query(`DELETE FROM soft WHERE id <= 5; DELETE FROM keep WHERE id <= 5`);
      await my.query(`INSERT INTO soft VALUES (1, 'back')`);
      await my.query(`TRUNCATE hard`);
      await caughtUp(my, dst, 'SELECT id, v FROM soft ORDER BY id', 'SELECT id, v FROM soft WHERE NOT is_deleted ORDER BY id');
      await waitFor('the truncate', async () => (await dst.query('SELECT count(*)::int AS n FROM hard')).rows[0].n === 0);
      await my.query(`TRUNCATE TABLE \`${SRC}\`.keep`);
    });
    assert.ok(!outcome.ok, 'a TRUNCATE of a deletes: ignore table fails the stream');
    assert.match(failureChain(outcome.error), new RegExp(`${SRC}\\.keep: the source truncated the table, and its deletes are ignore`));
    assert.match(failureChain(outcome.error), /the saved positions are kept: start the workflow again to go on from them while the source still has that binary log/);
    const marked = await dst.query(`SELECT id, is_deleted, _tablesync_deleted_at IS NOT NULL AS dated FROM soft WHERE id <= 5 ORDER BY id`);
    assert.deepEqual(marked.rows.map((r) => [r.id, r.is_deleted, r.dated]), [[1, false, false], [2, true, true], [3, true, true], [4, true, true], [5, true, true]]);
    assert.equal((await dst.query('SELECT count(*)::int AS n FROM keep')).rows[0].n, 50, 'deletes: ignore keeps the rows');
  });

  it('a purged binlog stops the stream (no gap), saying so; reset-state, then a new snapshot', async () => {
    await my.query(`CREATE TABLE items (id int PRIMARY KEY, v text)`);
    await my.query(`INSERT INTO items SELECT seq, CONCAT('v', seq) FROM seq_1_to_100`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table: 'items', mode: 'cdc' }], ...FAST };
    const id = wid('purged');
    const first = await cdcRun(id, { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      await my.query(`INSERT INTO items VALUES (101, 'streamed')`);
      await caughtUp(my, dst, 'SELECT * FROM items ORDER BY id');
      await h.signal('cdcStop', { dropSlot: false });
    });
    assert.ok(first.ok, first.ok ? '' : failureChain(first.error));
    await my.query(`INSERT INTO items VALUES (102, 'while stopped')`);
    const [[saved]] = (await dst.query(`SELECT cursor_value FROM _tablesync_tables WHERE target_table = 'items'`)).rows.map((r) => [r.cursor_value as string]);
    await my.query('FLUSH BINARY LOGS');
    const [[now]] = (await my.query('SHOW MASTER STATUS')) as unknown as [{ File: string }[]];
    // MariaDB keeps a log until InnoDB has checkpointed past it: purge until the saved position's file is gone.
    await waitFor(`binary log ${saved.split(':')[0]} purged`, async () => {
      await my.query(`PURGE BINARY LOGS TO '${now.File}'`);
      const [logs] = (await my.query('SHOW BINARY LOGS')) as unknown as [{ Log_name: string }[]];
      return !logs.some((l) => l.Log_name === saved.split(':')[0]);
    }, 20_000);
    const gap = await cdcRun(id, { config, waitMs: 500 });
    assert.ok(!gap.ok);
    assert.match(failureChain(gap.error), /binary log mariadb-bin\.\d+ is no longer on the source \(purged.*cannot be read; run tablesync reset-state/);
    assert.equal((await dst.query(`SELECT count(*)::int AS n FROM items`)).rows[0].n, 101, 'nothing applied across the gap');
    const reset = await runWorkflow<{ changes: string[] }>(connections, 'resetStateWorkflow', { config, table: 'items' }, 'mcdc-reset');
    assert.ok(reset.outcome.ok, reset.outcome.ok ? '' : failureChain(reset.outcome.error));
    const again = await cdcRun(id, { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      assert.deepEqual((await progressOf(h)).snapshot, { [`${SRC}.items`]: 102 });
      await my.query(`INSERT INTO items VALUES (103, 'after')`);
      await caughtUp(my, dst, 'SELECT * FROM items ORDER BY id');
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(again.ok, again.ok ? '' : failureChain(again.error));
  });

  it('a table another stream follows is refused (nothing on the source marks it) until that stream is stopped and the table reset', async () => {
    await my.query(`CREATE TABLE items (id int PRIMARY KEY, v text)`);
    await my.query(`INSERT INTO items VALUES (1, 'a')`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table: 'items', mode: 'cdc' }], ...FAST };
    const first = await cdcRun(wid('first'), { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(first.ok, first.ok ? '' : failureChain(first.error));
    const second = await cdcRun(wid('second'), { config, waitMs: 500 });
    assert.ok(!second.ok);
    assert.match(failureChain(second.error), new RegExp(`${SRC}\\.items is followed by stream "${first.value.stream}" \\(workflow mcdc-first-\\d+-\\d+\\); stop that one, then run tablesync reset-state for the table`));
    const reset = await runWorkflow<{ changes: string[] }>(connections, 'resetStateWorkflow', { config, table: 'items' }, 'mcdc-reset');
    assert.ok(reset.outcome.ok, reset.outcome.ok ? '' : failureChain(reset.outcome.error));
    const third = await cdcRun(wid('third'), { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      assert.deepEqual((await progressOf(h)).snapshot, { [`${SRC}.items`]: 1 }, 'a new snapshot for the new stream');
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(third.ok, third.ok ? '' : failureChain(third.error));
  });

  it('bad setups fail with the setting named: log_bin, binlog_format, binlog_row_image, no primary key, a non-InnoDB table', async () => {
    await my.query(`CREATE TABLE items (id int PRIMARY KEY)`);
    await my.query(`CREATE TABLE nokey (a int)`);
    await my.query(`CREATE TABLE aria (id int PRIMARY KEY) ENGINE=Aria`);
    const plain = await freshMysqlPlain(SRC);
    try {
      await plain.query(`CREATE TABLE items (id int PRIMARY KEY)`);
      const cases: [string, Record<string, string>, string, RegExp, string?][] = [
        ['log_bin', { plain: `${MYSQL_BASE}/${SRC}`, dst: pgUrl(DST) }, 'items', /the source's log_bin is OFF: cdc reads the binary log/],
        ['format', { plain: connections.src, dst: pgUrl(DST) }, 'items', /the source's binlog_format is STATEMENT: cdc reads row events; set binlog_format = ROW/, "SET GLOBAL binlog_format = 'STATEMENT'"],
        ['image', { plain: connections.src, dst: pgUrl(DST) }, 'items', /the source's binlog_row_image is MINIMAL: cdc needs every column of each changed row; set binlog_row_image = FULL/, "SET GLOBAL binlog_row_image = 'MINIMAL'"],
        ['key', { plain: connections.src, dst: pgUrl(DST) }, 'nokey', new RegExp(`${SRC}\\.nokey: cdc needs a primary key`)],
        ['engine', { plain: connections.src, dst: pgUrl(DST) }, 'aria', new RegExp(`table ${SRC}\\.aria is Aria: its rows are outside the transactional snapshot`)],
      ];
      for (const [what, conns, table, expected, setting] of cases) {
        const config = { source: { connection: 'plain' }, target: { connection: 'dst', schema: `s_${what}` }, tables: [{ table, mode: 'cdc' }], ...FAST };
        if (setting) await my.query(setting);
        try {
          const run = await runWorkflow<CdcResult>(conns, 'cdcWorkflow', { config }, `mcdc-bad-${what}`);
          assert.ok(!run.outcome.ok, what);
          assert.match(failureChain(run.outcome.error), expected, what);
        } finally {
          if (setting) await my.query("SET GLOBAL binlog_format = 'ROW', GLOBAL binlog_row_image = 'FULL'");
        }
      }
    } finally {
      await plain.query(`DROP DATABASE \`${SRC}\``);
      await plain.end();
    }
  });

  it('a user without the privileges to read the binary log is refused, naming them', async () => {
    await my.query(`CREATE TABLE items (id int PRIMARY KEY)`);
    const user = `tablesync_nobinlog${process.env.TABLESYNC_TEST_DB_SUFFIX ?? ''}`;
    const url = `${MYSQL_CDC_BASE.replace('root@', `${user}@`)}/${SRC}`;
    const config = { source: { connection: 'plain' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table: 'items', mode: 'cdc' }], ...FAST };
    await my.query(`DROP USER IF EXISTS '${user}'@'%'; CREATE USER '${user}'@'%'; GRANT SELECT ON \`${SRC}\`.* TO '${user}'@'%'`);
    try {
      const monitor = await runWorkflow<CdcResult>({ plain: url, dst: pgUrl(DST) }, 'cdcWorkflow', { config }, 'mcdc-priv');
      assert.ok(!monitor.outcome.ok);
      assert.match(failureChain(monitor.outcome.error), /Access denied.*BINLOG MONITOR.*: cdc reads the binary log as a replica does: the source's user needs REPLICATION SLAVE and BINLOG MONITOR/);
      await my.query(`GRANT BINLOG MONITOR ON *.* TO '${user}'@'%'`);
      // The snapshot needs no more; the first change read does.
      const replica = await cdcRun(wid('priv'), { config, waitMs: 500 }, async (h) => {
        await streaming(h);
        await my.query(`INSERT INTO items VALUES (1)`);
      }, { plain: url, dst: pgUrl(DST) });
      assert.ok(!replica.ok);
      assert.match(failureChain(replica.error), /REPLICATION SLAVE.*: cdc reads the binary log as a replica does/);
    } finally {
      await my.query(`DROP USER IF EXISTS '${user}'@'%'`);
    }
  });

  /** The same database on the server without a binary log (3306). */
  async function freshMysqlPlain(name: string): Promise<Connection> {
    const { createConnection } = await import('mysql2/promise');
    const conn = await createConnection({ uri: MYSQL_BASE, multipleStatements: true });
    await conn.query(`DROP DATABASE IF EXISTS \`${name}\`; CREATE DATABASE \`${name}\`; USE \`${name}\``);
    return conn;
  }

  it('schema changes from the table map: an added column added and backfilled, a widening widened, ADD INDEX no stop; rows before the ALTER keep the old columns', async () => {
    await my.query(`CREATE TABLE items (id int PRIMARY KEY, name varchar(10), n int)`);
    await my.query(`CREATE TABLE other (id int PRIMARY KEY, v text)`);
    await my.query(`INSERT INTO items SELECT seq, CONCAT('n', seq), seq FROM seq_1_to_200`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table: 'items', mode: 'cdc', deletes: 'soft' }], ...FAST };
    const cols = 'SELECT id, name, n, status FROM items ORDER BY id';
    const live = 'SELECT id, name, n, status FROM items WHERE NOT is_deleted ORDER BY id';
    const outcome = await cdcRun(wid('evolve'), { config, waitMs: 500, batchesPerRun: 3 }, async (h) => {
      await streaming(h);
      // A table outside the stream may change as it likes; an ALTER that keeps the columns changes nothing.
      await my.query(`ALTER TABLE other ADD COLUMN extra text`);
      await my.query(`ALTER TABLE items ADD INDEX by_n (n), COMMENT 'indexed'`);
      await my.query(`UPDATE items SET n = -1 WHERE id = 1`);
      await caughtUp(my, dst, 'SELECT id, name, n FROM items ORDER BY id');
      // Rows logged before the ALTER carry the old columns in their own table maps, rows after it the new:
      // an added column with a default (the existing rows get it through the backfill), a wider varchar, int to bigint.
      await my.query(`INSERT INTO items VALUES (201, 'before', 0); UPDATE items SET name = 'old shape' WHERE id = 5;
        ALTER TABLE items ADD COLUMN status varchar(10) NOT NULL DEFAULT 'new', MODIFY name varchar(40), MODIFY n bigint;
        INSERT INTO items VALUES (202, 'a name longer than ten', 5000000000, 'paid'); UPDATE items SET status = 'late' WHERE id = 2`);
      await my.query(`DELETE FROM items WHERE id = 3`);
      await my.query(`UPDATE items SET status = 'changed', n = 7 WHERE id = 4`);
      await waitFor('the added column in the target', async () => (await dst.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'status'`)).rowCount === 1);
      await caughtUp(my, dst, cols, live);
      // Carried on: later batches (and continued runs) apply with the new columns.
      await my.query(`INSERT INTO items VALUES (203, 'later', 1, 'x')`);
      await caughtUp(my, dst, cols, live);
      // status words a binlog stream as one: no slot, no WAL, no warning about a log held back.
      const dir = mkdtempSync(join(tmpdir(), 'tablesync-mcdc-'));
      const file = join(dir, 'cdc.json');
      writeFileSync(file, JSON.stringify(config));
      // status --config runs on the worker's task queue.
      const cliEnv = { TEMPORAL_ADDRESS: (await temporal()).address, TEMPORAL_TASK_QUEUE: (await h.describe()).taskQueue, ...connectionEnv(connections) };
      const byId = await runCli(['cdc', 'status', h.workflowId], cliEnv);
      assert.equal(byId.code, 0, byId.out);
      assert.match(byId.stdout, /: streaming, binlog reader "[a-z0-9_]+", tables /);
      assert.match(byId.stdout, /applied up to mariadb-bin\.\d+:\d+.*lag \d+ bytes of binary log, /);
      const byConfig = await runCli(['status', '--config', file], cliEnv);
      assert.equal(byConfig.code, 0, byConfig.out);
      assert.match(byConfig.stdout, /cdc stream "[a-z0-9_]+" \([^)]*RUNNING\): applied up to mariadb-bin\.\d+:\d+, lag \d+ bytes of binary log, /);
      assert.doesNotMatch(byConfig.stdout + byId.stdout, /WAL|slot|warning/);
      await h.signal('cdcStop', { dropSlot: true });
    });
    assert.ok(outcome.ok, outcome.ok ? '' : failureChain(outcome.error));
    const types = await dst.query(`SELECT column_name, data_type, character_maximum_length AS len FROM information_schema.columns WHERE table_name = 'items' AND column_name IN ('name', 'n', 'status') ORDER BY 1`);
    assert.deepEqual(types.rows, [
      { column_name: 'n', data_type: 'bigint', len: null },
      { column_name: 'name', data_type: 'character varying', len: 40 },
      { column_name: 'status', data_type: 'character varying', len: 10 },
    ]);
    assert.equal((await dst.query(`SELECT count(*)::int AS n FROM items WHERE status = 'new' AND NOT is_deleted`)).rows[0].n, 198, 'the existing rows (201 included, inserted before the ALTER) got the default through the backfill');
    const state = (await dst.query(`SELECT columns FROM _tablesync_tables WHERE target_table = 'items'`)).rows[0].columns;
    assert.ok(JSON.stringify(state).includes('status'), `the state lists the added column: ${JSON.stringify(state)}`);
  });

  it('schema changes refused, naming the table and column, nothing after them applied: a dropped column, a rename, a narrowing, another type; DROP/RENAME TABLE', async () => {
    const cases: [string, string, RegExp][] = [
      ['dropped', 'ALTER TABLE t_dropped DROP COLUMN v', /\.t_dropped: column "v" was dropped at the source; cdc never drops or renames a target column/],
      ['renamed', 'ALTER TABLE t_renamed RENAME COLUMN v TO w', /\.t_renamed: column "v" is gone from the source and "w" is new \(a rename looks like this\)/],
      ['narrowed', 'ALTER TABLE t_narrowed MODIFY v varchar(5)', /\.t_narrowed: column "v" narrowed in the source from varchar\(20\) to varchar\(5\)/],
      ['retyped', 'ALTER TABLE t_retyped MODIFY v int', /\.t_retyped: column "v" changed type from varchar\(20\) to int\(11\), which its target column \(varchar\(20\)\) cannot hold/],
      ['dropt', 'DROP TABLE t_dropt', /\.t_dropt: the source dropped, replaced or renamed the table \(DROP TABLE `t_dropt`/],
      ['movedt', 'RENAME TABLE t_movedt TO t_elsewhere', /\.t_movedt: the source dropped, replaced or renamed the table \(RENAME TABLE t_movedt TO t_elsewhere\)/],
    ];
    for (const [what, ddl, expected] of cases) {
      const table = `t_${what}`;
      await my.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v varchar(20))`);
      await my.query(`INSERT INTO ${table} VALUES (1, '1')`);
      const config = { source: { connection: 'src' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table, mode: 'cdc' }], ...FAST };
      const outcome = await cdcRun(wid(`refuse-${what}`), { config, waitMs: 500 }, async (h) => {
        await streaming(h);
        await my.query(`INSERT INTO ${table} VALUES (2, '2')`);
        await caughtUp(my, dst, `SELECT id FROM ${table} ORDER BY id`);
        await my.query(`${ddl}`);
        if (!/^(DROP|RENAME) TABLE/.test(ddl)) await my.query(`INSERT INTO ${table} (id) VALUES (3)`);
      });
      assert.ok(!outcome.ok, what);
      const chain = failureChain(outcome.error);
      assert.match(chain, expected, what);
      assert.deepEqual((await dst.query(`SELECT id FROM ${table} ORDER BY id`)).rows, [{ id: 1 }, { id: 2 }], `${what}: nothing after the change applied`);
      const columns = (await dst.query(`SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`, [table])).rows.map((r) => r.column_name);
      assert.deepEqual(columns, ['id', 'v'], `${what}: the target's columns as they were`);
    }
  });

  it('rows logged as a statement stop the stream naming the table (no silent drop)', async () => {
    await my.query(`CREATE TABLE items (id int PRIMARY KEY, v text)`);
    await my.query(`INSERT INTO items VALUES (1, 'a')`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table: 'items', mode: 'cdc' }], ...FAST };
    const statement = await cdcRun(wid('stmt'), { config, waitMs: 500 }, async (h) => {
      await streaming(h);
      await my.query(`SET SESSION binlog_format = 'STATEMENT'; UPDATE items SET v = 'by statement'; SET SESSION binlog_format = 'ROW'`);
    });
    assert.ok(!statement.ok);
    assert.match(failureChain(statement.error), new RegExp(`${SRC}\\.items: changed by a statement logged as text, not as rows \\(UPDATE items SET v = 'by statement'\\); every session writing cdc tables needs binlog_format = ROW`));
  });

  it('a worker SIGKILLed mid-batch and a target connection cut mid-batch: nothing repeated, nothing lost', async () => {
    await my.query(`CREATE TABLE items (id int PRIMARY KEY, v text, n int)`);
    await my.query(`INSERT INTO items SELECT seq, CONCAT('v', seq), 0 FROM seq_1_to_1000`);
    const config = { source: { connection: 'src' }, target: { connection: 'dst', schema: 'public' }, tables: [{ table: 'items', mode: 'cdc' }], ...FAST };
    const env = await temporal();
    const taskQueue = uniqueTaskQueue('mcdc-crash');
    const workers = workerProcesses({ address: env.address, taskQueue, connections });
    const worker = workers.start;
    try {
      const one = await worker();
      const h = await env.client.workflow.start('cdcWorkflow', { taskQueue, workflowId: wid('crash'), args: [{ config, waitMs: 500 }] });
      await streaming(h);
      const changes = async (round: number) => {
        await my.query(`UPDATE items SET n = n + 1, v = 'r${round}' WHERE id % 10 = ${round}`); // 100 rows
        await my.query(`INSERT INTO items SELECT seq, 'new', ${round} FROM seq_${round * 1000 + 1001}_to_${round * 1000 + 1100}`);
        await my.query(`DELETE FROM items WHERE id BETWEEN ${round * 50 + 1} AND ${round * 50 + 20}`); // 20 rows, some just updated
      };
      const all = 'SELECT id, v, n FROM items ORDER BY id';
      // 1: the batch waits on a lock in the target; its worker is SIGKILLed there, and its orphaned backend cut off.
      let lock = await lockPgTable(dst, 'public.items');
      await changes(1);
      const stuck = await waitFor('the batch waiting in the target', async () => (await pgBackends(dst, DST, '%"public"."items"%')).find((b) => b.waiting));
      await one.kill('SIGKILL');
      await dst.query('SELECT pg_terminate_backend($1)', [stuck.pid]);
      await worker();
      await waitFor("the new worker's retried batch", async () => (await pgBackends(dst, DST, '%"public"."items"%')).some((b) => b.waiting && b.pid !== stuck.pid));
      await lock.release();
      await caughtUp(my, dst, all);
      // 2: the target connection of a live worker's batch is cut mid-batch; the retry applies it once.
      lock = await lockPgTable(dst, 'public.items');
      await changes(2);
      const cut = await waitFor('the batch waiting in the target', async () => (await pgBackends(dst, DST, '%"public"."items"%')).find((b) => b.waiting));
      await dst.query('SELECT pg_terminate_backend($1)', [cut.pid]);
      await waitFor('the retried batch', async () => (await pgBackends(dst, DST, '%"public"."items"%')).some((b) => b.waiting && b.pid !== cut.pid));
      await lock.release();
      await caughtUp(my, dst, all);
      const p = await waitFor('the counts', async () => {
        const q = await progressOf(h);
        return q.totals.inserted + q.totals.updated + q.totals.deleted >= 448 && q;
      });
      // Updated: 100 in round 1; in round 2, 100 of the first 1000 and 10 of round 1's inserts, less 2 and 2 deleted in round 1.
      assert.deepEqual([p.totals.inserted, p.totals.updated, p.totals.deleted], [200, 208, 40], 'each change counted once');
      await h.signal('cdcStop', { dropSlot: true });
      await h.result();
    } finally {
      await workers.killAll();
    }
    assert.equal(await duplicateKeys(dst, 'public.items', ['id']), 0);
  });
});
