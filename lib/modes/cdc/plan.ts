import type { Pool } from 'pg';
import type { SyncConfig } from '../../config';
import { resolveConfigTables, targetCollisions } from '../../discovery';
import { stateColumnTypes } from '../../schema-evolution';
import { TablesyncError } from '../../errors';
import type { SourceConnection } from '../../sources/base';
import { displayName } from '../../tables';
import { planSoftDeletes } from '../../target';
import type { FailedTable, TablePlan } from '../../types';
import { keyRangePlan } from '../full/plan';
import { columnsNotes, describeTarget, fullColumns, tableConfig, withUserTypes } from '../plan-steps';
import { settingsOf } from '../index';
import type { PlanContext } from '../types';

/** The cdc tables of a config, planned for their snapshot and stream; tables of other modes are not the stream's. */
export interface CdcTables {
  tables: TablePlan[];
  failed: FailedTable[];
}

/**
 * Plans every table whose mode is cdc. The snapshot loads each anew (like a
 * full load), so its plan has every source column; a table the stream cannot
 * carry faithfully is refused, naming why.
 */
export async function planCdcTables(source: SourceConnection, target: Pool, config: SyncConfig): Promise<CdcTables> {
  const resolution = await resolveConfigTables(source, config);
  const planned: TablePlan[] = [];
  const failed = [...resolution.failed];
  for (const ref of resolution.refs) {
    const settings = settingsOf(config, ref);
    if (settings.mode !== 'cdc') continue;
    const name = displayName(ref);
    const described = await source.describeTable({ schema: ref.schema, name: ref.name });
    if (!described) throw new TablesyncError('UnknownTable', `Source table ${name} does not exist in "${config.source.connection}"`);
    if (described.primaryKey.length === 0) {
      throw new TablesyncError('CdcSetup', `${name}: cdc needs a primary key (its changes are applied by key); add one or sync the table with another mode`);
    }
    const generated = source.changeCapture?.carriesGenerated ? [] : described.columns.filter((c) => c.generated);
    if (generated.length) {
      // PostgreSQL 15's log does not carry generated columns: their target values would go stale (a binlog row image does).
      throw new TablesyncError('CdcSetup', `${name}: column ${generated.map((c) => `"${c.name}"`).join(', ')} is generated, and the change log does not carry generated columns; leave it out of cdc`);
    }
    const ctx: PlanContext = { source, target, config, described, settings, write: true };
    const side = await describeTarget(ctx);
    const columns = fullColumns(ctx);
    const plan: TablePlan = { ...keyRangePlan(ctx, side), mode: 'cdc', columns, notes: [...side.notes, ...columnsNotes(ctx, columns)] };
    const made = await withUserTypes(ctx, await planSoftDeletes(target, tableConfig(ctx), plan, described, side.table, true));
    // Saved with each batch's state: what a worker restarted later checks the stream's plan by (activities/plan-check.ts).
    planned.push({ ...made, columnTypes: stateColumnTypes(source.dialect, described, made.columns) });
  }
  const { kept, failed: collided } = targetCollisions(planned);
  failed.push(...collided);
  return { tables: kept, failed };
}
