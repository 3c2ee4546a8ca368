import { qualifyPg } from '../target/sql';

// _tablesync_batches: a sync of many tables keeps each batch's table names
// and, once the batch ends, its per-table results here, so neither travels
// through the sync workflow's history (which a sync of 100,000 tables would
// fill: Temporal's 2 MB payload and 50 MB history limits). Batch 0 holds what
// discovery refused and planned before any batch. Rows are dropped a week on.

export const BATCHES_TABLE = '_tablesync_batches';

/** How long a run's batches (and so its full summary) are kept. */
export const BATCHES_KEPT = '7 days';

export function batchesTableSql(stateSchema: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifyPg({ schema: stateSchema, name: BATCHES_TABLE })} (
  workflow_id text NOT NULL,
  run_id text NOT NULL,
  batch integer NOT NULL,
  tables jsonb NOT NULL,
  result jsonb,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (workflow_id, run_id, batch)
)`;
}

/** Batches of one run: their numbers from $3 and their table names (JSON arrays) from $4, as arrays. */
export function saveBatchesSql(stateSchema: string): string {
  const t = qualifyPg({ schema: stateSchema, name: BATCHES_TABLE });
  return `INSERT INTO ${t} (workflow_id, run_id, batch, tables, result)
    SELECT $1, $2, b, t::jsonb, CASE WHEN b = 0 THEN $5::jsonb END FROM unnest($3::int[], $4::text[]) AS u(b, t)
    ON CONFLICT (workflow_id, run_id, batch) DO UPDATE SET tables = EXCLUDED.tables, result = EXCLUDED.result`;
}

export function pruneBatchesSql(stateSchema: string): string {
  return `DELETE FROM ${qualifyPg({ schema: stateSchema, name: BATCHES_TABLE })} WHERE created_at < clock_timestamp() - interval '${BATCHES_KEPT}'`;
}

export function batchTablesSql(stateSchema: string): string {
  return `SELECT tables FROM ${qualifyPg({ schema: stateSchema, name: BATCHES_TABLE })} WHERE workflow_id = $1 AND run_id = $2 AND batch = $3`;
}

export function saveBatchResultSql(stateSchema: string): string {
  return `UPDATE ${qualifyPg({ schema: stateSchema, name: BATCHES_TABLE })} SET result = $4::jsonb WHERE workflow_id = $1 AND run_id = $2 AND batch = $3`;
}

/** Results of batches $3 ≤ batch < $4, in order, with their sizes (to page by bytes). */
export function batchResultsSql(stateSchema: string): string {
  return `SELECT batch, result::text AS result FROM ${qualifyPg({ schema: stateSchema, name: BATCHES_TABLE })}
    WHERE workflow_id = $1 AND run_id = $2 AND batch >= $3 AND batch < $4 ORDER BY batch`;
}

// A cdc step's result is kept here too, as batch -N for the run's activity N:
// saved in the transaction that applies the step's changes, so a retried step
// whose earlier attempt committed (its result lost with its worker) reports
// that attempt's counts rather than the skips its own read would count. Batch
// numbers of syncs are never negative.

/** The cdc step $3 (minus its activity's sequence number) of run $2, its tables $4 and result $5; drops the workflow's earlier steps' (their results reached it). */
export function saveCdcStepSql(stateSchema: string): string {
  const t = qualifyPg({ schema: stateSchema, name: BATCHES_TABLE });
  return `WITH delivered AS (DELETE FROM ${t} WHERE workflow_id = $1 AND batch < 0 AND (run_id <> $2 OR batch > $3))
    INSERT INTO ${t} (workflow_id, run_id, batch, tables, result) VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)
    ON CONFLICT (workflow_id, run_id, batch) DO UPDATE SET tables = EXCLUDED.tables, result = EXCLUDED.result`;
}

export function cdcStepSql(stateSchema: string): string {
  return `SELECT result FROM ${qualifyPg({ schema: stateSchema, name: BATCHES_TABLE })} WHERE workflow_id = $1 AND run_id = $2 AND batch = $3`;
}
