// Typed configuration, parsed and validated once at start from the environment. A bad value throws a
// ConfigError that names the variable, and main exits non-zero with it: a sidecar that starts with a
// half-understood configuration fails later, per request, in ways that are much harder to see.

import { isIP } from 'node:net';
import { parseCredentialSource, type CredentialSource } from './credential-source.js';
import { compileAllowlist, type HostAllowlist } from './hosts.js';
import { resolvePcaEndpoint } from './pca.js';

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

export interface ConnectTo {
  readonly host: string;
  readonly port: number;
}

export interface Config {
  readonly listenPort: number;
  readonly listenAddresses: readonly string[];
  readonly adminPort: number;
  readonly adminAddress: string;
  readonly region: string;
  readonly signingService: string;
  readonly caArn: string | undefined;
  readonly caRegion: string | undefined;
  readonly caFile: string | undefined;
  readonly pcaEndpoint: string | undefined;
  /** AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT: they choose the ACM PCA endpoint (Lattice targets are named by the app). */
  readonly pcaUseFips: boolean;
  readonly pcaUseDualStack: boolean;
  readonly appDomain: string | undefined;
  readonly allowedHosts: readonly string[];
  readonly allowlist: HostAllowlist;
  readonly upstreamPort: number;
  readonly connectTo: ConnectTo | undefined;
  readonly logLevel: string;
  readonly accessLog: boolean;
  readonly connectTimeoutMs: number;
  readonly upstreamTimeoutMs: number;
  readonly upstreamMaxConnections: number;
  readonly upstreamKeepAliveTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly maxHeaderSize: number;
  readonly requestTimeoutMs: number;
  readonly unsignedHeaders: readonly string[];
  readonly authorizationForwardHeader: string | undefined;
  readonly credentialsRefreshMarginMs: number;
  readonly caRefreshIntervalMs: number;
  /** Where AWS credentials come from (Pod Identity, IRSA, static keys, or the default chain). */
  readonly credentialSource: CredentialSource;
}

type Env = Readonly<Record<string, string | undefined>>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
// Always unsigned: x-forwarded-* and the trace id are rewritten by intermediaries, so signing them would
// make a valid request fail verification (Envoy's aws_request_signing filter excludes them for the same reason).
const ALWAYS_UNSIGNED = ['x-forwarded-*', 'x-amzn-trace-id'];
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+\*?$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

function value(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

function integer(env: Env, name: string, dflt: number, min: number, max: number): number {
  const raw = value(env, name);
  if (raw === undefined) return dflt;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** A TCP port; 0 asks the kernel for a free one (tests, or several sidecars on one host network). */
function port(env: Env, name: string, dflt: number, allowEphemeral = false): number {
  return integer(env, name, dflt, allowEphemeral ? 0 : 1, 65535);
}

function bool(env: Env, name: string, dflt: boolean): boolean {
  const raw = value(env, name);
  if (raw === undefined) return dflt;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function list(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function parseArnRegion(arn: string): string {
  // arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/uuid
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn' || parts[2] !== 'acm-pca' || !parts[5]?.startsWith('certificate-authority/')) {
    throw new ConfigError('CA_ARN', `must be an ACM Private CA ARN (arn:<partition>:acm-pca:<region>:<account>:certificate-authority/<id>), got "${arn}"`);
  }
  const region = parts[3] ?? '';
  if (!REGION.test(region)) throw new ConfigError('CA_ARN', `has no valid region in "${arn}"`);
  return region;
}

function parseConnectTo(raw: string | undefined): ConnectTo | undefined {
  if (raw === undefined) return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(raw);
  const host = m?.[1] ?? m?.[2];
  const p = Number(m?.[3]);
  if (!m || !host || p < 1 || p > 65535) {
    throw new ConfigError('CONNECT_TO', `must be address:port (IPv6 as [addr]:port), got "${raw}"`);
  }
  return { host, port: p };
}

function parseUrl(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    return raw;
  } catch {
    throw new ConfigError(name, `must be an http(s) URL, got "${raw}"`);
  }
}

export function parseConfig(env: Env): Config {
  const listenAddresses = list(value(env, 'LISTEN_ADDRESS') ?? '127.0.0.1');
  if (listenAddresses.length === 0) throw new ConfigError('LISTEN_ADDRESS', 'must name at least one address');
  for (const a of listenAddresses) {
    if (isIP(a) === 0) throw new ConfigError('LISTEN_ADDRESS', `"${a}" is not an IP address`);
  }
  const adminAddress = value(env, 'ADMIN_ADDRESS') ?? '0.0.0.0';
  if (isIP(adminAddress) === 0) throw new ConfigError('ADMIN_ADDRESS', `"${adminAddress}" is not an IP address`);

  const region = value(env, 'AWS_REGION') ?? value(env, 'AWS_DEFAULT_REGION');
  if (region === undefined) throw new ConfigError('AWS_REGION', 'is required (the SigV4 signing region, e.g. us-west-2)');
  if (!REGION.test(region)) throw new ConfigError('AWS_REGION', `"${region}" is not an AWS region name`);

  const signingService = value(env, 'SIGNING_SERVICE') ?? 'vpc-lattice-svcs';
  if (!/^[a-z0-9-]+$/.test(signingService)) throw new ConfigError('SIGNING_SERVICE', `"${signingService}" is not a service name`);

  const caArn = value(env, 'CA_ARN');
  const caRegion = caArn === undefined ? undefined : parseArnRegion(caArn);
  const caFile = value(env, 'CA_FILE');
  // The SDK's standard endpoint variables, honoured as the SDK would for this call (pca.ts reads no
  // environment); PCA_ENDPOINT is ours and wins.
  const pcaEndpoint =
    parseUrl('PCA_ENDPOINT', value(env, 'PCA_ENDPOINT')) ??
    parseUrl('AWS_ENDPOINT_URL_ACM_PCA', value(env, 'AWS_ENDPOINT_URL_ACM_PCA')) ??
    parseUrl('AWS_ENDPOINT_URL', value(env, 'AWS_ENDPOINT_URL'));
  const pcaUseFips = bool(env, 'AWS_USE_FIPS_ENDPOINT', false);
  const pcaUseDualStack = bool(env, 'AWS_USE_DUALSTACK_ENDPOINT', false);
  if (caRegion !== undefined) {
    // The SDK refuses these combinations on every call; refusing them once, at start, names the variable.
    try {
      resolvePcaEndpoint({ region: caRegion, useFips: pcaUseFips, useDualStack: pcaUseDualStack, endpoint: pcaEndpoint });
    } catch (e) {
      throw new ConfigError(
        pcaUseFips ? 'AWS_USE_FIPS_ENDPOINT' : 'AWS_USE_DUALSTACK_ENDPOINT',
        `${(e as Error).message} (the ACM PCA endpoint override comes from PCA_ENDPOINT, AWS_ENDPOINT_URL_ACM_PCA or AWS_ENDPOINT_URL)`,
      );
    }
  }

  const appDomainRaw = value(env, 'APP_DOMAIN');
  const appDomain = appDomainRaw?.toLowerCase().replace(/^\*\./, '').replace(/\.$/, '');
  if (appDomain !== undefined && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(appDomain)) {
    throw new ConfigError('APP_DOMAIN', `"${appDomainRaw}" is not a DNS domain`);
  }
  const allowedRaw = value(env, 'ALLOWED_HOSTS');
  const allowedHosts = allowedRaw !== undefined ? list(allowedRaw) : ['*.on.aws', ...(appDomain ? [`*.${appDomain}`] : [])];
  let allowlist: HostAllowlist;
  try {
    allowlist = compileAllowlist(allowedHosts);
  } catch (e) {
    throw new ConfigError('ALLOWED_HOSTS', (e as Error).message);
  }

  const logLevel = (value(env, 'LOG_LEVEL') ?? 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);

  const extraUnsigned = list(value(env, 'UNSIGNED_HEADERS')?.toLowerCase());
  for (const h of extraUnsigned) {
    if (!HEADER_NAME.test(h)) throw new ConfigError('UNSIGNED_HEADERS', `"${h}" is not a header name (a trailing * matches a prefix)`);
    if (h === 'host' || h.startsWith('x-amz-')) throw new ConfigError('UNSIGNED_HEADERS', `"${h}" must always be signed`);
  }

  const fwdRaw = env['AUTHORIZATION_FORWARD_HEADER'];
  const fwd = fwdRaw === undefined ? 'x-original-authorization' : fwdRaw.trim().toLowerCase();
  if (fwd !== '' && (!HEADER_NAME.test(fwd) || fwd.endsWith('*') || fwd === 'authorization' || fwd.startsWith('x-amz-'))) {
    throw new ConfigError('AUTHORIZATION_FORWARD_HEADER', `"${fwdRaw}" is not a usable header name (empty drops the app's Authorization)`);
  }

  const listenPort = port(env, 'LISTEN_PORT', 8080, true);
  const adminPort = port(env, 'ADMIN_PORT', 9901, true);
  if (listenPort === adminPort && listenPort !== 0) throw new ConfigError('ADMIN_PORT', `must differ from LISTEN_PORT (${listenPort})`);

  return {
    listenPort,
    listenAddresses,
    adminPort,
    adminAddress,
    region,
    signingService,
    caArn,
    caRegion,
    caFile,
    pcaEndpoint,
    pcaUseFips,
    pcaUseDualStack,
    appDomain,
    allowedHosts,
    allowlist,
    upstreamPort: port(env, 'UPSTREAM_PORT', 443),
    connectTo: parseConnectTo(value(env, 'CONNECT_TO')),
    logLevel,
    accessLog: bool(env, 'ACCESS_LOG', true),
    connectTimeoutMs: integer(env, 'CONNECT_TIMEOUT_MS', 5_000, 100, 600_000),
    upstreamTimeoutMs: integer(env, 'UPSTREAM_TIMEOUT_MS', 30_000, 100, 3_600_000),
    upstreamMaxConnections: integer(env, 'UPSTREAM_MAX_CONNECTIONS', 128, 1, 65_535),
    upstreamKeepAliveTimeoutMs: integer(env, 'UPSTREAM_KEEPALIVE_TIMEOUT_MS', 4_000, 100, 600_000),
    drainTimeoutMs: integer(env, 'DRAIN_TIMEOUT_MS', 20_000, 0, 600_000),
    maxHeaderSize: integer(env, 'MAX_HEADER_SIZE', 16_384, 1_024, 1_048_576),
    requestTimeoutMs: integer(env, 'REQUEST_TIMEOUT_MS', 300_000, 0, 86_400_000),
    unsignedHeaders: [...ALWAYS_UNSIGNED, ...extraUnsigned],
    authorizationForwardHeader: fwd === '' ? undefined : fwd,
    credentialsRefreshMarginMs: integer(env, 'CREDENTIALS_REFRESH_MARGIN_S', 900, 1, 86_400) * 1000,
    caRefreshIntervalMs: integer(env, 'CA_REFRESH_INTERVAL_S', 3_600, 5, 604_800) * 1000,
    credentialSource: parseCredentialSource(env),
  };
}
