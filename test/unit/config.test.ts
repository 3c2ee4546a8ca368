import assert from 'node:assert/strict';
import { ConfigError, parseConfigFile, parseSyncConfig, syncConfigOf } from '../../lib/config';
import { redact } from '../../activities/errors';
import { parseTableName, matchesPattern } from '../../lib/tables';

const minimal = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.users'] };

describe('config', () => {
  it("fills the seed's defaults", () => {
    const c = parseSyncConfig(minimal);
    assert.equal(c.partitionThreshold, 1_000_000);
    assert.equal(c.maxPartitionsPerTable, 6);
    assert.equal(c.maxParallelTransfers, 8);
    assert.equal(c.batchSize, 100_000);
    assert.equal(c.useBinaryCopy, true);
    assert.equal(c.useUnloggedStaging, true);
    assert.equal(c.retry.maximumAttempts, 5);
  });

  it('names the field that is wrong', () => {
    assert.throws(() => parseSyncConfig({ ...minimal, maxParallelTransfers: 0 }), /maxParallelTransfers: Number must be greater than or equal to 1/);
    // A batch of more tables than 500 could pass Temporal's advice of 10,000 history events.
    assert.equal(parseSyncConfig(minimal).tablesPerBatch, 200);
    assert.throws(() => parseSyncConfig({ ...minimal, tablesPerBatch: 501 }), /tablesPerBatch: Number must be less than or equal to 500/);
    assert.throws(() => parseSyncConfig({ ...minimal, source: {} }), /source\.connection: Required/);
    assert.throws(() => parseSyncConfig({ ...minimal, tables: [] }), /tables: Array must contain at least 1/);
    assert.throws(() => parseSyncConfig({ ...minimal, partitionTreshold: 5 }), /Unrecognized key\(s\) in object: 'partitionTreshold'/);
  });

  it('refuses a delete rule a cursor table cannot carry out, its own or the top-level default, and takes it where it applies', () => {
    const cursorEntry = { table: 'public.events', mode: 'cursor', cursor: 'ts' };
    assert.throws(() => parseSyncConfig({ ...minimal, tables: [{ ...cursorEntry, deletes: 'soft' }] }), /tables\[0\]\.deletes: soft applies to mode full, compare, changelog, cdc only \(this table's mode is cursor\)/);
    assert.throws(
      () => parseSyncConfig({ ...minimal, deletes: 'hard', tables: ['public.users', cursorEntry] }),
      /deletes: hard \(the top-level default\) does not apply to tables\[1\] \(mode cursor\)/,
    );
    assert.throws(() => parseSyncConfig({ ...minimal, mode: 'cursor', cursor: 'ts', deletes: 'soft' }), /deletes: soft applies to mode full, compare, changelog, cdc only \(the config's mode is cursor\)/);
    const ok = parseSyncConfig({ ...minimal, deletes: 'hard', tables: ['public.users', { ...cursorEntry, deletes: 'ignore' }] });
    assert.equal(ok.deletes, 'hard');
    assert.doesNotThrow(() => parseSyncConfig({ ...minimal, mode: 'cursor', cursor: 'ts', tables: ['public.events', { table: 'public.users', mode: 'compare', deletes: 'soft' }] }));
  });

  it('takes deletes: soft with is_deleted as its flag unless softDeleteColumn says otherwise, and refuses names the target cannot keep', () => {
    assert.deepEqual([parseSyncConfig(minimal).deletes, parseSyncConfig(minimal).softDeleteColumn], ['ignore', 'is_deleted']);
    assert.equal(parseSyncConfig({ ...minimal, deletes: 'soft', softDeleteColumn: 'Removed?' }).softDeleteColumn, 'Removed?');
    assert.throws(() => parseSyncConfig({ ...minimal, deletes: 'sometimes' }), /deletes: Invalid enum value\. Expected 'ignore' \| 'hard' \| 'soft'/);
    assert.throws(() => parseSyncConfig({ ...minimal, softDeleteColumn: 'x'.repeat(64) }), /softDeleteColumn: must fit PostgreSQL's 63-byte names/);
    assert.throws(() => parseSyncConfig({ ...minimal, softDeleteColumn: '_tablesync_deleted_at' }), /softDeleteColumn: is the name of the deletion time column/);
    assert.throws(() => parseSyncConfig({ ...minimal, softDeleteColumn: '' }), /softDeleteColumn: String must contain at least 1/);
  });

  it('takes the seed environment variables over the file, and names the variable when one is bad', () => {
    const c = parseConfigFile(minimal, {
      INCLUDE_TABLES: 'public.a, public.b',
      PARTITION_THRESHOLD: '500',
      USE_BINARY_COPY: 'false',
      MAX_PARALLEL_TRANSFERS: '2',
    });
    assert.deepEqual(c.tables, ['public.a', 'public.b']);
    assert.equal(c.partitionThreshold, 500);
    assert.equal(c.useBinaryCopy, false);
    assert.equal(c.maxParallelTransfers, 2);
    assert.throws(
      () => parseConfigFile(minimal, { PARTITION_THRESHOLD: 'lots' }),
      (e: Error) => e instanceof ConfigError && /partitionThreshold \(from PARTITION_THRESHOLD\): Expected number, received string/.test(e.message),
    );
    assert.throws(() => parseConfigFile(minimal, { USE_UNLOGGED_STAGING: 'maybe' }), /useUnloggedStaging \(from USE_UNLOGGED_STAGING\)/);
  });

  it('keeps connection URLs out of what travels to the workflow', () => {
    const file = parseConfigFile({ ...minimal, connections: { src: 'postgres://u:secret@h/db', dst: { url: 'postgres://h/d' } } });
    assert.equal(file.connections?.src.url, 'postgres://u:secret@h/db');
    const travelling = JSON.stringify(syncConfigOf(file));
    assert.doesNotMatch(travelling, /secret|postgres:\/\//);
  });

  it('redacts passwords from messages', () => {
    assert.equal(redact('failed postgres://bob:hunter2@db:5432/x'), 'failed postgres://bob:***@db:5432/x');
    assert.equal(redact('Password=hunter2;Server=x'), 'Password=***;Server=x');
  });
});

describe('table names', () => {
  it('parses schema.table, bare names and quoted dots', () => {
    assert.deepEqual(parseTableName('sales.orders', 'public'), { schema: 'sales', name: 'orders' });
    assert.deepEqual(parseTableName('orders', 'dbo'), { schema: 'dbo', name: 'orders' });
    assert.deepEqual(parseTableName('"my.schema"."a ""b"""', 'x'), { schema: 'my.schema', name: 'a "b"' });
    assert.throws(() => parseTableName('a.b.c', 'x'), /Invalid table name "a\.b\.c"/);
  });

  it('matches simple patterns', () => {
    const p = parseTableName('public.order_*', 'x');
    assert.ok(matchesPattern(p, { schema: 'public', name: 'order_lines' }));
    assert.ok(!matchesPattern(p, { schema: 'public', name: 'orders' }));
    assert.ok(matchesPattern(parseTableName('*.t?', 'x'), { schema: 'any', name: 't1' }));
  });
});

describe('error classification', () => {
  // Imported lazily: the activity package is only needed here.
  const { classifyError } = require('../../activities/errors') as typeof import('../../activities/errors');
  // Errors as the drivers build them: pg's DatabaseError carries the server's
  // severity and SQLSTATE; Node's socket errors errno, code and syscall.
  const { DatabaseError } = require('pg') as typeof import('pg');
  const pgError = (code: string, message: string, severity = 'ERROR') =>
    Object.assign(new DatabaseError(message, message.length, 'error'), { code, severity });
  const socketError = (code: string, errno: number, syscall: string, message: string) =>
    Object.assign(new Error(message), { code, errno, syscall });
  const cases: [string, unknown, string, boolean][] = [
    ['bad password (PG)', pgError('28P01', 'password authentication failed for user "u"', 'FATAL'), 'AuthenticationFailed', true],
    ['no privilege (PG)', pgError('42501', 'permission denied for table t'), 'PermissionDenied', true],
    ['admin shutdown (PG)', pgError('57P01', 'terminating connection due to administrator command', 'FATAL'), 'DatabaseUnavailable', false],
    ['deadlock (PG)', pgError('40P01', 'deadlock detected'), 'DatabaseUnavailable', false],
    ['NOT NULL (PG)', pgError('23502', 'null value in column'), 'DatabaseError', true],
    ['refused', socketError('ECONNREFUSED', -111, 'connect', 'connect ECONNREFUSED 127.0.0.1:1'), 'ECONNREFUSED', false],
    // Connection loss in every shape the drivers raise it: retried, whatever the code looks like.
    ['EPIPE (target lost mid-COPY)', socketError('EPIPE', -32, 'write', 'write EPIPE'), 'EPIPE', false],
    ['ECONNRESET', socketError('ECONNRESET', -104, 'read', 'read ECONNRESET'), 'ECONNRESET', false],
    ['ETIMEDOUT', socketError('ETIMEDOUT', -110, 'connect', 'connect ETIMEDOUT 10.0.0.1:5432'), 'ETIMEDOUT', false],
    ['EBADF', socketError('EBADF', -9, 'write', 'write EBADF'), 'EBADF', false],
    ['pg: Connection terminated unexpectedly', new Error('Connection terminated unexpectedly'), 'Error', false],
    [
      'MariaDB: PROTOCOL_CONNECTION_LOST',
      Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true }),
      'PROTOCOL_CONNECTION_LOST',
      false,
    ],
    ['unknown host', { code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND nowhere' }, 'HostNotFound', true],
    ['bad password (MariaDB)', { code: 'ER_ACCESS_DENIED_ERROR', errno: 1045, message: "Access denied for user 'u'" }, 'AuthenticationFailed', true],
    ['missing table (SQL Server)', { name: 'RequestError', number: 208, message: "Invalid object name 'x'" }, 'UnknownTable', true],
    ['deadlock (SQL Server)', { name: 'RequestError', number: 1205, message: 'deadlock victim' }, 'DatabaseUnavailable', false],
    ['login failed (SQL Server)', { name: 'ConnectionError', code: 'ELOGIN', message: "Login failed for user 'sa'" }, 'AuthenticationFailed', true],
  ];
  for (const [what, err, type, nonRetryable] of cases) {
    it(`${what} → ${type}${nonRetryable ? ', not retried' : ', retried'}`, () => {
      const f = classifyError(err, 'somewhere');
      assert.equal(f.type, type);
      assert.equal(f.nonRetryable, nonRetryable);
      assert.match(f.message, /^somewhere: /);
    });
  }

  it('real errors from the server and the socket: a SQLSTATE is final, a lost connection is retried', async () => {
    const { Client } = require('pg') as typeof import('pg');
    const client = new Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await client.connect();
    try {
      const division = await client.query('SELECT 1/0').catch((err: unknown) => err);
      const byZero = classifyError(division, 'somewhere');
      assert.equal(byZero.type, 'DatabaseError');
      assert.equal(byZero.nonRetryable, true);
      assert.match(byZero.message, /SQLSTATE 22012/);
      // The backend goes away under the client: pg reports the loss, never a SQLSTATE.
      client.on('error', () => undefined);
      const lost = await client.query('SELECT pg_terminate_backend(pg_backend_pid())').catch((err: unknown) => err);
      const f = classifyError(lost, 'somewhere');
      assert.equal(f.nonRetryable, false, `${f.type}: ${f.message}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  });
});

describe('options a mode does not take are refused with the config', () => {
  const base = { source: { connection: 's' }, target: { connection: 't' } };
  const refused: [string, object, RegExp][] = [
    ['write on compare', { table: 'a', mode: 'compare', write: 'append' }, /tables\[0\]\.write applies to mode cursor only \(this table's mode is compare\)/],
    ['cursor on full', { table: 'a', mode: 'full', cursor: 'ts' }, /tables\[0\]\.cursor applies to mode cursor only \(this table's mode is full\)/],
    ['lookback on changelog', { table: 'a', mode: 'changelog', changelog: { table: 'log', key: 'k' }, lookback: '5' }, /tables\[0\]\.lookback applies to mode cursor only/],
    ['changelog on cursor', { table: 'a', mode: 'cursor', cursor: 'ts', changelog: { table: 'log', key: 'k' } }, /tables\[0\]\.changelog applies to mode changelog only/],
    ['write on auto (the default mode)', { table: 'a', write: 'upsert' }, /tables\[0\]\.write applies to mode cursor only \(this table's mode is auto\)/],
  ];
  for (const [what, entry, message] of refused) {
    it(what, () => {
      assert.throws(() => parseSyncConfig({ ...base, tables: [entry] }), message);
      assert.throws(() => parseConfigFile({ ...base, tables: [entry] }), message);
    });
  }
  it('an entry inherits the top-level mode, and top-level cursor defaults bind no table', () => {
    assert.throws(() => parseSyncConfig({ ...base, mode: 'compare', tables: [{ table: 'a', lookback: '5 minutes' }] }), /tables\[0\]\.lookback/);
    assert.doesNotThrow(() => parseSyncConfig({ ...base, mode: 'compare', cursor: 'ts', write: 'append', tables: ['a', { table: 'b', mode: 'cursor' }] }));
    assert.doesNotThrow(() => parseSyncConfig({ ...base, mode: 'cursor', tables: [{ table: 'b', cursor: 'ts', write: 'append', lookback: '1 hour', columns: ['id'] }] }));
  });
});

describe('config: notify', () => {
  it('takes one webhook or a list, on: failure by default; only the variable name, never a URL', () => {
    assert.deepEqual(parseSyncConfig({ ...minimal, notify: { urlEnv: 'TABLESYNC_WEBHOOK' } }).notify, [{ urlEnv: 'TABLESYNC_WEBHOOK', on: 'failure' }]);
    assert.deepEqual(parseSyncConfig({ ...minimal, notify: [{ urlEnv: 'A', on: 'always' }, { urlEnv: 'B' }] }).notify, [
      { urlEnv: 'A', on: 'always' },
      { urlEnv: 'B', on: 'failure' },
    ]);
    assert.equal(parseSyncConfig(minimal).notify, undefined);
    // Kept in what travels to the workflow: the name is no secret.
    assert.deepEqual(syncConfigOf(parseConfigFile({ ...minimal, notify: { urlEnv: 'W' } })).notify, [{ urlEnv: 'W', on: 'failure' }]);
  });

  it('names the notify field that is wrong', () => {
    assert.throws(() => parseSyncConfig({ ...minimal, notify: [{ urlEnv: 'https://hooks.example/T0/B0/x' }] }), /notify\[0\]\.urlEnv: must be the name of an environment variable on the worker/);
    assert.throws(() => parseSyncConfig({ ...minimal, notify: [{ urlEnv: 'W', on: 'success' }] }), /notify\[0\]\.on: Invalid enum value. Expected 'failure' \| 'always'/);
    assert.throws(() => parseSyncConfig({ ...minimal, notify: [{ urlEnv: 'W', url: 'http://x' }] }), /notify\[0\]: Unrecognized key\(s\) in object: 'url'/);
    assert.throws(() => parseSyncConfig({ ...minimal, notify: [] }), /notify: Array must contain at least 1/);
  });
});
