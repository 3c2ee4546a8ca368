export { incrementalSyncWorkflow } from './incremental-sync';
export { syncTableWorkflow } from './sync-table';
export { verifyWorkflow } from './verify';
export { planSyncWorkflow } from './plan-sync';
