import type { DigestSide } from '../sources/digests';
import { pgCanonical, pgFields, pgMd5, pgSum32 } from '../canonical';
import { qualifyPg, quotePg, targetRanges } from './sql';
import { rangePredicate } from '../sources/base';
import type { ColumnPlan, TablePlan, TableRef } from '../types';
import { targetKey } from './columns';
import { keepsVersions } from '../modes/plans';
import { latestViewName } from './cursor';

// What verify compares in the target: the table, or for an append table its
// `<table>_latest` view (the latest version per key, which must equal the
// source row); with soft deletes, only the rows not marked deleted.

/** The relation whose rows must equal the source's. */
export function verifiedRelation(table: TablePlan): TableRef {
  return keepsVersions(table) ? latestViewName(table.target) : table.target;
}

/** Rows marked deleted (deletes: soft, now or before) are gone from the source: only the live ones must match it. */
export function liveCondition(table: TablePlan): string | undefined {
  const flag = table.marks ?? table.softDeleteColumn;
  return flag ? `${quotePg(flag)} IS NOT TRUE` : undefined;
}

/** The target side of verify's row digests, in target column names and types. */
export function targetDigestSide(table: TablePlan, columns: ColumnPlan[]): DigestSide {
  const keyNames = targetKey(table.columns, table.primaryKey);
  const canonical = (cs: ColumnPlan[]) => cs.map((c) => pgCanonical(quotePg(c.targetName), c.targetType));
  return {
    dialect: targetRanges,
    digest: {
      row: (cs) => pgFields(canonical(cs)),
      md5: pgMd5,
      sum32: pgSum32,
      rangeWhere: (_plan, range, first) => rangePredicate(targetRanges, keyNames, range, first),
    },
    relation: qualifyPg(verifiedRelation(table)),
    plan: table,
    key: table.primaryKey.map((k) => table.columns.find((c) => c.name === k)!),
    columns,
    live: liveCondition(table),
  };
}
