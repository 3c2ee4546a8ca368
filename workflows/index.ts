export { incrementalSyncWorkflow } from './incremental-sync';
export { syncBatchWorkflow } from './sync-batch';
export { syncTableWorkflow } from './sync-table';
export { verifyWorkflow } from './verify';
