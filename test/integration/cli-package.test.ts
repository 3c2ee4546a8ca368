import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshDatabase, pgUrl, testDb } from '../helpers/pg';
import { temporal, uniqueTaskQueue } from '../helpers/temporal';

const root = join(__dirname, '..', '..', '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

// The package as a user gets it: `npm pack` of the built checkout, installed
// into an empty project elsewhere (dependencies from npm's cache where it has
// them), then used from the command line, native ESM, CommonJS and TypeScript.
describe('the npm package: npm pack, install elsewhere, npx tablesync, import (ESM) and require (CommonJS) with types', function () {
  this.timeout(600_000);
  let dir: string;
  let project: string;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'tablesync-pack-'));
    const out = execFileSync(npm, ['pack', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const [packed] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
    const files = packed.files.map((f) => f.path);
    assert.ok(files.includes('dist/client/cli.js') && files.includes('dist/workflow-bundle.js') && files.includes('dist/client/index.d.ts'), files.join('\n'));
    assert.ok(!files.some((f) => f.startsWith('dist/test/')), 'tests are not packed');
    project = join(dir, 'app');
    execFileSync('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
    const install = spawnSync(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', tarball], { cwd: project, encoding: 'utf8' });
    if (install.status !== 0) {
      // Without the registry (and the dependencies not in npm's cache) the package cannot be installed: not this test's failure.
      if (/ENOTFOUND|ECONNREFUSED|EAI_AGAIN|ETIMEDOUT/.test(install.stderr)) {
        console.warn(`    skipped: npm install of the tarball needs the registry: ${install.stderr.split('\n')[0]}`);
        this.skip();
      }
      assert.fail(`npm install ${tarball} failed:\n${install.stderr}`);
    }
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = (cmd: string, args: string[], file?: [string, string]) => {
    if (file) writeFileSync(join(project, file[0]), file[1]);
    const r = spawnSync(cmd, args, { cwd: project, encoding: 'utf8', env: { ...process.env, npm_config_yes: 'true' } });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };

  it('npx tablesync --help runs the installed CLI', () => {
    const r = run('npx', ['--no-install', 'tablesync', '--help']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Usage: tablesync \[options\] \[command\]/);
    assert.match(r.out, /TEMPORAL_API_KEY/);
  });

  it("import { startSync } from 'tablesync' as native ESM, and the old deep path", () => {
    const r = run(process.execPath, ['esm.mjs'], [
      'esm.mjs',
      `import { startSync, runSync, createWorker } from 'tablesync';\nimport * as deep from 'tablesync/dist/client';\nconsole.log(typeof startSync, typeof runSync, typeof createWorker, typeof deep.startSync);\n`,
    ]);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out.trim(), 'function function function function');
  });

  it("require('tablesync') as CommonJS", () => {
    const r = run(process.execPath, ['cjs.cjs'], ['cjs.cjs', `const { startSync, tableStatus } = require('tablesync');\nconsole.log(typeof startSync, typeof tableStatus);\n`]);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out.trim(), 'function function');
  });

  it('the installed package runs a sync: npx tablesync run --local (its workflow bundle and worker)', async () => {
    const [SRC, DST] = [testDb('tablesync_it_pack_src'), testDb('tablesync_it_pack_dst')];
    const src = await freshDatabase(SRC);
    const dst = await freshDatabase(DST);
    try {
      await src.query(`CREATE TABLE t AS SELECT g AS id, 'v' || g AS v FROM generate_series(1, 10) g; ALTER TABLE t ADD PRIMARY KEY (id)`);
      writeFileSync(
        join(project, 'sync.json'),
        JSON.stringify({ connections: { src: pgUrl(SRC), dst: pgUrl(DST) }, source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.t'] }),
      );
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('TABLESYNC_') && !k.startsWith('TEMPORAL_')) env[k] = v;
      const r = spawnSync('npx', ['--no-install', 'tablesync', 'run', '--local', '--json', '--config', 'sync.json', '--task-queue', uniqueTaskQueue('pack')], {
        cwd: project,
        encoding: 'utf8',
        env: { ...env, TEMPORAL_ADDRESS: (await temporal()).address, TABLESYNC_LOG_LEVEL: 'WARN' },
      });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
      assert.equal(JSON.parse(r.stdout).tablesSynced, 1);
      assert.equal((await dst.query('SELECT count(*)::int AS n FROM t')).rows[0].n, 10);
    } finally {
      await src.end();
      await dst.end();
    }
  });

  it('TypeScript finds the types (node16 resolution, through the exports map)', () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'node16', moduleResolution: 'node16', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['use.mts'] }),
    );
    const r = run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], [
      'use.mts',
      `import { startSync, type SyncSummary } from 'tablesync';\nconst n: number = (null as unknown as SyncSummary).tablesSynced;\nconst h: Promise<{ workflowId: string }> = startSync({ source: { connection: 's' }, target: { connection: 't' }, tables: ['a'] });\n// @ts-expect-error: tables is required\nvoid startSync({ source: { connection: 's' }, target: { connection: 't' } });\nvoid n; void h;\n`,
    ]);
    assert.equal(r.code, 0, r.out);
  });
});
