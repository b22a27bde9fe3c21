// Where the sidecar's AWS credentials come from, decided once at start from the environment, and the one
// provider that source needs, loaded only then: our own for static keys and container credentials (Pod
// Identity; container-credentials.ts), the SDK's for IRSA and the full default chain (each SDK provider costs
// 11-12 MB of RSS, the default chain more, for providers a pod never uses). Every failure is explained: the provider, the URL, the HTTP status or network error, STS's
// error code, and a hint at the usual cause. Never a secret: tokens and keys are not part of any message.
//
// Precedence is the AWS SDK default chain's, for the sources a sidecar meets: static keys in the environment,
// then web identity (IRSA), then container credentials (EKS Pod Identity); AWS_PROFILE, or none of these, runs
// the full default chain (shared files, SSO, process, IMDS).

import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { ConfigError } from './config.js';
import { fromContainerEndpoint, fromEnvironment } from './container-credentials.js';
import type { CredentialProvider } from './credentials.js';

type Env = Readonly<Record<string, string | undefined>>;

export type CredentialSource =
  | {
      readonly kind: 'container';
      /** the URL the credentials are fetched from (FULL_URI, or RELATIVE_URI on 169.254.170.2) */
      readonly url: string;
      readonly tokenFile: string | undefined;
    }
  | {
      readonly kind: 'web-identity';
      readonly roleArn: string;
      readonly tokenFile: string;
      readonly sessionName: string | undefined;
      /** AWS_ENDPOINT_URL_STS (or AWS_ENDPOINT_URL); undefined = the regional endpoint of AWS_REGION */
      readonly stsEndpoint: string | undefined;
    }
  | { readonly kind: 'env'; readonly temporary: boolean }
  | { readonly kind: 'default-chain'; readonly reason: string };

const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
// The AWS SDK's own rule for plain-http container credential endpoints (credential-provider-http checkUrl).
const CONTAINER_HOSTS = new Set(['169.254.170.2', '169.254.170.23', '[fd00:ec2::23]', 'localhost', '[::1]']);

function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function url(env: Env, name: string): string | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(name, `must be an http(s) URL, got "${raw}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(name, `must be an http(s) URL, got "${raw}"`);
  return raw;
}

function containerUrlAccepted(u: URL): boolean {
  if (u.protocol === 'https:') return true;
  if (CONTAINER_HOSTS.has(u.hostname)) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(u.hostname) && u.hostname.split('.').every((p) => Number(p) <= 255);
}

/** The credential source the environment describes (pure; a half-configured source names its variable). */
export function parseCredentialSource(env: Env): CredentialSource {
  if (value(env, 'AWS_PROFILE') !== undefined) return { kind: 'default-chain', reason: 'AWS_PROFILE is set' };

  const keyId = value(env, 'AWS_ACCESS_KEY_ID');
  const secret = value(env, 'AWS_SECRET_ACCESS_KEY');
  if (keyId !== undefined || secret !== undefined) {
    if (keyId === undefined) throw new ConfigError('AWS_ACCESS_KEY_ID', 'is required with AWS_SECRET_ACCESS_KEY');
    if (secret === undefined) throw new ConfigError('AWS_SECRET_ACCESS_KEY', 'is required with AWS_ACCESS_KEY_ID');
    return { kind: 'env', temporary: value(env, 'AWS_SESSION_TOKEN') !== undefined };
  }

  const roleArn = value(env, 'AWS_ROLE_ARN');
  const tokenFile = value(env, 'AWS_WEB_IDENTITY_TOKEN_FILE');
  if (roleArn !== undefined || tokenFile !== undefined) {
    if (roleArn === undefined) throw new ConfigError('AWS_ROLE_ARN', 'is required with AWS_WEB_IDENTITY_TOKEN_FILE (IRSA: the pod identity webhook sets both)');
    if (tokenFile === undefined) throw new ConfigError('AWS_WEB_IDENTITY_TOKEN_FILE', 'is required with AWS_ROLE_ARN (IRSA: the pod identity webhook sets both)');
    if (!ROLE_ARN.test(roleArn)) throw new ConfigError('AWS_ROLE_ARN', `must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), got "${roleArn}"`);
    const sessionName = value(env, 'AWS_ROLE_SESSION_NAME');
    if (sessionName !== undefined && !SESSION_NAME.test(sessionName)) {
      throw new ConfigError('AWS_ROLE_SESSION_NAME', `must be 2 to 64 characters of [A-Za-z0-9_+=,.@-], got "${sessionName}"`);
    }
    // The SDK's precedence: the service-specific override, then the global one.
    const stsEndpoint = url(env, 'AWS_ENDPOINT_URL_STS') ?? url(env, 'AWS_ENDPOINT_URL');
    return { kind: 'web-identity', roleArn, tokenFile, sessionName, stsEndpoint };
  }

  const full = value(env, 'AWS_CONTAINER_CREDENTIALS_FULL_URI');
  const relative = value(env, 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI');
  if (full !== undefined || relative !== undefined) {
    // RELATIVE_URI wins over FULL_URI in the SDK.
    const name = relative !== undefined ? 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI' : 'AWS_CONTAINER_CREDENTIALS_FULL_URI';
    const raw = relative !== undefined ? `http://169.254.170.2${relative.startsWith('/') ? '' : '/'}${relative}` : (full as string);
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new ConfigError(name, `is not a URL: "${relative ?? full}"`);
    }
    if (!containerUrlAccepted(u)) {
      throw new ConfigError(name, `"${raw}": plain http is allowed only to loopback, 169.254.170.2 and the EKS Pod Identity agent (169.254.170.23, [fd00:ec2::23]); use https otherwise`);
    }
    return { kind: 'container', url: raw, tokenFile: value(env, 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE') };
  }

  return { kind: 'default-chain', reason: 'no Pod Identity, IRSA or static key variables are set' };
}

/** What the start-up log says about the source (nothing secret). */
export function describeSource(s: CredentialSource): Record<string, unknown> {
  switch (s.kind) {
    case 'container':
      return { source: 'container', provider: CONTAINER, url: s.url, tokenFile: s.tokenFile ?? null };
    case 'web-identity':
      return { source: 'web-identity', provider: WEB_IDENTITY, roleArn: s.roleArn, tokenFile: s.tokenFile, stsEndpoint: s.stsEndpoint ?? null };
    case 'env':
      return { source: 'env', provider: ENV, temporary: s.temporary };
    case 'default-chain':
      return { source: 'default-chain', provider: CHAIN, reason: s.reason };
  }
}

// ---------------------------------------------------------------- diagnostics

const CONTAINER = 'EKS Pod Identity (container credentials)';
const WEB_IDENTITY = 'IRSA (STS AssumeRoleWithWebIdentity)';
const ENV = 'environment variables';
const CHAIN = 'AWS default credential chain';

export interface CredentialDiagnosis {
  readonly provider: string;
  readonly url?: string;
  readonly httpStatus?: number;
  /** STS's or the agent's error code, or the network error code (ECONNREFUSED, ENOENT, ...) */
  readonly code?: string;
  /** what the other side said, or the local error */
  readonly detail: string;
  readonly hint?: string;
}

/** A credential fetch that failed, with everything needed to see why; `message` is what /readyz shows. */
export class CredentialSourceError extends Error {
  constructor(readonly diagnosis: CredentialDiagnosis) {
    super(formatDiagnosis(diagnosis));
    this.name = 'CredentialSourceError';
  }
}

export function formatDiagnosis(d: CredentialDiagnosis): string {
  const where = d.url ? ` ${d.url}` : '';
  const status = d.httpStatus !== undefined ? ` HTTP ${d.httpStatus}` : '';
  const code = d.code !== undefined && !d.detail.startsWith(d.code) ? ` ${d.code}` : '';
  return `${d.provider}${where}:${status}${code}${status || code ? ': ' : ' '}${d.detail}${d.hint ? ` (${d.hint})` : ''}`;
}

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  Code?: unknown;
  Message?: unknown;
  path?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

const asErrorLike = (e: unknown): ErrorLike => (typeof e === 'object' && e !== null ? (e as ErrorLike) : { message: String(e) });
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
// ECONNREFUSED, EAI_AGAIN, ETIMEDOUT, ERR_TLS_...: five or more capitals, so words like EKS are not taken for one.
const NETWORK_CODE = /\b(E[A-Z][A-Z_]{3,}|ERR_[A-Z_]+)\b/;

function tokenFileError(e: ErrorLike, file: string | undefined, volume: string): CredentialDiagnosis | undefined {
  const code = str(e.code);
  if (!code || !/^E(NOENT|ACCES|PERM|ISDIR|NOTDIR|LOOP)$/.test(code)) return undefined;
  if (file !== undefined && str(e.path) !== undefined && e.path !== file) return undefined;
  return {
    provider: '',
    code,
    detail: `token file ${file ?? str(e.path) ?? ''} unreadable`,
    hint: `${volume} mounted into this container and readable by its user (uid 1337)?`,
  };
}

function networkError(e: ErrorLike): string | undefined {
  const own = str(e.code);
  if (own && /^(E[A-Z][A-Z_]{3,}|ERR_[A-Z_]+|UND_ERR_[A-Z_]+)$/.test(own)) return own;
  const m = NETWORK_CODE.exec(str(e.message) ?? '');
  if (m?.[1]) return m[1];
  if (/timed? ?out/i.test(str(e.message) ?? '') || e.name === 'TimeoutError') return 'ETIMEDOUT';
  return undefined;
}

const CONTAINER_HINTS: Record<number, string> = {
  400: 'the agent refused the request: empty or malformed service account token?',
  401: 'the agent rejected the service account token: expired, or not this pod\'s?',
  403: 'no Pod Identity association for this service account?',
  404: 'no Pod Identity association for this service account, or not the agent\'s credentials path?',
  429: 'the agent is throttling: retried with backoff',
};

/** Explains a failure of the container credentials fetch (container-credentials.ts) against the Pod Identity agent. */
export function explainContainerError(err: unknown, url: string, tokenFile: string | undefined): CredentialDiagnosis {
  const e = asErrorLike(err);
  const file = tokenFileError(e, tokenFile, 'is the eks-pod-identity-token projected volume');
  if (file) return { ...file, provider: CONTAINER, url };
  const message = str(e.message) ?? String(err);
  const status = /Server responded with status: (\d{3})/.exec(message)?.[1];
  if (status !== undefined) {
    const s = Number(status);
    const code = str(e.Code);
    const detail = code !== undefined ? `${code}: ${str(e.Message) ?? ''}`.replace(/: $/, '') : `the agent answered ${s}`;
    return { provider: CONTAINER, url, httpStatus: s, code, detail, hint: CONTAINER_HINTS[s] ?? (s >= 500 ? 'the agent or EKS Auth failed: retried with backoff' : undefined) };
  }
  const net = networkError(e);
  if (net !== undefined) {
    const hint =
      net === 'ECONNREFUSED'
        ? 'nothing listens there: is the eks-pod-identity-agent DaemonSet running on this node?'
        : net === 'ETIMEDOUT'
          ? 'no answer in time: is the agent reachable from the pod?'
          : undefined;
    return { provider: CONTAINER, url, code: net, detail: message.replace(/^(Credentials)?ProviderError: /, ''), hint };
  }
  return { provider: CONTAINER, url, detail: message };
}

interface TokenClaims {
  iss?: string;
  sub?: string;
  aud?: string;
  exp?: string;
}

/** The claims of a JWT, decoded without verifying (iss, sub, aud, exp are not secret; the token is). */
export function tokenClaims(token: string): TokenClaims | undefined {
  const part = token.trim().split('.')[1];
  if (part === undefined) return undefined;
  try {
    const p = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
    const aud = Array.isArray(p.aud) ? p.aud.join(',') : str(p.aud);
    return {
      iss: str(p.iss),
      sub: str(p.sub),
      aud,
      exp: typeof p.exp === 'number' ? new Date(p.exp * 1000).toISOString() : undefined,
    };
  } catch {
    return undefined;
  }
}

function claimsText(c: TokenClaims | undefined): string {
  if (c === undefined) return 'the token file does not hold a JWT';
  return `token iss=${c.iss ?? '?'} sub=${c.sub ?? '?'} aud=${c.aud ?? '?'} exp=${c.exp ?? '?'}`;
}

function stsHint(code: string, message: string, roleArn: string, claims: TokenClaims | undefined): string | undefined {
  switch (code) {
    case 'InvalidIdentityToken':
      if (/audience/i.test(message)) return `the token's audience must be a client id of the IAM OIDC provider (sts.amazonaws.com, the webhook's default); ${claimsText(claims)}`;
      if (/No OpenIDConnect provider/i.test(message)) return `no IAM OIDC provider for this cluster's service account issuer in the role's account; ${claimsText(claims)}`;
      if (/verification key/i.test(message)) return 'STS cannot fetch the issuer\'s JWKS: the issuer\'s discovery documents must be publicly reachable over HTTPS';
      return `the token's signature does not verify against the issuer's published keys (signing key rotated, or not this cluster's token?); ${claimsText(claims)}`;
    case 'ExpiredTokenException':
      return `the token file holds an expired token: is the kubelet still rotating the projected token?; ${claimsText(claims)}`;
    case 'AccessDenied':
      return `the trust policy of ${roleArn} does not allow this service account: check its <issuer>:sub and <issuer>:aud conditions; ${claimsText(claims)}`;
    case 'IDPRejectedClaim':
    case 'IDPCommunicationError':
      return `the identity provider was not usable for STS; ${claimsText(claims)}`;
    case 'RegionDisabledException':
      return 'STS is not activated in this region for the account (IAM account settings)';
    default:
      return undefined;
  }
}

/** Explains a failure of @aws-sdk/credential-provider-web-identity (fromTokenFile) calling STS. */
export function explainStsError(err: unknown, o: { url: string; tokenFile: string; roleArn: string; claims: TokenClaims | undefined }): CredentialDiagnosis {
  const e = asErrorLike(err);
  const file = tokenFileError(e, o.tokenFile, 'is the aws-iam-token projected volume of the pod identity webhook');
  if (file) return { ...file, provider: WEB_IDENTITY, url: o.url };
  const message = str(e.message) ?? String(err);
  const status = e.$metadata?.httpStatusCode;
  // The SDK keeps the Query protocol's <Code> (InvalidIdentityToken) beside its exception name
  // (InvalidIdentityTokenException); the wire code is what STS documents and users search for.
  const code = str(e.Code) ?? (typeof status === 'number' ? str(e.name) : undefined);
  if (typeof status === 'number' && code !== undefined) {
    const hint = stsHint(code, message, o.roleArn, o.claims) ?? (status >= 500 ? 'STS failed: retried with backoff' : undefined);
    return { provider: WEB_IDENTITY, url: o.url, httpStatus: status, code, detail: `${code}: ${message}`, hint };
  }
  const net = networkError(e);
  if (net !== undefined) {
    return {
      provider: WEB_IDENTITY,
      url: o.url,
      code: net,
      detail: message,
      hint: net === 'ENOTFOUND' || net === 'ECONNREFUSED' || net === 'ETIMEDOUT' ? 'cannot reach STS: check AWS_ENDPOINT_URL_STS, AWS_REGION and the egress to the STS endpoint' : undefined,
    };
  }
  return { provider: WEB_IDENTITY, url: o.url, detail: message };
}

function explainOther(provider: string, err: unknown, hint?: string): CredentialDiagnosis {
  const e = asErrorLike(err);
  return { provider, detail: str(e.message) ?? String(err), hint };
}

// ---------------------------------------------------------------- loading

export interface LoadedCredentialSource {
  readonly source: CredentialSource;
  /** A fresh provider per refresh (the token files must be re-read every time). */
  readonly providerFactory: () => CredentialProvider;
}

export interface LoadOptions {
  /** STS is called in this region, explicitly: SDK releases disagree on the default (older ones: us-east-1). */
  readonly region: string;
  /** Where the env and container sources read their variables at each fetch (default process.env). */
  readonly env?: Env;
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
}

/** A middleware recording the URL each STS request goes to, for the diagnosis (never headers or body). */
function recordUrl(onUrl: (url: string) => void): { applyToStack(stack: { add(mw: unknown, o: unknown): void }): void } {
  return {
    applyToStack(stack) {
      stack.add(
        (next: (a: unknown) => Promise<unknown>) => async (args: { request?: { protocol?: string; hostname?: string; port?: number; path?: string } }) => {
          const r = args.request;
          if (r?.hostname) onUrl(`${r.protocol ?? 'https:'}//${r.hostname.includes(':') ? `[${r.hostname}]` : r.hostname}${r.port ? `:${r.port}` : ''}${r.path ?? '/'}`);
          return next(args);
        },
        { step: 'finalizeRequest', name: 'latticeProxyRecordUrl', override: true },
      );
    },
  };
}

function wrap(provider: CredentialProvider, explain: (err: unknown) => CredentialDiagnosis): CredentialProvider {
  return async () => {
    try {
      return await provider();
    } catch (err) {
      throw new CredentialSourceError(explain(err));
    }
  };
}

/** Imports the SDK provider of this source only, and returns a factory of providers that explain their failures. */
export async function loadCredentialSource(source: CredentialSource, o: LoadOptions): Promise<LoadedCredentialSource> {
  const env = o.env ?? process.env;
  const connectionTimeout = o.connectTimeoutMs ?? 5_000;
  const requestTimeout = o.requestTimeoutMs ?? 10_000;
  switch (source.kind) {
    case 'container': {
      // Our own GET (container-credentials.ts), not the SDK's fromHttp: same protocol, 11 MB less per pod.
      const token = value(env, 'AWS_CONTAINER_AUTHORIZATION_TOKEN');
      const provider = fromContainerEndpoint({ url: source.url, tokenFile: source.tokenFile, token, timeoutMs: 2_000 });
      return { source, providerFactory: () => wrap(provider, (err) => explainContainerError(err, source.url, source.tokenFile)) };
    }
    case 'web-identity': {
      const { fromTokenFile } = await import('@aws-sdk/credential-provider-web-identity');
      const defaultUrl = `STS regional endpoint of ${o.region}`;
      return {
        source,
        providerFactory: () => {
          let url = source.stsEndpoint ?? defaultUrl;
          const provider = fromTokenFile({
            webIdentityTokenFile: source.tokenFile,
            roleArn: source.roleArn,
            roleSessionName: source.sessionName,
            clientConfig: {
              region: o.region,
              ...(source.stsEndpoint !== undefined ? { endpoint: source.stsEndpoint } : {}),
              maxAttempts: 1,
              // A client per refresh (the SDK builds one per provider): no keep-alive socket outlives it.
              requestHandler: { connectionTimeout, requestTimeout, httpAgent: new HttpAgent({ keepAlive: false }), httpsAgent: new HttpsAgent({ keepAlive: false }) },
            },
            clientPlugins: [recordUrl((u) => (url = u))],
          });
          return wrap(provider, (err) => {
            let claims: TokenClaims | undefined;
            try {
              claims = tokenClaims(readFileSync(source.tokenFile, 'ascii'));
            } catch {
              claims = undefined;
            }
            return explainStsError(err, { url, tokenFile: source.tokenFile, roleArn: source.roleArn, claims });
          });
        },
      };
    }
    case 'env': {
      const provider = fromEnvironment(env);
      return { source, providerFactory: () => wrap(provider, (err) => explainOther(ENV, err)) };
    }
    case 'default-chain': {
      const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
      const hint = `${source.reason}: for EKS Pod Identity set AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, for IRSA AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE`;
      // A new chain per refresh: the default chain memoises.
      return { source, providerFactory: () => wrap(defaultProvider(), (err) => explainOther(CHAIN, err, hint)) };
    }
  }
}
