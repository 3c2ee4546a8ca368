import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { SyncConfig } from '../lib/config';
import type { SourceConnection } from '../lib/sources/base';
import { bucketDigits, bucketSumsSql, displayKey, keysSql, rowDigestsSql, sourceDigestSide } from '../lib/sources/digests';
import { pgCanonical } from '../lib/canonical';
import { pgChecksumSql } from '../lib/sources/postgres/digest';
import { quotePg } from '../lib/target/sql';
import { modeOf } from '../lib/modes';
import { backfillColumns } from '../lib/modes/backfill';
import { displayName } from '../lib/tables';
import { liveCondition, targetDigestSide, targetKey, verifiedRelation } from '../lib/target';
import type { ColumnPlan, KeySample, PartitionRange, RangeChecksum, RowDifferences, TablePlan } from '../lib/types';
import type { ActivityDeps } from './context';
import { classifyError } from './errors';

// Verification: counts and checksums of key ranges, computed inside each
// database, for `tablesync verify` and verifyAfterSync.

export interface ChecksumRangesInput {
  config: SyncConfig;
  table: TablePlan;
  ranges: PartitionRange[];
}

export interface FindDifferencesInput {
  config: SyncConfig;
  table: TablePlan;
  /** Ranges whose checksums differ (their counts size the buckets). */
  ranges: RangeChecksum[];
}

/** Sample keys kept per category. */
const SAMPLE_KEYS = 10;
/** Buckets listed row by row in one statement (about 2,000 rows each). */
const BUCKETS_PER_QUERY = 32;

/**
 * Columns both sides can put in the same canonical text; the others are
 * listed as not checksummed. So are columns a cursor or change-log table's backfill has
 * yet to fill (schema evolution): the next run fills them, whatever the cursor.
 */
function comparedColumns(source: SourceConnection, table: TablePlan): ColumnPlan[] {
  const unfilled = new Set(backfillColumns(table));
  return table.columns.filter((c) => source.dialect.canonicalText(c) !== null && !unfilled.has(c.name));
}

const emptySample = (): KeySample => ({ count: 0, keys: [] });

/** Whether a key's text falls in one of the buckets (the first hex digits of its MD5, as bucketSumsSql groups). */
function inBuckets(k: string, digits: number, buckets: string[] | null): boolean {
  return !buckets || buckets.includes(createHash('md5').update(k, 'utf8').digest('hex').slice(0, digits));
}

/**
 * A range's rows hashed by the worker (see SourceConnection.rowHashes), kept
 * for its bucket sums and row lists; null when the source computes them in SQL.
 */
async function workerHashes(
  source: SourceConnection,
  table: TablePlan,
  columns: ColumnPlan[],
  range: PartitionRange,
  digits: number,
  flag?: (placeholder: (i: number) => string) => { sql: string; params: string[] },
): Promise<{ sums(): Record<string, unknown>[]; rows(buckets: string[] | null): Record<string, unknown>[] } | null> {
  const stream = source.rowHashes ? await source.rowHashes(table, columns, range, { flag }) : null;
  if (!stream) return null;
  const rows: { k: string; h: string; p?: number; b: string }[] = [];
  for await (const row of stream) rows.push({ ...row, b: createHash('md5').update(row.k, 'utf8').digest('hex').slice(0, digits) });
  return {
    sums: () => {
      const by = new Map<string, { n: number; s: bigint }>();
      for (const row of rows) {
        const b = by.get(row.b) ?? { n: 0, s: 0n };
        b.n++;
        b.s += BigInt(`0x${row.h.slice(0, 8)}`);
        by.set(row.b, b);
      }
      return [...by].map(([b, { n, s }]) => ({ b, n, s: String(s) }));
    },
    rows: (buckets) => rows.filter((row) => !buckets || buckets.includes(row.b)),
  };
}

export function createVerificationActivities({ connections }: ActivityDeps) {
  return {
    async checksumRanges({ config, table, ranges }: ChecksumRangesInput): Promise<RangeChecksum[]> {
      const source = connections.source(config.source.connection);
      const target = connections.pg(config.target.connection);
      const included = comparedColumns(source, table);
      const skippedColumns = table.columns.filter((c) => !included.includes(c)).map((c) => c.name);
      const targetCanonical = included.map((c) => pgCanonical(quotePg(c.targetName), c.targetType));
      const key = targetKey(table.columns, table.primaryKey);
      const live = liveCondition(table);
      const relation = verifiedRelation(table);
      const out: RangeChecksum[] = [];
      try {
        for (const range of ranges) {
          // Both sides at once, so the two snapshots are as close in time as they can be.
          const [s, t] = await Promise.all([
            source.checksumRange(table, included, range),
            target.query(pgChecksumSql(relation, targetCanonical, key, range, live)),
          ]);
          out.push({
            range,
            sourceRows: s.rows,
            targetRows: Number(t.rows[0].rows),
            sourceSum: s.sum,
            targetSum: t.rows[0].sum,
            skippedColumns,
          });
          Context.current().heartbeat({ ranges: out.length });
        }
      } catch (err) {
        throw classifyError(err, `verify ${displayName(table.source)}`);
      }
      return out;
    },

    /**
     * The rows behind ranges whose checksums differ, one by one: changed,
     * missing from the target, extra in it, or pending (the next run brings
     * them; see PendingRule). Counts are exact; keys are sampled. A big range
     * is split into buckets by its keys' hash, and only buckets whose sums
     * differ are listed, a group of buckets at a time.
     */
    async findDifferences({ config, table, ranges }: FindDifferencesInput): Promise<RowDifferences> {
      const source = connections.source(config.source.connection);
      const target = connections.pg(config.target.connection);
      const columns = comparedColumns(source, table);
      const src = sourceDigestSide(source.dialect, source.dialect.digest, table, columns);
      const dst = targetDigestSide(table, columns);
      // Which differing rows the next run brings anyway: the table's mode says (see PendingRule).
      const rule = modeOf(table.mode).pending(table);
      const flag = rule.kind === 'rows' ? (placeholder: (i: number) => string) => rule.where(source.dialect, placeholder) : undefined;
      const out: RowDifferences = { changed: emptySample(), missing: emptySample(), extra: emptySample(), pending: emptySample() };
      const count = (what: keyof RowDifferences, k: string) => {
        const sample = out[what];
        sample.count++;
        if (sample.keys.length < SAMPLE_KEYS) sample.keys.push(displayKey(k));
      };
      const sourceRows = (q: { sql: string; params: string[] }) => source.queryRows(q.sql, q.params);
      const targetRows = async (q: { sql: string; params: string[] }) => (await target.query(q.sql, q.params)).rows as Record<string, unknown>[];
      try {
        for (const r of ranges) {
          const digits = bucketDigits(Math.max(r.sourceRows, r.targetRows));
          // A source that cannot hash in SQL sends the range's rows once; the worker hashes and buckets them.
          const hashed = await workerHashes(source, table, columns, r.range, digits, flag);
          const sourceBuckets = (q: { sql: string; params: string[] }) => (hashed ? Promise.resolve(hashed.sums()) : sourceRows(q));
          const sourceDigests = (q: { sql: string; params: string[] }, buckets: string[] | null) =>
            hashed ? Promise.resolve(hashed.rows(buckets)) : sourceRows(q);
          const sourceKeys = async (buckets: string[] | null): Promise<Record<string, unknown>[]> => {
            if (rule.kind !== 'keys') return [];
            const keys = hashed && (await source.rowHashes!(table, [], r.range, { from: (p) => rule.keys(source.dialect, p) }));
            if (!keys) return sourceRows(keysSql(src, (p) => rule.keys(source.dialect, p), r.range, digits, buckets));
            const out: Record<string, unknown>[] = [];
            for await (const row of keys) if (inBuckets(row.k, digits, buckets)) out.push({ k: row.k });
            return out;
          };
          let groups: (string[] | null)[] = [null];
          if (digits > 0) {
            const [s, t] = await Promise.all([sourceBuckets(bucketSumsSql(src, r.range, digits)), targetRows(bucketSumsSql(dst, r.range, digits))]);
            const sums = new Map<string, string>();
            for (const b of s) sums.set(String(b.b), `${b.n}/${b.s}`);
            const differing = new Set<string>();
            for (const b of t) if (sums.get(String(b.b)) !== `${b.n}/${b.s}`) differing.add(String(b.b));
            const seen = new Set(t.map((b) => String(b.b)));
            for (const b of sums.keys()) if (!seen.has(b)) differing.add(b);
            const list = [...differing].sort();
            groups = [];
            for (let i = 0; i < list.length; i += BUCKETS_PER_QUERY) groups.push(list.slice(i, i + BUCKETS_PER_QUERY));
          }
          for (const buckets of groups) {
            const [s, t, logged] = await Promise.all([
              sourceDigests(rowDigestsSql(src, r.range, digits, buckets, flag), buckets),
              targetRows(rowDigestsSql(dst, r.range, digits, buckets)),
              sourceKeys(buckets),
            ]);
            // A key spelled otherwise in the log ('DEF' for the row 'Def') is the same key where the source says so.
            const same = rule.kind === 'keys' && rule.fold ? rule.fold : (k: string) => k;
            const pendingKeys = new Set(logged.map((row) => same(String(row.k))));
            const theirs = new Map(t.map((row) => [String(row.k), String(row.h)]));
            const pending = (k: string, sourceFlag: unknown) =>
              rule.kind === 'all' || (rule.kind === 'rows' && Number(sourceFlag) === 1) || (rule.kind === 'keys' && pendingKeys.has(same(k)));
            for (const row of s) {
              const k = String(row.k);
              const h = theirs.get(k);
              theirs.delete(k);
              if (h === String(row.h)) continue;
              count(pending(k, row.p) ? 'pending' : h === undefined ? 'missing' : 'changed', k);
            }
            // Left: rows only the target has. A source-side predicate cannot select them, so only named keys (or all) make them pending.
            for (const k of theirs.keys()) count(rule.kind !== 'rows' && pending(k, 0) ? 'pending' : 'extra', k);
            Context.current().heartbeat({ range: r.range.index });
          }
        }
      } catch (err) {
        throw classifyError(err, `verify ${displayName(table.source)}`);
      }
      return out;
    },
  };
}
