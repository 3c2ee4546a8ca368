export { incrementalSyncWorkflow } from './incremental-sync';
export { syncBatchWorkflow } from './sync-batch';
export { syncTableWorkflow } from './sync-table';
export { verifyWorkflow } from './verify';
export { resetStateWorkflow } from './reset-state';
export { setModeWorkflow } from './set-mode';
export { tableStatusWorkflow } from './table-status';
export { planSyncWorkflow } from './plan-sync';
