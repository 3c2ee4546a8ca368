import { pipeline } from 'node:stream/promises';
import { Context, log } from '@temporalio/activity';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { SyncConfig } from '../lib/config';
import { TablesyncError } from '../lib/errors';
import { BatchApply, cdcState, noCounts, type CdcCounts, type CdcTable, type ShapeChange } from '../lib/modes/cdc/apply';
import { evolveCdcColumns } from '../lib/modes/cdc/evolve';
import { stateColumnTypes } from '../lib/schema-evolution';
import { DEFAULTS } from '../lib/limits';
import { EVERY_ROW, type SourceConnection } from '../lib/sources/base';
import { planCdcTables } from '../lib/modes/cdc/plan';
import { splitPosition, type ChangeCapture, type ChangeTransaction, type ReadLimits, type StreamPosition } from '../lib/sources/changes';
import { BATCHES_TABLE, batchesTableSql, cdcStepSql, readTableStateSql, saveCdcStepSql, saveTableStateSql, tableStateLockSql, type TableState } from '../lib/state';
import { displayName } from '../lib/tables';
import {
  advisoryXactLockSql,
  backfillUpdateSql,
  copyIntoSql,
  createStagingSql,
  dropTableSql,
} from '../lib/target';
import type { TablePlan } from '../lib/types';
import { otherStream, streamPosition } from '../lib/modes/cdc/state';
import { legacyCdcStreamName } from '../lib/modes/cdc/stream';
import { ensureStateTable, heartbeatEvery, inTransaction, type ActivityDeps } from './context';
import { checkGeneration, claimGenerations } from './generations';
import { loadCdcSnapshot } from './cdc-snapshot';
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
  /** The stream's slot and publication: the one asked for, or the name the tables' state already follows (streams named before the slot-name fix). */
  stream?: string;
  tables: TablePlan[];
  /** A snapshot was taken (rows per table), or the stream went on from its saved positions. */
  snapshot: Record<string, number> | null;
  /** With a snapshot: the ranges each table was read in (more than one: block ranges, read at once under the snapshot). */
  ranges?: Record<string, number>;
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
  /** Whole source transactions applied (a piece of a large one counts when its last piece is applied). */
  transactions: number;
  /** The last position applied (or acknowledged idle); null: nothing read. */
  position: string | null;
  lagBytes: number | null;
  /**
   * How far behind the source the stream is, in seconds: 0 when the batch
   * read everything committed when it started; otherwise the age of the last
   * change applied (the oldest left committed no earlier). Absent in results
   * recorded before it was.
   */
  lagSeconds?: number | null;
  /** When the last transaction applied committed at the source (ISO 8601), when the log says. */
  commitTime?: string | null;
  /** The stream's table plans, when a schema change in this batch changed one (the workflow carries them on). */
  tables?: TablePlan[];
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
  const at = positions.map((p) => (p === null ? null : splitPosition(p).at));
  return at.reduce<string | null>((a, b) => (a === null ? b : b === null || capture.compare(a, b) >= 0 ? a : b), null);
}

/** The large transaction an earlier batch applied in part (its commit, how many changes), if any: the latest piece saved. */
function resumeOf(capture: ChangeCapture, positions: (string | null)[]): ReadLimits['resume'] {
  let best: ReadLimits['resume'];
  for (const p of positions) {
    if (!p) continue;
    const { at, applied } = splitPosition(p);
    if (applied === null) continue;
    if (!best || capture.compare(at, best.commit) > 0 || (capture.compare(at, best.commit) === 0 && applied > best.applied)) best = { commit: at, applied };
  }
  return best;
}

const secondsSince = (iso: string | undefined): number | null => (iso ? Math.max(0, (Date.now() - Date.parse(iso)) / 1000) : null);

/**
 * A column-only backfill (as the other modes' schema evolution does): the
 * key and the added columns of every source row, as the source has them now,
 * copied into a temporary table and written into the target rows whose value
 * differs, in the batch's transaction. Rows the stream changes later get
 * their values from those changes (each carries the whole row), so once the
 * stream has caught up with the source, every row holds the source's value.
 */
async function backfillColumns(
  client: PoolClient,
  source: SourceConnection,
  config: SyncConfig,
  plan: TablePlan,
  added: string[],
  beat: () => void,
): Promise<number> {
  const columns = plan.columns.filter((c) => plan.primaryKey.includes(c.name) || added.includes(c.name));
  const read: TablePlan = { ...plan, columns };
  const staging = { schema: 'pg_temp', name: 'tablesync_cdc_backfill' };
  await client.query(dropTableSql(staging));
  await client.query(createStagingSql(staging, plan.target, columns, false));
  const copy = await source.openCopy(read, { index: 0, count: 1, lo: null, hi: null }, config.useBinaryCopy, EVERY_ROW);
  try {
    await pipeline(copy.stream, client.query(copyFrom(copyIntoSql(staging, columns, copy.format))));
    await copy.finish();
  } catch (err) {
    await copy.finish(err).catch(() => undefined);
    throw err;
  }
  beat();
  const r = await client.query(backfillUpdateSql(plan.target, staging, columns, plan.primaryKey));
  await client.query(dropTableSql(staging));
  return Number(r.rows[0].updated);
}

/** A step's result as saved with its changes: what it returns, and the position it acknowledges to the source (a piece's frees nothing). */
interface SavedStep {
  result: Omit<ApplyCdcBatchResult, 'lagBytes' | 'lagSeconds'>;
  acknowledge: string;
}

/** This attempt's step in the state's batches table (see saveCdcStepSql), null when the activity's id is not a sequence number. */
function stepOf(ctx: Context): { batch: number; retried: boolean } | null {
  const seq = Number(ctx.info.activityId);
  return Number.isSafeInteger(seq) && seq > 0 ? { batch: -seq, retried: ctx.info.attempt > 1 } : null;
}

/** Where steps are saved (streams started before it existed have none). Looked up each step: a target database may be recreated under a worker. */
async function ensureStepTable(deps: ActivityDeps, config: SyncConfig): Promise<void> {
  await ensureStateTable(deps.connections.pg(config.target.connection), config.target.stateSchema, BATCHES_TABLE, batchesTableSql(config.target.stateSchema));
}

/** What an earlier attempt of this step committed, if it did. */
async function committedStep(db: Pick<PoolClient, 'query'>, config: SyncConfig, run: CdcStreamInput['run'], batch: number): Promise<SavedStep | null> {
  const r = await db.query(cdcStepSql(config.target.stateSchema), [run.workflowId, run.runId, batch]);
  return (r.rows[0]?.result as SavedStep | undefined) ?? null;
}

/** An earlier attempt's committed step, acknowledged (its attempt may have died before) and returned as this attempt's result. */
async function replayStep(capture: ChangeCapture, stream: string, saved: SavedStep): Promise<ApplyCdcBatchResult> {
  await capture.acknowledge(stream, saved.acknowledge);
  log.info(`${stream}: an earlier attempt of this step committed its batch (to ${saved.result.position}): reporting its counts`);
  const position = saved.result.position;
  return { ...saved.result, lagBytes: position ? ((await capture.position(stream, position))?.lagBytes ?? null) : null, lagSeconds: secondsSince(saved.result.commitTime ?? undefined) };
}

/**
 * Applies a batch's transactions in one target transaction that also saves
 * each changed table's position, then acknowledges them to the source.
 */
async function applyBatch(deps: ActivityDeps, input: CdcStreamInput & { tables: TablePlan[] }, capture: ChangeCapture, transactions: ChangeTransaction[]): Promise<ApplyCdcBatchResult> {
  const { config, stream, run, tables } = input;
  const { connections } = deps;
  const source = connections.source(config.source.connection);
  const ctx = Context.current();
  const step = stepOf(ctx);
  const counts = noCounts();
  const lastTxn = transactions[transactions.length - 1];
  const last = lastTxn.position;
  const evolved = new Map<string, TablePlan>();
  let earlier: SavedStep | null = null;
  let saved: SavedStep | null = null;
  if (step) await ensureStepTable(deps, config);
  await inTransaction(connections, config.target.connection, async (client) => {
    // One batch of a stream at a time: an attempt cut off from Temporal that still runs waits here, then skips what it applied.
    await client.query(advisoryXactLockSql(`tablesync.cdc.${stream}`));
    // That attempt committed while this one waited: its result is this step's (this read's changes come again next step).
    if (step?.retried && (earlier = await committedStep(client, config, run, step.batch))) return;
    // A sync of another config that claimed one of these target tables since the stream did: refused, not mixed in.
    for (const t of tables) await checkGeneration(client, config, t);
    const states = await readStates(deps, config, tables, client);
    const byName = new Map<string, CdcTable>(
      tables.map((t) => {
        const state = states.get(displayName(t.source));
        return [displayName(t.source), { plan: t, deletes: t.deletes ?? config.deletes, position: positionOf(state, stream), synced: state?.columns ?? [] }];
      }),
    );
    const onShape: ShapeChange = async (name, t, shape) => {
      const described = await source.describeTable(t.plan.source);
      const change = evolveCdcColumns(source.dialect, config, t.plan, shape, described);
      for (const sql of change.statements) await client.query(sql);
      // The types saved with the batch's state follow the plan: a worker restarted later knows it by them.
      const plan: TablePlan = { ...t.plan, columns: change.columns, columnTypes: described ? stateColumnTypes(source.dialect, described, change.columns) : undefined };
      // Added with a column its committed state already lists (a batch whose result was lost): already backfilled.
      const backfill = change.added.filter((c) => !t.synced?.includes(c));
      if (backfill.length) {
        const updated = await backfillColumns(client, source, config, plan, backfill, () => ctx.heartbeat());
        change.notes.push(`backfill of ${backfill.map((c) => `"${c}"`).join(', ')}: ${updated} existing target rows updated from the source`);
      }
      for (const note of change.notes) log.info(`${name}: ${note}`);
      t.plan = plan;
      evolved.set(name, plan);
    };
    const touched = new Set<string>();
    const beat = heartbeatEvery(ctx);
    const batch = new BatchApply(client, byName, capture.compare.bind(capture), counts, beat, onShape);
    for (const txn of transactions) {
      for (const name of await batch.transaction(txn)) touched.add(name);
      beat();
    }
    await batch.flush();
    for (const name of touched) {
      const t = byName.get(name)!.plan;
      await client.query(tableStateLockSql(t.target));
      await client.query(saveTableStateSql(config.target.stateSchema, t.target, cdcState(t, stream, last, capture.positionType, run, counts), 'run', run.workflowId));
    }
    saved = {
      result: {
        ...counts,
        transactions: transactions.filter((t) => !t.partial).length,
        position: last,
        commitTime: lastTxn.commitTime ?? null,
        ...(evolved.size && { tables: tables.map((t) => evolved.get(displayName(t.source)) ?? t) }),
      },
      acknowledge: last,
    };
    if (step) await client.query(saveCdcStepSql(config.target.stateSchema), [run.workflowId, run.runId, step.batch, JSON.stringify([...touched]), JSON.stringify(saved)]);
  });
  if (earlier) return replayStep(capture, stream, earlier);
  const done = saved as unknown as SavedStep;
  // Only now may the source free these changes: a crash before this reads them again, and the saved positions skip them.
  // A piece of a transaction frees nothing (the capture knows its position): its remaining changes are read from the same place.
  await capture.acknowledge(stream, done.acknowledge);
  return { ...done.result, lagBytes: null, lagSeconds: secondsSince(lastTxn.commitTime) };
}

export function createCdcActivities(deps: ActivityDeps) {
  const { connections } = deps;
  return {
    async startCdc(input: CdcStreamInput): Promise<StartCdcResult> {
      const { config, run } = input;
      let { stream } = input;
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
        // A stream started before its slot name lost the doubled prefix keeps the name its tables' state saved.
        const legacy = legacyCdcStreamName(run.workflowId);
        if (legacy !== stream) {
          if (tables.some((t) => positionOf(states.get(displayName(t.source)), legacy) !== null)) stream = legacy;
          else if (await capture.position(legacy)) await capture.drop(legacy); // this workflow's own old slot, followed by no table
        }
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
          await claimGenerations(target, config, tables, { syncWorkflowId: run.workflowId, syncRunId: run.runId });
          return { stream, tables, snapshot: null, position: slot.confirmed ?? positions[0]!, holdsLog: capture.holdsLog };
        }
        // Some table has no position in this stream: a new snapshot of every table, consistent with a new slot.
        if (slot) {
          log.info(`${stream}: ${tables.filter((_, i) => positions[i] === null).map((t) => displayName(t.source)).join(', ')} without a position: dropping slot for a new snapshot`);
          await capture.drop(stream);
        }
        // Claimed before the load and held (FOR SHARE) through each table's load transaction: a sync of the same
        // target table that claimed it earlier cannot commit over the snapshot; one that claims later waits for it.
        // The claim itself waits for a chunk of such a sync to commit (it holds the claim row): heartbeat meanwhile,
        // or the attempt times out and its retry races this one on the slot and publication.
        const ctx = Context.current();
        const beat = setInterval(() => ctx.heartbeat({ claiming: tables.length }), 1_000);
        try {
          await claimGenerations(target, config, tables, { syncWorkflowId: run.workflowId, syncRunId: run.runId });
        } finally {
          clearInterval(beat);
        }
        let loaded = { rows: {}, ranges: {} } as Awaited<ReturnType<typeof loadCdcSnapshot>>;
        const runKey = { syncWorkflowId: run.workflowId, syncRunId: run.runId };
        const position = await capture.start(stream, tables.map((t) => t.source), async (read, at, options = {}) => {
          loaded = await loadCdcSnapshot(deps, config, tables, read, options, runKey, (table, copied) =>
            saveTableStateSql(config.target.stateSchema, table.target, cdcState(table, stream, at, capture.positionType, run, { ...noCounts(), rowsCopied: copied }), 'run', run.workflowId),
          );
        });
        log.info(`${stream}: snapshot of ${tables.length} tables at ${position}`);
        return { stream, tables, snapshot: loaded.rows, ranges: loaded.ranges, position, holdsLog: capture.holdsLog };
      } catch (err) {
        throw classifyError(err, where);
      }
    },

    async applyCdcBatch({ config, stream, run, tables, maxChanges, waitMs }: ApplyCdcBatchInput): Promise<ApplyCdcBatchResult> {
      const where = `apply_cdc_batch ${stream}`;
      let capture: ChangeCapture | undefined;
      try {
        capture = captureOf(deps, config);
        const ctx = Context.current();
        // An earlier attempt that committed and acknowledged its batch before its result was lost: nothing to read again.
        const step = stepOf(ctx);
        if (step?.retried) {
          await ensureStepTable(deps, config);
          const earlier = await committedStep(connections.pg(config.target.connection), config, run, step.batch);
          if (earlier) return await replayStep(capture, stream, earlier);
        }
        const until = Date.now() + waitMs;
        const states = await readStates(deps, config, tables);
        const applied = latest(capture, tables.map((t) => positionOf(states.get(displayName(t.source)), stream)));
        const pieceChanges = config.cdcTransactionChanges ?? DEFAULTS.cdcTransactionChanges;
        const beat = heartbeatEvery(ctx);
        for (;;) {
          beat();
          const slot = await capture.position(stream, applied);
          if (!slot) {
            throw new TablesyncError('CdcGap', `replication slot "${stream}" is gone (dropped behind tablesync's back?); run tablesync reset-state for a table of the stream and start again for a new snapshot`);
          }
          // A large transaction applied in part by an earlier batch: the read leaves out what is applied.
          const resume = resumeOf(capture, [...states.values()].map((s) => streamPosition(s, stream)));
          const began = Date.now();
          const batch = await capture.read(stream, maxChanges, { pieceChanges, resume, beat, applied, tables });
          if (batch.transactions.length) {
            const read = Date.now() - began;
            const r = await applyBatch(deps, { config, stream, run, tables }, capture, batch.transactions);
            log.debug(`${stream}: read ${batch.transactions.length} transactions in ${read} ms, applied and acknowledged them in ${Date.now() - began - read} ms`);
            // Caught up: nothing older waits. Behind: the oldest change left committed at or after the last one applied.
            return { ...r, lagBytes: (await capture.position(stream, r.position))?.lagBytes ?? null, lagSeconds: batch.more ? r.lagSeconds : 0 };
          }
          if (batch.idleTo) await capture.acknowledge(stream, batch.idleTo);
          if (Date.now() >= until) return { ...noCounts(), transactions: 0, position: batch.idleTo, lagBytes: slot.lagBytes, lagSeconds: 0, commitTime: null };
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
      } catch (err) {
        // What the failed batch read is read again by the next attempt, from the source's confirmed position.
        await capture?.close?.(stream).catch(() => undefined);
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
        // The stream this worker may still hold open (the slot stays active until it is closed).
        await capture.close?.(stream);
        if (dropSlot) await capture.drop(stream);
        return { slotKept: await capture.position(stream) };
      } catch (err) {
        throw classifyError(err, `stop_cdc ${stream}`);
      }
    },
  };
}
