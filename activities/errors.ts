import { ApplicationFailure, log } from '@temporalio/activity';
import { withoutValues } from '../lib/error-values';
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

// MySQL/MariaDB errnos a retry cannot fix.
const MYSQL_NON_RETRYABLE: Record<number, string> = {
  1045: 'AuthenticationFailed',
  1044: 'PermissionDenied',
  1142: 'PermissionDenied',
  1143: 'PermissionDenied',
  1049: 'UnknownDatabase',
  1146: 'UnknownTable',
  1054: 'UnknownColumn',
};

interface MssqlError {
  name?: string;
  code?: string;
  number?: number;
  /** SQL Server's severity: 11–16 the statement's own fault, 17 and above the server's or the connection's. */
  class?: number;
  message?: string;
}

// SQL Server error numbers a retry cannot fix (documented in sys.messages), by class.
const MSSQL_CLASSES: Record<string, { type: string; numbers: number[] }> = {
  missingObject: { type: 'UnknownTable', numbers: [208, 2812, 4121, 15151] },
  missingColumn: { type: 'UnknownColumn', numbers: [207] },
  permission: { type: 'PermissionDenied', numbers: [229, 230, 262, 297, 300, 916] },
  // A value its type cannot take: the same value fails every attempt.
  conversion: { type: 'DatabaseError', numbers: [206, 220, 232, 241, 242, 245, 248, 295, 296, 517, 8114, 8115, 8116, 8152, 8169, 9810, 2628] },
};
const MSSQL_NON_RETRYABLE: Record<number, string> = Object.fromEntries(
  Object.values(MSSQL_CLASSES).flatMap(({ type, numbers }) => numbers.map((n) => [n, type])),
);
// Deadlock victim, lock timeout, snapshot conflicts, and a database or
// service briefly unavailable (Azure SQL's failovers): a retry can succeed.
const MSSQL_TRANSIENT = new Set([1204, 1205, 1222, 3960, 3961, 701, 802, 8645, 8651, 4060, 40197, 40501, 40613, 49918, 49919, 49920, 10928, 10929]);
/**
 * Babelfish answers most errors with one number (33557097), the PostgreSQL
 * error's text after it: the class comes from the text.
 */
export const BABELFISH_ERROR = 33557097;
const BABELFISH_MESSAGES: [RegExp, string, boolean][] = [
  [/deadlock detected|could not serialize|canceling statement due to (lock timeout|conflict)/i, 'DatabaseUnavailable', false],
  [/^relation .* does not exist|^(function|procedure|schema) .* does not exist|Invalid object name/i, 'UnknownTable', true],
  [/^column .* does not exist|Invalid column name/i, 'UnknownColumn', true],
  [/permission denied/i, 'PermissionDenied', true],
  [/invalid input syntax|out of range|conversion failed|failed to convert|invalid byte sequence|value too long|not supported by date function|division by zero|arithmetic overflow/i, 'DatabaseError', true],
];

/** What a SQL Server error number (or Babelfish's text) says: its type, and whether a retry can fix it. */
export function mssqlErrorClass(number: number, severity: number | undefined, text: string): { type: string; retry: boolean } {
  if (number === BABELFISH_ERROR) {
    const known = BABELFISH_MESSAGES.find(([pattern]) => pattern.test(text));
    if (known) return { type: known[1], retry: !known[2] };
  }
  const type = MSSQL_NON_RETRYABLE[number];
  if (type) return { type, retry: false };
  if (MSSQL_TRANSIENT.has(number)) return { type: 'DatabaseUnavailable', retry: true };
  // 17 and above: resources, the server, the connection. Below: this statement, every time (syntax, constraints, data).
  if (severity !== undefined && severity <= 16) return { type: 'DatabaseError', retry: false };
  return { type: 'DatabaseUnavailable', retry: true };
}

/** The mssql driver's RequestError / ConnectionError, or null for anything else. */
function classifyMssql(e: MssqlError, message: string): ApplicationFailure | null {
  if (e?.name === 'RequestError' && typeof e.number === 'number') {
    const { type, retry } = mssqlErrorClass(e.number, typeof e.class === 'number' ? e.class : undefined, e.message ?? '');
    return ApplicationFailure.create({ type, message: retry ? message : `${message} (SQL Server error ${e.number})`, nonRetryable: !retry });
  }
  // A timeout or cancel of one request (no server error number): the next attempt may well pass.
  if (e?.name === 'RequestError') return ApplicationFailure.create({ type: 'DatabaseUnavailable', message });
  if (e?.name === 'ConnectionError') {
    if (e.code === 'ELOGIN') {
      const type = /Cannot open database|database .* does not exist/i.test(e.message ?? '') ? 'UnknownDatabase' : 'AuthenticationFailed';
      return ApplicationFailure.create({ type, message, nonRetryable: true });
    }
    if (/getaddrinfo ENOTFOUND/.test(e.message ?? '')) return ApplicationFailure.create({ type: 'HostNotFound', message, nonRetryable: true });
    return ApplicationFailure.create({ type: 'DatabaseUnavailable', message });
  }
  return null;
}

/** The full text of an error that quoted a value: the worker's own log, at debug level, only. */
function debugFullText(where: string, text: string): void {
  try {
    log.debug(`${where}: ${redact(text)}`);
  } catch {
    // Not in an activity (no activity logger): the text is dropped.
  }
}

/**
 * Turns a driver error into what Temporal should do with it: retry, or fail
 * at once with a typed, credential-free message that says where it happened.
 */
export function classifyError(err: unknown, where: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof TablesyncError) {
    if (err.type !== 'UnsupportedValue') return nonRetryable(err.type, `${where}: ${err.message}`);
    debugFullText(where, err.message);
    return nonRetryable(err.type, `${where}: ${withoutValues(err.message)}`);
  }
  const e = err as { code?: string; message?: string; name?: string; where?: string };
  // PostgreSQL names the COPY line and column in its context ("COPY t, line 3, column c: …"), not in the message.
  const column = typeof e?.where === 'string' ? /^COPY [^,]+, line \d+, column ([^:]+):/.exec(e.where)?.[1] : undefined;
  const text = e?.message ?? String(err);
  // A row value quoted by the database goes nowhere but this worker's debug log (see lib/error-values.ts).
  if (withoutValues(text) !== text) debugFullText(where, text);
  const message = redact(`${where}: ${column ? `column "${column}": ` : ''}${withoutValues(text)}`);
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return ApplicationFailure.create({ type: 'HostNotFound', message, nonRetryable: code === 'ENOTFOUND' });
  }
  const mssql = classifyMssql(e as MssqlError, message);
  if (mssql) return mssql;
  const errno = (e as { errno?: number }).errno;
  if (code.startsWith('ER_') && typeof errno === 'number') {
    const type = MYSQL_NON_RETRYABLE[errno];
    if (type) return ApplicationFailure.create({ type, message, nonRetryable: true });
    // Data and syntax errors (1064, 1264, 1292, 1366, …) repeat on every attempt; kills and lock waits do not.
    const transient = [1205, 1213, 1317, 1927, 2006, 2013, 1040, 1053].includes(errno);
    return ApplicationFailure.create({ type: transient ? 'DatabaseUnavailable' : 'DatabaseError', message, nonRetryable: !transient });
  }
  // A SQLSTATE only when the server sent one: pg's DatabaseError carries the
  // server's severity with it. Socket errors (EPIPE, EBADF, ...) have codes of
  // the same shape but come with errno/syscall and mean the connection is gone.
  const severity = (e as { severity?: unknown }).severity;
  if (typeof severity === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    const known = PG_NON_RETRYABLE[code];
    if (known) return ApplicationFailure.create({ type: known, message, nonRetryable: true });
    const cls = code.slice(0, 2);
    if (PG_RETRYABLE_CLASSES.has(cls)) return ApplicationFailure.create({ type: 'DatabaseUnavailable', message });
    // Data, syntax and constraint errors repeat identically on every attempt.
    return ApplicationFailure.create({ type: 'DatabaseError', message: `${message} (SQLSTATE ${code})`, nonRetryable: true });
  }
  // Everything else is the connection or the process around it: sockets
  // (errno/syscall), pg's "Connection terminated unexpectedly", mysql2's
  // PROTOCOL_CONNECTION_LOST, timeouts. A retry on a new connection can succeed.
  return ApplicationFailure.create({ type: code || e?.name || 'TransientError', message });
}
