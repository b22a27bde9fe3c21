// Typed configuration, parsed and validated once at start from the environment. Every bad value is
// reported at once, each as `VAR: message` (one ConfigError listing them all), and main exits 78 with them: a
// sidecar that starts with a half-understood configuration fails later, per request, in ways that are much
// harder to see, and fixing one variable per restart of a crash-looping pod is slow.

import { isIP } from 'node:net';
import { parseCredentialSource, type CredentialSource } from './credential-source.js';
import { compileAllowlist, type HostAllowlist } from './hosts.js';
import { resolvePcaEndpoint } from './pca.js';

export interface ConfigProblem {
  readonly variable: string;
  readonly message: string;
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  constructor(variable: string, message: string);
  constructor(problems: readonly ConfigProblem[]);
  constructor(a: string | readonly ConfigProblem[], message?: string) {
    const problems = typeof a === 'string' ? [{ variable: a, message: message ?? '' }] : a;
    super(problems.map((p) => `${p.variable}: ${p.message}`).join('\n'));
    this.problems = problems;
    this.name = 'ConfigError';
  }

  /** The first variable named. */
  get variable(): string {
    return this.problems[0]?.variable ?? '';
  }
}

/** Collects the problems of every variable, so one bad value does not hide the next. */
class Problems {
  readonly list: ConfigProblem[] = [];

  /** Parse one setting; a ConfigError is noted and `fallback` stands in so the other settings are still checked. */
  take<T>(fallback: T, parse: () => T): T {
    try {
      return parse();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      this.list.push(...e.problems);
      return fallback;
    }
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
  /** HTTP2_HOSTS: hosts whose HTTP/1.1 requests go to Lattice as HTTP/2 (services with HTTP2 target groups). */
  readonly http2Hosts: readonly string[];
  readonly http2Allowlist: HostAllowlist;
  /** SIGNING_ALGORITHM: sigv4 (AWS4-HMAC-SHA256) or sigv4a (AWS4-ECDSA-P256-SHA256). */
  readonly signingAlgorithm: 'sigv4' | 'sigv4a';
  /** SIGV4A_REGION_SET: the regions a SigV4A signature is valid in (x-amz-region-set). */
  readonly sigv4aRegionSet: string;
  /** H2_MAX_SESSION_AGE_MS: an HTTP/2 session to Lattice takes no new stream after this (Lattice closes at 10 min). */
  readonly h2MaxSessionAgeMs: number;
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

// Names AUTHORIZATION_FORWARD_HEADER must not take, by why: the app's credential would be removed as a
// hop-by-hop header, change the message framing, collide with what the signer writes, or not be a header.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings', 'expect']);
const FRAMING = new Set(['content-length', 'transfer-encoding']);

function forwardHeaderProblem(name: string): string | undefined {
  if (name.startsWith(':')) return 'is a pseudo-header name (HTTP/2 and 3 only), not a header';
  if (!HEADER_NAME.test(name) || name.endsWith('*')) return 'is not a header name';
  if (FRAMING.has(name)) return 'is a message framing header (Content-Length / Transfer-Encoding)';
  if (HOP_BY_HOP.has(name) || name.startsWith('proxy-')) return 'is a hop-by-hop header, removed before forwarding';
  if (name === 'authorization' || name === 'host' || name.startsWith('x-amz-')) return 'is written by the signer (Authorization, Host, X-Amz-*)';
  return undefined;
}

function parseForwardHeader(env: Env): string | undefined {
  const raw = env['AUTHORIZATION_FORWARD_HEADER'];
  const fwd = raw === undefined ? 'x-original-authorization' : raw.trim().toLowerCase();
  if (fwd === '') return undefined; // empty drops the app's Authorization
  const problem = forwardHeaderProblem(fwd);
  if (problem) throw new ConfigError('AUTHORIZATION_FORWARD_HEADER', `"${raw}" ${problem}: name another header for the app's own Authorization, or set it empty to drop it`);
  return fwd;
}

function parseListenAddresses(env: Env): string[] {
  const listenAddresses = list(value(env, 'LISTEN_ADDRESS') ?? '127.0.0.1');
  if (listenAddresses.length === 0) throw new ConfigError('LISTEN_ADDRESS', 'must name at least one address');
  for (const a of listenAddresses) {
    if (isIP(a) === 0) throw new ConfigError('LISTEN_ADDRESS', `"${a}" is not an IP address`);
  }
  return listenAddresses;
}

function parseAdminAddress(env: Env): string {
  const adminAddress = value(env, 'ADMIN_ADDRESS') ?? '0.0.0.0';
  if (isIP(adminAddress) === 0) throw new ConfigError('ADMIN_ADDRESS', `"${adminAddress}" is not an IP address`);
  return adminAddress;
}

function parseRegion(env: Env): string {
  const variable = value(env, 'AWS_REGION') === undefined && value(env, 'AWS_DEFAULT_REGION') !== undefined ? 'AWS_DEFAULT_REGION' : 'AWS_REGION';
  const region = value(env, variable);
  if (region === undefined) throw new ConfigError('AWS_REGION', 'is required (the SigV4 signing region, e.g. us-west-2)');
  if (!REGION.test(region)) throw new ConfigError(variable, `"${region}" is not an AWS region name`);
  return region;
}

function parseSigningService(env: Env): string {
  const signingService = value(env, 'SIGNING_SERVICE') ?? 'vpc-lattice-svcs';
  if (!/^[a-z0-9-]+$/.test(signingService)) throw new ConfigError('SIGNING_SERVICE', `"${signingService}" is not a service name`);
  return signingService;
}

function parseAppDomain(env: Env): string | undefined {
  const appDomainRaw = value(env, 'APP_DOMAIN');
  const appDomain = appDomainRaw?.toLowerCase().replace(/^\*\./, '').replace(/\.$/, '');
  if (appDomain !== undefined && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(appDomain)) {
    throw new ConfigError('APP_DOMAIN', `"${appDomainRaw}" is not a DNS domain`);
  }
  return appDomain;
}

/**
 * ALLOWED_HOSTS, or by default Lattice's own generated names in the signing region plus `*.APP_DOMAIN`. Not
 * `*.on.aws`: AWS hosts other services there (Lambda function URLs, ...), and the sidecar would sign with the
 * pod's identity and send its session token to any of them.
 */
export function defaultAllowedHosts(region: string, appDomain: string | undefined): string[] {
  return [`*.vpc-lattice-svcs.${region}.on.aws`, ...(appDomain ? [`*.${appDomain}`] : [])];
}

function parseUnsignedHeaders(env: Env): string[] {
  const extraUnsigned = list(value(env, 'UNSIGNED_HEADERS')?.toLowerCase());
  for (const h of extraUnsigned) {
    if (!HEADER_NAME.test(h)) throw new ConfigError('UNSIGNED_HEADERS', `"${h}" is not a header name (a trailing * matches a prefix)`);
    if (h === 'host' || h.startsWith('x-amz-')) throw new ConfigError('UNSIGNED_HEADERS', `"${h}" must always be signed`);
  }
  return extraUnsigned;
}

function parseLogLevel(env: Env): string {
  const logLevel = (value(env, 'LOG_LEVEL') ?? 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  return logLevel;
}

export function parseConfig(env: Env): Config {
  const p = new Problems();
  const listenAddresses = p.take(['127.0.0.1'], () => parseListenAddresses(env));
  const adminAddress = p.take('0.0.0.0', () => parseAdminAddress(env));
  const region = p.take('us-east-1', () => parseRegion(env));
  const signingService = p.take('vpc-lattice-svcs', () => parseSigningService(env));

  const caArn = value(env, 'CA_ARN');
  const caRegion = caArn === undefined ? undefined : p.take<string | undefined>(undefined, () => parseArnRegion(caArn));
  const caFile = value(env, 'CA_FILE');
  // The SDK's standard endpoint variables, honoured as the SDK would for this call (pca.ts reads no
  // environment); PCA_ENDPOINT is ours and wins.
  const endpoints = ['PCA_ENDPOINT', 'AWS_ENDPOINT_URL_ACM_PCA', 'AWS_ENDPOINT_URL'].map((name) => p.take(undefined, () => parseUrl(name, value(env, name))));
  const pcaEndpoint = endpoints.find((e) => e !== undefined);
  const pcaUseFips = p.take(false, () => bool(env, 'AWS_USE_FIPS_ENDPOINT', false));
  const pcaUseDualStack = p.take(false, () => bool(env, 'AWS_USE_DUALSTACK_ENDPOINT', false));
  if (caRegion !== undefined) {
    // The SDK refuses these combinations on every call; refusing them once, at start, names the variable.
    try {
      resolvePcaEndpoint({ region: caRegion, useFips: pcaUseFips, useDualStack: pcaUseDualStack, endpoint: pcaEndpoint });
    } catch (e) {
      p.list.push({
        variable: pcaUseFips ? 'AWS_USE_FIPS_ENDPOINT' : 'AWS_USE_DUALSTACK_ENDPOINT',
        message: `${(e as Error).message} (the ACM PCA endpoint override comes from PCA_ENDPOINT, AWS_ENDPOINT_URL_ACM_PCA or AWS_ENDPOINT_URL)`,
      });
    }
  }

  const appDomain = p.take(undefined, () => parseAppDomain(env));
  const allowedRaw = value(env, 'ALLOWED_HOSTS');
  const allowedHosts = allowedRaw !== undefined ? list(allowedRaw) : defaultAllowedHosts(region, appDomain);
  const allowlist = p.take(compileAllowlist([]), () => {
    try {
      return compileAllowlist(allowedHosts);
    } catch (e) {
      throw new ConfigError('ALLOWED_HOSTS', (e as Error).message);
    }
  });
  const http2Hosts = list(value(env, 'HTTP2_HOSTS'));
  const http2Allowlist = p.take(compileAllowlist([]), () => {
    try {
      return compileAllowlist(http2Hosts);
    } catch (e) {
      throw new ConfigError('HTTP2_HOSTS', (e as Error).message);
    }
  });
  const signingAlgorithm = p.take<'sigv4' | 'sigv4a'>('sigv4', () => {
    const v = (value(env, 'SIGNING_ALGORITHM') ?? 'sigv4').toLowerCase();
    if (v !== 'sigv4' && v !== 'sigv4a') throw new ConfigError('SIGNING_ALGORITHM', `must be sigv4 or sigv4a, got "${v}"`);
    return v;
  });
  const sigv4aRegionSet = p.take('*', () => {
    const v = (value(env, 'SIGV4A_REGION_SET') ?? '*').toLowerCase();
    if (!/^(\*|[a-z0-9*-]+)(,(\*|[a-z0-9*-]+))*$/.test(v)) {
      throw new ConfigError('SIGV4A_REGION_SET', `must be a comma list of regions or wildcards without spaces (e.g. "*" or "us-west-2,us-east-1"), got "${v}"`);
    }
    return v;
  });

  const logLevel = p.take('info', () => parseLogLevel(env));
  const extraUnsigned = p.take([], () => parseUnsignedHeaders(env));
  const authorizationForwardHeader = p.take(undefined, () => parseForwardHeader(env));

  const listenPort = p.take(8080, () => port(env, 'LISTEN_PORT', 8080, true));
  const adminPort = p.take(9901, () => port(env, 'ADMIN_PORT', 9901, true));
  if (listenPort === adminPort && listenPort !== 0) p.list.push({ variable: 'ADMIN_PORT', message: `must differ from LISTEN_PORT (${listenPort})` });

  const config: Config = {
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
    upstreamPort: p.take(443, () => port(env, 'UPSTREAM_PORT', 443)),
    connectTo: p.take(undefined, () => parseConnectTo(value(env, 'CONNECT_TO'))),
    logLevel,
    accessLog: p.take(true, () => bool(env, 'ACCESS_LOG', true)),
    connectTimeoutMs: p.take(5_000, () => integer(env, 'CONNECT_TIMEOUT_MS', 5_000, 100, 600_000)),
    upstreamTimeoutMs: p.take(30_000, () => integer(env, 'UPSTREAM_TIMEOUT_MS', 30_000, 100, 3_600_000)),
    upstreamMaxConnections: p.take(128, () => integer(env, 'UPSTREAM_MAX_CONNECTIONS', 128, 1, 65_535)),
    // Under Lattice's idle timeout (60 s at the least): the connection is ours to close, never raced, and a pod
    // with a call every few seconds does not pay a TLS handshake for each (4 s, the old default, did: 50 new
    // connections in a 2 s bench run after a pause).
    upstreamKeepAliveTimeoutMs: p.take(50_000, () => integer(env, 'UPSTREAM_KEEPALIVE_TIMEOUT_MS', 50_000, 100, 600_000)),
    drainTimeoutMs: p.take(20_000, () => integer(env, 'DRAIN_TIMEOUT_MS', 20_000, 0, 600_000)),
    maxHeaderSize: p.take(16_384, () => integer(env, 'MAX_HEADER_SIZE', 16_384, 1_024, 1_048_576)),
    requestTimeoutMs: p.take(300_000, () => integer(env, 'REQUEST_TIMEOUT_MS', 300_000, 0, 86_400_000)),
    unsignedHeaders: [...ALWAYS_UNSIGNED, ...extraUnsigned],
    authorizationForwardHeader,
    credentialsRefreshMarginMs: p.take(900, () => integer(env, 'CREDENTIALS_REFRESH_MARGIN_S', 900, 1, 86_400)) * 1000,
    caRefreshIntervalMs: p.take(3_600, () => integer(env, 'CA_REFRESH_INTERVAL_S', 3_600, 5, 604_800)) * 1000,
    http2Hosts,
    http2Allowlist,
    signingAlgorithm,
    sigv4aRegionSet,
    h2MaxSessionAgeMs: p.take(540_000, () => integer(env, 'H2_MAX_SESSION_AGE_MS', 540_000, 1_000, 86_400_000)),
    credentialSource: p.take<CredentialSource>({ kind: 'default-chain', reason: 'not parsed (configuration invalid)' }, () => parseCredentialSource(env)),
  };
  if (p.list.length > 0) throw new ConfigError(p.list);
  return config;
}
