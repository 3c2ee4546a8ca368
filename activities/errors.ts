import { ApplicationFailure } from '@temporalio/activity';
import { TablesyncError } from '../lib/errors';

export function nonRetryable(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message: redact(message), nonRetryable: true });
}

/** Removes credentials from anything that looks like a connection URL or password setting. */
export function redact(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*):([^@\s/]*)@/gi, '$1$2:***@')
    .replace(/(password\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s;,]+)/gi, '$1***');
}

// SQLSTATEs a retry cannot fix: bad credentials, missing objects, no privilege,
// bad data or SQL. Connection loss, shutdowns, deadlocks and the like can be retried.
const PG_NON_RETRYABLE: Record<string, string> = {
  '28000': 'AuthenticationFailed',
  '28P01': 'AuthenticationFailed',
  '3D000': 'UnknownDatabase',
  '3F000': 'UnknownSchema',
  '42501': 'PermissionDenied',
  '42P01': 'UnknownTable',
  '42703': 'UnknownColumn',
  '42830': 'MissingPrimaryKey',
  '42P10': 'MissingPrimaryKey',
};
const PG_RETRYABLE_CLASSES = new Set(['08', '40', '53', '55', '57', '58', 'XX']);

/**
 * Turns a driver error into what Temporal should do with it: retry, or fail
 * at once with a typed, credential-free message that says where it happened.
 */
export function classifyError(err: unknown, where: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof TablesyncError) return nonRetryable(err.type, `${where}: ${err.message}`);
  const e = err as { code?: string; message?: string; name?: string };
  const message = redact(`${where}: ${e?.message ?? String(err)}`);
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return ApplicationFailure.create({ type: 'HostNotFound', message, nonRetryable: code === 'ENOTFOUND' });
  }
  if (/^[0-9A-Z]{5}$/.test(code)) {
    const known = PG_NON_RETRYABLE[code];
    if (known) return ApplicationFailure.create({ type: known, message, nonRetryable: true });
    const cls = code.slice(0, 2);
    if (PG_RETRYABLE_CLASSES.has(cls)) return ApplicationFailure.create({ type: 'DatabaseUnavailable', message });
    // Data, syntax and constraint errors repeat identically on every attempt.
    return ApplicationFailure.create({ type: 'DatabaseError', message: `${message} (SQLSTATE ${code})`, nonRetryable: true });
  }
  return ApplicationFailure.create({ type: code || e?.name || 'TransientError', message });
}
