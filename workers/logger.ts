import { DefaultLogger, Runtime, type LogLevel, type LogMetadata } from '@temporalio/worker';
import { redact } from '../activities/errors';

const LEVELS: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

/**
 * One short line per log entry: what happened and where (table, activity),
 * without the task tokens and metadata dumps of the default format. Worker
 * lifecycle chatter is shown only at DEBUG.
 */
export function installLogger(
  level: LogLevel = (process.env.TABLESYNC_LOG_LEVEL as LogLevel) ?? 'INFO',
  runtime: { shutdownSignals?: NodeJS.Signals[] } = {},
): void {
  const min = LEVELS.indexOf(LEVELS.includes(level) ? level : 'INFO');
  const logger = new DefaultLogger('TRACE', (entry) => {
    const meta = (entry.meta ?? {}) as LogMetadata & Record<string, unknown>;
    const chatter = meta.sdkComponent === 'worker' && entry.level === 'INFO';
    if (LEVELS.indexOf(entry.level) < (chatter ? LEVELS.indexOf('DEBUG') : min) || (chatter && min > 1)) return;
    const where = [meta.activityType ?? meta.workflowType, meta.workflowId].filter(Boolean).join(' ');
    const attempt = typeof meta.attempt === 'number' && meta.attempt > 1 ? ` attempt ${meta.attempt}` : '';
    const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
    // "Activity failed" alone does not say why.
    const cause = (meta.error as { message?: string } | undefined)?.message;
    const message = cause && !entry.message.includes(cause) ? `${entry.message}: ${cause}` : entry.message;
    const line = `${time} ${entry.level.padEnd(5)} ${redact(message)}${where ? ` [${where}${attempt}]` : ''}`;
    (entry.level === 'ERROR' || entry.level === 'WARN' ? console.error : console.log)(line);
  });
  Runtime.install({ logger, ...runtime });
}
