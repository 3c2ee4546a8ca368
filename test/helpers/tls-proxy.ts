import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './temporal-server';
import { sleep } from './worker-process';

export const NGINX = '/usr/sbin/nginx';
/** The name the proxy's certificate is issued to (not the address): clients set TEMPORAL_TLS_SERVER_NAME to it. */
export const SERVER_NAME = 'temporal.tablesync.test';

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export interface Certificates {
  dir: string;
  ca: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate the proxy does not trust (signed by another CA). */
  strangerCert: string;
  strangerKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** A CA, a server certificate for SERVER_NAME and a client certificate signed by it (openssl, EC P-256). */
export function makeCertificates(): Certificates {
  const dir = mkdtempSync(join(tmpdir(), 'tablesync-tls-'));
  const ca = (name: string) => {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
    openssl(['req', '-x509', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-days', '2', '-out', `${name}.pem`], dir);
  };
  const issue = (name: string, by: string, ext: string) => {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`], dir);
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${by}.pem`, '-CAkey', `${by}.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
  };
  ca('ca');
  ca('other-ca');
  issue('server', 'ca', `subjectAltName=DNS:${SERVER_NAME}\nextendedKeyUsage=serverAuth\n`);
  issue('client', 'ca', 'extendedKeyUsage=clientAuth\n');
  issue('stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
    strangerCert: join(dir, 'stranger.pem'),
    strangerKey: join(dir, 'stranger.key'),
  };
}

/**
 * nginx in front of a Temporal frontend, as a production cluster's ingress:
 * TLS terminated at the proxy, gRPC (HTTP/2) passed on in the clear. One port
 * requires a client certificate of the test CA (mutual TLS); the other
 * requires `authorization: Bearer <apiKey>` (what the SDK sends for an API key).
 */
export class TlsProxy {
  private constructor(
    private readonly proc: ChildProcess,
    private readonly dir: string,
    readonly mtlsAddress: string,
    readonly apiKeyAddress: string,
    private readonly logs: () => string,
  ) {}

  static available(): boolean {
    return existsSync(NGINX);
  }

  static async start(upstream: string, certs: Certificates, apiKey: string): Promise<TlsProxy> {
    const dir = mkdtempSync(join(tmpdir(), 'tablesync-nginx-'));
    const [mtls, bearer] = [await freePort(), await freePort()];
    const tls = `ssl_certificate ${join(certs.dir, 'server.pem')}; ssl_certificate_key ${join(certs.dir, 'server.key')};`;
    // Long polls last ~70 s: longer timeouts than nginx's 60 s default, so they are not cut.
    const pass = `location / { grpc_pass grpc://${upstream}; grpc_read_timeout 300s; grpc_send_timeout 300s; }`;
    const conf = `
daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} info;
events { worker_connections 256; }
http {
  access_log ${join(dir, 'access.log')};
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:${mtls} ssl http2;
    ${tls}
    ssl_client_certificate ${certs.ca};
    ssl_verify_client on;
    ${pass}
  }
  server {
    listen 127.0.0.1:${bearer} ssl http2;
    ${tls}
    location / {
      if ($http_authorization != "Bearer ${apiKey}") { return 401; }
      grpc_pass grpc://${upstream}; grpc_read_timeout 300s; grpc_send_timeout 300s;
    }
  }
}
`;
    const confFile = join(dir, 'nginx.conf');
    writeFileSync(confFile, conf);
    const proc = spawn(NGINX, ['-c', confFile, '-p', dir, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(proc);
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    proc.once('exit', () => live.delete(proc));
    const deadline = Date.now() + 10_000;
    for (const port of [mtls, bearer]) {
      while (!(await listening(port))) {
        if (proc.exitCode !== null) throw new Error(`nginx exited:\n${out}`);
        if (Date.now() > deadline) throw new Error(`nginx not listening on ${port}:\n${out}`);
        await sleep(50);
      }
    }
    return new TlsProxy(proc, dir, `127.0.0.1:${mtls}`, `127.0.0.1:${bearer}`, () => out);
  }

  output(): string {
    return this.logs();
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((resolve) => this.proc.once('exit', resolve));
      this.proc.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
