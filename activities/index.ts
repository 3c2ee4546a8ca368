import { pipeline } from 'node:stream/promises';
import { Context, log } from '@temporalio/activity';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { ConfigError, parseSyncConfig, type SyncConfig } from '../lib/config';
import { planPartitions } from '../lib/planner';
import type { SourceConnection, SourceTable } from '../lib/sources/base';
import { pgCatalog } from '../lib/sources/postgres';
import { summarize } from '../lib/summary';
import { displayName, isPattern, matchesPattern, parseTableName } from '../lib/tables';
import {
  copyIntoStagingSql,
  createStagingSql,
  dropStagingSql,
  markCompletedSql,
  markFailedSql,
  markRunningSql,
  stagingName,
  truncateStagingSql,
  stateTableSql,
  upsertSql,
  type StateKey,
} from '../lib/target-sql';
import type {
  ColumnPlan,
  PartitionRange,
  PartitionResult,
  SkippedTable,
  SyncSummary,
  SyncTask,
  TablePlan,
  TableRef,
  TableResult,
} from '../lib/types';
import type { ConnectionRegistry } from './connections';
import { classifyError, nonRetryable } from './errors';

export interface ActivityDeps {
  connections: ConnectionRegistry;
}

export interface InitializeStateInput {
  config: unknown;
}
export interface InitializeStateResult {
  config: SyncConfig;
}
export interface DiscoverTablesInput {
  config: SyncConfig;
}
export interface DiscoverTablesResult {
  tables: TablePlan[];
  skipped: SkippedTable[];
}
export interface CreateSyncTasksInput {
  config: SyncConfig;
  tables: TablePlan[];
}
export interface SyncPartitionInput {
  config: SyncConfig;
  table: TablePlan;
  range: PartitionRange;
  /** Workflow id and run id of the sync this partition belongs to (for _migration_state). */
  syncWorkflowId: string;
  syncRunId: string;
}
export interface CollectResultsInput {
  tables: TableResult[];
  skipped: SkippedTable[];
}

function targetRefOf(config: SyncConfig, source: TableRef): TableRef {
  return { schema: config.target.schema ?? source.schema, name: source.name };
}

/** Columns both sides have, in source order; the rest become notes. */
export function planColumns(
  source: SourceTable,
  target: SourceTable,
): { columns: ColumnPlan[]; notes: string[]; missingKeys: string[] } {
  const targetTypes = new Map(target.columns.map((c) => [c.name, c.type]));
  const sourceNames = new Set(source.columns.map((c) => c.name));
  const columns: ColumnPlan[] = [];
  const notes: string[] = [];
  for (const c of source.columns) {
    const targetType = targetTypes.get(c.name);
    if (targetType === undefined) notes.push(`column "${c.name}" is in the source only and is not synced`);
    else columns.push({ name: c.name, sourceType: c.type, targetType });
  }
  for (const c of target.columns) {
    if (!sourceNames.has(c.name)) notes.push(`column "${c.name}" is in the target only and keeps its values`);
  }
  const missingKeys = source.primaryKey.filter((k) => !targetTypes.has(k));
  return { columns, notes, missingKeys };
}

export function createActivities(deps: ActivityDeps) {
  const { connections } = deps;

  async function resolveTables(source: SourceConnection, config: SyncConfig): Promise<TableRef[]> {
    const defaultSchema = config.source.schema ?? source.dialect.defaultSchema;
    const seen = new Map<string, TableRef>();
    let listing: TableRef[] | null = null;
    for (const spec of config.tables) {
      let ref: TableRef;
      try {
        ref = parseTableName(spec, defaultSchema);
      } catch (err) {
        throw nonRetryable('InvalidConfig', `tables: ${(err as Error).message}`);
      }
      if (isPattern(ref)) {
        listing ??= await source.listTables();
        const matched = listing.filter((t) => matchesPattern(ref, t));
        if (matched.length === 0) {
          throw nonRetryable('UnknownTable', `tables: pattern "${spec}" matches no table in source "${config.source.connection}"`);
        }
        for (const t of matched) seen.set(displayName(t), t);
      } else {
        seen.set(displayName(ref), ref);
      }
    }
    return [...seen.values()];
  }

  return {
    async initializeState(input: InitializeStateInput): Promise<InitializeStateResult> {
      let config: SyncConfig;
      try {
        config = parseSyncConfig(input.config);
      } catch (err) {
        if (err instanceof ConfigError) throw nonRetryable(err.type, err.message);
        throw err;
      }
      const pool = connections.pg(config.target.connection);
      connections.dialect(config.source.connection);
      const client = await pool.connect().catch((err) => {
        throw classifyError(err, `target "${config.target.connection}"`);
      });
      try {
        await client.query('BEGIN');
        // Concurrent syncs may create the table at the same moment.
        await client.query(`SELECT pg_advisory_xact_lock(hashtext('tablesync._migration_state'))`);
        await client.query(stateTableSql(config.target.stateSchema));
        await client.query('COMMIT');
        client.release();
      } catch (err) {
        client.release(err as Error);
        throw classifyError(err, `initialize_state in target "${config.target.connection}"`);
      }
      return { config };
    },

    async discoverTables({ config }: DiscoverTablesInput): Promise<DiscoverTablesResult> {
      const source = connections.source(config.source.connection);
      const target = connections.pg(config.target.connection);
      const tables: TablePlan[] = [];
      const skipped: SkippedTable[] = [];
      try {
        const refs = await resolveTables(source, config);
        log.info(`Found ${refs.length} tables in source "${config.source.connection}"`);
        for (const ref of refs) {
          const name = displayName(ref);
          const skip = (reason: string) => {
            log.warn(`Skipping ${name}: ${reason}`);
            skipped.push({ table: name, reason });
          };
          const described = await source.describeTable(ref);
          if (!described) {
            throw nonRetryable('UnknownTable', `Source table ${name} does not exist in "${config.source.connection}"`);
          }
          if (described.primaryKey.length === 0) {
            skip('no primary key');
            continue;
          }
          const targetRef = targetRefOf(config, ref);
          const targetTable = await pgCatalog.describeTable(target, targetRef);
          if (!targetTable) {
            skip(`target table ${displayName(targetRef)} does not exist (run a full migration first)`);
            continue;
          }
          if (!(await pgCatalog.hasRows(target, targetRef))) {
            skip(`target table ${displayName(targetRef)} is empty (run a full migration first)`);
            continue;
          }
          const { columns, notes, missingKeys } = planColumns(described, targetTable);
          if (missingKeys.length) {
            skip(`target table ${displayName(targetRef)} lacks key column(s) ${missingKeys.join(', ')}`);
            continue;
          }
          const sameKey =
            targetTable.primaryKey.length === described.primaryKey.length &&
            described.primaryKey.every((k) => targetTable.primaryKey.includes(k));
          if (!sameKey) {
            skip(
              `target primary key (${targetTable.primaryKey.join(', ') || 'none'}) differs from source primary key (${described.primaryKey.join(', ')})`,
            );
            continue;
          }
          for (const note of notes) log.info(`${name}: ${note}`);
          const keyType = described.columns.find((c) => c.name === described.primaryKey[0])!.type;
          tables.push({
            source: ref,
            target: targetRef,
            columns,
            primaryKey: described.primaryKey,
            integerKey: described.primaryKey.length === 1 && source.dialect.isIntegerType(keyType),
            notes,
          });
        }
      } catch (err) {
        throw classifyError(err, `discover_tables in source "${config.source.connection}"`);
      }
      log.info(`Prepared ${tables.length} tables for incremental sync`);
      return { tables, skipped };
    },

    async createSyncTasks({ config, tables }: CreateSyncTasksInput): Promise<SyncTask[]> {
      const source = connections.source(config.source.connection);
      const tasks: SyncTask[] = [];
      for (const table of tables) {
        try {
          const estimatedRows = await source.estimateRows(table.source);
          let bounds: { min: string | null; max: string | null } = { min: null, max: null };
          if (table.integerKey && estimatedRows >= config.partitionThreshold) {
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
          tasks.push({ table, estimatedRows, partitions });
        } catch (err) {
          throw classifyError(err, `create_sync_tasks for ${displayName(table.source)}`);
        }
      }
      return tasks;
    },

    async syncPartition(input: SyncPartitionInput): Promise<PartitionResult> {
      const { config, table, range } = input;
      const ctx = Context.current();
      const attempt = ctx.info.attempt;
      const where = `sync_partition ${displayName(table.source)} partition ${range.index + 1}/${range.count}`;
      const target = connections.pg(config.target.connection);
      const source = connections.source(config.source.connection);
      const key: StateKey = {
        stateSchema: config.target.stateSchema,
        workflowId: input.syncWorkflowId,
        runId: input.syncRunId,
        source: table.source,
        target: table.target,
        partitionIndex: range.index,
        partitionCount: range.count,
        lo: range.lo,
        hi: range.hi,
        mode: 'compare',
      };
      const staging: TableRef = {
        schema: table.target.schema,
        name: stagingName(`${input.syncWorkflowId}/${input.syncRunId}`, table.source, range.index),
      };
      try {
        await target.query(markRunningSql(key, attempt - 1));
      } catch (err) {
        throw classifyError(err, `${where}: recording state`);
      }

      let client: PoolClient | null = null;
      let copy: Awaited<ReturnType<SourceConnection['openCopy']>> | null = null;
      const heartbeat = setInterval(() => ctx.heartbeat({ rowsCopied: copy?.rows() ?? 0 }), 1_000);
      try {
        client = await target.connect();
        // One transaction: staging, copy, apply and state commit together or
        // not at all, so a failed attempt leaves neither rows nor staging behind.
        await client.query('BEGIN');
        await client.query(createStagingSql(staging, table.target, table.columns, config.useUnloggedStaging));
        await client.query(truncateStagingSql(staging));
        copy = await source.openCopy(table, range, config.useBinaryCopy);
        const sink = client.query(copyFrom(copyIntoStagingSql(staging, table.columns, copy.format)));
        await pipeline(copy.stream, sink, { signal: ctx.cancellationSignal });
        await copy.finish();
        const rowsCopied = Number((sink as unknown as { rowCount: number }).rowCount ?? copy.rows());
        ctx.heartbeat({ rowsCopied, phase: 'apply' });
        const applied = await client.query(upsertSql(table.target, staging, table.columns, table.primaryKey));
        const inserted = Number(applied.rows[0].inserted);
        const updated = Number(applied.rows[0].updated);
        const unchanged = rowsCopied - inserted - updated;
        await client.query(dropStagingSql(staging));
        await client.query(markCompletedSql(key, { inserted, updated, unchanged, rowsCopied }));
        await client.query('COMMIT');
        client.release();
        client = null;
        return { index: range.index, rowsCopied, inserted, updated, unchanged, attempt };
      } catch (err) {
        await copy?.finish(err).catch(() => undefined);
        if (client) {
          // Broken or not, this connection is not trusted again.
          await client.query('ROLLBACK').catch(() => undefined);
          client.release(err as Error);
        }
        const failure = classifyError(err, where);
        await target.query(markFailedSql(key, failure.message)).catch(() => undefined);
        throw failure;
      } finally {
        clearInterval(heartbeat);
      }
    },

    async collectResults({ tables, skipped }: CollectResultsInput): Promise<SyncSummary> {
      const summary = summarize(tables, skipped);
      for (const t of tables.filter((t) => t.status === 'failed')) log.error(`${t.table} failed: ${t.error}`);
      log.info(summary.message);
      return summary;
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
