// Everything tablesync runs in the target, in one place: the tables it
// creates and swaps (ddl), how staged rows are applied (apply), and the names
// it gives its own tables (names). State tables are in ../state.
export * from './apply';
export * from './columns';
export * from './ddl';
export * from './names';
export * from './cursor';
export * from './soft-deletes';
export * from './changelog';
export * from './digests';
export * from './backfill';
