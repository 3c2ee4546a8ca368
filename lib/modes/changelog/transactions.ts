import { TablesyncError } from '../../errors';
import type { DialectName, SourceConnection } from '../../sources/base';

// Log rows commit in any order: a transaction can take log position 10, stay
// open, and commit after another has committed position 11 and a run has read
// it. Positions are taken in increasing order when the log row is written (a
// sequence, AUTO_INCREMENT, IDENTITY, the statement's clock), so every
// position not visible yet at or below the largest one read belongs to a
// transaction that was writing at that moment. A run therefore lists the
// source's writing transactions just after it reads the log's largest
// position, and saves that position only once every one of them has ended
// before its reads; otherwise it saves the position it started from, and the
// next run reads again from there (applying a row again changes nothing).

/** The source's open transactions that have written something, other than this session's; ids stable for a transaction's life. */
const OPEN_WRITERS: Record<DialectName, { sql: string; privilege: string }> = {
  // backend_xid is set from a transaction's first write, and every role may read it; only this database's sessions.
  postgres: {
    sql: `SELECT pid::text || '/' || backend_xid::text AS id FROM pg_stat_activity
      WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()`,
    privilege: 'pg_stat_activity',
  },
  // InnoDB lists every transaction; one that has written a row has modified one (needs PROCESS).
  mysql: {
    sql: `SELECT CAST(trx_id AS CHAR) AS id FROM information_schema.INNODB_TRX
      WHERE trx_mysql_thread_id <> CONNECTION_ID() AND trx_rows_modified > 0`,
    privilege: 'the PROCESS privilege (information_schema.INNODB_TRX)',
  },
  // A transaction has a begin LSN in this database once it has written to it (needs VIEW SERVER STATE).
  mssql: {
    sql: `SELECT CONVERT(varchar(40), t.transaction_id) AS id FROM sys.dm_tran_database_transactions t
      JOIN sys.dm_tran_session_transactions s ON s.transaction_id = t.transaction_id
      WHERE t.database_id = DB_ID() AND t.database_transaction_begin_lsn IS NOT NULL AND s.session_id <> @@SPID`,
    privilege: 'VIEW SERVER STATE (sys.dm_tran_database_transactions)',
  },
};

/** How long a run waits for the writers open when it read the log's largest position (then it keeps its start position). */
export const SETTLE_MS = 5_000;
const POLL_MS = 200;

const PERMISSION = new Set([1227, 297, 300, 262]);

async function openWriters(source: SourceConnection, table: string): Promise<string[]> {
  const { sql, privilege } = OPEN_WRITERS[source.dialect.name];
  try {
    return (await source.queryRows(sql, [])).map((r) => String(r.id));
  } catch (err) {
    const e = err as { errno?: number; number?: number; code?: string };
    if (PERMISSION.has(e.errno ?? e.number ?? 0) || e.code === '42501') {
      throw new TablesyncError(
        'PermissionDenied',
        `${table}: change-log mode reads which transactions are still writing, so a log row that commits late is never skipped; it needs ${privilege}: ${(err as Error).message}`,
      );
    }
    throw err;
  }
}

/**
 * Called just after the log's largest position was read: whether every
 * transaction writing then has ended (waiting up to `settleMs` for them), so
 * every log row at or below that position is now committed or never will be.
 */
export async function writersSettled(source: SourceConnection, table: string, settleMs = SETTLE_MS): Promise<boolean> {
  const open = new Set(await openWriters(source, table));
  const deadline = Date.now() + settleMs;
  while (open.size) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const now = new Set(await openWriters(source, table));
    for (const id of open) if (!now.has(id)) open.delete(id);
  }
  return true;
}
