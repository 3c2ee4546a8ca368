import { createHash } from 'node:crypto';
import { ConfigError, parseSyncConfig, type SyncConfig } from '../lib/config';
import { displayName } from '../lib/tables';
import { filterMatchesSetting, predicateProblem } from '../lib/row-filter';
import { isTypeName } from '../lib/type-names';
import type { TablePlan } from '../lib/types';
import type { ConnectionRegistry } from './connections';
import { envRoleName } from './connections';
import { nonRetryable } from './errors';
import { PlanCheck } from './plan-check';

// Whoever may start a workflow on the namespace (Web UI, `temporal workflow
// start`, a schedule) chooses its input. So no activity takes its input on
// trust: the config is parsed again by the worker's schema (bounds, type
// names, no unknown fields), each connection must be declared for the use the
// config makes of it, and a table plan may carry only type names. Statements
// themselves are never taken from input: the worker builds them (user types
// from the source catalog, see activities/user-types.ts).

const USES = {
  source: { field: 'source.connection', allowed: ['source', 'both'], doing: 'read as the source' },
  target: { field: 'target.connection', allowed: ['target', 'both'], doing: 'written as the target' },
} as const;

/** Refuses a config that names a connection for a use its role does not allow (nothing was done yet). */
export function checkConnectionRoles(config: SyncConfig, connections: ConnectionRegistry): void {
  for (const use of ['source', 'target'] as const) {
    const name = config[use].connection;
    const role = connections.role(name);
    const { field, allowed, doing } = USES[use];
    if (!(allowed as readonly string[]).includes(role)) {
      throw nonRetryable(
        'ConnectionRole',
        `${field}: connection "${name}" is declared role: ${role} on this worker, so it cannot be ${doing}. Nothing was done. ` +
          `Declare it role: ${use === 'source' ? 'source' : 'target'} or both (connections: in the worker's config, or ${envRoleName(name)}) if it may be.`,
      );
    }
  }
}

/** A table plan's target types are spliced into DDL and casts: only type names pass. */
export function checkPlanTypes(table: TablePlan | undefined, where: string): void {
  if (!table || typeof table !== 'object') return;
  for (const [i, c] of (Array.isArray(table.columns) ? table.columns : []).entries()) {
    if (typeof c?.targetType !== 'string' || !isTypeName(c.targetType)) {
      // Never a clause: the plan's target types go into CREATE TABLE and casts as text.
      throw nonRetryable(
        'InvalidInput',
        `${where}: table ${displayName(table.source ?? { schema: '?', name: '?' })}: columns[${i}].targetType is not a PostgreSQL type name; ` +
          `a table plan is made by the worker, not taken from workflow input`,
      );
    }
  }
}

/**
 * A plan's row filter (tables[].where) is run on the source: it must be one
 * the config holds, and the config was just parsed again by the worker's
 * schema (a predicate held to the lexical rule of lib/row-filter.ts, values
 * of a structured filter bound). So workflow input cannot carry SQL of its
 * own in a plan, nor a filter the config does not give, which repair would
 * apply (its deletes reach only the rows the filter keeps).
 */
export function checkPlanFilter(config: SyncConfig, table: TablePlan | undefined, where: string): void {
  if (!table || typeof table !== 'object' || table.rowFilter === undefined) return;
  const filter = table.rowFilter as unknown;
  const settings = config.tables.flatMap((e) => (typeof e === 'object' && e.where !== undefined ? [e.where] : []));
  const shaped =
    filter !== null &&
    typeof filter === 'object' &&
    (('sql' in filter && typeof filter.sql === 'string' && predicateProblem(filter.sql) === null) ||
      ('equals' in filter && Array.isArray(filter.equals) && filter.equals.every((e) => Array.isArray(e) && e.length === 4 && e.every((v, i) => typeof v === 'string' || (i === 1 && v === null)))));
  if (!shaped || !settings.some((s) => filterMatchesSetting(table.rowFilter!, s))) {
    throw nonRetryable(
      'InvalidInput',
      `${where}: table ${displayName(table.source ?? { schema: '?', name: '?' })}: its rowFilter is not a where the config gives; ` +
        `a table plan is made by the worker from tables[].where, not taken from workflow input`,
    );
  }
}

/**
 * The config parsed by the worker's schema. Every step of a sync carries the
 * same config, so what a text parsed to is kept (a 10,000-table list takes
 * ~13 ms to parse, ~1 ms to hash); each caller gets its own copy.
 */
function parser(): (config: unknown) => SyncConfig {
  const seen = new Map<string, string>();
  return (config) => {
    const key = createHash('sha256').update(JSON.stringify(config) ?? '').digest('hex');
    const hit = seen.get(key);
    if (hit) return JSON.parse(hit) as SyncConfig;
    let result: SyncConfig;
    try {
      result = parseSyncConfig(config);
    } catch (err) {
      if (err instanceof ConfigError) throw nonRetryable(err.type, err.message);
      throw err;
    }
    if (seen.size >= 64) seen.delete(seen.keys().next().value!);
    seen.set(key, JSON.stringify(result));
    return result;
  };
}

/**
 * typeMap values are type names by their shape (the schema); here the target
 * says whether it knows them, so a value that is no type fails before any
 * table is planned, naming its key. Answers are kept per connection.
 */
async function checkTypeMapOnTarget(config: SyncConfig, connections: ConnectionRegistry, known: Set<string>): Promise<void> {
  const name = config.target.connection;
  for (const [key, type] of Object.entries(config.typeMap)) {
    if (known.has(`${name}\u0000${type}`)) continue;
    let ok = false;
    try {
      ok = (await connections.pg(name).query('SELECT to_regtype($1) IS NOT NULL AS ok', [type])).rows[0].ok === true;
    } catch (err) {
      // A syntax error is the answer "not a type"; a lost connection is retried with the step.
      const code = (err as { code?: string }).code ?? '';
      if (!/^(42|22)/.test(code)) throw err;
    }
    if (!ok) {
      throw nonRetryable('InvalidConfig', `Invalid sync input: typeMap["${key}"]: "${type}" is not a type the target "${name}" knows`);
    }
    known.add(`${name}\u0000${type}`);
  }
}

/** Activities whose result's `tables` are plans this worker made. */
const MAKES_PLANS = new Set(['discoverTables', 'startCdc', 'applyCdcBatch']);

/**
 * Activities whose plans may be ones a worker ran and saved in the table's
 * state although the source catalog no longer matches them: a cdc stream's
 * batches, whose plan the source may have changed under since (the batch
 * meets that change in the log and evolves the plan) and whose worker may
 * have restarted, forgetting the plans it made.
 */
const SAVED_PLANS = new Set(['applyCdcBatch']);

/** Activities that plan (and so use typeMap): the target is asked about its types first. */
const PLANNING = new Set(['initializeState', 'discoverTables']);

/**
 * Wraps every activity: its input's config is parsed again (and passed on
 * parsed), its connections' roles checked, its table plans' types checked,
 * all before the activity touches a database.
 */
export function withCheckedInput<T extends Record<string, (input: never) => Promise<unknown>>>(activities: T, connections: ConnectionRegistry): T {
  const knownTypes = new Set<string>();
  const plans = new PlanCheck(connections);
  const parsed = parser();
  const wrapped: Record<string, (input: never) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (input: never) => {
      const given = input as { config?: unknown; table?: TablePlan; tables?: TablePlan[]; tasks?: { table?: TablePlan }[] } | undefined;
      if (!given || typeof given !== 'object' || !('config' in given)) return fn(input);
      // A refusal is an activity failure like any other: the worker logs it, the workflow fails with it.
      const config = parsed(given.config);
      checkConnectionRoles(config, connections);
      if (name !== 'initializeState') {
        const tables = [
          ...(given.table && typeof given.table === 'object' ? [given.table] : []),
          ...(Array.isArray(given.tables) ? given.tables.filter((t) => t && typeof t === 'object') : []),
          ...(Array.isArray(given.tasks) ? given.tasks.map((t) => t?.table as TablePlan) : []),
        ];
        for (const t of tables) {
          checkPlanTypes(t, name);
          checkPlanFilter(config, t, name);
        }
        await plans.checkAll(config, tables, name, { saved: SAVED_PLANS.has(name) });
      }
      if (PLANNING.has(name)) await checkTypeMapOnTarget(config, connections, knownTypes);
      const result = await fn({ ...given, config } as never);
      // Plans this worker just made: the steps that carry them on need no catalog check here.
      // (cdc: the plans its start made and those a schema change remade; a later batch that sees the source change
      // again must reach the evolution rules, not be refused here as a plan the source does not match. After a
      // restart this memory is gone: the table's saved state vouches for such a plan, see SAVED_PLANS.)
      if (MAKES_PLANS.has(name)) for (const t of (result as { tables?: TablePlan[] } | undefined)?.tables ?? []) plans.remember(config, t);
      if (name === 'createSyncTasks') for (const t of result as { table: TablePlan }[]) plans.remember(config, t.table);
      // discoverTables asked for tasks: their plans carry the read window createSyncTasks would have added.
      if (name === 'discoverTables') for (const t of (result as { tasks?: { table: TablePlan }[] } | undefined)?.tasks ?? []) plans.remember(config, t.table);
      return result;
    };
  }
  return wrapped as T;
}
