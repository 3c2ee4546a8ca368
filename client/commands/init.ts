import { existsSync, writeFileSync } from 'node:fs';
import { ConnectionRegistry } from '../../activities/connections';
import { parseConfigFile } from '../../lib/config';
import { TablesyncError } from '../../lib/errors';
import { initConfigText, looksLikeChangedAt, withoutPassword, type InitTable } from '../../lib/init-config';
import { qualify, type DialectName, type SourceConnection, type SourceTable } from '../../lib/sources/base';
import type { TableRef } from '../../lib/types';
import { planFullColumns } from '../../lib/table-plan';
import { InputError } from '../input-error';

// `tablesync init`: connects to both databases, looks at the source's tables
// and writes a starter config (see lib/init-config.ts). Nothing runs through
// Temporal and nothing in either database changes.

export interface InitOptions {
  source: string;
  target: string;
  out?: string;
  schema?: string;
  force?: boolean;
}

/** Columns that lead an index, per dialect: a cursor on one of them is read without scanning the table. */
function leadingIndexColumns(source: SourceConnection, ref: TableRef): Promise<Record<string, unknown>[]> {
  const name = source.dialect.name;
  if (name === 'mysql') {
    return source.queryRows('SELECT COLUMN_NAME AS col FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND SEQ_IN_INDEX = 1', [ref.schema, ref.name]);
  }
  const sql: Record<Exclude<DialectName, 'mysql'>, string> = {
    postgres: `SELECT a.attname AS col FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
      WHERE i.indrelid = to_regclass(${source.dialect.placeholder(1)})`,
    mssql: `SELECT c.name AS col FROM sys.index_columns ic JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
      WHERE ic.object_id = OBJECT_ID(${source.dialect.placeholder(1)}) AND ic.key_ordinal = 1`,
  };
  return source.queryRows(sql[name], [qualify(source.dialect, ref)]);
}

async function inspect(source: SourceConnection, described: SourceTable): Promise<InitTable> {
  const { ref } = described;
  const rows = Math.max(0, Math.round(await source.estimateRows(ref)));
  const typeHints: InitTable['typeHints'] = [];
  let unreadable: string | undefined;
  // The same mapping a full load makes; a refused type says what typeMap entry would read it.
  const typeMap: Record<string, string> = {};
  for (let tries = 0; tries <= described.columns.length; tries++) {
    try {
      planFullColumns(source.dialect, { target: { naming: 'preserve' } as never, typeMap }, described);
      break;
    } catch (err) {
      if (!(err instanceof TablesyncError) || err.type !== 'UnsupportedType') throw err;
      const hint = /typeMap: \{ "([^"]+)": "([^"]+)" \}/.exec(err.message);
      if (!hint || hint[1] in typeMap) {
        unreadable = err.message;
        break;
      }
      typeMap[hint[1]] = hint[2];
      typeHints.push({ key: hint[1], type: hint[2], why: err.message.replace(/; map it in the config.*$/, '') });
    }
  }
  const candidate = described.columns.find((c) => looksLikeChangedAt(c.name, c.type) && source.dialect.cursor.kind(c));
  let cursor: InitTable['cursor'];
  if (candidate) {
    const leading = await leadingIndexColumns(source, ref);
    cursor = { column: candidate.name, type: candidate.type, nullable: candidate.nullable, indexed: leading.some((r) => r.col === candidate.name) };
  }
  const uniqueKeys = described.primaryKey.length ? [] : await source.uniqueKeys(ref);
  return { ref, primaryKey: described.primaryKey, rows, ...(uniqueKeys.length && { uniqueKeys }), ...(cursor && { cursor }), typeHints, ...(unreadable && { unreadable }) };
}

export async function initCommand(opts: InitOptions): Promise<number> {
  const out = opts.out ?? 'sync.yaml';
  if (existsSync(out) && !opts.force) throw new InputError('FileExists', `${out} exists; choose another with --out, or --force to overwrite it`);
  const registry = new ConnectionRegistry({ source: { url: opts.source }, target: { url: opts.target } }, {});
  try {
    const source = registry.source('source');
    // The target must answer too: a config whose target cannot be reached would only fail later.
    await registry.pg('target').query('SELECT 1');
    const schema = opts.schema ?? source.dialect.defaultSchema;
    if (!schema) throw new InputError('InvalidArguments', 'the source URL names no database: add one to it, or give --schema');
    const listed = (await source.listTables()).filter((t) => t.kind === 'table' && t.schema === schema);
    const tables: InitTable[] = [];
    for (const ref of listed) {
      const described = await source.describeTable(ref);
      if (described) tables.push(await inspect(source, described));
    }
    const text = initConfigText({ dialect: source.dialect.name, schema, sourceUrl: withoutPassword(opts.source), targetUrl: withoutPassword(opts.target), out, tables });
    // What the file says must parse as a config: a starter that fails to load helps no one.
    parseConfigFile((await import('yaml')).parse(text), {}, `the config init wrote`);
    writeFileSync(out, text, { mode: 0o644 });
    console.log(`Wrote ${out}: ${tables.length} table${tables.length === 1 ? '' : 's'} of ${schema}. Read it, then:`);
    console.log(`  export TABLESYNC_CONNECTION_SOURCE=... TABLESYNC_CONNECTION_TARGET=...   (the URLs; ${out} names them only)`);
    console.log(`  tablesync run --config ${out} --dry-run --local`);
    return 0;
  } finally {
    await registry.close();
  }
}
