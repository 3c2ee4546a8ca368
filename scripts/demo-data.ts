// Creates the demo source and target databases: a source with a partitioned
// table, a small table, a table without a primary key and one the target does
// not have yet (loaded in full); a target that holds an older copy of the
// rest, so the sync has inserts, updates and unchanged rows to report.
import { Client } from 'pg';

const base = process.env.TABLESYNC_DEMO_PG ?? 'postgres://postgres@127.0.0.1:5432';
// Each clone names its own databases (scripts/demo.sh derives the name from the clone's path), so two clones' demos never meet.
const name = process.env.TABLESYNC_DEMO_NAME ?? 'tablesync_demo';
if (!/^[a-z_][a-z0-9_]{0,50}$/.test(name)) throw new Error(`TABLESYNC_DEMO_NAME "${name}" must be a lowercase PostgreSQL name (letters, digits, _)`);
const SRC = `${name}_src`;
const DST = `${name}_dst`;

async function exec(db: string, sql: string): Promise<void> {
  const c = new Client({ connectionString: `${base}/${db}` });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

const schema = `
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, country text, created_at timestamptz NOT NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, total numeric(12,2) NOT NULL,
                     status text NOT NULL, placed_at timestamptz NOT NULL, note text);
CREATE TABLE audit_log (at timestamptz, message text);`;

async function main(): Promise<void> {
  for (const db of [SRC, DST]) {
    await exec('postgres', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await exec('postgres', `CREATE DATABASE ${db}`);
    await exec(db, schema);
  }
  await exec(
    SRC,
    `INSERT INTO customers SELECT g, 'Customer ' || g, CASE WHEN g % 10 <> 0 THEN 'c' || g || '@example.com' END,
            (ARRAY['BR','DE','US','JP'])[1 + g % 4], timestamptz '2025-01-01' + g * interval '1 hour'
       FROM generate_series(1, 5000) g;
     INSERT INTO orders SELECT g, 1 + g % 5000, round((g % 997) * 1.37, 2), (ARRAY['new','paid','shipped'])[1 + g % 3],
            timestamptz '2025-06-01' + g * interval '1 minute', CASE WHEN g % 5 = 0 THEN 'gift' END
       FROM generate_series(1, 200000) g;
     INSERT INTO audit_log SELECT now(), 'event ' || g FROM generate_series(1, 100) g;
     CREATE TABLE products (sku text PRIMARY KEY, title text NOT NULL, price numeric(10,2), tags text[]);
     INSERT INTO products SELECT 'SKU-' || lpad(g::text, 5, '0'), 'Product ' || g, g * 0.99, ARRAY['demo']
       FROM generate_series(1, 300) g;
     ANALYZE;`,
  );
  // The target is yesterday's copy: fewer orders, and some since changed at the source.
  await exec(
    DST,
    `INSERT INTO customers SELECT g, 'Customer ' || g, CASE WHEN g % 10 <> 0 THEN 'c' || g || '@example.com' END,
            (ARRAY['BR','DE','US','JP'])[1 + g % 4], timestamptz '2025-01-01' + g * interval '1 hour'
       FROM generate_series(1, 4900) g;
     UPDATE customers SET email = NULL WHERE id % 250 = 1;
     INSERT INTO orders SELECT g, 1 + g % 5000, round((g % 997) * 1.37, 2), (ARRAY['new','paid','shipped'])[1 + (g + (g % 100 = 0)::int) % 3],
            timestamptz '2025-06-01' + g * interval '1 minute', CASE WHEN g % 5 = 0 THEN 'gift' END
       FROM generate_series(1, 190000) g;
     INSERT INTO audit_log VALUES (now(), 'old');`,
  );
  console.log(`Demo databases ready: ${SRC} (source) and ${DST} (target)`);
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
