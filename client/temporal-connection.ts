import { existsSync } from 'node:fs';
import { loadClientConfigProfile, toClientOptions, type ClientConfigProfile } from '@temporalio/envconfig';
import { ConfigError } from '../lib/config';

// The one place every entry point (CLI commands, `tablesync worker`, the
// client API, createWorker) gets its Temporal connection settings from: the
// Temporal CLI's environment variables and its environment-configuration
// profiles (TOML), read by the SDK's own @temporalio/envconfig, so a cluster
// or Temporal Cloud namespace set up for `temporal` works here unchanged.

/**
 * The Temporal CLI's names for certificate files and data, and the names
 * envconfig reads (which the CLI also takes). Both are accepted; the
 * envconfig name wins when both are set.
 */
const CLI_TLS_NAMES: Record<string, string> = {
  TEMPORAL_TLS_CERT: 'TEMPORAL_TLS_CLIENT_CERT_PATH',
  TEMPORAL_TLS_KEY: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
  TEMPORAL_TLS_CA: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  TEMPORAL_TLS_CERT_DATA: 'TEMPORAL_TLS_CLIENT_CERT_DATA',
  TEMPORAL_TLS_KEY_DATA: 'TEMPORAL_TLS_CLIENT_KEY_DATA',
  TEMPORAL_TLS_CA_DATA: 'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
};

export const DEFAULT_TEMPORAL_ADDRESS = 'localhost:7233';

export interface TemporalConnectionSettings {
  /** For Connection.connect (client) and NativeConnection.connect (worker): both take this shape. */
  connectionOptions: {
    address: string;
    tls?: boolean | { serverNameOverride?: string; serverRootCACertificate?: Buffer; clientCertPair?: { crt: Buffer; key: Buffer } };
    apiKey?: string;
    metadata?: Record<string, string>;
  };
  namespace: string;
  /** The settings in use, secrets left out, naming where each came from: for error messages. */
  describe: string;
  /** What to set for what is missing, when a connection fails. */
  hint: string;
}

const present = (env: Record<string, string | undefined>, name: string) => env[name] !== undefined && env[name] !== '';

/**
 * The connection settings from the environment (and the profile it names),
 * an explicit address or namespace (the client API's options) winning.
 */
export function temporalConnectionSettings(
  env: Record<string, string | undefined> = process.env,
  given: { address?: string; namespace?: string } = {},
): TemporalConnectionSettings {
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') vars[k] = v;
  for (const [cli, name] of Object.entries(CLI_TLS_NAMES)) if (vars[cli] !== undefined && vars[name] === undefined) vars[name] = vars[cli];
  const setting = (name: string) => Object.entries(CLI_TLS_NAMES).find(([cli, n]) => n === name && present(env, cli) && !present(env, n))?.[0] ?? name;

  // The Temporal CLI takes it; the SDK has no such option: refused rather than ignored.
  if (vars.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION !== undefined && /^(1|true)$/i.test(vars.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION)) {
    throw new ConfigError(
      'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: the TypeScript SDK always verifies the server; set TEMPORAL_TLS_SERVER_NAME to the name in its certificate (and TEMPORAL_TLS_CA to its CA) instead',
    );
  }
  if (vars.TEMPORAL_CONFIG_FILE !== undefined && !existsSync(vars.TEMPORAL_CONFIG_FILE)) {
    throw new ConfigError(`TEMPORAL_CONFIG_FILE: no file ${vars.TEMPORAL_CONFIG_FILE} (the Temporal environment-configuration TOML file)`);
  }
  let profile: ClientConfigProfile;
  try {
    profile = loadClientConfigProfile({ overrideEnvVars: vars });
  } catch (err) {
    const where = vars.TEMPORAL_CONFIG_FILE ? `TEMPORAL_CONFIG_FILE ${vars.TEMPORAL_CONFIG_FILE}` : 'the Temporal config file (~/.config/temporalio/temporal.toml)';
    const which = vars.TEMPORAL_PROFILE ? `, TEMPORAL_PROFILE ${vars.TEMPORAL_PROFILE}` : '';
    throw new ConfigError(`Temporal connection settings (${where}${which}): ${(err as Error).message}`);
  }
  const tls = profile.tls;
  const hasCert = Boolean(tls?.clientCert);
  const hasKey = Boolean(tls?.clientKey);
  if (hasCert !== hasKey) {
    throw new ConfigError(
      hasCert
        ? `${setting('TEMPORAL_TLS_CLIENT_CERT_PATH')} is set but no client key: set TEMPORAL_TLS_KEY (the key of that certificate) too`
        : `${setting('TEMPORAL_TLS_CLIENT_KEY_PATH')} is set but no client certificate: set TEMPORAL_TLS_CERT too`,
    );
  }
  let options: ReturnType<typeof toClientOptions>;
  try {
    options = toClientOptions(profile);
  } catch (err) {
    // A certificate, key or CA file that cannot be read: name the setting and the path.
    const e = err as NodeJS.ErrnoException & { path?: string };
    const which = [
      ['TEMPORAL_TLS_CLIENT_CERT_PATH', tls?.clientCert],
      ['TEMPORAL_TLS_CLIENT_KEY_PATH', tls?.clientKey],
      ['TEMPORAL_TLS_SERVER_CA_CERT_PATH', tls?.serverCACert],
    ].find(([, source]) => source && typeof source === 'object' && 'path' in source && source.path === e.path)?.[0] as string | undefined;
    throw new ConfigError(`${which ? setting(which) : 'Temporal TLS settings'}: ${e.message}`);
  }
  const address = given.address ?? options.connectionOptions.address ?? DEFAULT_TEMPORAL_ADDRESS;
  const namespace = given.namespace ?? options.namespace ?? 'default';
  const tlsOn = options.connectionOptions.tls !== undefined && options.connectionOptions.tls !== false;
  const parts = [
    `namespace ${namespace}`,
    ...(vars.TEMPORAL_PROFILE ? [`profile ${vars.TEMPORAL_PROFILE}`] : []),
    tlsOn
      ? `TLS${tls?.serverCACert ? ` with server CA from ${setting('TEMPORAL_TLS_SERVER_CA_CERT_PATH')}` : ' (system CAs)'}` +
        `${tls?.serverName ? `, server name ${tls.serverName}` : ''}${hasCert ? `, client certificate from ${setting('TEMPORAL_TLS_CLIENT_CERT_PATH')}` : ', no client certificate'}`
      : 'no TLS',
    profile.apiKey ? 'API key from TEMPORAL_API_KEY' : 'no API key',
  ];
  const missing: string[] = [];
  if (!hasCert) missing.push('a server that requires a client certificate (mTLS) needs TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY');
  if (!profile.apiKey) missing.push('one that requires an API key needs TEMPORAL_API_KEY');
  if (!tlsOn) missing.push('a TLS endpoint needs TEMPORAL_TLS=true or TEMPORAL_TLS_CA');
  return {
    connectionOptions: { ...options.connectionOptions, address } as TemporalConnectionSettings['connectionOptions'],
    namespace,
    describe: `${address} (${parts.join('; ')})`,
    hint: missing.join('; '),
  };
}

/**
 * Connects, and on failure says where to, with which settings and what may be
 * missing, instead of the transport's message alone.
 */
export async function connectWithSettings<T>(settings: TemporalConnectionSettings, connect: () => Promise<T>): Promise<T> {
  try {
    return await connect();
  } catch (err) {
    throw new TemporalConnectionError(settings, err);
  }
}

export class TemporalConnectionError extends Error {
  readonly type = 'TemporalConnection';
  readonly exitCode = 1;
  constructor(settings: TemporalConnectionSettings, cause: unknown) {
    // "Failed to connect to Temporal server" alone does not say why: the transport's causes follow it.
    const messages: string[] = [];
    for (let e = cause as { message?: string; cause?: unknown } | undefined; e && messages.length < 5; e = e.cause as typeof e) {
      const m = (e.message ?? String(e)).split('\n')[0];
      if (m && !messages.includes(m)) messages.push(m);
    }
    const why = messages.join(': ');
    // No `cause`: the failure line shows the innermost cause, and this message is the one that says what to set.
    super(`cannot connect to Temporal at ${settings.describe}: ${why}${settings.hint ? ` (${settings.hint})` : ''}`);
    this.name = 'TemporalConnection';
  }
}
