// Emulated AWS STS for IRSA: AssumeRoleWithWebIdentity in the Query protocol (form POST, or GET with the
// parameters in the query string), answering the XML STS answers. The web identity token is verified as STS
// verifies it: a JWT whose issuer is a registered OIDC provider, one of whose client ids is the token's audience,
// signed by a key of the issuer's JWKS (fetched over HTTP from the issuer, test/emulators/oidc.ts), not expired;
// then the role's trust policy is evaluated with the `<provider>:sub` and `<provider>:aud` condition keys
// (test/emulators/policy.ts). Credentials are sealed like every emulated credential (test/emulators/iam.ts):
// principal arn:aws:sts::<account>:assumed-role/<role>/<session>, no session tags, with the requested lifetime.
//
// Each call is recorded with the SHA-256 of the token it carried (never the token), so a test can prove which
// token file content a refresh used.
import { createHash, createPublicKey, randomUUID, verify, type JsonWebKey } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { issueTemporaryCredentials, parseRoleArn } from './iam.js';
import { evaluatePolicy, oidcProviderArn, oidcProviderKey, webIdentityTrustContext, type PolicyDocument } from './policy.js';
import { closeServer, listen, urlHost } from './server-util.js';

export const STS_XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
export const STS_VERSION = '2011-06-15';
const MAX_BODY = 64 * 1024;

export interface StsRole {
  roleArn: string;
  /** the role's trust (assume role) policy */
  trustPolicy: PolicyDocument;
  /** IAM's MaxSessionDuration, 3600..43200; default 3600 */
  maxSessionDurationSeconds?: number;
}

export interface StsOidcProvider {
  /** issuer URL exactly as in the tokens' iss */
  url: string;
  /** the provider's client id list (audiences); IRSA registers sts.amazonaws.com */
  clientIds: string[];
}

export interface StsEmulatorOptions {
  host?: string;
  port?: number;
  iamKey: string;
  roles: StsRole[];
  oidcProviders: StsOidcProvider[];
  /** account of the OIDC providers; default the first role's */
  accountId?: string;
  /**
   * Lifetime when the caller sends no DurationSeconds. STS uses 3600; tests of refresh and expiry set less (the
   * one knob where the emulator departs from STS, whose minimum is 900 s).
   */
  defaultDurationSeconds?: number;
  now?: () => number;
  /** JWKS cache lifetime; an unknown kid always refetches */
  jwksCacheMs?: number;
  jwksTimeoutMs?: number;
}

export type StsOutcome = 'issued' | string;

export interface StsCall {
  time: string;
  method: string;
  action: string;
  roleArn?: string;
  roleSessionName?: string;
  /** SHA-256 (hex) of the WebIdentityToken parameter; the token itself is never kept */
  tokenSha256?: string;
  /** the token's sub, when it parsed */
  subject?: string;
  status: number;
  /** 'issued' or STS's error code */
  outcome: StsOutcome;
  accessKeyId?: string;
  expiration?: string;
  durationSeconds?: number;
}

export interface StsEmulator {
  url: string;
  port: number;
  calls: StsCall[];
  /** calls that answered credentials */
  issued(): StsCall[];
  /** the next n calls answer 500 InternalFailure, or 503 ServiceUnavailable */
  failNext(n: number, kind?: 'InternalFailure' | 'ServiceUnavailable'): void;
  setDown(down: boolean): Promise<void>;
  close(): Promise<void>;
}

/** SHA-256 hex of a token, as StsCall.tokenSha256 records it. */
export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

class StsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly type: 'Sender' | 'Receiver' = 'Sender',
  ) {
    super(message);
  }
}

// STS's answers, with where the text comes from (test/emulators/README.md lists them).
const ERR = {
  notJwt: () => new StsError(400, 'InvalidIdentityToken', 'The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)'),
  noProvider: (iss: string) => new StsError(400, 'InvalidIdentityToken', `No OpenIDConnect provider found in your account for ${iss}`),
  audience: () => new StsError(400, 'InvalidIdentityToken', 'Incorrect token audience'),
  keysUnreachable: () =>
    new StsError(400, 'InvalidIdentityToken', "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"),
  signature: () =>
    new StsError(400, 'InvalidIdentityToken', 'The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.'),
  expired: (now: number, exp: number) =>
    new StsError(400, 'ExpiredTokenException', `Token expired: current date/time ${now} must be before the expiration date/time ${exp}`),
  accessDenied: () => new StsError(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity'),
  validation: (what: string) => new StsError(400, 'ValidationError', `1 validation error detected: ${what}`),
  tooLong: () => new StsError(400, 'ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.'),
  action: (a: string) => new StsError(400, 'InvalidAction', `Could not find operation ${a} for version ${STS_VERSION}`),
};

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function sendXml(res: ServerResponse, status: number, body: string, requestId: string): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body), 'x-amzn-requestid': requestId });
  res.end(body);
}

export function errorXml(e: { type: string; code: string; message: string }, requestId: string): string {
  return (
    `<ErrorResponse xmlns="${STS_XMLNS}">\n  <Error>\n    <Type>${e.type}</Type>\n    <Code>${xmlEscape(e.code)}</Code>\n` +
    `    <Message>${xmlEscape(e.message)}</Message>\n  </Error>\n  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`
  );
}

interface Jwt {
  header: { alg?: string; kid?: string };
  payload: { iss?: unknown; aud?: unknown; sub?: unknown; exp?: unknown; nbf?: unknown };
  signingInput: string;
  signature: Buffer;
}

function parseJwt(token: string): Jwt {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) throw ERR.notJwt();
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Jwt['header'];
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Jwt['payload'];
    if (typeof header !== 'object' || header === null || typeof payload !== 'object' || payload === null) throw new Error('not objects');
    return { header, payload, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2]!, 'base64url') };
  } catch {
    throw ERR.notJwt();
  }
}

/** AssumedRoleId: a stable AROA id for the role, then the session name, as STS shows it. */
function roleId(roleArn: string): string {
  const digits = createHash('sha256').update(roleArn).digest('hex').toUpperCase().replace(/[^A-Z0-9]/g, '');
  return `AROA${digits.slice(0, 17)}`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(ERR.validation('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startStsEmulator(opts: StsEmulatorOptions): Promise<StsEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const now = opts.now ?? Date.now;
  const defaultDuration = opts.defaultDurationSeconds ?? 3600;
  const accountId = opts.accountId ?? (opts.roles[0] ? parseRoleArn(opts.roles[0].roleArn).accountId : '123456789012');
  const providers = opts.oidcProviders.map((p) => ({ ...p, url: p.url.replace(/\/$/, ''), arn: oidcProviderArn(accountId, p.url) }));
  const roles = new Map(opts.roles.map((r) => [r.roleArn, r]));
  const calls: StsCall[] = [];
  const jwksCache = new Map<string, { at: number; keys: JsonWebKey[] }>();
  let failures: { left: number; kind: 'InternalFailure' | 'ServiceUnavailable' } = { left: 0, kind: 'InternalFailure' };

  async function fetchJson(url: string): Promise<unknown> {
    const r = await fetch(url, { signal: AbortSignal.timeout(opts.jwksTimeoutMs ?? 3000) });
    if (r.status !== 200) throw new Error(`${url}: ${r.status}`);
    return r.json();
  }

  async function keysOf(issuer: string, refresh: boolean): Promise<JsonWebKey[]> {
    const cached = jwksCache.get(issuer);
    if (cached && !refresh && now() - cached.at < (opts.jwksCacheMs ?? 300_000)) return cached.keys;
    try {
      const discovery = (await fetchJson(`${issuer}/.well-known/openid-configuration`)) as { jwks_uri?: unknown };
      if (typeof discovery.jwks_uri !== 'string') throw new Error('no jwks_uri');
      const jwks = (await fetchJson(discovery.jwks_uri)) as { keys?: unknown };
      if (!Array.isArray(jwks.keys)) throw new Error('no keys');
      const keys = jwks.keys as JsonWebKey[];
      jwksCache.set(issuer, { at: now(), keys });
      return keys;
    } catch {
      jwksCache.delete(issuer);
      throw ERR.keysUnreachable();
    }
  }

  async function verifySignature(issuer: string, jwt: Jwt): Promise<void> {
    if (jwt.header.alg !== 'RS256') throw ERR.signature();
    const find = (keys: JsonWebKey[]): JsonWebKey | undefined => keys.find((k) => k.kid === jwt.header.kid && k.kty === 'RSA');
    // A kid not in the cached set may be a key the issuer rotated in since: fetch once more.
    const jwk = find(await keysOf(issuer, false)) ?? find(await keysOf(issuer, true));
    if (!jwk) throw ERR.signature();
    let ok = false;
    try {
      ok = verify('RSA-SHA256', Buffer.from(jwt.signingInput, 'ascii'), createPublicKey({ key: jwk, format: 'jwk' }), jwt.signature);
    } catch {
      ok = false;
    }
    if (!ok) throw ERR.signature();
  }

  async function assumeRoleWithWebIdentity(params: URLSearchParams, call: StsCall, requestId: string): Promise<string> {
    const roleArn = params.get('RoleArn');
    const sessionName = params.get('RoleSessionName');
    const token = params.get('WebIdentityToken');
    const durationRaw = params.get('DurationSeconds');
    if (roleArn !== null) call.roleArn = roleArn;
    if (sessionName !== null) call.roleSessionName = sessionName;
    if (token !== null) call.tokenSha256 = tokenSha256(token);
    if (roleArn === null || roleArn === '') throw ERR.validation("Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
    if (sessionName === null || sessionName === '') throw ERR.validation("Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null");
    if (token === null || token === '') throw ERR.validation("Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null");
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) {
      throw ERR.validation(`Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`);
    }
    let duration = defaultDuration;
    if (durationRaw !== null) {
      duration = Number(durationRaw);
      if (!/^\d+$/.test(durationRaw) || duration < 900) {
        throw ERR.validation(`Value '${durationRaw}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900`);
      }
      if (duration > 43_200) {
        throw ERR.validation(`Value '${durationRaw}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200`);
      }
    }

    const jwt = parseJwt(token);
    const iss = typeof jwt.payload.iss === 'string' ? jwt.payload.iss : '';
    if (typeof jwt.payload.sub === 'string') call.subject = jwt.payload.sub;
    const provider = providers.find((p) => p.url === iss.replace(/\/$/, ''));
    if (!provider) throw ERR.noProvider(iss);
    const auds = (Array.isArray(jwt.payload.aud) ? jwt.payload.aud : [jwt.payload.aud]).filter((a): a is string => typeof a === 'string');
    const aud = auds.find((a) => provider.clientIds.includes(a));
    if (aud === undefined) throw ERR.audience();
    await verifySignature(provider.url, jwt);
    const nowS = Math.floor(now() / 1000);
    const exp = typeof jwt.payload.exp === 'number' ? jwt.payload.exp : 0;
    if (nowS >= exp) throw ERR.expired(nowS, exp);
    if (typeof jwt.payload.nbf === 'number' && nowS < jwt.payload.nbf) throw ERR.signature();

    const role = roles.get(roleArn);
    const sub = typeof jwt.payload.sub === 'string' ? jwt.payload.sub : '';
    // An unknown role and a trust policy that does not allow the caller look the same to the caller.
    if (!role) throw ERR.accessDenied();
    const decision = evaluatePolicy(role.trustPolicy, webIdentityTrustContext({ roleArn, providerArn: provider.arn, issuerUrl: provider.url, sub, aud }));
    if (decision.decision !== 'Allow') throw ERR.accessDenied();
    if (duration > (role.maxSessionDurationSeconds ?? 3600)) throw ERR.tooLong();

    const creds = issueTemporaryCredentials({ iamKey: opts.iamKey, roleArn, sessionName, tags: {}, ttlSeconds: duration, now: now() });
    call.accessKeyId = creds.AccessKeyId;
    call.expiration = creds.Expiration;
    call.durationSeconds = duration;
    const r = (s: string): string => xmlEscape(s);
    return (
      `<AssumeRoleWithWebIdentityResponse xmlns="${STS_XMLNS}">\n  <AssumeRoleWithWebIdentityResult>\n` +
      `    <SubjectFromWebIdentityToken>${r(sub)}</SubjectFromWebIdentityToken>\n` +
      `    <Audience>${r(aud)}</Audience>\n` +
      `    <AssumedRoleUser>\n      <Arn>${r(creds.principalArn)}</Arn>\n      <AssumedRoleId>${roleId(roleArn)}:${r(sessionName)}</AssumedRoleId>\n    </AssumedRoleUser>\n` +
      `    <Credentials>\n      <SessionToken>${r(creds.Token)}</SessionToken>\n      <SecretAccessKey>${r(creds.SecretAccessKey)}</SecretAccessKey>\n` +
      `      <Expiration>${creds.Expiration}</Expiration>\n      <AccessKeyId>${creds.AccessKeyId}</AccessKeyId>\n    </Credentials>\n` +
      `    <Provider>${r(provider.url)}</Provider>\n  </AssumeRoleWithWebIdentityResult>\n` +
      `  <ResponseMetadata>\n    <RequestId>${requestId}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleWithWebIdentityResponse>\n`
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const [path, query = ''] = (req.url ?? '/').split('?', 2) as [string, string?];
    const call: StsCall = { time: new Date(now()).toISOString(), method: req.method ?? '', action: '', status: 0, outcome: '' };
    calls.push(call);
    try {
      let params: URLSearchParams;
      if (req.method === 'POST') {
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        const body = await readBody(req);
        params = new URLSearchParams(type === 'application/x-www-form-urlencoded' ? body : '');
        // STS takes query-string parameters on POST too.
        for (const [k, v] of new URLSearchParams(query)) if (!params.has(k)) params.set(k, v);
      } else if (req.method === 'GET') {
        req.resume();
        params = new URLSearchParams(query);
      } else {
        req.resume();
        throw new StsError(405, 'InvalidAction', `Method ${req.method} is not supported`);
      }
      if (path !== '/') throw ERR.action(path);
      call.action = params.get('Action') ?? '';
      if (failures.left > 0) {
        failures.left--;
        throw failures.kind === 'InternalFailure'
          ? new StsError(500, 'InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.', 'Receiver')
          : new StsError(503, 'ServiceUnavailable', 'Service is unable to handle request.', 'Receiver');
      }
      if (call.action !== 'AssumeRoleWithWebIdentity') throw ERR.action(call.action);
      if ((params.get('Version') ?? STS_VERSION) !== STS_VERSION) throw ERR.action(call.action);
      const xml = await assumeRoleWithWebIdentity(params, call, requestId);
      call.status = 200;
      call.outcome = 'issued';
      sendXml(res, 200, xml, requestId);
    } catch (err) {
      const e = err instanceof StsError ? err : new StsError(500, 'InternalFailure', String(err), 'Receiver');
      call.status = e.status;
      call.outcome = e.code;
      if (!res.headersSent) sendXml(res, e.status, errorXml({ type: e.type, code: e.code, message: e.message }, requestId), requestId);
    }
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => void handle(req, res);
  let server = createServer(handler);
  const port = await listen(server, host, opts.port ?? 0);
  return {
    url: `http://${urlHost(host)}:${port}`,
    port,
    calls,
    issued: () => calls.filter((c) => c.outcome === 'issued'),
    failNext(n, kind = 'InternalFailure') {
      failures = { left: n, kind };
    },
    async setDown(down: boolean) {
      if (down) await closeServer(server);
      else if (!server.listening) {
        server = createServer(handler);
        await listen(server, host, port);
      }
    },
    close: () => closeServer(server),
  };
}

/**
 * The trust policy IRSA roles carry (as infra/eks-anywhere writes it): the cluster's OIDC provider may assume the
 * role for exactly these service accounts, with the STS audience.
 */
export function irsaTrustPolicy(accountId: string, issuerUrl: string, subjects: string[], audience = 'sts.amazonaws.com'): PolicyDocument {
  const key = oidcProviderKey(issuerUrl);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: oidcProviderArn(accountId, issuerUrl) },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: { StringEquals: { [`${key}:sub`]: subjects, [`${key}:aud`]: audience } },
      },
    ],
  };
}
