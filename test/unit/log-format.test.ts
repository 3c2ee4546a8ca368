import assert from 'node:assert/strict';
import type { LogEntry } from '@temporalio/worker';
import { ConfigError } from '../../lib/config';
import { activityWhere, cursorLagSeconds } from '../../workers/interceptors';
import { formatLogEntry, logFormatOf, logLevelOf, metricsAddressOf } from '../../workers/logger';

const at = BigInt(Date.parse('2026-01-02T03:04:05.678Z')) * 1_000_000n;
const entry = (message: string, meta: Record<string, unknown>, level: LogEntry['level'] = 'WARN'): LogEntry => ({
  level,
  message,
  meta,
  timestampNanos: at,
});

describe('log format', () => {
  const failed = entry('Activity failed', {
    sdkComponent: 'activity',
    activityType: 'syncPartition',
    workflowId: 'sync-1/public.orders',
    workflowType: 'syncTableWorkflow',
    table: 'public.orders',
    partition: '2/4',
    attempt: 3,
    taskQueue: 'tablesync',
    error: { message: 'connect to postgres://reader:s3cret@db1/app failed, password=hunter2 given', type: 'DatabaseUnavailable' },
  });

  it('json: one object with level, time, workflow id, table, partition, message and the cause, redacted', () => {
    const line = formatLogEntry(failed, 'json');
    assert.ok(!line.includes('\n'));
    assert.deepEqual(JSON.parse(line), {
      time: '2026-01-02T03:04:05.678Z',
      level: 'WARN',
      message: 'Activity failed: connect to postgres://reader:***@db1/app failed, password=*** given',
      workflowId: 'sync-1/public.orders',
      workflowType: 'syncTableWorkflow',
      activity: 'syncPartition',
      table: 'public.orders',
      partition: '2/4',
      attempt: 3,
      errorType: 'DatabaseUnavailable',
      taskQueue: 'tablesync',
    });
  });

  it('json: every string field is redacted, not only the message', () => {
    const line = formatLogEntry(entry('x', { workflowId: 'mysql://u:pw1@h/db', table: 'password=pw2' }), 'json');
    assert.ok(!/pw1|pw2/.test(line), line);
  });

  it('human (the default) stays one short line', () => {
    assert.equal(
      formatLogEntry(failed, 'human'),
      '2026-01-02T03:04:05.678Z WARN  Activity failed: connect to postgres://reader:***@db1/app failed, password=*** given ' +
        '[syncPartition sync-1/public.orders attempt 3]',
    );
    assert.equal(logFormatOf({}), 'human');
    assert.equal(logFormatOf({ TABLESYNC_LOG_FORMAT: 'JSON' }), 'json');
    assert.throws(() => logFormatOf({ TABLESYNC_LOG_FORMAT: 'xml' }), (e: Error) => e instanceof ConfigError && /TABLESYNC_LOG_FORMAT "xml"/.test(e.message));
  });

  it('TABLESYNC_LOG_LEVEL in any case; a value that is no level is named, not read as INFO', () => {
    assert.equal(logLevelOf({}), 'INFO');
    assert.equal(logLevelOf({ TABLESYNC_LOG_LEVEL: 'debug' }), 'DEBUG');
    assert.equal(logLevelOf({ TABLESYNC_LOG_LEVEL: ' Warn ' }), 'WARN');
    assert.throws(() => logLevelOf({ TABLESYNC_LOG_LEVEL: 'verbose' }), (e: Error) => e instanceof ConfigError && /TABLESYNC_LOG_LEVEL "verbose" is not a log level/.test(e.message));
  });

  it('TABLESYNC_METRICS_ADDRESS: IP:port, :port for every interface, localhost; anything else named', () => {
    assert.equal(metricsAddressOf({}), undefined);
    assert.equal(metricsAddressOf({ TABLESYNC_METRICS_ADDRESS: '127.0.0.1:9464' }), '127.0.0.1:9464');
    assert.equal(metricsAddressOf({ TABLESYNC_METRICS_ADDRESS: ':9464' }), '0.0.0.0:9464');
    assert.equal(metricsAddressOf({ TABLESYNC_METRICS_ADDRESS: 'localhost:9464' }), '127.0.0.1:9464');
    assert.equal(metricsAddressOf({ TABLESYNC_METRICS_ADDRESS: '[::1]:9464' }), '[::1]:9464');
    for (const bad of ['9464', 'metrics.example.com:9464', '127.0.0.1:0', '127.0.0.1:70000', '127.0.0.1:x']) {
      assert.throws(
        () => metricsAddressOf({ TABLESYNC_METRICS_ADDRESS: bad }),
        (e: Error) => e instanceof ConfigError && e.message.includes(`TABLESYNC_METRICS_ADDRESS "${bad}"`),
        bad,
      );
    }
  });

  it('an activity input names its table and partition', () => {
    const table = { source: { schema: 'public', name: 'orders' }, target: { schema: 'dw', name: 'orders' } };
    assert.deepEqual(activityWhere({ table, range: { index: 1, count: 4 } }), { table: 'public.orders', partition: '2/4' });
    assert.deepEqual(activityWhere({ config: {} }), {});
    assert.deepEqual(activityWhere(undefined), {});
  });
});

describe('cursor lag metric', () => {
  const plan = (kind: 'time' | 'number', to: string) =>
    ({ cursor: { kind, saved: null, window: { from: null, to, includeNull: true } } }) as unknown as import('../../lib/types').TablePlan;
  const now = Date.parse('2026-01-01T12:00:00Z');
  it('is now minus the saved time cursor, read as UTC without an offset, with it when given', () => {
    assert.equal(cursorLagSeconds(plan('time', '2026-01-01 11:59:00.123456'), now), 59.877);
    assert.equal(cursorLagSeconds(plan('time', '2026-01-01 13:00:00+02'), now), 3600);
    assert.equal(cursorLagSeconds(plan('time', '2026-01-01 06:30:00.0000000 -05:30'), now), 0);
    assert.equal(cursorLagSeconds(plan('time', '2026-01-01'), now), 43200);
    assert.equal(cursorLagSeconds(plan('number', '42'), now), null);
    assert.equal(cursorLagSeconds(undefined, now), null);
  });
});
