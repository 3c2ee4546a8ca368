import { TablesyncError } from '../../errors';
import { qualify, type DialectName, type SourceConnection } from '../../sources/base';
import type { TableRef } from '../../types';

// Log rows commit in any order: a transaction can take log position 10, stay
// open, and commit after another has committed position 11 and a run has read
// it. Positions are taken in increasing order when the log row is written (a
// sequence, AUTO_INCREMENT, IDENTITY, the statement's clock), so every
// position not visible yet at or below the largest one read belongs to a
// transaction that was writing the log at that moment. A run therefore lists
// the transactions writing the log just after it reads the log's largest
// position, and saves that position only once every one of them has ended
// before its reads; otherwise it saves the position it started from, and the
// next run reads again from there (applying a row again changes nothing).

/** A write lock on a table, in PostgreSQL's names: what an INSERT takes before it evaluates the position's default. */
const PG_WRITE_LOCKS = `('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')`;

/**
 * The source's open transactions writing the log (its name bound as the
 * first value, quoted as the dialect quotes it), other than this session's;
 * ids stable for a transaction's life. Where a dialect lists several
 * statements, the first one the server answers is used.
 */
const OPEN_WRITERS: Record<DialectName, { sql: string[]; named: boolean; privilege: string }> = {
  // A writer holds a write lock on the log from the start of its INSERT to its end; pg_locks is readable by every role.
  postgres: {
    sql: [
      `SELECT DISTINCT virtualtransaction AS id FROM pg_locks
      WHERE locktype = 'relation' AND relation = $1::regclass AND mode IN ${PG_WRITE_LOCKS} AND pid <> pg_backend_pid()`,
    ],
    named: true,
    privilege: 'pg_locks',
  },
  // InnoDB tells no table of a transaction's locks unless they are waited for: every transaction that has written a row counts (needs PROCESS).
  mysql: {
    sql: [
      `SELECT CAST(trx_id AS CHAR) AS id FROM information_schema.INNODB_TRX
      WHERE trx_mysql_thread_id <> CONNECTION_ID() AND trx_rows_modified > 0`,
    ],
    named: false,
    privilege: 'the PROCESS privilege (information_schema.INNODB_TRX)',
  },
  // SQL Server: an intent-exclusive (or stronger) lock on the log, held by the transaction (needs VIEW SERVER STATE).
  // Babelfish has no sys.dm_tran_* views; its T-SQL reads PostgreSQL's pg_locks, where OBJECT_ID is the table's oid and @@SPID the backend's pid.
  mssql: {
    sql: [
      `SELECT DISTINCT CONVERT(varchar(40), request_owner_id) AS id FROM sys.dm_tran_locks
      WHERE resource_type = 'OBJECT' AND resource_database_id = DB_ID() AND resource_associated_entity_id = OBJECT_ID(@p1)
        AND request_mode IN ('IX', 'SIX', 'X') AND request_session_id <> @@SPID`,
      `SELECT DISTINCT virtualtransaction AS id FROM pg_catalog.pg_locks
      WHERE locktype = 'relation' AND relation = OBJECT_ID(@p1) AND mode IN ${PG_WRITE_LOCKS} AND pid <> @@SPID`,
    ],
    named: true,
    privilege: 'VIEW SERVER STATE (sys.dm_tran_locks)',
  },
};

/** How long a run waits for the writers open when it read the log's largest position (then it keeps its start position). */
export const SETTLE_MS = 5_000;
const POLL_MS = 200;

const PERMISSION = new Set([1227, 297, 300, 262]);

/** Per source connection: which of its dialect's statements answered. */
const answered = new WeakMap<SourceConnection, string>();

async function openWriters(source: SourceConnection, log: TableRef, table: string): Promise<string[]> {
  const { sql, named, privilege } = OPEN_WRITERS[source.dialect.name];
  const params = named ? [qualify(source.dialect, log)] : [];
  const known = answered.get(source);
  let first: unknown = null;
  for (const statement of known ? [known] : sql) {
    try {
      const rows = await source.queryRows(statement, params);
      answered.set(source, statement);
      return rows.map((r) => String(r.id));
    } catch (err) {
      first ??= err;
    }
  }
  const e = first as { errno?: number; number?: number; code?: string; message?: string };
  if (PERMISSION.has(e.errno ?? e.number ?? 0) || e.code === '42501') {
    throw new TablesyncError(
      'PermissionDenied',
      `${table}: change-log mode reads which transactions are still writing, so a log row that commits late is never skipped; it needs ${privilege}: ${e.message}`,
    );
  }
  throw first;
}

/**
 * Called just after the log's largest position was read: whether every
 * transaction writing then has ended (waiting up to `settleMs` for them), so
 * every log row at or below that position is now committed or never will be.
 */
export async function writersSettled(source: SourceConnection, log: TableRef, table: string, settleMs = SETTLE_MS): Promise<boolean> {
  const open = new Set(await openWriters(source, log, table));
  const deadline = Date.now() + settleMs;
  while (open.size) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const now = new Set(await openWriters(source, log, table));
    for (const id of open) if (!now.has(id)) open.delete(id);
  }
  return true;
}
