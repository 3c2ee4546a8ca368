// The state tablesync keeps in the target: the run/partition history
// (_migration_state) and each target table's claim (_tablesync_generations).
export * from './generations';
export * from './migration-state';
export * from './tables';
export * from './batches';
