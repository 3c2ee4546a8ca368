import type { Pool, PoolClient } from 'pg';
import type { SyncConfig } from '../../config';
import { TablesyncError } from '../../errors';
import { tableSteps } from '../../modes/names';
import { refKey } from '../base';
import { quotePg } from './sql';
import { targetRefOf } from '../../table-plan';
import type { PgTypeName, TablePlan, TargetUserType } from '../../types';

// PostgreSQL user-defined types (enums, domains, composite types, and arrays
// of them) that a PostgreSQL source's columns use. A full load creates them
// in the target from the source's definitions before its table, so a load
// never fails on a missing type; one that exists with another definition is
// refused at discovery, naming both.

type Queryable = Pick<Pool, 'query'>;

/** A type as a column or a definition uses it: built in (spelled by format_type), or a user type or an array of one. */
export type PgTypeUse = { builtin: string } | { user: PgTypeName; array: boolean };

export type PgTypeDef =
  | { kind: 'enum'; name: PgTypeName; labels: string[] }
  | { kind: 'domain'; name: PgTypeName; base: PgTypeUse; notNull: boolean; default: string | null; checks: { name: string; def: string }[] }
  | { kind: 'composite'; name: PgTypeName; attributes: { name: string; type: PgTypeUse }[] };

/** The user types of one table: per column (user-typed columns only), and every definition they reach, dependencies first. */
export interface PgColumnTypes {
  columns: Map<string, PgTypeUse>;
  definitions: PgTypeDef[];
  /** Each type as the server spells it in expressions (domain defaults and checks), to rewrite it there. */
  spelled: Map<string, { name: PgTypeName; sql: string }>;
}

const typesSql = `SELECT t.oid::bigint::text AS oid, n.nspname AS schema, t.typname AS name, t.typtype AS kind,
    t.typcategory AS category, t.typelem::bigint::text AS elem, c.relkind,
    t.typbasetype::bigint::text AS base, format_type(t.typbasetype, t.typtypmod) AS base_spelled,
    t.typnotnull AS not_null, pg_get_expr(t.typdefaultbin, 0) AS "default", format('%I.%I', n.nspname, t.typname) AS spelled,
    ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels,
    ARRAY(SELECT k.conname::text FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c' ORDER BY k.conname) AS check_names,
    ARRAY(SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c' ORDER BY k.conname) AS check_defs
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace LEFT JOIN pg_class c ON c.oid = t.typrelid
  WHERE t.oid = ANY ($1::oid[])`;
const attributesSql = `SELECT t.oid::bigint::text AS type_oid, a.attname AS name, a.atttypid::bigint::text AS oid,
    format_type(a.atttypid, a.atttypmod) AS spelled
  FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid
  WHERE t.oid = ANY ($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY t.oid, a.attnum`;
const columnsSql = `SELECT a.attname AS name, a.atttypid::bigint::text AS oid, format_type(a.atttypid, a.atttypmod) AS spelled
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
  ORDER BY a.attnum`;
const columnsManySql = `SELECT w.i::int AS i, a.attname AS name, a.atttypid::bigint::text AS oid, format_type(a.atttypid, a.atttypmod) AS spelled
  FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(schema, name, i)
  JOIN pg_namespace n ON n.nspname = w.schema JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.name
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  ORDER BY w.i, a.attnum`;

interface TypeRow {
  oid: string;
  schema: string;
  name: string;
  kind: string;
  category: string;
  elem: string;
  relkind: string | null;
  base: string;
  base_spelled: string;
  not_null: boolean;
  default: string | null;
  spelled: string;
  labels: string[];
  check_names: string[];
  check_defs: string[];
}
type Slot = { oid: string; spelled: string };

const BUILTIN_SCHEMAS = new Set(['pg_catalog', 'information_schema']);

/** Type rows and composite types' attributes, by oid: what a reader needs, read once for any number of tables. */
interface LoadedTypes {
  rows: Map<string, TypeRow>;
  attributes: Map<string, { name: string; slot: Slot }[]>;
}

/** The oids a type leads to: an array's element, a domain's base (composite attributes are followed separately). */
function leadsTo(r: TypeRow): string[] {
  if (BUILTIN_SCHEMAS.has(r.schema) && r.elem === '0') return [];
  return [...(r.category === 'A' && r.elem !== '0' ? [r.elem] : []), ...(r.kind === 'd' ? [r.base] : [])];
}
const isUserComposite = (r: TypeRow): boolean => r.kind === 'c' && !BUILTIN_SCHEMAS.has(r.schema);

/** Reads type definitions by oid into `loaded`, following arrays, domain bases and composite attributes to the built-in types. */
async function loadTypes(db: Queryable, start: string[], loaded: LoadedTypes = { rows: new Map(), attributes: new Map() }): Promise<LoadedTypes> {
  const { rows, attributes } = loaded;
  let todo = [...new Set(start)].filter((oid) => !rows.has(oid));
  while (todo.length) {
    const got = (await db.query(typesSql, [todo])).rows as TypeRow[];
    for (const r of got) rows.set(r.oid, r);
    const composite = got.filter(isUserComposite).map((r) => r.oid);
    const next = got.flatMap(leadsTo);
    if (composite.length) {
      for (const a of (await db.query(attributesSql, [composite])).rows) {
        const list = attributes.get(a.type_oid) ?? [];
        list.push({ name: a.name, slot: { oid: a.oid, spelled: a.spelled } });
        attributes.set(a.type_oid, list);
        next.push(a.oid);
      }
    }
    todo = [...new Set(next)].filter((oid) => !rows.has(oid));
  }
  return loaded;
}

/** What loadTypes of `start` alone would have read: the rows reached from these oids, so many tables' reads give each what its own would. */
function reached(loaded: LoadedTypes, start: string[]): LoadedTypes {
  const rows = new Map<string, TypeRow>();
  const attributes = new Map<string, { name: string; slot: Slot }[]>();
  let todo = [...new Set(start)];
  while (todo.length) {
    const got = todo.flatMap((oid) => (loaded.rows.has(oid) ? [loaded.rows.get(oid)!] : []));
    for (const r of got) rows.set(r.oid, r);
    const next = got.flatMap(leadsTo);
    for (const r of got.filter(isUserComposite)) {
      const list = loaded.attributes.get(r.oid);
      if (!list) continue;
      attributes.set(r.oid, list);
      next.push(...list.map((a) => a.slot.oid));
    }
    todo = [...new Set(next)].filter((oid) => !rows.has(oid));
  }
  return { rows, attributes };
}

/** Reads type definitions by oid, following arrays, domain bases and composite attributes to the built-in types. */
async function readTypes(db: Queryable, start: Slot[], where: string): Promise<TypeReader> {
  return typeReader(await loadTypes(db, start.map((s) => s.oid)), where);
}

type TypeReader = { use: (s: Slot, what: string) => PgTypeUse; defs: Map<string, PgTypeDef>; spelled: PgColumnTypes['spelled'] };

/** Type uses and definitions (dependencies first) from loaded rows; `where` names the table or type in errors. */
function typeReader({ rows, attributes }: LoadedTypes, where: string): TypeReader {
  const isUser = (r: TypeRow, what: string): boolean => {
    if (BUILTIN_SCHEMAS.has(r.schema)) return false;
    if (r.kind === 'c' && r.relkind !== 'c') {
      throw new TablesyncError(
        'UnsupportedType',
        `${where} ${what} uses the row type of table ${r.schema}.${r.name}, which cannot be created as a type; map it in the config, e.g. typeMap: { "${r.schema}.${r.name}": "text" }`,
      );
    }
    // Extension base types, ranges and the like are left as they are spelled.
    return r.kind === 'e' || r.kind === 'd' || r.kind === 'c';
  };
  const nameOf = (r: TypeRow): PgTypeName => ({ schema: r.schema, name: r.name });
  const use = (s: Slot, what: string): PgTypeUse => {
    const r = rows.get(s.oid)!;
    const elem = r.category === 'A' && r.elem !== '0' ? rows.get(r.elem) : undefined;
    if (elem && isUser(elem, what)) return { user: nameOf(elem), array: true };
    if (!elem && isUser(r, what)) return { user: nameOf(r), array: false };
    return { builtin: s.spelled };
  };
  // Definitions in dependency order: what a type uses comes before it.
  const defs = new Map<string, PgTypeDef>();
  const visit = (u: PgTypeUse, what: string): void => {
    if ('builtin' in u) return;
    const key = typeKey(u.user);
    if (defs.has(key)) return;
    const r = [...rows.values()].find((x) => x.schema === u.user.schema && x.name === u.user.name)!;
    let def: PgTypeDef;
    if (r.kind === 'e') def = { kind: 'enum', name: u.user, labels: r.labels };
    else if (r.kind === 'd') {
      const base = use({ oid: r.base, spelled: r.base_spelled }, `${what} (domain ${key})`);
      visit(base, what);
      const checks = r.check_names.map((name, i) => ({ name, def: r.check_defs[i] }));
      def = { kind: 'domain', name: u.user, base, notNull: r.not_null, default: r.default, checks };
    } else {
      const attrs = (attributes.get(r.oid) ?? []).map((a) => ({ name: a.name, type: use(a.slot, `${what} (type ${key} attribute "${a.name}")`) }));
      for (const a of attrs) visit(a.type, what);
      def = { kind: 'composite', name: u.user, attributes: attrs };
    }
    defs.set(key, def);
  };
  const spelled: PgColumnTypes['spelled'] = new Map();
  for (const r of rows.values()) if (!BUILTIN_SCHEMAS.has(r.schema)) spelled.set(typeKey(nameOf(r)), { name: nameOf(r), sql: r.spelled });
  return {
    use: (s, what) => {
      const u = use(s, what);
      visit(u, what);
      return u;
    },
    defs,
    spelled,
  };
}

const typeKey = (n: PgTypeName): string => `${n.schema}.${n.name}`;
const qualifyType = (n: PgTypeName): string => `${quotePg(n.schema)}.${quotePg(n.name)}`;

/**
 * Runs catalog reads with search_path = pg_catalog, so format_type, domain
 * defaults and checks spell every user type schema-qualified, whatever the
 * session's path: the source's names can then be rewritten to the target's.
 */
async function withCatalogPath<T>(db: Pool | PoolClient, fn: (db: Queryable) => Promise<T>): Promise<T> {
  if ('release' in db) {
    const saved = (await db.query(`SELECT current_setting('search_path') AS p`)).rows[0].p as string;
    await db.query(`SELECT set_config('search_path', 'pg_catalog', true)`);
    const result = await fn(db);
    await db.query(`SELECT set_config('search_path', $1, true)`, [saved]);
    return result;
  }
  const client = await db.connect();
  try {
    await client.query('BEGIN READ ONLY');
    await client.query('SET LOCAL search_path = pg_catalog');
    const result = await fn(client);
    await client.query('COMMIT');
    client.release();
    return result;
  } catch (err) {
    client.release(err as Error);
    throw err;
  }
}

/** A table's user types from its columns and a reader of their types. */
function columnTypes(cols: { name: string; oid: string; spelled: string }[], reader: TypeReader): PgColumnTypes {
  const columns = new Map<string, PgTypeUse>();
  for (const c of cols) {
    const u = reader.use(c, `column "${c.name}"`);
    if (!('builtin' in u)) columns.set(c.name, u);
  }
  return { columns, definitions: [...reader.defs.values()], spelled: reader.spelled };
}

/** A PostgreSQL source: the user types the table's columns use. */
export function readColumnTypes(pool: Pool, table: PgTypeName): Promise<PgColumnTypes> {
  return withCatalogPath(pool, async (db) => {
    const cols = (await db.query(columnsSql, [table.schema, table.name])).rows as { name: string; oid: string; spelled: string }[];
    return columnTypes(cols, await readTypes(db, cols, `${table.schema}.${table.name}`));
  });
}

/**
 * readColumnTypes of many tables in a few queries (every table's columns,
 * then their types, level by level), keyed by refKey. A table the catalog
 * does not list, or whose types readColumnTypes would refuse, is left out:
 * readColumnTypes then reads (or refuses) it alone.
 */
export function readColumnTypesMany(pool: Pool, tables: PgTypeName[]): Promise<Map<string, PgColumnTypes>> {
  return withCatalogPath(pool, async (db) => {
    const found = new Map<string, PgColumnTypes>();
    const r = await db.query(columnsManySql, [tables.map((t) => t.schema), tables.map((t) => t.name)]);
    const cols = new Map<number, { name: string; oid: string; spelled: string }[]>();
    for (const row of r.rows) {
      const list = cols.get(row.i);
      if (list) list.push(row);
      else cols.set(row.i, [row]);
    }
    const loaded = await loadTypes(db, r.rows.map((row) => row.oid as string));
    for (const [i, list] of cols) {
      const table = tables[i - 1];
      try {
        found.set(refKey(table), columnTypes(list, typeReader(reached(loaded, list.map((c) => c.oid)), `${table.schema}.${table.name}`)));
      } catch {
        // Refused: readColumnTypes says why, for this table alone.
      }
    }
    return found;
  });
}

/** An expression (domain default or check) with each user type's spelling replaced by its rendering. */
function rewriteExpression(expr: string, spelled: PgColumnTypes['spelled'], render: (u: PgTypeUse) => string): string {
  let out = expr;
  for (const { name, sql } of spelled.values()) {
    const escaped = sql.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    out = out.replace(new RegExp(`(?<![\\w."])${escaped}(?![\\w"])`, 'g'), () => render({ user: name, array: false }));
  }
  return out;
}

/** A definition as one line, with type references rendered by `render`: what is compared, and shown when two differ. */
function definitionText(def: PgTypeDef, render: (u: PgTypeUse) => string, spelled: PgColumnTypes['spelled']): string {
  const expr = (e: string) => rewriteExpression(e, spelled, render);
  switch (def.kind) {
    case 'enum':
      return `enum (${def.labels.map((l) => `'${l.replace(/'/g, "''")}'`).join(', ')})`;
    case 'domain':
      return [
        `domain over ${render(def.base)}`,
        ...(def.default !== null ? [`DEFAULT ${expr(def.default)}`] : []),
        ...(def.notNull ? ['NOT NULL'] : []),
        ...def.checks.map((c) => expr(c.def)).sort(),
      ].join(' ');
    case 'composite':
      return `composite (${def.attributes.map((a) => `${quotePg(a.name)} ${render(a.type)}`).join(', ')})`;
  }
}

function createSql(def: PgTypeDef, target: PgTypeName, render: (u: PgTypeUse) => string, spelled: PgColumnTypes['spelled']): string {
  const expr = (e: string) => rewriteExpression(e, spelled, render);
  const q = qualifyType(target);
  switch (def.kind) {
    case 'enum':
      return `CREATE TYPE ${q} AS ENUM`; // labels are bound: see createEnumSql
    case 'domain':
      return [
        `CREATE DOMAIN ${q} AS ${render(def.base)}`,
        ...(def.default !== null ? [`DEFAULT ${expr(def.default)}`] : []),
        ...(def.notNull ? ['NOT NULL'] : []),
        ...def.checks.map((c) => `CONSTRAINT ${quotePg(c.name)} ${expr(c.def)}`),
      ].join(' ');
    case 'composite':
      return `CREATE TYPE ${q} AS (${def.attributes.map((a) => `${quotePg(a.name)} ${render(a.type)}`).join(', ')})`;
  }
}

// Enum labels are values: bound, and quoted by the server's own format('%L').
const createEnumSql = `SELECT format('%s (%s)', $1::text,
    coalesce((SELECT string_agg(format('%L', l), ', ' ORDER BY i) FROM unnest($2::text[]) WITH ORDINALITY AS u (l, i)), '')) AS ddl`;

/** The definition of an existing target type, rendered as definitionText renders the source's; null when there is none. */
function targetDefinition(target: Pool | PoolClient, name: PgTypeName): Promise<string | null> {
  return withCatalogPath(target, async (db) => {
    const found = await db.query('SELECT to_regtype($1)::oid::bigint::text AS oid', [qualifyType(name)]);
    const oid = found.rows[0]?.oid as string | null;
    if (!oid) return null;
    const reader = await readTypes(db, [{ oid, spelled: qualifyType(name) }], `target type ${typeKey(name)}`);
    const u = reader.use({ oid, spelled: qualifyType(name) }, '');
    const def = 'builtin' in u ? undefined : reader.defs.get(typeKey(u.user));
    if (!def) return `not an enum, domain or composite type`;
    return definitionText(def, (x) => ('builtin' in x ? x.builtin : qualifyType(x.user) + (x.array ? '[]' : '')), reader.spelled);
  });
}

function conflict(t: TargetUserType, found: string): TablesyncError {
  return new TablesyncError(
    'TypeConflict',
    `type ${typeKey(t.target)} exists in the target as ${found}, but source type ${typeKey(t.source)} is ${t.definition}; ` +
      `drop or rename one, or map the type in the config, e.g. typeMap: { "${typeKey(t.source)}": "text" }`,
  );
}

/**
 * Discovery: the plan with its user-typed columns marked, and for a full load
 * their target types (in the target schema a table of the type's schema goes
 * to) and the types to create. typeMap by "schema.type" or the bare type name
 * maps a type (and arrays of it) to a built-in type instead, wherever it is used.
 * A target type that exists with another definition fails here, naming both.
 */
export async function planUserTypes(
  types: PgColumnTypes,
  target: Pool,
  config: Pick<SyncConfig, 'target' | 'typeMap'>,
  plan: TablePlan,
): Promise<TablePlan> {
  if (types.columns.size === 0) return plan;
  const mapped = (n: PgTypeName): string | undefined => config.typeMap[typeKey(n)] ?? config.typeMap[n.name];
  const targetOf = (n: PgTypeName): PgTypeName => targetRefOf(config, n);
  const render = (u: PgTypeUse): string => {
    if ('builtin' in u) return u.builtin;
    return (mapped(u.user) ?? qualifyType(targetOf(u.user))) + (u.array ? '[]' : '');
  };
  const full = tableSteps(plan.mode) === 'load-and-swap';
  const columns = plan.columns.map((c) => {
    const u = types.columns.get(c.name);
    if (!u) return c;
    // A per-column typeMap entry, or one for the type as format_type spells it ("mood[]"), wins.
    const byColumn = config.typeMap[`${plan.source.schema}.${plan.source.name}.${c.name}`] ?? config.typeMap[c.sourceType.toLowerCase()];
    return { ...c, userType: true, ...(full && { targetType: byColumn ?? render(u) }) };
  });
  // The definitions the target needs: those reached from columns (and definitions) not mapped away.
  const needed = new Set<string>();
  const need = (u: PgTypeUse): void => {
    if ('builtin' in u || mapped(u.user) !== undefined || needed.has(typeKey(u.user))) return;
    needed.add(typeKey(u.user));
    const def = types.definitions.find((d) => typeKey(d.name) === typeKey(u.user))!;
    if (def.kind === 'domain') need(def.base);
    if (def.kind === 'composite') def.attributes.forEach((a) => need(a.type));
  };
  for (const c of plan.columns) {
    const u = types.columns.get(c.name);
    const byColumn = config.typeMap[`${plan.source.schema}.${plan.source.name}.${c.name}`] ?? config.typeMap[c.sourceType.toLowerCase()];
    if (u && (byColumn === undefined || !full)) need(u);
  }
  const userTypes: TargetUserType[] = [];
  const byTarget = new Map<string, TargetUserType>();
  for (const def of types.definitions.filter((d) => needed.has(typeKey(d.name)))) {
    const t: TargetUserType = {
      source: def.name,
      target: targetOf(def.name),
      definition: definitionText(def, render, types.spelled),
      ddl: createSql(def, targetOf(def.name), render, types.spelled),
      ...(def.kind === 'enum' && { labels: def.labels }),
    };
    const other = byTarget.get(typeKey(t.target));
    if (other && other.definition !== t.definition) {
      throw new TablesyncError(
        'TypeConflict',
        `source types ${typeKey(other.source)} (${other.definition}) and ${typeKey(t.source)} (${t.definition}) both become ${typeKey(t.target)} in the target`,
      );
    }
    byTarget.set(typeKey(t.target), t);
    const found = await targetDefinition(target, t.target);
    if (found !== null && found !== t.definition) throw conflict(t, found);
    userTypes.push(t);
  }
  return { ...plan, columns, ...(full && userTypes.length && { userTypes }) };
}

/**
 * Load: creates the plan's missing types, dependencies first, under one
 * advisory lock so that tables sharing a type and loading in parallel never
 * race; an existing type is checked against the source's definition again.
 */
export async function ensureUserTypes(
  client: PoolClient,
  types: TargetUserType[] | undefined,
  ensureSchema: (client: PoolClient, schema: string) => Promise<void>,
): Promise<void> {
  if (!types?.length) return;
  let locked = false;
  for (const t of types) {
    const found = await targetDefinition(client, t.target);
    if (found !== null) {
      if (found !== t.definition) throw conflict(t, found);
      continue;
    }
    if (!locked) {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('tablesync.types'))`);
      locked = true;
      // Another load may have created it while this one waited.
      const now = await targetDefinition(client, t.target);
      if (now !== null) {
        if (now !== t.definition) throw conflict(t, now);
        continue;
      }
    }
    await ensureSchema(client, t.target.schema);
    const ddl = t.labels ? (await client.query(createEnumSql, [t.ddl, t.labels])).rows[0].ddl : t.ddl;
    await client.query(ddl);
  }
}
