import { isIP } from 'node:net';
import { DefaultLogger, Runtime, type LogEntry, type LogLevel, type LogMetadata, type RuntimeOptions } from '@temporalio/worker';
import { redact } from '../activities/errors';
import { ConfigError } from '../lib/config';
import { PARTITION_DURATION, PARTITION_DURATION_BUCKETS } from './interceptors';

const LEVELS: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
export type LogFormat = 'human' | 'json';

/**
 * One log entry as one line. human: what happened and where (table,
 * activity), without the task tokens and metadata dumps of the default
 * format. json: one object per line for log shippers. Both redacted.
 */
export function formatLogEntry(entry: LogEntry, format: LogFormat): string {
  const meta = (entry.meta ?? {}) as LogMetadata & Record<string, unknown>;
  const attempt = typeof meta.attempt === 'number' ? meta.attempt : undefined;
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  // "Activity failed" alone does not say why.
  const error = meta.error as { message?: string; type?: string } | undefined;
  const cause = error?.message;
  const message = redact(cause && !entry.message.includes(cause) ? `${entry.message}: ${cause}` : entry.message);
  if (format === 'json') {
    const fields: Record<string, unknown> = {
      time,
      level: entry.level,
      message,
      workflowId: meta.workflowId,
      runId: meta.runId,
      workflowType: meta.workflowType,
      activity: meta.activityType,
      table: meta.table,
      partition: meta.partition,
      attempt,
      errorType: typeof error?.type === 'string' ? error.type : undefined,
      taskQueue: meta.taskQueue,
    };
    const present = Object.entries(fields).filter(([, v]) => v !== undefined && v !== null && v !== '');
    return JSON.stringify(Object.fromEntries(present.map(([k, v]) => [k, typeof v === 'string' ? redact(v) : v])));
  }
  const where = [meta.activityType ?? meta.workflowType, meta.workflowId].filter(Boolean).join(' ');
  const retry = attempt !== undefined && attempt > 1 ? ` attempt ${attempt}` : '';
  return `${time} ${entry.level.padEnd(5)} ${message}${where ? ` [${where}${retry}]` : ''}`;
}

export function logFormatOf(env: Record<string, string | undefined>): LogFormat {
  const value = env.TABLESYNC_LOG_FORMAT?.trim().toLowerCase() || 'human';
  if (value !== 'human' && value !== 'json') {
    throw new ConfigError(`TABLESYNC_LOG_FORMAT "${env.TABLESYNC_LOG_FORMAT}" is not a log format: use human or json`);
  }
  return value;
}

/** TABLESYNC_LOG_LEVEL in any case (debug, DEBUG); a value that is no level is refused, not read as INFO. */
export function logLevelOf(env: Record<string, string | undefined>): LogLevel {
  const value = env.TABLESYNC_LOG_LEVEL?.trim().toUpperCase() || 'INFO';
  if (!LEVELS.includes(value as LogLevel)) {
    throw new ConfigError(`TABLESYNC_LOG_LEVEL "${env.TABLESYNC_LOG_LEVEL}" is not a log level: use ${LEVELS.join(', ')} (any case)`);
  }
  return value as LogLevel;
}

/**
 * TABLESYNC_METRICS_ADDRESS as the exporter's socket address: ":9464" means
 * every interface, "localhost" the loopback; anything else must be an IP and
 * a port (the exporter resolves no names).
 */
export function metricsAddressOf(env: Record<string, string | undefined>, setting = 'TABLESYNC_METRICS_ADDRESS'): string | undefined {
  const raw = env.TABLESYNC_METRICS_ADDRESS?.trim();
  if (!raw) return undefined;
  const at = raw.lastIndexOf(':');
  const given = raw.slice(0, Math.max(at, 0));
  const host = given === '' ? '0.0.0.0' : given.toLowerCase() === 'localhost' ? '127.0.0.1' : given.replace(/^\[(.*)\]$/, '$1');
  const port = Number(raw.slice(at + 1));
  if (at < 0 || !/^\d+$/.test(raw.slice(at + 1)) || port < 1 || port > 65535 || !isIP(host)) {
    throw new ConfigError(`${setting} "${raw}" is not HOST:PORT with an IP address (e.g. 127.0.0.1:9464, or :9464 for all interfaces)`);
  }
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Installs the process's one Temporal Runtime: the log format
 * (TABLESYNC_LOG_LEVEL, TABLESYNC_LOG_FORMAT) and, with
 * TABLESYNC_METRICS_ADDRESS, the Prometheus exporter that serves the SDK's
 * worker metrics and tablesync's own (workers/interceptors.ts). Worker
 * lifecycle chatter is shown only at DEBUG.
 */
export function installLogger(
  level?: LogLevel,
  options: Pick<RuntimeOptions, 'shutdownSignals'> & {
    /** Every line to stderr: a command hosting a worker keeps its stdout for its result (run --local --json). */
    stderrOnly?: boolean;
    /** --metrics: the exporter's address, instead of TABLESYNC_METRICS_ADDRESS. */
    metricsAddress?: string;
  } = {},
  env: Record<string, string | undefined> = process.env,
): void {
  const { stderrOnly, metricsAddress, ...runtime } = options;
  const format = logFormatOf(env);
  level ??= logLevelOf(env);
  const bindAddress = metricsAddressOf(metricsAddress === undefined ? env : { TABLESYNC_METRICS_ADDRESS: metricsAddress }, metricsAddress === undefined ? undefined : '--metrics');
  const min = LEVELS.indexOf(LEVELS.includes(level) ? level : 'INFO');
  const logger = new DefaultLogger('TRACE', (entry) => {
    const meta = (entry.meta ?? {}) as LogMetadata & Record<string, unknown>;
    const chatter = meta.sdkComponent === 'worker' && entry.level === 'INFO';
    if (LEVELS.indexOf(entry.level) < (chatter ? LEVELS.indexOf('DEBUG') : min) || (chatter && min > 1)) return;
    (stderrOnly || entry.level === 'ERROR' || entry.level === 'WARN' ? console.error : console.log)(formatLogEntry(entry, format));
  });
  const metrics = bindAddress
    ? { prometheus: { bindAddress, histogramBucketOverrides: { [PARTITION_DURATION]: PARTITION_DURATION_BUCKETS } } }
    : undefined;
  try {
    Runtime.install({
      logger,
      ...runtime,
      telemetryOptions: {
        // A command hosting a worker keeps stdout for its result: the SDK core's own warnings (a
        // payload near its size limit, …) come through this logger, formatted and redacted, instead
        // of the core's coloured console lines on stdout. The SDK holds forwarded lines ~100 ms,
        // less than the hosted worker's shutdown takes, so none is lost at exit; `tablesync worker`
        // keeps the core's console, its lines never held.
        ...(stderrOnly && { logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } } }),
        ...(metrics && { metrics }),
      },
    });
  } catch (err) {
    if (!metrics) throw err;
    throw new ConfigError(`${metricsAddress === undefined ? 'TABLESYNC_METRICS_ADDRESS' : '--metrics'} ${bindAddress}: cannot serve metrics: ${(err as Error).message}`);
  }
}
