import { qualifyPg } from '../target/sql';
import type { TableRef } from '../types';

export const GENERATIONS_TABLE = '_tablesync_generations';

/**
 * One row per target table: which sync last claimed it. A sync claims the
 * tables it will write before it reads any source row, and every transaction
 * that writes a target table first reads this row FOR SHARE: a commit of an
 * older claim fails, and a newer claim waits behind a running commit.
 */
export function generationsTableSql(stateSchema: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifyPg({ schema: stateSchema, name: GENERATIONS_TABLE })} (
  target_schema text NOT NULL,
  target_table text NOT NULL,
  generation bigint NOT NULL,
  workflow_id text NOT NULL,
  run_id text NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (target_schema, target_table)
)`;
}

/**
 * Claims a target table for one sync run and returns its generation: a new
 * run bumps it, the same run (a retried attempt) keeps the one it has.
 */
export function claimGenerationSql(
  stateSchema: string,
  target: TableRef,
  run: { workflowId: string; runId: string },
): { text: string; values: string[] } {
  const t = qualifyPg({ schema: stateSchema, name: GENERATIONS_TABLE });
  return {
    text: `INSERT INTO ${t} AS g (target_schema, target_table, generation, workflow_id, run_id)
      VALUES ($1, $2, 1, $3, $4)
      ON CONFLICT (target_schema, target_table) DO UPDATE
      SET generation = CASE WHEN g.workflow_id = EXCLUDED.workflow_id AND g.run_id = EXCLUDED.run_id
                            THEN g.generation ELSE g.generation + 1 END,
          claimed_at = CASE WHEN g.workflow_id = EXCLUDED.workflow_id AND g.run_id = EXCLUDED.run_id
                            THEN g.claimed_at ELSE clock_timestamp() END,
          workflow_id = EXCLUDED.workflow_id, run_id = EXCLUDED.run_id
      RETURNING generation::text AS generation`,
    values: [target.schema, target.name, run.workflowId, run.runId],
  };
}

/**
 * claimGenerationSql for many target tables (distinct) in one statement:
 * rows of target_schema, target_table, generation. It takes the rows in
 * name order, each waiting as the one-table claim does for a commit that
 * holds it; a writer holds one claim at a time, so no two wait on each other.
 */
export function claimGenerationsSql(
  stateSchema: string,
  targets: TableRef[],
  run: { workflowId: string; runId: string },
): { text: string; values: unknown[] } {
  const t = qualifyPg({ schema: stateSchema, name: GENERATIONS_TABLE });
  return {
    text: `INSERT INTO ${t} AS g (target_schema, target_table, generation, workflow_id, run_id)
      SELECT w.s, w.n, 1, $3, $4 FROM unnest($1::text[], $2::text[]) AS w(s, n) ORDER BY w.s, w.n
      ON CONFLICT (target_schema, target_table) DO UPDATE
      SET generation = CASE WHEN g.workflow_id = EXCLUDED.workflow_id AND g.run_id = EXCLUDED.run_id
                            THEN g.generation ELSE g.generation + 1 END,
          claimed_at = CASE WHEN g.workflow_id = EXCLUDED.workflow_id AND g.run_id = EXCLUDED.run_id
                            THEN g.claimed_at ELSE clock_timestamp() END,
          workflow_id = EXCLUDED.workflow_id, run_id = EXCLUDED.run_id
      RETURNING target_schema, target_table, generation::text AS generation`,
    values: [targets.map((x) => x.schema), targets.map((x) => x.name), run.workflowId, run.runId],
  };
}

/** The table's current claim, locked FOR SHARE until the transaction ends. */
export function lockGenerationSql(stateSchema: string, target: TableRef): { text: string; values: string[] } {
  const t = qualifyPg({ schema: stateSchema, name: GENERATIONS_TABLE });
  return {
    text: `SELECT generation::text AS generation, workflow_id FROM ${t} WHERE target_schema = $1 AND target_table = $2 FOR SHARE`,
    values: [target.schema, target.name],
  };
}

/** lockGenerationSql of many target tables: rows of target_schema, target_table, generation, workflow_id, locked in name order. */
export function lockGenerationsSql(stateSchema: string, targets: TableRef[]): { text: string; values: unknown[] } {
  const t = qualifyPg({ schema: stateSchema, name: GENERATIONS_TABLE });
  return {
    text: `SELECT g.target_schema, g.target_table, g.generation::text AS generation, g.workflow_id
      FROM ${t} g JOIN unnest($1::text[], $2::text[]) AS w(s, n) ON g.target_schema = w.s AND g.target_table = w.n
      ORDER BY g.target_schema, g.target_table FOR SHARE OF g`,
    values: [targets.map((x) => x.schema), targets.map((x) => x.name)],
  };
}
