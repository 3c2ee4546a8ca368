import { pipeline } from 'node:stream/promises';
import { Context, log } from '@temporalio/activity';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { SyncConfig } from '../lib/config';
import { TablesyncError } from '../lib/errors';
import { applyTransaction, cdcState, noCounts, type CdcCounts, type CdcTable } from '../lib/modes/cdc/apply';
import { planCdcTables } from '../lib/modes/cdc/plan';
import type { ChangeCapture, StreamPosition } from '../lib/sources/changes';
import { ensureUserTypes } from '../lib/sources/postgres/user-types';
import { readTableStateSql, saveTableStateSql, tableStateLockSql, type TableState } from '../lib/state';
import { displayName } from '../lib/tables';
import {
  addPrimaryKeySql,
  addSoftDeleteColumnsSql,
  advisoryXactLockSql,
  analyzeSql,
  copyIntoSql,
  createTableSql,
  dropTableSql,
  swapTableSql,
  tableExistsSql,
} from '../lib/target';
import type { TablePlan } from '../lib/types';
import { otherStream, streamPosition } from '../lib/modes/cdc/state';
import { ensureSchema, inTransaction, loadRefOf, type ActivityDeps } from './context';
import { classifyError } from './errors';

// cdc: the steps of a cdc workflow. startCdc sets the stream up (or finds it
// where the last batch left it), takes the snapshot when one is needed;
// applyCdcBatch applies the next transactions in one target transaction that
// also saves each table's position, then acknowledges them to the source;
// cdcStatus and stopCdc report on and end the stream.

export interface CdcStreamInput {
  config: SyncConfig;
  /** The slot and publication name (see lib/modes/cdc/stream.ts). */
  stream: string;
  run: { workflowId: string; runId: string };
}

export interface StartCdcResult {
  tables: TablePlan[];
  /** A snapshot was taken (rows per table), or the stream went on from its saved positions. */
  snapshot: Record<string, number> | null;
  position: string;
  /** The source keeps its log for this stream (a slot): a stream left behind holds it. */
  holdsLog: boolean;
}

export interface ApplyCdcBatchInput extends CdcStreamInput {
  tables: TablePlan[];
  /** Changes per batch, about (whole source transactions). */
  maxChanges: number;
  /** With nothing to apply, keep looking this long before returning (long poll). */
  waitMs: number;
}

export interface ApplyCdcBatchResult extends CdcCounts {
  transactions: number;
  /** The last position applied (or acknowledged idle); null: nothing read. */
  position: string | null;
  lagBytes: number | null;
}

export interface CdcStatus {
  stream: string;
  slot: StreamPosition | null;
  tables: { table: string; target: string; position: string | null }[];
}

const POLL_MS = 250;

function captureOf(deps: ActivityDeps, config: SyncConfig): ChangeCapture {
  const source = deps.connections.source(config.source.connection);
  if (!source.changeCapture) {
    throw new TablesyncError('CdcSetup', `source "${config.source.connection}" is ${source.dialect.name}: cdc reads PostgreSQL and MariaDB/MySQL sources only`);
  }
  return source.changeCapture;
}

async function readStates(deps: ActivityDeps, config: SyncConfig, tables: TablePlan[], db: Pick<PoolClient, 'query'> = deps.connections.pg(config.target.connection)) {
  const states = new Map<string, TableState | undefined>();
  for (const t of tables) states.set(displayName(t.source), (await db.query(readTableStateSql(config.target.stateSchema, t.target))).rows[0]);
  return states;
}

/** The saved position of a table in this stream (null: none, or one of another stream or mode). */
const positionOf = streamPosition;

/** The latest of the tables' saved positions: every transaction up to it is applied (a batch saves its last to each table it changed). */
function latest(capture: ChangeCapture, positions: (string | null)[]): string | null {
  return positions.reduce<string | null>((a, b) => (a === null ? b : b === null || capture.compare(a, b) >= 0 ? a : b), null);
}

export function createCdcActivities(deps: ActivityDeps) {
  const { connections } = deps;
  return {
    async startCdc({ config, stream, run }: CdcStreamInput): Promise<StartCdcResult> {
      const where = `start_cdc ${stream}`;
      try {
        const capture = captureOf(deps, config);
        const source = connections.source(config.source.connection);
        const target = connections.pg(config.target.connection);
        const { tables, failed } = await planCdcTables(source, target, config);
        if (failed.length) throw new TablesyncError(failed[0].type, failed.map((f) => `${f.table}: ${f.reason}`).join('; '));
        if (!tables.length) throw new TablesyncError('InvalidConfig', 'no table of the config has mode cdc (tables[i].mode or mode: cdc)');
        await capture.check(tables.map((t) => t.source));
        const states = await readStates(deps, config, tables);
        const positions = tables.map((t) => positionOf(states.get(displayName(t.source)), stream));
        // A table another stream follows: two slots would each hold the source's WAL, and both write the table.
        for (const t of tables) {
          const state = states.get(displayName(t.source));
          const other = otherStream(state, stream);
          // A source that keeps nothing per stream judges by the other's saved position: one whose log is gone can never go on.
          const live = other && (await capture.position(other.stream, other.position).catch((err) => (err instanceof TablesyncError && err.type === 'CdcGap' ? null : Promise.reject(err))));
          if (live) {
            throw new TablesyncError(
              'CdcSetup',
              `${displayName(t.source)} is followed by stream "${other!.stream}" (workflow ${state!.lastWorkflowId}); ` +
                (capture.holdsLog
                  ? 'stop that one with tablesync cdc stop --drop-slot first'
                  : 'stop that one, then run tablesync reset-state for the table (a binlog stream keeps nothing on the source: its saved position is all there is of it)'),
            );
          }
        }
        const slot = await capture.position(stream, positions.every((p) => p !== null) ? latest(capture, positions) : null);
        if (positions.every((p) => p !== null)) {
          if (!slot) {
            // Changes since the saved positions are gone with the slot: going on would leave a gap.
            throw new TablesyncError(
              'CdcGap',
              `replication slot "${stream}" is gone (dropped behind tablesync's back?), so changes after the saved positions cannot be read; ` +
                `run tablesync reset-state for a table of the stream and start again: the cdc workflow then takes a new snapshot of every table`,
            );
          }
          log.info(`${stream}: going on from the saved positions (slot confirmed at ${slot.confirmed})`);
          return { tables, snapshot: null, position: slot.confirmed ?? positions[0]!, holdsLog: capture.holdsLog };
        }
        // Some table has no position in this stream: a new snapshot of every table, consistent with a new slot.
        if (slot) {
          log.info(`${stream}: ${tables.filter((_, i) => positions[i] === null).map((t) => displayName(t.source)).join(', ')} without a position: dropping slot for a new snapshot`);
          await capture.drop(stream);
        }
        const rows: Record<string, number> = {};
        const ctx = Context.current();
        const position = await capture.start(stream, tables.map((t) => t.source), async (read, at) => {
          for (const table of tables) {
            ctx.heartbeat({ table: displayName(table.source) });
            rows[displayName(table.source)] = await loadSnapshot(deps, config, table, read, { syncWorkflowId: run.workflowId, syncRunId: run.runId }, (state) =>
              saveTableStateSql(config.target.stateSchema, table.target, cdcState(table, stream, at, capture.positionType, run, { ...noCounts(), rowsCopied: state }), 'run', run.workflowId),
            );
          }
        });
        log.info(`${stream}: snapshot of ${tables.length} tables at ${position}`);
        return { tables, snapshot: rows, position, holdsLog: capture.holdsLog };
      } catch (err) {
        throw classifyError(err, where);
      }
    },

    async applyCdcBatch({ config, stream, run, tables, maxChanges, waitMs }: ApplyCdcBatchInput): Promise<ApplyCdcBatchResult> {
      const where = `apply_cdc_batch ${stream}`;
      try {
        const capture = captureOf(deps, config);
        const ctx = Context.current();
        const until = Date.now() + waitMs;
        const states = await readStates(deps, config, tables);
        const applied = latest(capture, tables.map((t) => positionOf(states.get(displayName(t.source)), stream)));
        for (;;) {
          ctx.heartbeat();
          const slot = await capture.position(stream, applied);
          if (!slot) {
            throw new TablesyncError('CdcGap', `replication slot "${stream}" is gone (dropped behind tablesync's back?); run tablesync reset-state for a table of the stream and start again for a new snapshot`);
          }
          const batch = await capture.read(stream, maxChanges, applied, tables);
          if (batch.transactions.length) {
            const counts = noCounts();
            const last = batch.transactions[batch.transactions.length - 1].position;
            await inTransaction(connections, config.target.connection, async (client) => {
              // One batch of a stream at a time: an attempt cut off from Temporal that still runs waits here, then skips what it applied.
              await client.query(advisoryXactLockSql(`tablesync.cdc.${stream}`));
              const states = await readStates(deps, config, tables, client);
              const byName = new Map<string, CdcTable>(
                tables.map((t) => [displayName(t.source), { plan: t, deletes: t.deletes ?? config.deletes, position: positionOf(states.get(displayName(t.source)), stream) }]),
              );
              const touched = new Set<string>();
              const beat = () => ctx.heartbeat();
              for (const txn of batch.transactions) {
                for (const name of await applyTransaction(client, byName, txn, capture.compare.bind(capture), counts, beat)) touched.add(name);
                beat();
              }
              for (const name of touched) {
                const t = byName.get(name)!.plan;
                await client.query(tableStateLockSql(t.target));
                await client.query(saveTableStateSql(config.target.stateSchema, t.target, cdcState(t, stream, last, capture.positionType, run, counts), 'run', run.workflowId));
              }
            });
            // Only now may the source free these changes: a crash before this reads them again, and the saved positions skip them.
            await capture.acknowledge(stream, last);
            return { ...counts, transactions: batch.transactions.length, position: last, lagBytes: (await capture.position(stream, last))?.lagBytes ?? null };
          }
          if (batch.idleTo) await capture.acknowledge(stream, batch.idleTo);
          if (Date.now() >= until) return { ...noCounts(), transactions: 0, position: batch.idleTo, lagBytes: slot.lagBytes };
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
      } catch (err) {
        throw classifyError(err, where);
      }
    },

    async cdcStatus({ config, stream }: Omit<CdcStreamInput, 'run'>): Promise<CdcStatus> {
      try {
        const capture = captureOf(deps, config);
        const source = connections.source(config.source.connection);
        const { tables } = await planCdcTables(source, connections.pg(config.target.connection), config);
        const states = await readStates(deps, config, tables);
        return {
          stream,
          slot: await capture.position(stream),
          tables: tables.map((t) => ({ table: displayName(t.source), target: displayName(t.target), position: positionOf(states.get(displayName(t.source)), stream) })),
        };
      } catch (err) {
        throw classifyError(err, `cdc_status ${stream}`);
      }
    },

    /** Ends a stream: with dropSlot its slot and publication are removed; returns whether a slot is left retaining the source's log. */
    async stopCdc({ config, stream, dropSlot }: Omit<CdcStreamInput, 'run'> & { dropSlot: boolean }): Promise<{ slotKept: StreamPosition | null }> {
      try {
        const capture = captureOf(deps, config);
        if (dropSlot) await capture.drop(stream);
        return { slotKept: await capture.position(stream) };
      } catch (err) {
        throw classifyError(err, `stop_cdc ${stream}`);
      }
    },
  };
}

/**
 * One table's snapshot: its rows as of the stream's start, copied into a new
 * table that is keyed and swapped in, with the table's state (the stream's
 * starting position), all in one target transaction.
 */
async function loadSnapshot(
  deps: ActivityDeps,
  config: SyncConfig,
  table: TablePlan,
  read: (plan: TablePlan) => Promise<import('../lib/sources/base').CopyStream>,
  runKey: { syncWorkflowId: string; syncRunId: string },
  state: (rows: number) => { text: string; values: unknown[] },
): Promise<number> {
  const load = loadRefOf(runKey, table);
  return inTransaction(deps.connections, config.target.connection, async (client) => {
    await ensureSchema(client, table.target.schema);
    await ensureUserTypes(client, table.userTypes, ensureSchema);
    await client.query(dropTableSql(load));
    await client.query(createTableSql(load, table.columns));
    if (table.softDeleteColumn) await client.query(addSoftDeleteColumnsSql(load, table.softDeleteColumn));
    const copy = await read(table);
    try {
      await pipeline(copy.stream, client.query(copyFrom(copyIntoSql(load, table.columns, copy.format))));
      await copy.finish();
    } catch (err) {
      await copy.finish(err).catch(() => undefined);
      throw err;
    }
    await client.query(addPrimaryKeySql(load, table.columns, table.primaryKey));
    await client.query(analyzeSql(load));
    const exists = await client.query(tableExistsSql(table.target));
    for (const sql of swapTableSql(load, table.target, exists.rows[0].present)) await client.query(sql);
    await client.query(tableStateLockSql(table.target));
    await client.query(state(copy.rows()));
    return copy.rows();
  });
}
