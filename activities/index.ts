import { createBatchActivities } from './batches';
import { createCdcActivities } from './cdc';
import type { ActivityDeps } from './context';
import { withCheckedInput } from './input-guard';
import { createLoadingActivities } from './loading';
import { createNotifyActivities } from './notify';
import { createOperationActivities } from './operations';
import { defaultIdentity, withPinnedConnections } from './pins';
import { createPlanningActivities } from './planning';
import { createReportingActivities } from './reporting';
import { createTransferActivities } from './transfer';
import { createVerificationActivities } from './verification';

// The activities, one file per role: planning (initializeState,
// discoverTables, createSyncTasks), loading (createLoadTable, swapLoadTable,
// dropLoadTable), transfer (syncPartition), verification (checksumRanges) and
// reporting (collectResults), notification (notifyWebhook), operations on table state (resetTableState,
// setTableMode, readTableStatus). Every one checks its input (input-guard.ts)
// and the sync's connection pins first.

export type { BatchResult, BatchTotals, ReadBatchResultsInput, ReadBatchResultsResult } from './batches';
export type { ApplyCdcBatchInput, ApplyCdcBatchResult, CdcStatus, CdcStreamInput, StartCdcResult } from './cdc';
export type { ActivityDeps, LoadTableInput, RunKey } from './context';
export type { CreateLoadTableInput, CreateLoadTableResult, SwapLoadTableResult } from './loading';
export { defaultIdentity } from './pins';
export type { CreateSyncTasksInput, DiscoverTablesInput, DiscoverTablesResult, InitializeStateInput, InitializeStateResult } from './planning';
export type { CollectResultsInput } from './reporting';
export type { NotifyWebhookInput, NotifyWebhookResult } from './notify';
export type { ResetStateInput, SetModeInput, SetModeResult, StateChange, TableStatus, TableStatusInput } from './operations';
export type { SyncPartitionInput, SyncSmallTablesInput, SyncSmallTablesResult } from './transfer';
export type { ChecksumRangesInput, FindDifferencesInput } from './verification';

export function createActivities(deps: ActivityDeps) {
  const identity = deps.identity ?? defaultIdentity();
  // Input checked first (schema, connection roles, plan types), then the connection pins.
  const pinned = withPinnedConnections(
    {
      ...createPlanningActivities({ ...deps, identity }),
      ...createLoadingActivities(deps),
      ...createTransferActivities(deps),
      ...createVerificationActivities(deps),
      ...createReportingActivities(),
      ...createNotifyActivities(deps.env ?? process.env, identity),
      ...createBatchActivities(deps),
      ...createOperationActivities(deps),
      ...createCdcActivities(deps),
    },
    deps.connections,
    identity,
  );
  return withCheckedInput(pinned, deps.connections);
}

export type Activities = ReturnType<typeof createActivities>;
