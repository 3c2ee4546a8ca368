export { startSync, startVerify, runSync, defaultWorkflowId, type StartSyncOptions } from './start';
export { createWorker, bundleWorkflows } from '../workers/worker';
export { parseConfigFile, syncConfigOf, type SyncConfig, type SyncConfigInput } from '../lib/config';
export type { SyncSummary, TableResult } from '../lib/types';
export * from './schedules';
export { readProgress, type LiveProgress, type LiveTableProgress } from './progress';
export type { SyncProgress, TableProgress } from '../workflows/progress';
export { resetState, setMode, tableStatus, startResetState, startSetMode, startTableStatus } from './operations';
export type { SetModeResult, StateChange, TableStatus } from '../activities';
