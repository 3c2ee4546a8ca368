import { log } from '@temporalio/activity';
import type { Pool } from 'pg';
import { ConfigError, parseSyncConfig, type SyncConfig } from '../lib/config';
import { resolveTableSpecs, targetCollisions } from '../lib/discovery';
import { TablesyncError } from '../lib/errors';
import { planUserTypes, readColumnTypes } from '../lib/pg-user-types';
import { planPartitions } from '../lib/planner';
import type { SourceConnection } from '../lib/sources/base';
import { PostgresSource, pgCatalog } from '../lib/sources/postgres';
import { generationsTableSql, stateTableSql, stateUpgradeCheckSql, STATE_UPGRADE_COLUMNS } from '../lib/state';
import {
  planCompareColumns,
  planFullColumns,
  refuseLossyColumns,
  shortenedNameNotes,
  tableNameNotes,
  targetRefOf,
} from '../lib/table-plan';
import { displayName } from '../lib/tables';
import { advisoryXactLockSql, planSoftDeletes, softDeleteColumns, targetKey } from '../lib/target';
import type { FailedTable, SkippedTable, SyncTask, TablePlan, TableRef } from '../lib/types';
import { inTransaction, type ActivityDeps } from './context';
import { classifyError, nonRetryable } from './errors';
import { claimGenerations, type ClaimInput } from './generations';

// Planning: validate the config and create the state tables, decide per
// table how it syncs (or why it fails or is skipped), and cut tables into
// key-range partitions.

export interface InitializeStateInput {
  config: unknown;
}
export interface InitializeStateResult {
  config: SyncConfig;
}
export interface DiscoverTablesInput extends ClaimInput {
  config: SyncConfig;
}
export interface DiscoverTablesResult {
  tables: TablePlan[];
  skipped: SkippedTable[];
  /** Tables refused at discovery (unknown, unsupported type, name collision…); every other table still syncs. */
  failed?: FailedTable[];
  /** What patterns matched and left out, names shortened: said before any row moves. */
  plan?: string[];
}
export interface CreateSyncTasksInput {
  config: SyncConfig;
  tables: TablePlan[];
}

/** Error types that say the source or target as a whole is unusable: the run fails, not one table. */
const RUN_WIDE_ERRORS = new Set(['AuthenticationFailed', 'HostNotFound', 'UnknownDatabase', 'UnknownConnection']);

/** Plans one table: how it syncs, which columns, or why it is skipped. Throws what fails this table alone. */
async function planTable(
  source: SourceConnection,
  target: Pool,
  config: SyncConfig,
  ref: TableRef,
  write: boolean,
): Promise<{ plan: TablePlan } | { skip: string }> {
  const name = displayName(ref);
  const described = await source.describeTable(ref);
  if (!described) {
    throw new TablesyncError('UnknownTable', `Source table ${name} does not exist in "${config.source.connection}"`);
  }
  if (described.primaryKey.length === 0) return { skip: 'no primary key' };
  const targetRef = targetRefOf(config, ref);
  const targetTable = await pgCatalog.describeTable(target, targetRef);
  const hasRows = targetTable !== null && (await pgCatalog.hasRows(target, targetRef));
  const keyType = described.columns.find((c) => c.name === described.primaryKey[0])!.type;
  const notes = [...tableNameNotes(config.target.naming, ref), ...shortenedNameNotes(config.target.naming, described)];
  const base = {
    source: ref,
    target: targetRef,
    primaryKey: described.primaryKey,
    integerKey: described.primaryKey.length === 1 && source.dialect.isIntegerType(keyType),
  };
  if (config.mode === 'full' || (config.mode === 'auto' && !hasRows)) {
    const columns = planFullColumns(source.dialect, config, described);
    const why = !targetTable ? 'target table is missing' : !hasRows ? 'target table is empty' : 'mode: full';
    log.info(`${name}: full load into ${displayName(targetRef)} (${why})`);
    const plan = await planSoftDeletes(target, config, { ...base, mode: 'full', columns, notes }, described, targetTable, write);
    return { plan: await withUserTypes(source, target, config, plan) };
  }
  if (!targetTable) return { skip: `target table ${displayName(targetRef)} does not exist (run a full migration first)` };
  if (!hasRows) return { skip: `target table ${displayName(targetRef)} is empty (run a full migration first)` };
  const softColumns = config.deletes === 'soft' ? softDeleteColumns(config.softDeleteColumn) : [];
  const compared = planCompareColumns(config.target.naming, described, targetTable, softColumns);
  if (compared.missingKeys.length) {
    return { skip: `target table ${displayName(targetRef)} lacks key column(s) ${compared.missingKeys.join(', ')}` };
  }
  const wantedKey = targetKey(compared.columns, described.primaryKey);
  const sameKey =
    targetTable.primaryKey.length === wantedKey.length && wantedKey.every((k) => targetTable.primaryKey.includes(k));
  if (!sameKey) {
    return {
      skip: `target primary key (${targetTable.primaryKey.join(', ') || 'none'}) differs from source primary key (${described.primaryKey.join(', ')})`,
    };
  }
  refuseLossyColumns(source.dialect, config, described, compared.columns);
  for (const note of compared.notes) log.info(`${name}: ${note}`);
  const plan = { ...base, mode: 'compare' as const, columns: compared.columns, notes: [...notes, ...compared.notes] };
  // Last: it may add columns to the target, so only once nothing else can refuse the table.
  return { plan: await planSoftDeletes(target, config, await withUserTypes(source, target, config, plan), described, targetTable, write) };
}

/** A PostgreSQL source's user types: created in the target by full loads, checked against it here. */
async function withUserTypes(source: SourceConnection, target: Pool, config: SyncConfig, plan: TablePlan): Promise<TablePlan> {
  if (!(source instanceof PostgresSource)) return plan;
  return planUserTypes(await readColumnTypes(source.pool, plan.source), target, config, plan);
}

export function createPlanningActivities({ connections, identity }: ActivityDeps & { identity: string }) {
  return {
    async initializeState(input: InitializeStateInput): Promise<InitializeStateResult> {
      let config: SyncConfig;
      try {
        config = parseSyncConfig(input.config);
      } catch (err) {
        if (err instanceof ConfigError) throw nonRetryable(err.type, err.message);
        throw err;
      }
      connections.dialect(config.source.connection);
      // Pin what each name means here; every later step checks it (see withPinnedConnections).
      config.pins = {};
      for (const name of new Set([config.source.connection, config.target.connection])) {
        config.pins[name] = { fingerprint: connections.fingerprint(name), worker: identity };
      }
      try {
        await inTransaction(connections, config.target.connection, async (client) => {
          // Concurrent syncs may create the table at the same moment.
          await client.query(advisoryXactLockSql('tablesync._migration_state'));
          const [create, upgrade] = stateTableSql(config.target.stateSchema);
          await client.query(create);
          // ALTER needs ownership: run it only when an older version made the table.
          const have = await client.query(stateUpgradeCheckSql(config.target.stateSchema));
          if (have.rows[0].n < STATE_UPGRADE_COLUMNS.length) await client.query(upgrade);
          await client.query(generationsTableSql(config.target.stateSchema));
        });
      } catch (err) {
        throw classifyError(err, `initialize_state in target "${config.target.connection}"`);
      }
      return { config };
    },

    async discoverTables({ config, ...claim }: DiscoverTablesInput): Promise<DiscoverTablesResult> {
      const source = connections.source(config.source.connection);
      const target = connections.pg(config.target.connection);
      const planned: TablePlan[] = [];
      const skipped: SkippedTable[] = [];
      const failed: FailedTable[] = [];
      let plan: string[] = [];
      try {
        const resolution = resolveTableSpecs(
          config.tables,
          config.source.schema ?? source.dialect.defaultSchema,
          await source.listTables(),
          config.source.connection,
          await source.nameRule(),
        );
        plan = resolution.plan;
        failed.push(...resolution.failed);
        log.info(`Found ${resolution.refs.length} tables in source "${config.source.connection}"`);
        for (const ref of resolution.refs) {
          try {
            // Only a run that writes (not verify without --repair) may add columns to the target.
            const outcome = await planTable(source, target, config, ref, claim.claim !== false);
            if ('skip' in outcome) {
              log.warn(`Skipping ${displayName(ref)}: ${outcome.skip}`);
              skipped.push({ table: displayName(ref), reason: outcome.skip });
            } else planned.push(outcome.plan);
          } catch (err) {
            // One bad table fails alone; what no table could survive (lost
            // connections, bad credentials) still fails or retries the step.
            // TablesyncErrors name their table already; driver errors get it put in front.
            const failure = err instanceof TablesyncError ? nonRetryable(err.type, err.message) : classifyError(err, displayName(ref));
            if (!failure.nonRetryable || RUN_WIDE_ERRORS.has(failure.type ?? '')) throw err;
            failed.push({ table: displayName(ref), target: displayName(targetRefOf(config, ref)), type: failure.type ?? 'Error', reason: failure.message });
          }
        }
      } catch (err) {
        throw classifyError(err, `discover_tables in source "${config.source.connection}"`);
      }
      const { kept: tables, failed: collided } = targetCollisions(planned);
      failed.push(...collided);
      for (const t of tables) plan.push(...t.notes.filter((n) => n.includes("PostgreSQL's 63 bytes")).map((n) => `${displayName(t.source)}: ${n}`));
      for (const line of plan) log.info(line);
      for (const f of failed) log.warn(`${f.table} failed: ${f.reason}`);
      log.info(`Prepared ${tables.length} tables for sync`);
      await claimGenerations(target, config, tables, claim);
      return { tables, skipped, failed, plan };
    },

    async createSyncTasks({ config, tables }: CreateSyncTasksInput): Promise<SyncTask[]> {
      const source = connections.source(config.source.connection);
      const tasks: SyncTask[] = [];
      for (const table of tables) {
        try {
          const estimatedRows = await source.estimateRows(table.source);
          let bounds: { min: string | null; max: string | null } = { min: null, max: null };
          if (table.integerKey && (estimatedRows >= config.partitionThreshold || estimatedRows > config.batchSize)) {
            bounds = await source.keyBounds(table.source, table.primaryKey[0]);
          }
          const partitions = planPartitions({
            estimatedRows,
            integerKey: table.integerKey,
            ...bounds,
            threshold: config.partitionThreshold,
            maxPartitions: config.maxPartitionsPerTable,
            rowsPerPartition: config.rowsPerPartition,
          });
          if (partitions.length > 1) {
            log.info(`${displayName(table.source)}: ~${estimatedRows} rows in ${partitions.length} partitions`);
          }
          tasks.push({ table, estimatedRows, keyMin: bounds.min, keyMax: bounds.max, partitions });
        } catch (err) {
          throw classifyError(err, `create_sync_tasks for ${displayName(table.source)}`);
        }
      }
      return tasks;
    },
  };
}
