import { TablesyncError } from '../../errors';
import { everyRow } from '../every-row';
import type { SyncMode } from '../types';
import { cdcTraits } from './traits';

// The cdc workflow's steps import plan.ts and apply.ts themselves: plan.ts needs ../index, which needs this file.

const notRun = () => {
  throw new TablesyncError('InvalidConfig', 'mode cdc tables are synced by the cdc workflow (tablesync cdc start), not by a run');
};

/**
 * cdc: the source's own change log (a PostgreSQL replication slot). A sync
 * run leaves these tables alone: one cdcWorkflow per config takes a snapshot
 * of all of them consistent with its stream's start, then applies the
 * stream's transactions in batches (plan.ts, apply.ts; workflows/cdc.ts).
 */
export const cdcMode: SyncMode = {
  ...cdcTraits,
  ...everyRow,
  plan: async () => ({ skip: 'mode cdc: synced by the cdc workflow (tablesync cdc start), not by a run' }),
  createsTarget: true,
  destination: (_table, { staging }) => staging,
  prepareChunk: async () => notRun(),
  applyChunk: async () => notRun(),
};
