import { Context } from '@temporalio/activity';
import type { SyncConfig } from '../lib/config';
import { pgCanonical, pgChecksumSql, quotePg } from '../lib/sources/postgres';
import { displayName } from '../lib/tables';
import { targetKey } from '../lib/target';
import type { PartitionRange, RangeChecksum, TablePlan } from '../lib/types';
import type { ActivityDeps } from './context';
import { classifyError, nonRetryable } from './errors';

// Verification: counts and checksums of key ranges, computed inside each
// database, for `tablesync verify` and verifyAfterSync.

export interface ChecksumRangesInput {
  config: SyncConfig;
  table: TablePlan;
  ranges: PartitionRange[];
}

export function createVerificationActivities({ connections }: ActivityDeps) {
  return {
    async checksumRanges({ config, table, ranges }: ChecksumRangesInput): Promise<RangeChecksum[]> {
      const source = connections.source(config.source.connection);
      const target = connections.pg(config.target.connection);
      const canonical = source.dialect.canonicalText?.bind(source.dialect);
      if (!source.checksumRange || !canonical) {
        throw nonRetryable('UnsupportedSource', `verify: ${source.dialect.name} sources cannot be checksummed yet`);
      }
      const included = table.columns.filter((c) => canonical(c) !== null);
      const skippedColumns = table.columns.filter((c) => !included.includes(c)).map((c) => c.name);
      const targetCanonical = included.map((c) => pgCanonical(quotePg(c.targetName), c.targetType));
      const key = targetKey(table.columns, table.primaryKey);
      // Rows marked deleted (deletes: soft) are gone from the source: only the live ones must match it.
      const live = table.softDeleteColumn ? `${quotePg(table.softDeleteColumn)} IS NOT TRUE` : undefined;
      const out: RangeChecksum[] = [];
      try {
        for (const range of ranges) {
          // Both sides at once, so the two snapshots are as close in time as they can be.
          const [s, t] = await Promise.all([
            source.checksumRange(table, included, range),
            target.query(pgChecksumSql(table.target, targetCanonical, key, range, live)),
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
  };
}
