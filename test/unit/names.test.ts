import assert from 'node:assert/strict';
import { resolveTableSpecs } from '../../lib/discovery';
import { pgIdentifier, targetName } from '../../lib/table-plan';
import { pkeyName } from '../../lib/target';

describe('target names within PostgreSQL identifier limits', () => {
  it('keeps names of up to 63 bytes and shortens longer ones to 63 bytes that do not collide', () => {
    assert.equal(pgIdentifier('a'.repeat(63)), 'a'.repeat(63));
    const a = pgIdentifier(`${'a'.repeat(63)}x`);
    const b = pgIdentifier(`${'a'.repeat(63)}y`);
    assert.notEqual(a, b);
    for (const n of [a, b]) assert.ok(Buffer.byteLength(n) <= 63 && /^a+_[0-9a-f]{8}$/.test(n), n);
  });

  it('cuts multi-byte names on a character boundary', () => {
    const long = 'é'.repeat(40); // 80 bytes
    const short = pgIdentifier(long);
    assert.ok(Buffer.byteLength(short) <= 63);
    assert.ok(!short.includes('\ufffd'));
    assert.ok(short.startsWith('é'.repeat(27)));
  });

  it('applies the limit after the naming convention, and to derived key names', () => {
    assert.equal(targetName('snake_case', 'InvoiceLine'), 'invoice_line');
    const t1 = `${'t'.repeat(60)}_one`;
    const t2 = `${'t'.repeat(60)}_two`;
    assert.notEqual(pkeyName(t1), pkeyName(t2));
    assert.ok(Buffer.byteLength(pkeyName(t1)) <= 63);
    assert.equal(pkeyName('users'), 'users_pkey');
  });
});

describe('resolving table names and patterns', () => {
  const listing = [
    { schema: 'public', name: 'events', kind: 'table' as const },
    { schema: 'public', name: 'events_2025', kind: 'partition' as const, parent: { schema: 'public', name: 'events' } },
    { schema: 'public', name: 'v_events', kind: 'view' as const },
    { schema: 'public', name: 'users', kind: 'table' as const },
  ];

  it('takes tables only from a pattern, once each, and says what it left out', () => {
    const r = resolveTableSpecs(['public.*', 'users'], 'public', listing, 'src');
    assert.deepEqual(r.refs.map((t) => t.name), ['events', 'users']);
    assert.deepEqual(r.failed, []);
    assert.match(r.plan.join('\n'), /matched 2 tables: public\.events, public\.users; left out: partition public\.events_2025 \(of public\.events\), view public\.v_events/);
  });

  it('fails a pattern that matches only views, and a named view, each on its own', () => {
    const r = resolveTableSpecs(['public.v_*', 'public.v_events', 'users'], 'public', listing, 'src');
    assert.deepEqual(r.refs.map((t) => t.name), ['users']);
    assert.deepEqual(r.failed.map((f) => [f.table, f.type]), [['public.v_*', 'UnknownTable'], ['public.v_events', 'UnknownTable']]);
    assert.match(r.failed[0].reason, /matches no table in source "src"; left out: view public\.v_events/);
  });

  it('a batch resolves the config against its own tables alone: each table with the settings the whole listing gives it', () => {
    const wide = [
      ...listing,
      ...Array.from({ length: 500 }, (_, i) => ({ schema: 'public', name: `t${i}`, kind: 'table' as const })),
      { schema: 'other', name: 'Mixed', kind: 'table' as const },
    ];
    const entries = ['public.t1*', { table: 'public.t10', mode: 'full' as const }, 'public.*', { table: 'other.mixed', mode: 'cursor' as const, cursor: 'at' }, 'public.events_2025', 'public.nope'];
    const rule = { description: 'case-insensitive (test)', key: (n: string) => n.toLowerCase() };
    const whole = resolveTableSpecs(entries, 'public', wide, 'src', rule);
    const byName = new Map(whole.refs.map((r) => [`${r.schema}.${r.name}`, r]));
    const batch = ['public.t10', 'public.t11', 'other.Mixed', 'public.events_2025', 'public.users'];
    const own = batch.map((n) => ({ schema: n.split('.')[0], name: n.split('.')[1], kind: 'table' as const }));
    const alone = resolveTableSpecs(entries, 'public', own, 'src', rule, { typoHints: false });
    for (const r of alone.refs.filter((r) => batch.includes(`${r.schema}.${r.name}`))) assert.deepEqual(r, byName.get(`${r.schema}.${r.name}`), `${r.schema}.${r.name}`);
    assert.deepEqual(alone.refs.filter((r) => batch.includes(`${r.schema}.${r.name}`)).length, batch.length);
    assert.equal(byName.get('public.t10')?.entry?.mode, 'full', 'the named entry wins over the patterns');
  });

  it('resolves 20,000 names and patterns over 20,000 tables by maps, not a scan of the listing per name', () => {
    const many = Array.from({ length: 20_000 }, (_, i) => ({ schema: 'public', name: `t${i}`, kind: 'table' as const }));
    // Counts reads of the listing's entries rather than timing the call: a scan
    // per name reads ~2 * 10^8 entries, the maps a few per entry, on any machine.
    let reads = 0;
    const listing = new Proxy(many, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver);
      },
    });
    const r = resolveTableSpecs([...many.map((t) => `public.${t.name}`), 'public.*'], 'public', listing, 'src');
    assert.equal(r.refs.length, 20_000);
    assert.ok(reads > 0 && reads <= 5 * many.length, `${reads} reads of the listing's entries`);
  });
});
