import assert from 'node:assert/strict';
import { parseSyncConfig } from '../../lib/config';
import { modeOf, traitsOf } from '../../lib/modes';
import { cdcStreamName, legacyCdcStreamName } from '../../lib/modes/cdc/stream';
import { lsnText, lsnValue } from '../../lib/sources/postgres/lsn';
import { cdcCopyLine, cdcDeleteKeysSql, cdcDeleteSql, cdcStagingSql, cdcUpdateSql, cdcUpsertFromSql, cdcUpsertSql } from '../../lib/target';
import type { ColumnPlan } from '../../lib/types';

const col = (name: string, targetType = 'integer'): ColumnPlan => ({ name, targetName: name, sourceType: targetType, targetType, nullable: false });

describe('cdc mode: config, names, positions, statements', () => {
  it('is a mode a config may name, and takes only deletes besides', () => {
    const config = parseSyncConfig({ source: { connection: 's' }, target: { connection: 't' }, tables: [{ table: 'a', mode: 'cdc', deletes: 'soft' }] });
    assert.equal(typeof config.tables[0] === 'object' && config.tables[0].mode, 'cdc');
    assert.throws(
      () => parseSyncConfig({ source: { connection: 's' }, target: { connection: 't' }, tables: [{ table: 'a', mode: 'cdc', cursor: 'ts' }] }),
      /tables\[0\]\.cursor applies to mode cursor only \(this table's mode is cdc\)/,
    );
    assert.equal(traitsOf('cdc').defaultDeletes, 'hard');
  });

  it('a sync run leaves cdc tables to the cdc workflow, saying so', async () => {
    const outcome = await modeOf('cdc').plan({} as never);
    assert.deepEqual(outcome, { skip: 'mode cdc: synced by the cdc workflow (tablesync cdc start), not by a run' });
  });

  it("names a workflow's slot within PostgreSQL's rules, two ids that fold alike apart", () => {
    const a = cdcStreamName('tablesync-cdc-Orders');
    const b = cdcStreamName('tablesync-cdc-orders');
    // The default workflow id starts with tablesync- already: the name says it once.
    assert.match(a, /^tablesync_cdc_orders_[0-9a-f]{8}$/);
    assert.notEqual(a, b);
    for (const id of ['x'.repeat(200), `tablesync-${'é'.repeat(100)}`, 'tablesync-', '']) {
      for (const name of [cdcStreamName(id), legacyCdcStreamName(id)]) assert.ok(name.length <= 63 && /^[a-z0-9_]+$/.test(name), name);
    }
    assert.equal(cdcStreamName('same'), cdcStreamName('same'));
    // Streams named before keep their name (their tables' state says it): the old spelling is still known, with the same hash.
    assert.equal(legacyCdcStreamName('tablesync-cdc-Orders'), `tablesync_tablesync_cdc_orders_${a.slice(-8)}`);
    assert.equal(cdcStreamName('cdc-soft-1'), legacyCdcStreamName('cdc-soft-1'), 'ids without the prefix are named as before');
  });

  it('orders LSNs as numbers and spells them as PostgreSQL does', () => {
    assert.equal(lsnText('00000000/0A0B0C0D'), '0/A0B0C0D');
    assert.ok(lsnValue('1/0') > lsnValue('0/FFFFFFFF'));
    assert.ok(lsnValue('0/10') > lsnValue('0/9'));
    assert.throws(() => lsnValue('nope'), /not a PostgreSQL LSN/);
  });

  it('updates only the columns a change carries (an unchanged TOAST value is left as the target has it)', () => {
    const key = [col('id')];
    const up = cdcUpdateSql({ schema: 'public', name: 't' }, [col('id'), col('name', 'text')], ['1', 'x'], key, ['1']);
    assert.equal(up.text, 'UPDATE "public"."t" SET "id" = $1, "name" = $2 WHERE "id" = $3');
    assert.deepEqual(up.values, ['1', 'x', '1']);
    const ins = cdcUpsertSql({ schema: 'public', name: 't' }, [col('id'), col('name', 'text')], key, [['1', 'x'], ['2', null]], 'is_deleted');
    assert.match(ins.text, /VALUES \(\$1, \$2, false\), \(\$3, \$4, false\) ON CONFLICT/);
    assert.deepEqual(ins.values, ['1', 'x', '2', null]);
    assert.match(ins.text, /ON CONFLICT \("id"\) DO UPDATE SET "name" = EXCLUDED\."name", "is_deleted" = false, "_tablesync_deleted_at" = NULL$/);
    assert.equal(cdcDeleteSql({ schema: 'public', name: 't' }, key, null).text, 'DELETE FROM "public"."t"');
    assert.match(cdcDeleteSql({ schema: 'public', name: 't' }, key, ['1'], 'is_deleted').text, /SET "is_deleted" = true, .* WHERE "id" = \$1 AND "is_deleted" IS NOT TRUE$/);
  });

  it('deletes many keys in one statement, each parameter typed by its key column', () => {
    const t = { schema: 'public', name: 't' };
    const one = cdcDeleteKeysSql(t, [col('id')], [['1'], ['2']]);
    assert.equal(one.text, 'DELETE FROM "public"."t" WHERE "id" = ANY($1)');
    assert.deepEqual(one.values, [['1', '2']]);
    const two = cdcDeleteKeysSql(t, [col('a'), col('b', 'text')], [['1', 'x'], ['2', null]], 'is_deleted');
    assert.match(two.text, /SET "is_deleted" = true, .* WHERE \("a", "b"\) IN \(\(\$1, \$2\), \(\$3, \$4\)\) AND "is_deleted" IS NOT TRUE$/);
    assert.deepEqual(two.values, ['1', 'x', '2', null]);
  });

  it('stages many rows as COPY text in a temporary table emptied by each commit, then upserts them in one statement', () => {
    const t = { schema: 'public', name: 't' };
    const staging = { schema: 'pg_temp', name: 'tablesync_cdc_0123456789abcdef' };
    assert.equal(
      cdcStagingSql(staging, t, [col('id'), col('v', 'text')]),
      'CREATE TEMPORARY TABLE IF NOT EXISTS "tablesync_cdc_0123456789abcdef" ON COMMIT DELETE ROWS AS SELECT "id", "v" FROM "public"."t" WITH NO DATA',
    );
    assert.match(cdcUpsertFromSql(t, staging, [col('id'), col('v', 'text')], [col('id')], 'is_deleted'), /^INSERT INTO "public"\."t" \("id", "v", "is_deleted"\) SELECT "id", "v", false FROM "pg_temp"\."tablesync_cdc_0123456789abcdef" ON CONFLICT \("id"\) DO UPDATE SET "v" = EXCLUDED\."v", "is_deleted" = false/);
    // Exact text, escaped for COPY; NULL apart from the two characters \N.
    assert.equal(cdcCopyLine(['a\tb', 'c\nd\r', 'e\\f', '\\N', null]), 'a\\tb\tc\\nd\\r\te\\\\f\t\\\\N\t\\N\n');
  });
});
