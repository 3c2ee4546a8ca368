import { log } from '@temporalio/activity';
import { failedTableResult, summarize } from '../lib/summary';
import type { FailedTable, SkippedTable, SyncSummary, TableResult } from '../lib/types';

// Reporting: the run's summary, from its tables' results.

export interface CollectResultsInput {
  tables: TableResult[];
  skipped: SkippedTable[];
  failed?: FailedTable[];
  plan?: string[];
}

export function createReportingActivities() {
  return {
    async collectResults({ tables, skipped, failed = [], plan = [] }: CollectResultsInput): Promise<SyncSummary> {
      const summary = summarize([...failed.map(failedTableResult), ...tables], skipped, plan);
      for (const t of tables.filter((t) => t.status === 'failed')) log.error(`${t.table} failed: ${t.error}`);
      log.info(summary.message);
      return summary;
    },
  };
}
