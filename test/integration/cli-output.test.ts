import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../helpers/cli';
import { useDatabases } from '../helpers/databases';
import { pgUrl, testDb } from '../helpers/pg';
import { temporal, uniqueTaskQueue } from '../helpers/temporal';

const SRC = testDb('tablesync_it_output_src');
const DST = testDb('tablesync_it_output_dst');
// 600 tables with long names make a JSON summary of ~1 MB and a text one past
// the pipe buffer's 64 kB; the reader starts a second late (a busy pipeline
// stage), so an early exit cuts either off. The issue's 10,000 tables:
// TABLESYNC_TEST_OUTPUT_TABLES=10000 (minutes on a 2-core machine).
const TABLES = Number(process.env.TABLESYNC_TEST_OUTPUT_TABLES ?? 600);
// Long names fill the pipe with few tables. (Past tablesPerBatch the run's results stay in the target's state and
// the CLI reads them back, so thousands of long names no longer pass Temporal's 2 MB payload limit.)
const PREFIX = 'a_table_with_a_name_long_enough_to_fill_the_pipe_';

/** `sh -c "tablesync … | consumer"`: stdout a real pipe into another program, as a user's script has it. */
function piped(args: string[], consumer: string, env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('TABLESYNC_') && !k.startsWith('TEMPORAL_')) childEnv[k] = v;
  Object.assign(childEnv, { TABLESYNC_LOG_LEVEL: 'INFO' }, env);
  const cmd = `set -o pipefail; ${[process.execPath, CLI, ...args].map(quote).join(' ')} | ${consumer}`;
  return new Promise((resolve) => {
    const p = spawn('bash', ['-c', cmd], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    p.once('exit', (code) => resolve({ code, out, err }));
  });
}

describe(`CLI output to a pipe: whole, and --json is the document alone (${TABLES} tables)`, function () {
  this.timeout(Math.max(600_000, TABLES * 300));
  const { src } = useDatabases({ pg: { src: SRC, dst: DST } });
  let dir: string;
  let file: string;
  let address: string;

  before(async () => {
    // 500 tables a statement: one transaction creating thousands runs out of lock slots.
    for (let from = 1; from <= TABLES; from += 500) {
      await src.query(`DO $$ BEGIN FOR i IN ${from}..${Math.min(TABLES, from + 499)} LOOP
        EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, v text); INSERT INTO %I VALUES (1, %L)', '${PREFIX}' || lpad(i::text, 5, '0'), '${PREFIX}' || lpad(i::text, 5, '0'), 'v');
      END LOOP; END $$`);
    }
    dir = mkdtempSync(join(tmpdir(), 'tablesync-output-'));
    file = join(dir, 'sync.json');
    writeFileSync(file, JSON.stringify({ connections: { src: pgUrl(SRC), dst: pgUrl(DST) }, source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.*'] }));
    address = (await temporal()).address;
  });

  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('run --local --json | node (JSON.parse of all of stdin): parses, every table there; the Started line and worker logs on stderr', async () => {
    const parse = `{ sleep 1; ${JSON.stringify(process.execPath)} -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(j.tables.length, s.length)})'; }`;
    const r = await piped(['run', '--local', '--json', '--config', file, '--task-queue', uniqueTaskQueue('output-json')], parse, { TEMPORAL_ADDRESS: address });
    assert.equal(r.code, 0, `${r.out}\n${r.err.slice(-3000)}`);
    const [tables, bytes] = r.out.trim().split(' ').map(Number);
    assert.equal(tables, TABLES);
    assert.ok(bytes > 200_000, `summary of ${bytes} bytes`);
    if (TABLES > 2000) console.log(`      ${TABLES} tables: a JSON summary of ${bytes} bytes parsed whole`);
    assert.match(r.err, /^Started tablesync-\S+ on task queue/m);
  });

  it('run --local --json | head -c 100: a reader that stops early does not crash the run (no EPIPE), which ends with its own exit code', async () => {
    const r = await piped(['run', '--local', '--json', '--config', file, '--task-queue', uniqueTaskQueue('output-head')], `{ sleep 1; head -c 100 > /dev/null; }`, { TEMPORAL_ADDRESS: address });
    assert.equal(r.code, 0, r.err.slice(-3000));
    assert.doesNotMatch(r.err, /EPIPE|Error:/);
    assert.match(r.err, /Full load complete|Incremental sync complete|Sync complete/);
  });

  it("run --local --json: the SDK core's own warnings (a payload past 512 kB) go to stderr in tablesync's format, not onto stdout", async () => {
    // A config past the core's payload warning size, from a long list that changes nothing else.
    const big = join(dir, 'big.json');
    const allowLossyColumns = Array.from({ length: 9000 }, (_, i) => `public.nothing.a_column_with_a_name_long_enough_to_make_the_input_big_${String(i).padStart(5, '0')}`);
    writeFileSync(big, JSON.stringify({ connections: { src: pgUrl(SRC), dst: pgUrl(DST) }, source: { connection: 'src' }, target: { connection: 'dst' }, tables: [`public.${PREFIX}00001`], allowLossyColumns }));
    const parse = `${JSON.stringify(process.execPath)} -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).tablesSynced))'`;
    const r = await piped(['run', '--local', '--json', '--config', big, '--task-queue', uniqueTaskQueue('output-core')], parse, { TEMPORAL_ADDRESS: address });
    assert.equal(r.code, 0, `${r.out}\n${r.err.slice(-3000)}`);
    assert.equal(r.out.trim(), '1');
    assert.match(r.err, /^\S+Z WARN  \[TMPRL1103\] Attempted to upload payloads with size that exceeded the warning limit/m);
  });

  it('run --local | grep -c "^  ok " counts every table (a text summary past the pipe buffer)', async () => {
    const r = await piped(['run', '--local', '--config', file, '--task-queue', uniqueTaskQueue('output-text')], `{ sleep 1; grep -c '^  ok '; }`, { TEMPORAL_ADDRESS: address });
    assert.equal(r.code, 0, r.err.slice(-3000));
    assert.equal(Number(r.out.trim()), TABLES);
  });
});
