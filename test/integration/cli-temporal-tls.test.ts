import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli } from '../helpers/cli';
import { exitWithin, printed } from '../helpers/cli-wait';
import { useDatabases } from '../helpers/databases';
import { pgUrl, testDb } from '../helpers/pg';
import { temporal, uniqueTaskQueue } from '../helpers/temporal';
import { makeCertificates, SERVER_NAME, TlsProxy, type Certificates } from '../helpers/tls-proxy';

const SRC = testDb('tablesync_it_tls_src');
const DST = testDb('tablesync_it_tls_dst');
const API_KEY = 'tablesync-test-key-0123456789';

// The dev server behind nginx as a production cluster's ingress (TLS with a
// client certificate; or an API key checked as a bearer header): every entry
// point connects with the Temporal CLI's settings, and a missing one fails
// naming it.
describe('a Temporal behind TLS: client certificates, API keys, profiles (nginx in front of the dev server)', function () {
  this.timeout(180_000);
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });
  let certs: Certificates;
  let proxy: TlsProxy;
  let dir: string;
  let syncFile: string;
  let localFile: string;
  const connections = { src: pgUrl(SRC), dst: pgUrl(DST) };

  before(async function () {
    if (!TlsProxy.available()) {
      console.warn('    skipped: no /usr/sbin/nginx (apt-get install nginx; .ci/run installs it)');
      this.skip();
    }
    await src.query('CREATE TABLE items (id int PRIMARY KEY, v text)');
    await src.query(`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 50) g`);
    certs = makeCertificates();
    proxy = await TlsProxy.start((await temporal()).address, certs, API_KEY);
    dir = mkdtempSync(join(tmpdir(), 'tablesync-tls-cfg-'));
    const sync = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.items'] };
    syncFile = join(dir, 'sync.json');
    writeFileSync(syncFile, JSON.stringify(sync));
    localFile = join(dir, 'local.json');
    writeFileSync(localFile, JSON.stringify({ connections, ...sync }));
  });

  after(async () => {
    await proxy?.stop();
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const mtls = () => ({ TEMPORAL_ADDRESS: proxy.mtlsAddress, TEMPORAL_TLS_CA: certs.ca, TEMPORAL_TLS_SERVER_NAME: SERVER_NAME, TEMPORAL_TLS_CERT: certs.clientCert, TEMPORAL_TLS_KEY: certs.clientKey });
  const rows = async () => (await dst.query('SELECT count(*)::int AS n FROM items')).rows[0].n as number;

  it('mutual TLS: a worker process, run --wait and the client API (startSync) all connect through the proxy', async () => {
    const queue = uniqueTaskQueue('tls-worker');
    const workerFile = join(dir, 'worker.yaml');
    writeFileSync(workerFile, `connections:\n  src: ${connections.src}\n  dst: ${connections.dst}\n`);
    const worker = startCli(['worker', '--config', workerFile, '--task-queue', queue], { ...mtls(), TABLESYNC_LOG_LEVEL: 'INFO' });
    try {
      await printed(worker, /tablesync worker polling task queue/, 60_000);
      const r = await runCli(['run', '--wait', '--config', syncFile, '--task-queue', queue], mtls());
      assert.equal(r.code, 0, `${r.out}\n${worker.output()}\n${proxy.output()}`);
      assert.match(r.stdout, /1 table synced|1 tables? synced|complete/);
      assert.equal(await rows(), 50);
      // The client API, from a program of the user's: the same settings from its environment.
      const program = `require(${JSON.stringify(join(__dirname, '..', '..', 'client', 'index.js'))})
        .runSync(${JSON.stringify({ source: { connection: 'src' }, target: { connection: 'dst' }, tables: ['public.items'] })}, { taskQueue: ${JSON.stringify(queue)} })
        .then((s) => { console.log('tables synced', s.tablesSynced); process.exit(0); }, (e) => { console.error(e.message); process.exit(1); })`;
      const api = await node(program, mtls());
      assert.equal(api.code, 0, api.out);
      assert.match(api.out, /tables synced 1/);
    } finally {
      worker.proc.kill('SIGTERM');
      await exitWithin(worker, 15_000);
    }
  });

  it('mutual TLS: run --local through the proxy syncs', async () => {
    const r = await runCli(['run', '--local', '--config', localFile], mtls());
    assert.equal(r.code, 0, r.stderr);
  });

  it('without the client certificate (or with one of another CA): fails at once, naming the settings to set', async () => {
    const { TEMPORAL_TLS_CERT: _c, TEMPORAL_TLS_KEY: _k, ...noCert } = mtls();
    for (const [env, what] of [
      [noCert, 'no certificate'],
      [{ ...noCert, TEMPORAL_TLS_CERT: certs.strangerCert, TEMPORAL_TLS_KEY: certs.strangerKey }, 'a stranger certificate'],
    ] as const) {
      const t0 = Date.now();
      const r = await runCli(['run', '--wait', '--config', syncFile, '--task-queue', uniqueTaskQueue('tls-nocert')], env, 60_000);
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      const last = r.stderr.trim().split('\n').pop() ?? '';
      assert.match(last, new RegExp(`tablesync: TemporalConnection: cannot connect to Temporal at ${proxy.mtlsAddress.replace(/\./g, '\\.')} \\(namespace default; TLS with server CA from TEMPORAL_TLS_CA, server name ${SERVER_NAME.replace(/\./g, '\\.')}`));
      if (what === 'no certificate') assert.match(last, /no client certificate.*needs TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY/);
      else assert.match(last, /client certificate from TEMPORAL_TLS_CERT/);
      assert.ok(Date.now() - t0 < 30_000, `${what}: failed after ${Date.now() - t0} ms`);
    }
    // The worker too.
    const w = await runCli(['worker', '--task-queue', uniqueTaskQueue('tls-nocert-worker')], noCert, 60_000);
    assert.equal(w.code, 1, w.stderr);
    assert.match(w.stderr, /cannot connect to Temporal at .*needs TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY/);
    // A certificate without its key is refused before connecting.
    const half = await runCli(['run', '--wait', '--config', syncFile], { ...noCert, TEMPORAL_TLS_CERT: certs.clientCert });
    assert.equal(half.code, 2, half.stderr);
    assert.match(half.stderr, /TEMPORAL_TLS_CERT is set but no client key: set TEMPORAL_TLS_KEY/);
  });

  it('an API key, sent as the bearer header the proxy checks: run --local succeeds; a wrong or missing key fails naming TEMPORAL_API_KEY', async () => {
    const base = { TEMPORAL_ADDRESS: proxy.apiKeyAddress, TEMPORAL_TLS_CA: certs.ca, TEMPORAL_TLS_SERVER_NAME: SERVER_NAME };
    const ok = await runCli(['run', '--local', '--config', localFile], { ...base, TEMPORAL_API_KEY: API_KEY });
    assert.equal(ok.code, 0, `${ok.stderr}\n${proxy.output()}`);
    const wrong = await runCli(['run', '--local', '--config', localFile], { ...base, TEMPORAL_API_KEY: 'not-the-key' }, 60_000);
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /cannot connect to Temporal at .*API key from TEMPORAL_API_KEY/);
    assert.doesNotMatch(wrong.stderr, /not-the-key/); // the key itself is never printed
    const none = await runCli(['run', '--wait', '--config', syncFile], base, 60_000);
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stderr, /no API key.*needs TEMPORAL_API_KEY/);
  });

  it('a Temporal environment-configuration profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) carries the address and TLS files', async () => {
    const toml = join(dir, 'temporal.toml');
    writeFileSync(
      toml,
      `[profile.default]\naddress = "127.0.0.1:1"\n\n[profile.prod]\naddress = "${proxy.mtlsAddress}"\nnamespace = "default"\n\n` +
        `[profile.prod.tls]\nserver_ca_cert_path = "${certs.ca}"\nserver_name = "${SERVER_NAME}"\nclient_cert_path = "${certs.clientCert}"\nclient_key_path = "${certs.clientKey}"\n`,
    );
    const r = await runCli(['run', '--local', '--config', localFile], { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod' });
    assert.equal(r.code, 0, r.stderr);
    const missing = await runCli(['run', '--local', '--config', localFile], { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'staging' });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /TEMPORAL_PROFILE staging\): Profile 'staging' not found/);
    const noFile = await runCli(['run', '--local', '--config', localFile], { TEMPORAL_CONFIG_FILE: join(dir, 'nope.toml') });
    assert.equal(noFile.code, 2, noFile.stderr);
    assert.match(noFile.stderr, /TEMPORAL_CONFIG_FILE: no file .*nope\.toml/);
    // A setting the Temporal CLI takes and the SDK cannot honour is refused, not ignored.
    const noVerify = await runCli(['run', '--local', '--config', localFile], { ...mtls(), TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' });
    assert.equal(noVerify.code, 2, noVerify.stderr);
    assert.match(noVerify.stderr, /TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: .*set TEMPORAL_TLS_SERVER_NAME/);
  });
});

function node(program: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('TABLESYNC_') && !k.startsWith('TEMPORAL_')) childEnv[k] = v;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-e', program], { env: { ...childEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.once('exit', (code) => resolve({ code, out }));
  });
}
