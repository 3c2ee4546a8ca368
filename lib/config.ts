import { z } from 'zod';
import { TablesyncError } from './errors';
import { LOOKBACK_SHAPE } from './modes/cursor/window';
import { MODE_ALIASES, normalizeMode, SYNC_MODES } from './modes/names';
import { DEFAULTS, MAX } from './limits';
import { unsupportedOptions } from './modes/options';
import { isTypeName, TYPE_NAME_HINT } from './type-names';
import { predicateProblem } from './row-filter';

const modeSchema = z.enum(['auto', ...SYNC_MODES, ...Object.keys(MODE_ALIASES)] as [string, ...string[]]).transform(normalizeMode);
// hard: rows gone from the source are deleted from the target (per key range, after the upsert);
// soft: they are marked instead (softDeleteColumn true, _tablesync_deleted_at set), and unmarked if they come back.
const deletesSchema = z.enum(['ignore', 'hard', 'soft']);
// upsert: the latest version per key (Airbyte's append+dedup); append: every version read, with sync metadata.
const writeSchema = z.enum(['upsert', 'append']);
// A table without a primary key (and no primaryKey:) in a mode that needs one: fail it (exit 1) or skip it, said in the summary.
const keylessSchema = z.enum(['fail', 'skip']);
const lookbackSchema = z.string().regex(LOOKBACK_SHAPE, 'must be an amount of time like "5 minutes" (time cursors) or a number (number cursors)');

/** A `tables` entry with settings of its own; `table` is a name or a pattern. */
export const tableEntrySchema = z
  .object({
    table: z.string().min(1),
    mode: modeSchema.optional(),
    deletes: deletesSchema.optional(),
    // The cursor column: any orderable type (timestamps, dates, integers, numerics, rowversion).
    cursor: z.string().min(1).optional(),
    write: writeSchema.optional(),
    // Re-read this window before the saved cursor, for rows committed late with older cursor values.
    lookback: lookbackSchema.optional(),
    // mode changelog: where the log of changes is, in the source database.
    changelog: z
      .object({
        // The log table ("schema.table" or "table").
        table: z.string().min(1),
        // Log column holding the changed row's primary key (text or integer; cast to the key's type).
        key: z.string().min(1),
        action: z.string().min(1).default('action'),
        // Log values → what to do.
        actions: z.record(z.string(), z.enum(['insert', 'update', 'delete'])).default({ added: 'insert', changed: 'update', deleted: 'delete' }),
        // A strictly increasing log column; its last value read is the saved state.
        position: z.string().min(1).default('id'),
        // Equality filters on log columns (values bound, never spliced).
        where: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
      })
      .strict()
      .optional(),
    // Columns to sync (default: all); the key and the cursor are always among them.
    columns: z.array(z.string().min(1)).min(1).optional(),
    // A key for a table the source gives none: taken only if the source has no NULL and no duplicate in these columns.
    primaryKey: z.array(z.string().min(1)).min(1).optional(),
    keyless: keylessSchema.optional(),
    // The rows to sync: a predicate in the source's SQL (run on the source inside parentheses; see
    // lib/row-filter.ts for what it may contain), or { column: value } compared with bound values.
    where: z
      .union([
        z.string().superRefine((text, ctx) => {
          const problem = predicateProblem(text);
          if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `the predicate ${problem}` });
        }),
        z
          .record(z.string().min(1), z.union([z.string(), z.number().finite(), z.boolean(), z.null()]))
          .refine((o) => Object.keys(o).length > 0, 'names no column: give { column: value, ... } or a predicate'),
      ])
      .optional(),
  })
  .strict();
export type TableEntry = z.infer<typeof tableEntrySchema>;

const atMost = (n: number) => `must be at most ${n.toLocaleString('en-US')}`;

/**
 * A webhook told of the run's end. Only the *name* of the environment
 * variable holding its URL is in the config (and so in workflow input and
 * history): the URL, which often carries a token, stays with the worker.
 */
export const notifyTargetSchema = z
  .object({
    urlEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be the name of an environment variable on the worker (it holds the URL), like TABLESYNC_WEBHOOK'),
    // failure: only when a table failed or the run did; always: after every run.
    on: z.enum(['failure', 'always']).default('failure'),
  })
  .strict();
export type NotifyTarget = z.infer<typeof notifyTargetSchema>;
// One webhook, or a list of them.
const notifySchema = z
  .union([notifyTargetSchema.transform((t) => [t]), z.array(notifyTargetSchema).min(1).max(MAX.webhooks, atMost(MAX.webhooks))]);

// What a sync needs to know. It travels in workflow input, so it holds
// connection *names* only; URLs and passwords stay with the worker.
export const syncConfigSchema = z
  .object({
    source: z
      .object({
        connection: z.string().min(1),
        // Schema used for table names given without one.
        schema: z.string().min(1).optional(),
      })
      .strict(),
    target: z
      .object({
        connection: z.string().min(1),
        // Defaults to the source table's schema.
        schema: z.string().min(1).optional(),
        // Where _migration_state lives.
        stateSchema: z.string().min(1).default('public'),
        // preserve: source names as they are (quoted); snake_case: InvoiceLine.InvoiceId → invoice_line.invoice_id
        naming: z.enum(['preserve', 'snake_case']).default('preserve'),
      })
      .strict(),
    // auto: full load when the target table is missing or empty, incremental otherwise.
    // compare (alias: incremental, the older name): staging + upsert of what differs.
    // cursor: only rows whose cursor column is at or past the saved value (see tables[].cursor).
    mode: modeSchema.default('auto'),
    // hard: rows gone from the source are deleted from the target (per key range, after the upsert).
    deletes: deletesSchema.default('ignore'),
    // Defaults for cursor tables (each table entry may set its own).
    cursor: z.string().min(1).optional(),
    write: writeSchema.default('upsert'),
    lookback: lookbackSchema.optional(),
    keyless: keylessSchema.default('fail'),
    // deletes: soft: the target's boolean flag column, used as written (no naming, no shortening).
    softDeleteColumn: z
      .string()
      .min(1)
      .default('is_deleted')
      .refine((name) => Buffer.byteLength(name) <= 63, "must fit PostgreSQL's 63-byte names")
      .refine((name) => name !== '_tablesync_deleted_at', 'is the name of the deletion time column; choose another'),
    // Compare checksums of source and target per key range after syncing.
    verifyAfterSync: z.boolean().default(false),
    // Key-range size for verification checksums.
    verifyRowsPerRange: z.number().int().positive().max(MAX.rows, atMost(MAX.rows)).default(100_000),
    // Target types for source types the mapping rejects or that you want
    // otherwise: keys are a source type ("sql_variant") or "schema.table.column".
    typeMap: z
      .record(
        z.string().min(1),
        // Spliced into DDL and casts, so only a type name gets through (never a clause); the sync's
        // first step also asks the target whether it knows the type (see activities/input-guard.ts).
        z.string().refine(isTypeName, TYPE_NAME_HINT),
      )
      .default({}),
    // Source columns added, dropped or retyped since the target was made: evolve adds
    // and widens target columns (lossless only), fail stops the table instead.
    schemaChanges: z.enum(['evolve', 'fail']).default('evolve'),
    // Source columns ("schema.table.column", or "*" for all) an incremental run may
    // write into an existing target column that rounds them (numeric → numeric(10,2), …).
    allowLossyColumns: z.array(z.string().min(1)).default([]),
    // INCLUDE_TABLES: "schema.table", "table", or patterns with * and ?.
    // Entries may be objects carrying per-table settings; the fields above are their defaults.
    tables: z.array(z.union([z.string().min(1), tableEntrySchema])).min(1),
    batchSize: z.number().int().positive().max(MAX.batchSize, atMost(MAX.batchSize)).default(100_000),
    partitionThreshold: z.number().int().positive().max(MAX.rows, atMost(MAX.rows)).default(1_000_000),
    maxPartitionsPerTable: z.number().int().min(1).max(256).default(6),
    rowsPerPartition: z.number().int().positive().max(MAX.rows, atMost(MAX.rows)).default(500_000),
    maxParallelTransfers: z.number().int().min(1).max(256).default(8),
    // A sync of more tables runs them in batch workflows of this many (each ~5 history events a table).
    tablesPerBatch: z.number().int().min(1).max(500).default(200),
    // cdc: a source transaction with more changes than this is applied in pieces of this many, each its own target commit.
    cdcTransactionChanges: z
      .number()
      .int()
      .positive()
      .max(MAX.cdcTransactionChanges, atMost(MAX.cdcTransactionChanges))
      .default(DEFAULTS.cdcTransactionChanges),
    useBinaryCopy: z.boolean().default(true),
    // maintenance_work_mem (MB) for the session that builds a full load's key: raised to this, never lowered.
    // PostgreSQL gives a parallel index build one worker per 32 MB, so this also lets the build go parallel.
    keyBuildMemoryMB: z.number().int().min(1).max(MAX.keyBuildMemoryMB, atMost(MAX.keyBuildMemoryMB)).default(512),
    useUnloggedStaging: z.boolean().default(true),
    retry: z
      .object({
        maximumAttempts: z.number().int().min(1).max(MAX.attempts, atMost(MAX.attempts)).default(5),
        initialIntervalMs: z.number().int().positive().max(MAX.intervalMs, atMost(MAX.intervalMs)).default(1_000),
        backoffCoefficient: z.number().min(1).max(MAX.backoff, atMost(MAX.backoff)).default(2),
        maximumIntervalMs: z.number().int().positive().max(MAX.intervalMs, atMost(MAX.intervalMs)).default(60_000),
      })
      .strict()
      .default({}),
    timeouts: z
      .object({
        partitionMinutes: z.number().positive().max(MAX.partitionMinutes, atMost(MAX.partitionMinutes)).default(120),
        heartbeatSeconds: z.number().positive().max(MAX.heartbeatSeconds, atMost(MAX.heartbeatSeconds)).default(30),
      })
      .strict()
      .default({}),
    // Webhooks called with the run's summary when it ends (see lib/notify.ts).
    notify: notifySchema.optional(),
    // Set by the sync's first step, never by hand: what each connection name
    // meant to the worker that started the sync (see ConnectionRegistry.fingerprint).
    pins: z.record(z.string(), z.object({ fingerprint: z.string(), worker: z.string() }).strict()).optional(),
  })
  .strict();

export type SyncConfig = z.infer<typeof syncConfigSchema>;
export type SyncConfigInput = z.input<typeof syncConfigSchema>;

// A connection as the worker knows it. Only the worker ever parses this.
// role: what a sync may do with it. source: only read; target: written (and its
// state kept there); both. A connection that does not say is both, as before roles.
export const connectionRoleSchema = z.enum(['source', 'target', 'both']);
export type ConnectionRole = z.infer<typeof connectionRoleSchema>;
export const connectionSchema = z.union([
  z.string().min(1).transform((url) => ({ url })),
  z.object({ url: z.string().min(1), role: connectionRoleSchema.optional() }).strict(),
]);
export type ConnectionSpec = { url: string; role?: ConnectionRole };

export const configFileSchema = syncConfigSchema
  .extend({
    taskQueue: z.string().min(1).optional(),
    connections: z.record(z.string(), connectionSchema).optional(),
  })
  .strict();

export class ConfigError extends TablesyncError {
  constructor(message: string) {
    super('InvalidConfig', message);
  }
}

// The seed's environment variables, each overriding one config field.
const ENV_FIELDS: Record<string, { path: string[]; kind: 'int' | 'bool' | 'list' }> = {
  INCLUDE_TABLES: { path: ['tables'], kind: 'list' },
  DEFAULT_INCREMENTAL_BATCH_SIZE: { path: ['batchSize'], kind: 'int' },
  PARTITION_THRESHOLD: { path: ['partitionThreshold'], kind: 'int' },
  MAX_PARTITIONS_PER_TABLE: { path: ['maxPartitionsPerTable'], kind: 'int' },
  MAX_PARALLEL_TRANSFERS: { path: ['maxParallelTransfers'], kind: 'int' },
  USE_BINARY_COPY: { path: ['useBinaryCopy'], kind: 'bool' },
  USE_UNLOGGED_STAGING: { path: ['useUnloggedStaging'], kind: 'bool' },
};

function parseEnvValue(kind: 'int' | 'bool' | 'list', raw: string): unknown {
  const v = raw.trim();
  if (kind === 'list') return v.split(',').map((s) => s.trim()).filter(Boolean);
  if (kind === 'bool') {
    if (/^(true|1|yes|on)$/i.test(v)) return true;
    if (/^(false|0|no|off)$/i.test(v)) return false;
    return v; // left as a string so zod reports the field
  }
  return /^-?\d+$/.test(v) ? Number(v) : v;
}

/** tables.1.cursor → tables[1].cursor */
function pathText(path: (string | number)[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '') || '(root)';
}

/** The issues to report: for a union (a tables entry), those of the branch that got furthest. */
function leafIssues(issues: z.ZodIssue[]): z.ZodIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code !== 'invalid_union') return [issue];
    const branches = issue.unionErrors.map((e) => e.issues);
    const deepest = branches.reduce((best, b) =>
      Math.max(...b.map((i) => i.path.length)) > Math.max(...best.map((i) => i.path.length)) ? b : best,
    );
    return leafIssues(deepest);
  });
}

function describeIssues(error: z.ZodError, envByPath: Map<string, string>): string {
  return leafIssues(error.issues)
    .map((issue) => {
      const path = pathText(issue.path);
      const env = envByPath.get(issue.path.slice(0, 1).join('.'));
      return `${path}${env ? ` (from ${env})` : ''}: ${issue.message}`;
    })
    .join('; ');
}

/** Validates a config object after applying the environment overrides; errors name the field. */
export function parseConfigFile(
  raw: unknown,
  env: Record<string, string | undefined> = {},
  origin = 'config',
): z.infer<typeof configFileSchema> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`Invalid ${origin}: expected an object with source, target and tables`);
  }
  const merged: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  const envByPath = new Map<string, string>();
  for (const [name, field] of Object.entries(ENV_FIELDS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    merged[field.path[0]] = parseEnvValue(field.kind, value);
    envByPath.set(field.path.join('.'), name);
  }
  const result = configFileSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(`Invalid ${origin}: ${describeIssues(result.error, envByPath)}`);
  }
  const refused = unsupportedOptions(result.data);
  if (refused.length) throw new ConfigError(`Invalid ${origin}: ${refused.join('; ')}`);
  return result.data;
}

/** The part of a config file that may travel in workflow input. */
export function syncConfigOf(file: z.infer<typeof configFileSchema>): SyncConfig {
  const { connections: _c, taskQueue: _q, pins: _p, ...rest } = file;
  return rest;
}

/** Validates workflow input (e.g. typed into the Web UI) the same way. */
export function parseSyncConfig(raw: unknown): SyncConfig {
  const result = syncConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(`Invalid sync input: ${describeIssues(result.error, new Map())}`);
  }
  const refused = unsupportedOptions(result.data);
  if (refused.length) throw new ConfigError(`Invalid sync input: ${refused.join('; ')}`);
  return result.data;
}
