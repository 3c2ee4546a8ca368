import type { Pool, PoolClient } from 'pg';
import type { SyncConfig } from '../lib/config';
import { claimGenerationSql, claimGenerationsSql, generationsTableSql, GENERATIONS_TABLE, lockGenerationSql } from '../lib/state';
import { displayName } from '../lib/tables';
import type { TablePlan } from '../lib/types';
import { ensureStateTable } from './context';
import { classifyError, nonRetryable } from './errors';

/** Target tables claimed a statement. */
const CLAIM_CHUNK = 1_000;

/** Who claims: the sync run; absent (histories from before) or claim: false (verify without repair) claims nothing. */
export interface ClaimInput {
  syncWorkflowId?: string;
  syncRunId?: string;
  claim?: boolean;
}

/**
 * Claims every planned table for this run and records the generation in its
 * plan. Each claim is one statement: it waits for a commit of an older run
 * that holds the row FOR SHARE, and from then on that run cannot commit.
 */
export async function claimGenerations(target: Pool, config: SyncConfig, tables: TablePlan[], input: ClaimInput): Promise<void> {
  if (!input.syncWorkflowId || !input.syncRunId || input.claim === false || tables.length === 0) return;
  const run = { workflowId: input.syncWorkflowId, runId: input.syncRunId };
  const stateSchema = config.target.stateSchema;
  try {
    await ensureStateTable(target, stateSchema, GENERATIONS_TABLE, generationsTableSql(stateSchema));
    if (tables.length === 1) {
      const claimed = await target.query(claimGenerationSql(stateSchema, tables[0].target, run));
      tables[0].generation = Number(claimed.rows[0].generation);
      return;
    }
    // Many tables: a statement per CLAIM_CHUNK of them, not one per table (targets are distinct: collisions were refused).
    for (let i = 0; i < tables.length; i += CLAIM_CHUNK) {
      const part = tables.slice(i, i + CLAIM_CHUNK);
      const claimed = await target.query(claimGenerationsSql(stateSchema, part.map((t) => t.target), run));
      const generations = new Map<string, number>(claimed.rows.map((r) => [JSON.stringify([r.target_schema, r.target_table]), Number(r.generation)]));
      for (const table of part) table.generation = generations.get(JSON.stringify([table.target.schema, table.target.name]));
    }
  } catch (err) {
    throw classifyError(err, `claim_generations in target "${config.target.connection}"`);
  }
}

/**
 * Inside a transaction that writes the plan's target table: holds the
 * table's claim FOR SHARE until COMMIT and fails with Superseded when a
 * newer sync has claimed the table since this plan was made.
 */
export async function checkGeneration(client: PoolClient, config: SyncConfig, table: TablePlan): Promise<void> {
  if (table.generation === undefined) return;
  const row = (await client.query(lockGenerationSql(config.target.stateSchema, table.target))).rows[0];
  if (row && Number(row.generation) === table.generation) return;
  const why = row
    ? `was claimed by a newer sync, ${row.workflow_id} (generation ${row.generation}; this run has ${table.generation})`
    : `lost this run's claim (generation ${table.generation})`;
  throw nonRetryable('Superseded', `${displayName(table.target)} ${why}: this run's write to it is not committed`);
}
