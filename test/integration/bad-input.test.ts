import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SyncConfigInput } from '../../lib/config';
import { generationsTableSql, stateTableSql, tableStateTablesSql } from '../../lib/state';
import type { SyncSummary } from '../../lib/types';
import type { SyncTableInput } from '../../workflows/sync-table';
import { mysqlUrlAs, pgUrlAs, recreateMysqlUser, recreatePgRole } from '../helpers/accounts';
import { useDatabases } from '../helpers/databases';
import { duplicateKeys, leftoverTables, mariadbTextRows, pgTextRows, quoteIdent, stateRows } from '../helpers/guarantees';
import { runCli } from '../helpers/cli';
import { activityRuns, childInputs, fetchHistory, historyText, rootCause, type ActivityRun } from '../helpers/history';
import { mysqlUrl } from '../helpers/mysql';
import { pgUrl, testDb } from '../helpers/pg';
import { runSyncInProcess, runTableInProcess, type Outcome } from '../helpers/run';
import { freePort } from '../helpers/temporal-server';

const SRC = testDb('tablesync_it_bad_src');
const DST = testDb('tablesync_it_bad_dst');
const MY = testDb('tablesync_it_bad_my');
const pgConnections = { src: pgUrl(SRC), dst: pgUrl(DST) };
const myConnections = { my: mysqlUrl(MY), dst: pgUrl(DST) };
const fast = { retry: { maximumAttempts: 3, initialIntervalMs: 200, maximumIntervalMs: 500 } };
// For failures no retry can fix: a retry would first wait 5 s, so a failure well
// within that proves none happened (the history's attempt count says so exactly).
const NO_RETRY_WITHIN_MS = 5_000;
const slow = { retry: { maximumAttempts: 3, initialIntervalMs: NO_RETRY_WITHIN_MS, maximumIntervalMs: NO_RETRY_WITHIN_MS } };

interface Failure {
  root: { message: string; type?: string; nonRetryable?: boolean };
  runs: ActivityRun[];
  ms: number;
  history: string;
}

/** Runs a sync that must fail as a workflow, and returns its root error, activity runs and history text. */
async function syncMustFail(connections: Record<string, string>, config: unknown, prefix: string): Promise<Failure> {
  const { workflowId, client, outcome } = await runSyncInProcess(connections, config, prefix);
  assert.ok(!outcome.ok, `the sync should have failed, but returned ${JSON.stringify(outcome.ok && outcome.value)}`);
  const history = await fetchHistory(client, workflowId);
  return { root: rootCause(outcome.error), runs: activityRuns(history), ms: outcome.ms, history: historyText(history) };
}

/** The run of one activity type; there must be exactly one. */
function runOf(runs: ActivityRun[], type: string): ActivityRun {
  const matching = runs.filter((r) => r.type === type);
  assert.equal(matching.length, 1, `one ${type} in ${JSON.stringify(runs)}`);
  return matching[0];
}

/** A failure no retry can fix: typed, non-retryable, one attempt, quick, and free of the given secrets. */
function assertFinal(f: Failure, activity: string, type: string, message: RegExp, secrets: string[] = []): void {
  assert.equal(f.root.type, type, f.root.message);
  assert.equal(f.root.nonRetryable, true, `${type} must be non-retryable`);
  assert.match(f.root.message, message);
  const run = runOf(f.runs, activity);
  assert.deepEqual([run.outcome, run.attempt], ['failed', 1], `${activity} ran once`);
  assert.ok(f.ms < NO_RETRY_WITHIN_MS, `failed within ${NO_RETRY_WITHIN_MS} ms (took ${f.ms})`);
  for (const s of secrets) {
    assert.ok(!f.root.message.includes(s), `the message must not contain "${s}"`);
    assert.ok(!f.history.includes(s), `the history must not contain "${s}"`);
  }
}

function mustSucceed(outcome: Outcome<SyncSummary>): SyncSummary {
  assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
  assert.equal(outcome.value.tablesFailed, 0, JSON.stringify(outcome.value.tables.filter((t) => t.error)));
  return outcome.value;
}

describe('bad input: clear, typed failures that name what is wrong and never the password', () => {
  const { src, dst, my } = useDatabases({ pg: { src: SRC, dst: DST }, mysql: { my: MY } });

  describe('config', () => {
    it('rejects invalid workflow input naming every bad field, without retrying', async () => {
      const f = await syncMustFail(
        pgConnections,
        {
          source: { connection: 'src' },
          target: { connection: 'dst', naming: 'camelCase' },
          tables: ['t'],
          maxParallelTransfers: 0,
          retry: { maximumAttempts: 'three' },
          colour: 'blue',
        },
        'bad-config',
      );
      assert.equal(f.root.type, 'InvalidConfig');
      assert.equal(f.root.nonRetryable, true);
      for (const field of [/target\.naming/, /maxParallelTransfers/, /retry\.maximumAttempts/, /colour/]) {
        assert.match(f.root.message, field);
      }
      assert.deepEqual(
        f.runs.map((r) => [r.type, r.attempt]),
        [['initializeState', 1]],
      );
    });

    it('the CLI exits 2 naming the field and the environment variable it came from, never the URL', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tablesync-bad-'));
      try {
        const file = join(dir, 'sync.yaml');
        writeFileSync(
          file,
          [
            'connections:',
            '  src: postgres://reader:Cfg-Secret-31@127.0.0.1:5432/app',
            'source: { connection: src }',
            'target: { connection: src }',
            'tables: [public.users]',
            'partitionThreshold: -5',
          ].join('\n'),
        );
        const r = await runCli(['run', '--config', file], { MAX_PARALLEL_TRANSFERS: 'lots', TEMPORAL_ADDRESS: '127.0.0.1:1' }, 30_000);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /partitionThreshold: Number must be greater than 0/);
        assert.match(r.stderr, /maxParallelTransfers \(from MAX_PARALLEL_TRANSFERS\)/);
        assert.ok(!`${r.stdout}${r.stderr}`.includes('Cfg-Secret-31'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('tables', () => {
    it('fails an unknown schema, an unknown table and a pattern that matches nothing alone, naming each; the good table syncs', async () => {
      await src.query('CREATE TABLE present (id int PRIMARY KEY)');
      await src.query('INSERT INTO present VALUES (1), (2)');
      const cases: [string, string, RegExp][] = [
        ['no_such_schema.present', 'no_such_schema.present', /Source table no_such_schema\.present does not exist in "src"/],
        ['public.no_such_table', 'public.no_such_table', /Source table public\.no_such_table does not exist in "src"/],
        ['public.zz_nothing_*', 'public.zz_nothing_*', /pattern "public\.zz_nothing_\*" matches no table in source "src"/],
      ];
      for (const [spec, table, message] of cases) {
        await dst.query('DROP TABLE IF EXISTS present');
        const { outcome } = await runSyncInProcess(
          pgConnections,
          { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['present', spec], ...slow },
          'bad-table',
        );
        assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
        const summary = outcome.value;
        assert.equal(summary.tablesFailed, 1);
        const bad = summary.tables.find((t) => t.table === table)!;
        assert.equal(bad.status, 'failed');
        assert.equal(bad.errorType, 'UnknownTable');
        assert.match(bad.error ?? '', message);
        const good = summary.tables.find((t) => t.table === 'public.present')!;
        assert.deepEqual([good.status, good.inserted], ['completed', 2]);
        assert.ok(outcome.ms < NO_RETRY_WITHIN_MS, 'no retry');
      }
      // The same from MariaDB, where the schema is the database.
      const { outcome } = await runSyncInProcess(
        myConnections,
        { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: ['no_such_table'], ...slow },
        'bad-table-my',
      );
      assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
      assert.deepEqual(outcome.value.tables.map((t) => [t.status, t.errorType]), [['failed', 'UnknownTable']]);
      assert.match(outcome.value.tables[0].error ?? '', new RegExp(`${MY}\\.no_such_table does not exist`));
    });

    it('skips a MariaDB table without a primary key when the config says keyless: skip, saying why, and syncs the others', async () => {
      await my.query('CREATE TABLE nokey (a int, b text)');
      await my.query("INSERT INTO nokey VALUES (1, 'x'), (1, 'x')");
      await my.query('CREATE TABLE haskey (id int PRIMARY KEY, b text)');
      await my.query("INSERT INTO haskey VALUES (1, 'x'), (2, 'y')");
      const { outcome } = await runSyncInProcess(
        myConnections,
        { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: ['nokey', 'haskey'], keyless: 'skip', ...fast },
        'bad-nokey',
      );
      const summary = mustSucceed(outcome);
      assert.deepEqual(summary.skipped, [{ table: `${MY}.nokey`, reason: 'no primary key (keyless: skip)' }]);
      assert.deepEqual(
        summary.tables.map((t) => [t.table, t.status, t.inserted]),
        [[`${MY}.haskey`, 'completed', 2]],
      );
      assert.match(summary.message, /1 skipped/);
      const created = await dst.query(`SELECT to_regclass('public.nokey') AS t`);
      assert.equal(created.rows[0].t, null, 'nothing is created for a skipped table');
    });

    it('fails a table with an unsupported MariaDB column type (point) alone, naming table, column and type, with a hint that works', async () => {
      await my.query('CREATE TABLE geo (id int PRIMARY KEY, spot point)');
      await my.query('INSERT INTO geo VALUES (1, POINT(1, 2)), (2, NULL)');
      await my.query('CREATE TABLE flat (id int PRIMARY KEY)');
      await my.query('INSERT INTO flat VALUES (1)');
      const config = { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: ['geo', 'flat'], ...slow };
      const { outcome } = await runSyncInProcess(myConnections, config, 'bad-type');
      assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
      const geo = outcome.value.tables.find((t) => t.table === `${MY}.geo`)!;
      assert.equal(geo.errorType, 'UnsupportedType');
      assert.match(geo.error ?? '', new RegExp(`${MY}\\.geo column "spot" type point`));
      assert.ok(outcome.ms < NO_RETRY_WITHIN_MS, 'no retry');
      assert.deepEqual(await leftoverTables(dst, ['geo']), []);
      assert.equal(outcome.value.tables.find((t) => t.table === `${MY}.flat`)?.status, 'completed', 'the other table syncs');
      // The hint's mapping really works: MySQL's SRID + WKB bytes, byte for byte.
      const hint = /typeMap: \{ "point": "([a-z]+)" \}/.exec(geo.error ?? '');
      assert.ok(hint, geo.error);
      const again = await runSyncInProcess(myConnections, { ...config, tables: ['geo'], typeMap: { point: hint[1] } }, 'bad-type-hint');
      assert.ok(again.outcome.ok && again.outcome.value.tablesFailed === 0, JSON.stringify(again.outcome));
      const [mine] = await my.query('SELECT LOWER(HEX(spot)) AS hex FROM geo WHERE id = 1');
      const theirs = await dst.query(`SELECT encode(spot, 'hex') AS hex FROM public.geo ORDER BY id`);
      assert.deepEqual(theirs.rows.map((r) => r.hex), [(mine as unknown as { hex: string }[])[0].hex, null]);
    });
    it('fails a table whose target column is narrower than a source value, naming the type, instead of truncating it', async () => {
      await src.query('CREATE TABLE narrow (id int PRIMARY KEY, code text)');
      await src.query(`INSERT INTO narrow VALUES (1, 'ok'), (2, 'far too long for the target')`);
      await dst.query('CREATE TABLE narrow (id int PRIMARY KEY, code varchar(3))');
      await dst.query(`INSERT INTO narrow VALUES (1, 'old')`);
      const { workflowId, outcome } = await runSyncInProcess(
        pgConnections,
        // typeMap keeps the target's type: schema evolution would widen it (text holds every value).
        { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['narrow'], typeMap: { 'public.narrow.code': 'character varying(3)' }, ...slow },
        'bad-narrow',
      );
      assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
      // Whatever else happens, the target never holds a value the source does not have.
      assert.deepEqual(
        (await dst.query('SELECT id, code FROM narrow ORDER BY id')).rows,
        [{ id: 1, code: 'old' }],
        'no row written, and certainly no truncated value',
      );
      const [t] = outcome.value.tables;
      assert.equal(t.status, 'failed');
      assert.match(t.error ?? '', /value too long for type character varying\(3\)/);
      assert.deepEqual(
        (await stateRows(dst, workflowId)).map((r) => [r.sync_status, r.retry_count]),
        [['failed', 0]],
      );
      assert.deepEqual(await leftoverTables(dst, ['narrow']), []);
    });
  });

  describe('identifiers and injection', () => {
    it('syncs a PostgreSQL table whose schema, table and column names hold quotes, spaces, dots, unicode and reserved words', async () => {
      const schema = 'Odd Schema.ü';
      const table = 'Order "Lines".v2 ü';
      const q = `${quoteIdent(schema)}.${quoteIdent(table)}`;
      await src.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
      await src.query(
        `CREATE TABLE ${q} ("Id ""pk""" bigint PRIMARY KEY, "select" text, "a b" int, "dot.col" text, "ünï" text, """" text, "'" text)`,
      );
      await src.query(
        `INSERT INTO ${q} SELECT g, 'sel ' || g, g, 'd.' || g, 'ü' || g, '"' || g, E'it''s \\\\ ' || g FROM generate_series(1, 600) g`,
      );
      await src.query(`ANALYZE ${q}`);
      // A quoted name keeps its dots: schema "Odd Schema.ü", table "Order "Lines".v2 ü".
      const config: SyncConfigInput = {
        source: { connection: 'src' },
        target: { connection: 'dst' },
        tables: ['"Odd Schema.ü"."Order ""Lines"".v2 ü"'],
        partitionThreshold: 200,
        rowsPerPartition: 200,
        maxPartitionsPerTable: 3,
        ...fast,
      };
      const first = mustSucceed((await runSyncInProcess(pgConnections, config, 'bad-ident')).outcome);
      assert.deepEqual(
        first.tables.map((t) => [t.table, t.mode, t.partitions, t.inserted]),
        [[`${schema}.${table}`, 'full', 3, 600]],
      );
      assert.deepEqual(await pgTextRows(dst, q), await pgTextRows(src, q));

      // Incremental over the same names: staging tables, range predicates on "Id ""pk""", upsert.
      await src.query(`UPDATE ${q} SET "select" = 'changed', "a b" = NULL WHERE "Id ""pk""" IN (1, 200, 201, 400, 600)`);
      await src.query(`INSERT INTO ${q} ("Id ""pk""", "select") VALUES (601, 'new'), (602, 'new'), (603, 'new')`);
      const second = mustSucceed((await runSyncInProcess(pgConnections, config, 'bad-ident')).outcome);
      assert.deepEqual(
        second.tables.map((t) => [t.mode, t.partitions, t.inserted, t.updated, t.unchanged]),
        [['compare', 3, 3, 5, 595]],
      );
      assert.deepEqual(await pgTextRows(dst, q), await pgTextRows(src, q));
      assert.equal(await duplicateKeys(dst, q, ['Id "pk"']), 0);
      assert.deepEqual(await leftoverTables(dst, [table]), []);
    });

    it('syncs a MariaDB table whose table and column names hold backticks, quotes, spaces, dots, unicode and reserved words', async () => {
      const table = 'Order `Lines`.v2 ü';
      const qm = `\`${table.replace(/`/g, '``')}\``;
      await my.query(
        `CREATE TABLE ${qm} (\`Id \`\`pk\`\`\` int PRIMARY KEY, \`select\` text, \`a b\` int, \`dot.col\` varchar(20),
           \`ünï\` text, \`"\` text, \`'\` text)`,
      );
      await my.query(
        `INSERT INTO ${qm} SELECT seq, CONCAT('sel ', seq), seq, CONCAT('d.', seq), CONCAT('ü', seq), CONCAT('"', seq),
           CONCAT('it''s \\\\ ', seq) FROM seq_1_to_600`,
      );
      await my.query(`ANALYZE TABLE ${qm}`);
      const config: SyncConfigInput = {
        source: { connection: 'my' },
        target: { connection: 'dst', schema: 'public' },
        tables: ['"Order `Lines`.v2 ü"'],
        partitionThreshold: 200,
        rowsPerPartition: 200,
        maxPartitionsPerTable: 3,
        ...fast,
      };
      const pgTable = `public.${quoteIdent(table)}`;
      const first = mustSucceed((await runSyncInProcess(myConnections, config, 'bad-ident-my')).outcome);
      assert.deepEqual(
        first.tables.map((t) => [t.table, t.mode, t.partitions, t.inserted]),
        [[`${MY}.${table}`, 'full', 3, 600]],
      );
      assert.deepEqual(await pgTextRows(dst, pgTable), await mariadbTextRows(my, MY, table));

      await my.query(`UPDATE ${qm} SET \`select\` = 'changed', \`a b\` = NULL WHERE \`Id \`\`pk\`\`\` IN (1, 200, 201, 400, 600)`);
      await my.query(`INSERT INTO ${qm} (\`Id \`\`pk\`\`\`, \`select\`) VALUES (601, 'new'), (602, 'new'), (603, 'new')`);
      const second = mustSucceed((await runSyncInProcess(myConnections, config, 'bad-ident-my')).outcome);
      assert.deepEqual(
        second.tables.map((t) => [t.mode, t.partitions, t.inserted, t.updated, t.unchanged]),
        [['compare', 3, 3, 5, 595]],
      );
      assert.deepEqual(await pgTextRows(dst, pgTable), await mariadbTextRows(my, MY, table));
      assert.deepEqual(await leftoverTables(dst, [table]), []);
    });

    it('treats SQL injection in schema, table and column names as names: the victim table survives', async () => {
      const evil = 'x"; DROP TABLE victim; --';
      const evilSchema = 's"; DROP TABLE victim; --';
      for (const db of [src, dst]) await db.query('CREATE TABLE victim (v int); INSERT INTO victim VALUES (42)');
      await my.query('CREATE TABLE victim (v int); INSERT INTO victim VALUES (42)');

      // PostgreSQL source, into a target schema whose name is an injection too.
      await src.query(
        `CREATE TABLE ${quoteIdent(evil)} (id int PRIMARY KEY, ${quoteIdent('y"; DROP TABLE victim; --')} text,
           ${quoteIdent("'); DROP TABLE victim; --")} text)`,
      );
      await src.query(`INSERT INTO ${quoteIdent(evil)} SELECT g, 'a' || g, 'b' || g FROM generate_series(1, 50) g`);
      const pgConfig: SyncConfigInput = {
        source: { connection: 'src' },
        target: { connection: 'dst', schema: evilSchema },
        tables: [`public."${evil.replace(/"/g, '""')}"`],
        ...fast,
      };
      const target = `${quoteIdent(evilSchema)}.${quoteIdent(evil)}`;
      for (const mode of ['full', 'compare']) {
        const s = mustSucceed((await runSyncInProcess(pgConnections, pgConfig, 'bad-inject')).outcome);
        assert.deepEqual(
          s.tables.map((t) => [t.table, t.target, t.mode]),
          [[`public.${evil}`, `${evilSchema}.${evil}`, mode]],
        );
        assert.deepEqual(await pgTextRows(dst, target), await pgTextRows(src, `public.${quoteIdent(evil)}`));
        await src.query(`UPDATE ${quoteIdent(evil)} SET ${quoteIdent('y"; DROP TABLE victim; --')} = 'upd' WHERE id <= 5`);
      }

      // MariaDB source.
      const evilMy = 'x`; DROP TABLE victim; --';
      const qm = `\`${evilMy.replace(/`/g, '``')}\``;
      await my.query(`CREATE TABLE ${qm} (id int PRIMARY KEY, \`c\`\`; DROP TABLE victim; --\` text, \`'; DROP TABLE victim; --\` text)`);
      await my.query(`INSERT INTO ${qm} SELECT seq, CONCAT('a', seq), CONCAT('b', seq) FROM seq_1_to_50`);
      const myConfig: SyncConfigInput = {
        source: { connection: 'my' },
        target: { connection: 'dst', schema: 'public' },
        tables: [evilMy],
        ...fast,
      };
      for (const mode of ['full', 'compare']) {
        const s = mustSucceed((await runSyncInProcess(myConnections, myConfig, 'bad-inject-my')).outcome);
        assert.deepEqual(
          s.tables.map((t) => [t.table, t.mode]),
          [[`${MY}.${evilMy}`, mode]],
        );
        assert.deepEqual(await pgTextRows(dst, `public.${quoteIdent(evilMy)}`), await mariadbTextRows(my, MY, evilMy));
        await my.query(`UPDATE ${qm} SET \`c\`\`; DROP TABLE victim; --\` = 'upd' WHERE id <= 5`);
      }

      for (const db of [src, dst]) assert.deepEqual((await db.query('SELECT v FROM victim')).rows, [{ v: 42 }]);
      const [mine] = await my.query('SELECT v FROM victim');
      assert.deepEqual(mine, [{ v: 42 }]);
      assert.deepEqual(await leftoverTables(dst, [evil, evilMy]), []);
    });

    it('binds partition bounds as values: an injection in a range bound does nothing', async () => {
      // A plan whose range bound is an injection can only come from a hand-made
      // syncTableWorkflow input (e.g. typed into the Web UI): take a real one and poison it.
      const inject = "0) OR 1=1; DROP TABLE victim_b; --'";
      await src.query('CREATE TABLE victim_b (v int); INSERT INTO victim_b VALUES (7)');
      await my.query('CREATE TABLE victim_b (v int); INSERT INTO victim_b VALUES (7)');
      await src.query('CREATE TABLE bounds_pg (id bigint PRIMARY KEY, v text)');
      await src.query(`INSERT INTO bounds_pg SELECT g, 'v' || g FROM generate_series(1, 300) g`);
      await dst.query('CREATE TABLE bounds_pg (id bigint PRIMARY KEY, v text)');
      await dst.query(`INSERT INTO bounds_pg VALUES (1, 'old')`);
      await my.query('CREATE TABLE bounds_my (id int PRIMARY KEY, v text)');
      await my.query("INSERT INTO bounds_my SELECT seq, CONCAT('v', seq) FROM seq_1_to_300");
      await dst.query('CREATE TABLE public.bounds_my (id integer PRIMARY KEY, v text)');
      await dst.query(`INSERT INTO public.bounds_my VALUES (1, 'old')`);

      async function poisonedRun(connections: Record<string, string>, config: SyncConfigInput, prefix: string) {
        const { workflowId, client } = await runSyncInProcess(connections, config, prefix);
        const [input] = [...childInputs(await fetchHistory(client, workflowId)).values()] as SyncTableInput[];
        assert.equal(input.task?.table.mode, 'compare');
        const poisoned: SyncTableInput = {
          ...input,
          syncWorkflowId: `${workflowId}-poisoned`,
          task: { ...input.task!, partitions: [{ index: 0, count: 1, lo: inject, hi: null }] },
        };
        return { syncWorkflowId: poisoned.syncWorkflowId!, ...(await runTableInProcess(connections, poisoned, `${prefix}-poisoned`)) };
      }

      // A task given to a syncTableWorkflow started on its own is refused before it touches either
      // database (and were it run, the partition refuses a bound that is not an integer).
      const pg = await poisonedRun(
        pgConnections,
        { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['bounds_pg'], ...slow },
        'bad-bound',
      );
      assert.ok(!pg.outcome.ok, 'a bound that is not an integer fails the table');
      assert.match(rootCause(pg.outcome.error).message, /`task` is made by the sync that starts it as a child|key range bound "0\) OR 1=1; DROP TABLE victim_b; --'" is not a value of key \(id\)/);
      assert.deepEqual(await stateRows(dst, pg.syncWorkflowId), [], 'refused before any state was written');
      assert.deepEqual((await src.query('SELECT v FROM victim_b')).rows, [{ v: 7 }]);

      // MariaDB source: refused the same way (were it sent, it would travel as an escaped string
      // literal, never SQL): the victim survives and the target is as the clean run left it.
      const myRun = await poisonedRun(
        myConnections,
        { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: ['bounds_my'], ...slow },
        'bad-bound-my',
      );
      const [mine] = await my.query('SELECT v FROM victim_b');
      assert.deepEqual(mine, [{ v: 7 }]);
      assert.ok(!myRun.outcome.ok);
      // As the clean run before it left it.
      assert.deepEqual(await pgTextRows(dst, 'public.bounds_my'), await mariadbTextRows(my, MY, 'bounds_my'));
      assert.deepEqual(await leftoverTables(dst, ['bounds_pg', 'bounds_my']), []);
    });

    it('refuses a typeMap target type that is not a type name, instead of splicing it into DDL', async () => {
      await dst.query('CREATE TABLE victim_t (v int); INSERT INTO victim_t VALUES (9)');
      await my.query('CREATE TABLE tm (id int PRIMARY KEY, spot point)');
      await my.query('INSERT INTO tm VALUES (1, POINT(1, 2))');
      const { workflowId, client, outcome } = await runSyncInProcess(
        myConnections,
        {
          source: { connection: 'my' },
          target: { connection: 'dst', schema: 'public' },
          tables: ['tm'],
          // Read as "map point to bytea", then the rest of a statement list.
          typeMap: { point: 'bytea); DROP TABLE victim_t; CREATE TABLE pwned (x int' },
          ...slow,
        },
        'bad-typemap',
      );
      // First what the injected text did (or did not do) to the target…
      assert.deepEqual(
        (await dst.query(`SELECT to_regclass('public.victim_t')::text AS victim, to_regclass('public.pwned')::text AS pwned`)).rows,
        [{ victim: 'victim_t', pwned: null }],
        'victim_t survives and no table "pwned" was created',
      );
      // …then that the config was refused as such, naming the field, before any database work.
      assert.ok(!outcome.ok, `a typeMap value that is not a type must be refused, got ${JSON.stringify(outcome.ok && outcome.value.tables)}`);
      const root = rootCause(outcome.error);
      assert.equal(root.type, 'InvalidConfig', root.message);
      assert.match(root.message, /typeMap/);
      assert.deepEqual(
        activityRuns(await fetchHistory(client, workflowId)).map((r) => [r.type, r.attempt]),
        [['initializeState', 1]],
      );
    });
  });

  describe('credentials and reachability', () => {
    const USER = testDb('tablesync_it_bad_user');
    const RIGHT = 'Right-Pw-4417';
    const WRONG = 'Wrong-Pw-8812';

    before(async () => {
      await recreateMysqlUser(USER, RIGHT, [`GRANT SELECT ON ${MY}.* TO $USER`]);
      await my.query('CREATE TABLE creds (id int PRIMARY KEY)');
    });

    it('a wrong MariaDB password fails with AuthenticationFailed after one attempt, naming the user, never a password', async () => {
      const f = await syncMustFail(
        { my: mysqlUrlAs(USER, WRONG, MY), dst: pgUrl(DST) },
        { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: ['creds'], ...slow },
        'bad-auth-my',
      );
      assertFinal(f, 'discoverTables', 'AuthenticationFailed', new RegExp(`Access denied for user '${USER}'`), [WRONG, RIGHT]);
    });

    it('an unknown PostgreSQL role or database fails after one attempt, never showing the password', async () => {
      // The local server trusts 127.0.0.1, so a wrong password cannot be refused here;
      // an unknown role is refused at authentication all the same (SQLSTATE 28000).
      const secret = 'Pg-Secret-5521';
      const role = await syncMustFail(
        { src: pgUrl(SRC), dst: pgUrlAs('tablesync_it_bad_nobody', DST, secret) },
        { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['present'], ...slow },
        'bad-auth-pg',
      );
      assertFinal(role, 'initializeState', 'AuthenticationFailed', /role "tablesync_it_bad_nobody" does not exist/, [secret]);
      const db = await syncMustFail(
        { src: pgUrl(SRC), dst: pgUrlAs('postgres', 'tablesync_it_bad_nosuchdb', secret) },
        { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['present'], ...slow },
        'bad-db-pg',
      );
      assertFinal(db, 'initializeState', 'UnknownDatabase', /database "tablesync_it_bad_nosuchdb" does not exist/, [secret]);
    });

    it('a host name that does not resolve fails with HostNotFound after one attempt (MariaDB source, PostgreSQL target)', async () => {
      const secret = 'Host-Secret-77';
      const mySide = await syncMustFail(
        { my: `mysql://root:${secret}@tablesync-nohost.invalid:3306/${MY}`, dst: pgUrl(DST) },
        { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: ['creds'], ...slow },
        'bad-host-my',
      );
      assertFinal(mySide, 'discoverTables', 'HostNotFound', /tablesync-nohost\.invalid/, [secret]);
      const pgSide = await syncMustFail(
        { src: pgUrl(SRC), dst: `postgres://postgres:${secret}@tablesync-nohost.invalid:5432/${DST}` },
        { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['present'], ...slow },
        'bad-host-pg',
      );
      assertFinal(pgSide, 'initializeState', 'HostNotFound', /tablesync-nohost\.invalid/, [secret]);
    });

    // A refused connection may be a server restarting: retried, but only as the config's retry settings say.
    async function refusedPort(side: 'source' | 'target', activity: string, where: string): Promise<void> {
      const secret = 'Port-Secret-19';
      const port = await freePort();
      const connections =
        side === 'source'
          ? { my: `mysql://root:${secret}@127.0.0.1:${port}/${MY}`, dst: pgUrl(DST) }
          : { my: mysqlUrl(MY), dst: `postgres://postgres:${secret}@127.0.0.1:${port}/${DST}` };
      const f = await syncMustFail(
        connections,
        { source: { connection: 'my' }, target: { connection: 'dst', schema: 'public' }, tables: ['creds'], ...fast },
        `bad-port-${side}`,
      );
      assert.match(f.root.message, new RegExp(`${where}.*ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
      const run = runOf(f.runs, activity);
      assert.deepEqual([run.outcome, run.attempt], ['failed', fast.retry.maximumAttempts], `${activity}: attempts`);
      assert.ok(!f.history.includes(secret));
    }

    it('a source port nothing listens on is retried as the retry settings say, then fails naming the address', async () => {
      await refusedPort('source', 'discoverTables', 'discover_tables in source "my"');
    });

    it('a target port nothing listens on is retried as the retry settings say, then fails naming the address', async () => {
      await refusedPort('target', 'initializeState', 'initialize_state in target "dst"');
    });
  });

  describe('target permissions', () => {
    const READONLY = testDb('tablesync_it_bad_tgt_ro');
    const NOINSERT = testDb('tablesync_it_bad_tgt_noins');

    before(async () => {
      await src.query('CREATE TABLE perm_t (id int PRIMARY KEY, v text)');
      await src.query(`INSERT INTO perm_t SELECT g, 'new' FROM generate_series(1, 20) g`);
      await dst.query('CREATE TABLE perm_t (id int PRIMARY KEY, v text)');
      await dst.query(`INSERT INTO perm_t VALUES (1, 'old')`);
      await recreatePgRole(READONLY);
      await recreatePgRole(NOINSERT);
      for (const role of [READONLY, NOINSERT]) {
        await dst.query(`GRANT CONNECT ON DATABASE "${DST}" TO ${role}; GRANT USAGE ON SCHEMA public TO ${role}`);
        await dst.query(`GRANT SELECT ON public.perm_t TO ${role}`);
      }
      // NOINSERT may create (staging tables in public, its own _migration_state) but not write perm_t.
      await dst.query(`GRANT CREATE ON SCHEMA public TO ${NOINSERT}; CREATE SCHEMA perm_state AUTHORIZATION ${NOINSERT}`);
    });

    it('a target role with only SELECT fails at once with PermissionDenied', async () => {
      const f = await syncMustFail(
        { src: pgUrl(SRC), dst: pgUrlAs(READONLY, DST) },
        { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['perm_t'], ...slow },
        'bad-perm-ro',
      );
      assertFinal(f, 'initializeState', 'PermissionDenied', /initialize_state in target "dst": (permission denied for schema public|must be owner)/);
    });

    it('a target role with only SELECT fails at once with PermissionDenied also where the state tables exist (their check does not skip the DDL for it)', async () => {
      // As a privileged run leaves them; the read-only role may read them, not write them.
      for (const sql of [...stateTableSql('public'), generationsTableSql('public'), ...tableStateTablesSql('public')]) await dst.query(sql);
      await dst.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${READONLY}`);
      const f = await syncMustFail(
        { src: pgUrl(SRC), dst: pgUrlAs(READONLY, DST) },
        { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['perm_t'], ...slow },
        'bad-perm-ro-state',
      );
      assertFinal(f, 'initializeState', 'PermissionDenied', /initialize_state in target "dst": (permission denied for schema public|must be owner)/);
    });

    it('a target role without INSERT on the table fails that table with PermissionDenied; state says failed, nothing left behind', async () => {
      const { workflowId, client, outcome } = await runSyncInProcess(
        { src: pgUrl(SRC), dst: pgUrlAs(NOINSERT, DST) },
        { source: { connection: 'src' }, target: { connection: 'dst', stateSchema: 'perm_state' }, tables: ['perm_t'], ...slow },
        'bad-perm-noins',
      );
      assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
      const [t] = outcome.value.tables;
      assert.equal(t.status, 'failed');
      assert.match(t.error ?? '', /permission denied for table perm_t/);
      assert.equal(outcome.value.tablesFailed, 1);
      assert.ok(outcome.ms < NO_RETRY_WITHIN_MS, `no retry (took ${outcome.ms} ms)`);
      const parent = await fetchHistory(client, workflowId);
      const [childId] = childInputs(parent).keys();
      const part = runOf(activityRuns(await fetchHistory(client, childId)), 'syncPartition');
      assert.deepEqual([part.outcome, part.attempt, part.failure?.type, part.failure?.nonRetryable], ['failed', 1, 'PermissionDenied', true]);

      const state = await stateRows(dst, workflowId, 'perm_state');
      assert.deepEqual(
        state.map((r) => [r.table_name, r.sync_status, r.retry_count, r.rows_inserted]),
        [['perm_t', 'failed', 0, 0]],
      );
      assert.match(state[0].error_message ?? '', /permission denied for table perm_t/);
      assert.deepEqual((await dst.query('SELECT id, v FROM perm_t')).rows, [{ id: 1, v: 'old' }], 'target untouched');
      assert.deepEqual(await leftoverTables(dst, ['perm_t']), []);
    });
  });
});
