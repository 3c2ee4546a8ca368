import type { SyncConfig } from '../lib/config';
import type { FailedTable, SkippedTable } from '../lib/types';
import { catalogActivities } from './options';

export interface PlanSyncResult {
  /** The plan lines a run would log: schema changes it would make, backfills it would run, notes. */
  plan: string[];
  tables: string[];
  skipped: SkippedTable[];
  failed: FailedTable[];
}

/**
 * run --dry-run: plans the sync (discovery only) and writes nothing: no
 * state tables, no claims, no ALTERs, no rows. The CLI validated the config;
 * discoverTables checks it again in the worker (input from a workflow start
 * is anyone's: see activities/input-guard.ts).
 */
export async function planSyncWorkflow(config: SyncConfig): Promise<PlanSyncResult> {
  const { tables, skipped, failed, plan } = await catalogActivities(config).discoverTables({ config, claim: false, dryRun: true });
  return { plan: plan ?? [], tables: tables.map((t) => `${t.source.schema}.${t.source.name}`), skipped, failed: failed ?? [] };
}
