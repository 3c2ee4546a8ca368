import assert from 'node:assert/strict';
import { ConnectionRegistry } from '../../activities/connections';
import { parseConfigFile, parseSyncConfig, type ConnectionSpec } from '../../lib/config';
import { withoutValues } from '../../lib/error-values';
import { isTypeName } from '../../lib/type-names';

describe('workflow input checks (pure parts)', () => {
  it('takes type names, with modifiers, words of multi-word types and arrays, and nothing else', () => {
    for (const ok of ['text', 'numeric(12,2)', 'timestamp(3) with time zone', 'double precision', 'character varying(255)[]',
      'interval day to second(3)', '"public"."mood"[]', 'app.mood', 'pg_catalog.int4', '"my ""odd"" type"', 'bit varying(5)']) {
      assert.ok(isTypeName(ok), ok);
    }
    for (const bad of ['text DEFAULT pg_terminate_backend(1)', 'integer GENERATED ALWAYS AS (1) STORED', 'text COLLATE "C"',
      'text NOT NULL', 'bytea); DROP TABLE t; --', 'int CHECK (false)', 'text[] REFERENCES t', '"x"; SELECT 1', '', 'a.b.c']) {
      assert.ok(!isTypeName(bad), bad);
    }
  });

  it('names the field of a number past its maximum', () => {
    const base = { source: { connection: 's' }, target: { connection: 'd' }, tables: ['t'] };
    assert.throws(() => parseSyncConfig({ ...base, batchSize: 1e12 }), /batchSize: must be at most 10,000,000/);
    assert.throws(() => parseSyncConfig({ ...base, retry: { maximumAttempts: 101 } }), /retry\.maximumAttempts: must be at most 100/);
    assert.throws(() => parseSyncConfig({ ...base, typeMap: { 'a.b.c': 'text DEFAULT 1' } }), /typeMap\.a\.b\.c: must be a PostgreSQL type name/);
  });

  it('drops the row value from database errors, keeping column, type and reason', () => {
    const cases: [string, string][] = [
      ['invalid input syntax for type integer: "TOPSECRET"', 'invalid input syntax for type integer: (value withheld)'],
      ['invalid input syntax for type integer: "a" for "b"', 'invalid input syntax for type integer: (value withheld)'],
      ['value "99999999999" is out of range for type integer', '(value withheld) is out of range for type integer'],
      ['invalid input value for enum mood: "sad"', 'invalid input value for enum mood: (value withheld)'],
      ['invalid byte sequence for encoding "UTF8": 0xe9 0x41', 'invalid byte sequence for encoding "UTF8": 0x(value withheld)'],
      ["Incorrect integer value: 'TOP' for column 'x' at row 1' for column 'pw' at row 3", "Incorrect integer value: (value withheld) for column 'pw' at row 3"],
      ["Duplicate entry 'TOP' for key 'PRIMARY'", "Duplicate entry (value withheld) for key 'PRIMARY'"],
      ["Conversion failed when converting the varchar value 'TOP' to data type int.", 'Conversion failed when converting the varchar value (value withheld) to data type int.'],
      ["Violation of PRIMARY KEY constraint 'pk'. The duplicate key value is (TOP).", "Violation of PRIMARY KEY constraint 'pk'. The duplicate key value is (value withheld)."],
      ['column "b": value "2" is not a boolean (0 or 1)', 'column "b": (value withheld) is not a boolean (0 or 1)'],
    ];
    for (const [given, want] of cases) assert.equal(withoutValues(given), want);
    for (const kept of ['relation "x" does not exist', 'duplicate key value violates unique constraint "pk"', 'null value in column "c" of relation "t" violates not-null constraint']) {
      assert.equal(withoutValues(kept), kept);
    }
  });

  it('reads connection roles from the config file and TABLESYNC_ROLE_<NAME>; a connection without one is both', () => {
    const file = parseConfigFile({
      source: { connection: 'a' },
      target: { connection: 'b' },
      tables: ['t'],
      connections: { a: { url: 'postgres://h/a', role: 'source' }, b: 'postgres://h/b' },
    });
    assert.deepEqual(file.connections, { a: { url: 'postgres://h/a', role: 'source' }, b: { url: 'postgres://h/b' } });
    assert.throws(() => parseConfigFile({ ...file, connections: { a: { url: 'postgres://h/a', role: 'admin' } } }), /connections\.a/);
    const registry = new ConnectionRegistry(file.connections as Record<string, ConnectionSpec>, { TABLESYNC_ROLE_B: 'target' });
    assert.equal(registry.role('a'), 'source');
    assert.equal(registry.role('b'), 'target');
    assert.equal(new ConnectionRegistry(file.connections as Record<string, ConnectionSpec>, {}).role('b'), 'both');
    assert.throws(() => new ConnectionRegistry(file.connections as Record<string, ConnectionSpec>, { TABLESYNC_ROLE_A: 'writer' }).role('a'), /TABLESYNC_ROLE_A must be source, target or both/);
    assert.throws(() => registry.role('nope'), /not configured on this worker/);
  });
});
