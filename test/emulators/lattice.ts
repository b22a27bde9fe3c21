// Emulated VPC Lattice data plane: HTTPS listener (ALPN h2,http/1.1) → service by Host/:authority → SigV4 or
// SigV4A (vpc-lattice-svcs, UNSIGNED-PAYLOAD) → IAM auth policies (service network AND service, per request path,
// so per gRPC method) → the service's target group: HTTP/1.1, or h2c for HTTP2/GRPC target groups, streaming both
// ways.
//
// Documented choices:
// - Protocols: one TLS listener offers ALPN `h2,http/1.1` (Lattice's HTTP2Preferred policy); no ALPN or
//   `http/1.1` gets HTTP/1.1 (node:http), `h2` gets HTTP/2 (node:http2 core API, for RST_STREAM codes, trailers and
//   GOAWAY). Both share one admission path.
// - Auth: a signature is checked only when the service network or the service has an auth policy (auth type
//   AWS_IAM), like Lattice, where auth type NONE on both layers ignores signatures. An unsigned request is
//   anonymous. AWS4-HMAC-SHA256 is checked by sigv4-verify.ts, AWS4-ECDSA-P256-SHA256 by sigv4a-verify.ts (the
//   signed X-Amz-Region-Set must cover the region). Over HTTP/2 the signed `host` is the `:authority`.
// - Target group protocol version (Lattice's HTTP1 | HTTP2 | GRPC): HTTP1 serves HTTP/1.1 and non-gRPC HTTP/2
//   requests (sent to the target as HTTP/1.1); HTTP2 serves HTTP/2 requests (gRPC too), GRPC only gRPC (HTTP/2
//   POST, content-type application/grpc); both go to the target over h2c. Any other combination is refused with
//   464 IncompatibleProtocol after authorisation: Lattice documents the combinations but not the status, so
//   the emulator answers what AWS's Elastic Load Balancing answers for the same mismatch.
// - Connections: closed after `maxConnectionAgeMs` (Lattice: 10 minutes) and after `idleTimeoutMs` without a
//   request in flight (Lattice's default idle timeout: 60 s). HTTP/2 closes gracefully: GOAWAY (no new streams),
//   streams in flight complete, then the connection closes; `goAway()` does the same on demand. HTTP/1.1 gets
//   `connection: close` on the first response after the age limit and the keep-alive timeout when idle.
// - Headers to the target: `authorization` and `x-amz-security-token` are stripped (targets never see
//   credentials); `x-amz-date` and `x-amz-content-sha256` are passed through. Client-sent `x-amzn-lattice-*` and
//   `x-amzn-source-vpc` headers are dropped and replaced by Lattice's own (they must not be spoofable). Over
//   HTTP/2 `te: trailers` is kept (gRPC servers require it), trailers are relayed both ways, and a reset
//   (RST_STREAM) on either side resets the other.
// - Errors: 403 text/plain `<Code>: <message>` plus `x-amzn-ErrorType`; an unknown Host gets 404; a target that
//   refuses the connection gets 503 (no healthy target), a target failing before answering 502, after answering
//   the client's connection (HTTP/1.1) or stream (HTTP/2, RST_STREAM INTERNAL_ERROR) is cut.
import { randomUUID, createHash } from 'node:crypto';
import { Agent, createServer as createHttpServer, request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import {
  connect as http2Connect,
  constants as h2c,
  createServer as createHttp2Server,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders as H2IncomingHeaders,
  type OutgoingHttpHeaders as H2OutgoingHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { resolveAccessKey, type Identity, type StaticUser } from './iam.js';
import { evaluateLattice, type PolicyDocument } from './policy.js';
import { listen, urlHost } from './server-util.js';
import { ALGORITHM as SIGV4_ALGORITHM, verifySigV4, type ResolveSecretResult, type VerifyFailureCode } from './sigv4-verify.js';
import { deriveSigV4APublicKey, SIGV4A_ALGORITHM, verifySigV4A, type SigV4APublicKey } from './sigv4a-verify.js';

export const LATTICE_SIGNING_SERVICE = 'vpc-lattice-svcs';

/** Lattice's target group protocol versions. */
export type TargetGroupProtocolVersion = 'HTTP1' | 'HTTP2' | 'GRPC';
export type LatticeProtocol = 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2';
export type SigningAlgorithm = typeof SIGV4_ALGORITHM | typeof SIGV4A_ALGORITHM;

export interface LatticeServiceConfig {
  hostname: string;
  serviceArn?: string;
  target: { host: string; port: number };
  /** absent = auth type NONE for this service */
  authPolicy?: PolicyDocument;
  /** the target group's protocol version; default HTTP1. HTTP2 and GRPC targets are reached over h2c. */
  protocolVersion?: TargetGroupProtocolVersion;
}

export interface LatticeOptions {
  host?: string;
  port?: number;
  certPem: string;
  keyPem: string;
  iamKey: string;
  staticUsers?: StaticUser[];
  region?: string;
  accountId?: string;
  services: LatticeServiceConfig[];
  /** absent = auth type NONE on the service network */
  serviceNetworkPolicy?: PolicyDocument;
  serviceNetworkArn?: string;
  /** reported to targets in x-amzn-source-vpc / x-amzn-lattice-network */
  sourceVpcId?: string;
  maxSkewSeconds?: number;
  now?: () => number;
  /** log entries kept (oldest dropped first); bounded so load tests do not grow memory */
  maxLogEntries?: number;
  /** ALPN protocols offered, in preference order; default ['h2', 'http/1.1']. ['http/1.1'] = a listener without h2. */
  alpnProtocols?: string[];
  /** connections are closed (HTTP/2: gracefully, GOAWAY first) this long after they open; default 600000 (Lattice: 10 min), 0 = never */
  maxConnectionAgeMs?: number;
  /** connections without a request in flight are closed after this long; default 60000 (Lattice's default idle timeout) */
  idleTimeoutMs?: number;
}

export interface LatticeLogEntry {
  time: string;
  method: string;
  host: string;
  rawPath: string;
  /** the client's protocol on the listener */
  protocol: LatticeProtocol;
  /** a gRPC request (HTTP/2, content-type application/grpc...) */
  grpc: boolean;
  signed: boolean;
  /** the algorithm of the Authorization header, when it names one Lattice knows */
  signingAlgorithm?: SigningAlgorithm;
  verified: boolean;
  code?: string;
  accessKeyId?: string;
  principalArn?: string;
  status: number;
  /** grpc-status the target answered (trailers, or a trailers-only response), once known */
  grpcStatus?: number;
  /** lower-cased request header names as received, without pseudo-headers (never values: they hold signatures and tokens) */
  headerNames: string[];
}

export interface LatticeStats {
  /** TLS handshakes completed (connections of either protocol) */
  connections: number;
  requests: number;
  /** HTTP/2 sessions opened by clients */
  sessions: number;
  /** GOAWAYs sent (age limit, idle timeout, goAway()) */
  goaways: number;
  /** connections closed for being idle (HTTP/2 sessions) */
  idleClosed: number;
}

export interface Lattice {
  url: string;
  port: number;
  log: LatticeLogEntry[];
  stats: LatticeStats;
  onRequest?: (entry: LatticeLogEntry) => void;
  /** the ARNs used in policies and messages, by hostname */
  serviceArns: Record<string, string>;
  serviceNetworkArn: string;
  /** Graceful GOAWAY on every open HTTP/2 session (new streams refused, streams in flight finish, then close); returns how many. */
  goAway(): number;
  /** HTTP/2 sessions open now */
  openSessions(): number;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade',
]);
/** Connection-specific header fields HTTP/2 forbids (RFC 9113 §8.2.2) */
const H2_FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);
const STRIPPED = new Set(['authorization', 'x-amz-security-token', 'x-amzn-source-vpc']);
const INCOMPATIBLE_PROTOCOL_STATUS = 464;

function shortId(prefix: string, seed: string): string {
  return `${prefix}-${createHash('sha256').update(seed).digest('hex').slice(0, 17)}`;
}

export function hostWithoutPort(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1).toLowerCase();
  const colon = hostHeader.lastIndexOf(':');
  return (colon >= 0 ? hostHeader.slice(0, colon) : hostHeader).toLowerCase();
}

/** Verifier codes → the exception names Lattice reports. */
function publicCode(code: VerifyFailureCode): string {
  switch (code) {
    case 'SignatureDoesNotMatch':
    case 'RequestExpired':
    case 'IncompleteSignature':
    case 'InvalidSignatureException':
    case 'InvalidPayloadSigning':
    case 'XAmzContentSHA256Mismatch':
      return 'InvalidSignatureException';
    case 'MissingSecurityToken':
    case 'InvalidClientTokenId':
      return 'UnrecognizedClientException';
    case 'ExpiredToken':
      return 'ExpiredTokenException';
    default:
      return code;
  }
}

/** A request as the admission path sees it, whatever the protocol. */
interface RequestView {
  protocol: LatticeProtocol;
  method: string;
  rawPath: string;
  /** Host (HTTP/1.1) or :authority (HTTP/2) as received */
  authority: string;
  /** wire order, no pseudo-headers; over HTTP/2 a `host` from :authority is added when the client sent none */
  headers: Array<[string, string]>;
  grpc: boolean;
}

type ServiceEntry = LatticeServiceConfig & { serviceArn: string; protocolVersion: TargetGroupProtocolVersion };

/** An admitted request on its way to the target. */
interface Exchange {
  view: RequestView;
  service: ServiceEntry;
  identity: Identity | undefined;
  requestId: string;
  entry: LatticeLogEntry;
  finish: (status: number, code?: string) => void;
}

type Admission =
  | { ok: true; service: ServiceEntry; identity: Identity | undefined }
  | { ok: false; status: number; errorType: string | undefined; logCode: string; body: string };

const refusal = (status: number, errorType: string | undefined, logCode: string, body: string): Admission => ({ ok: false, status, errorType, logCode, body });

function errorHeaders(requestId: string, errorType: string | undefined, body: string): Record<string, string | number> {
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': requestId,
  };
  if (errorType) headers['x-amzn-errortype'] = errorType;
  return headers;
}

/** Why the target group cannot take this request, or undefined when it can. */
function protocolMismatch(version: TargetGroupProtocolVersion, view: RequestView): string | undefined {
  const h2 = view.protocol === 'HTTP/2';
  if (version === 'GRPC' && !(h2 && view.grpc && view.method === 'POST')) return 'gRPC (HTTP/2 POST, content-type application/grpc)';
  if (version === 'HTTP2' && !h2) return 'HTTP/2';
  if (version === 'HTTP1' && view.grpc) return 'HTTP/1.1 or non-gRPC HTTP/2';
  return undefined;
}

function isGrpc(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/grpc(\+|;|$)/i.test(contentType.trim());
}

export async function startLattice(opts: LatticeOptions): Promise<Lattice> {
  const host = opts.host ?? '127.0.0.1';
  const region = opts.region ?? 'us-west-2';
  const accountId = opts.accountId ?? '123456789012';
  const now = opts.now ?? Date.now;
  const maxLog = opts.maxLogEntries ?? 10_000;
  const maxAgeMs = opts.maxConnectionAgeMs ?? 600_000;
  const idleMs = opts.idleTimeoutMs ?? 60_000;
  const sourceVpcId = opts.sourceVpcId ?? 'vpc-0emulated0000001';
  const serviceNetworkArn =
    opts.serviceNetworkArn ?? `arn:aws:vpc-lattice:${region}:${accountId}:servicenetwork/${shortId('sn', accountId + region)}`;
  const services = new Map(
    opts.services.map((s) => {
      const hostname = s.hostname.toLowerCase();
      const serviceArn = s.serviceArn ?? `arn:aws:vpc-lattice:${region}:${accountId}:service/${shortId('svc', hostname)}`;
      return [hostname, { ...s, hostname, serviceArn, protocolVersion: s.protocolVersion ?? 'HTTP1' }] as const;
    }),
  );
  const agent = new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 1000 });
  const log: LatticeLogEntry[] = [];
  const stats: LatticeStats = { connections: 0, requests: 0, sessions: 0, goaways: 0, idleClosed: 0 };
  const sockets = new Set<TLSSocket>();
  const socketOpened = new WeakMap<Socket, number>();
  const sessions = new Map<ServerHttp2Session, { active: number; idle?: NodeJS.Timeout; age?: NodeJS.Timeout }>();
  const upstreamSessions = new Map<string, ClientHttp2Session>();
  // SigV4A public keys by credentials: the BigInt derivation is the verifier's slow part.
  const publicKeys = new Map<string, SigV4APublicKey>();

  const api: Lattice = {
    url: '',
    port: 0,
    log,
    stats,
    serviceArns: Object.fromEntries([...services.values()].map((s) => [s.hostname, s.serviceArn])),
    serviceNetworkArn,
    goAway: () => {
      let n = 0;
      for (const session of sessions.keys()) if (goAwaySession(session)) n++;
      return n;
    },
    openSessions: () => sessions.size,
    close: async () => {
      for (const [session, state] of sessions) {
        clearTimeout(state.idle);
        clearTimeout(state.age);
        session.destroy();
      }
      for (const socket of sockets) socket.destroy();
      for (const s of upstreamSessions.values()) s.destroy();
      agent.destroy();
      if (tlsServer.listening) await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
    },
  };

  function record(entry: LatticeLogEntry): void {
    log.push(entry);
    if (log.length > maxLog) log.splice(0, log.length - maxLog);
    api.onRequest?.(entry);
  }

  function newEntry(view: RequestView, headerNames: string[]): LatticeLogEntry {
    return {
      time: new Date(now()).toISOString(),
      method: view.method,
      host: view.authority,
      rawPath: view.rawPath,
      protocol: view.protocol,
      grpc: view.grpc,
      signed: view.headers.some(([n]) => n.toLowerCase() === 'authorization'),
      verified: false,
      status: 0,
      headerNames,
    };
  }

  const resolveSecret = (accessKeyId: string, token: string | undefined): ResolveSecretResult<Identity> => {
    const r = resolveAccessKey({ iamKey: opts.iamKey, staticUsers: opts.staticUsers }, accessKeyId, token, now());
    return r.ok ? { ok: true, secretAccessKey: r.identity.secretAccessKey, identity: r.identity } : r;
  };

  function publicKeyFor(accessKeyId: string, secretAccessKey: string): SigV4APublicKey {
    const cacheKey = createHash('sha256').update(`${accessKeyId}\0${secretAccessKey}`).digest('hex');
    let key = publicKeys.get(cacheKey);
    if (key === undefined) {
      if (publicKeys.size >= 1000) publicKeys.clear();
      key = deriveSigV4APublicKey(accessKeyId, secretAccessKey);
      publicKeys.set(cacheKey, key);
    }
    return key;
  }

  /** Verifies the signature with the verifier of its algorithm. */
  function verify(view: RequestView, entry: LatticeLogEntry): { ok: true; identity: Identity } | { ok: false; code: VerifyFailureCode; message: string } {
    const authorization = view.headers.find(([n]) => n.toLowerCase() === 'authorization')?.[1] ?? '';
    const algorithm = authorization.trim().split(' ', 1)[0];
    const req = { method: view.method, rawPath: view.rawPath, headers: view.headers };
    const common = { resolveSecret, service: LATTICE_SIGNING_SERVICE, region, now: now(), maxSkewSeconds: opts.maxSkewSeconds ?? 300, requireUnsignedPayload: true };
    let result;
    if (algorithm === SIGV4A_ALGORITHM) {
      entry.signingAlgorithm = SIGV4A_ALGORITHM;
      result = verifySigV4A(req, common, publicKeyFor);
    } else {
      if (algorithm === SIGV4_ALGORITHM) entry.signingAlgorithm = SIGV4_ALGORITHM;
      result = verifySigV4(req, common);
    }
    if (result.accessKeyId) entry.accessKeyId = result.accessKeyId;
    return result.ok ? { ok: true, identity: result.identity } : result;
  }

  /** Service → signature → policies → target group protocol: what Lattice decides before any target sees the request. */
  function admit(view: RequestView, entry: LatticeLogEntry): Admission {
    const hostname = hostWithoutPort(view.authority);
    const service = services.get(hostname);
    if (!service) return refusal(404, 'NotFoundException', 'NotFoundException', `NotFoundException: No service is associated with host '${hostname}'.`);

    let identity: Identity | undefined;
    const authEnabled = opts.serviceNetworkPolicy !== undefined || service.authPolicy !== undefined;
    if (authEnabled && entry.signed) {
      const result = verify(view, entry);
      if (!result.ok) return refusal(403, publicCode(result.code), result.code, `${publicCode(result.code)}: ${result.message}`);
      identity = result.identity;
      entry.verified = true;
      entry.principalArn = identity.principalArn;
    }

    if (authEnabled) {
      const decision = evaluateLattice(
        { serviceNetworkPolicy: opts.serviceNetworkPolicy, servicePolicy: service.authPolicy },
        {
          principalArn: identity?.principalArn,
          principalTags: identity?.tags,
          method: view.method,
          path: view.rawPath.split('?')[0] ?? '/',
          serviceArn: service.serviceArn,
          serviceNetworkArn,
          sourceVpc: sourceVpcId,
        },
      );
      // The message already starts with "AccessDeniedException: User: ...".
      if (!decision.allowed) return refusal(403, 'AccessDeniedException', 'AccessDeniedException', decision.message);
    }

    const needs = protocolMismatch(service.protocolVersion, view);
    if (needs !== undefined) {
      const got = `${view.protocol}${view.grpc ? ' gRPC' : ''} ${view.method}`;
      return refusal(INCOMPATIBLE_PROTOCOL_STATUS, 'IncompatibleProtocol', 'IncompatibleProtocol', `IncompatibleProtocol: the target group of ${hostname} has protocol version ${service.protocolVersion} and takes ${needs}; this request is ${got}.`);
    }
    return { ok: true, service, identity };
  }

  /** The request headers a target receives: credentials and spoofable Lattice headers out, Lattice's own in. */
  function targetHeaders(view: RequestView, service: ServiceEntry, identity: Identity | undefined, requestId: string, keep: (lower: string, value: string) => boolean): Array<[string, string]> {
    const headers: Array<[string, string]> = [];
    for (const [name, value] of view.headers) {
      const lower = name.toLowerCase();
      if (STRIPPED.has(lower) || lower.startsWith('x-amzn-lattice-') || !keep(lower, value)) continue;
      headers.push([name, value]);
    }
    const sessionName = identity?.principalArn.split('/').pop();
    headers.push(
      ['x-amzn-source-vpc', sourceVpcId],
      ['x-amzn-lattice-network', `SourceVpcArn=arn:aws:ec2:${region}:${accountId}:vpc/${sourceVpcId}`],
      ['x-amzn-lattice-target', `ServiceArn=${service.serviceArn}; ServiceNetworkArn=${serviceNetworkArn}; TargetGroupArn=arn:aws:vpc-lattice:${region}:${accountId}:targetgroup/${shortId('tg', service.hostname)}`],
      ['x-amzn-lattice-identity', identity ? `Principal=${identity.principalArn}; SessionName=${sessionName ?? ''}; Type=AWS_IAM` : 'Type=Anonymous'],
      ['x-amzn-requestid', requestId],
    );
    return headers;
  }

  // ------------------------------------------------------------------------------------------- HTTP/1.1

  function handleHttp1(req: IncomingMessage, res: ServerResponse): void {
    stats.requests++;
    const requestId = randomUUID();
    const headers: Array<[string, string]> = [];
    const headerNames: string[] = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      headers.push([req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string]);
      headerNames.push((req.rawHeaders[i] as string).toLowerCase());
    }
    const view: RequestView = {
      protocol: req.httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1',
      method: req.method ?? 'GET',
      rawPath: req.url ?? '/',
      authority: req.headers.host ?? '',
      headers,
      grpc: false,
    };
    const entry = newEntry(view, headerNames);
    const finish = (status: number, code?: string): void => {
      entry.status = status;
      if (code) entry.code = code;
      record(entry);
    };
    const opened = socketOpened.get(req.socket);
    if (maxAgeMs > 0 && opened !== undefined && now() - opened >= maxAgeMs) res.shouldKeepAlive = false;

    const admission = admit(view, entry);
    if (!admission.ok) {
      // The request body is never read on refusal; drain it so the connection stays reusable.
      req.resume();
      res.writeHead(admission.status, errorHeaders(requestId, admission.errorType, admission.body));
      res.end(admission.body);
      finish(admission.status, admission.logCode);
      return;
    }
    forwardHttp1(req, res, { view, service: admission.service, identity: admission.identity, requestId, entry, finish });
  }

  /** The HTTP/1.1 request to the target (HTTP1 target groups, whatever the client spoke). */
  function http1TargetRequest(x: Exchange): ClientRequest {
    const headers = targetHeaders(x.view, x.service, x.identity, x.requestId, (lower) => !HOP_BY_HOP.has(lower));
    // A chunked request stays chunked: without content-length, node re-chunks the piped body.
    return httpRequest({
      host: x.service.target.host,
      port: x.service.target.port,
      method: x.view.method,
      path: x.view.rawPath,
      headers: headers.flat() as unknown as OutgoingHttpHeaders,
      agent,
      setHost: false,
    });
  }

  function forwardHttp1(req: IncomingMessage, res: ServerResponse, x: Exchange): void {
    const { requestId, finish } = x;
    const upstream = http1TargetRequest(x);
    let answered = false;
    upstream.on('response', (upRes) => {
      answered = true;
      const out: string[] = [];
      for (let i = 0; i + 1 < upRes.rawHeaders.length; i += 2) {
        const name = upRes.rawHeaders[i] as string;
        if (HOP_BY_HOP.has(name.toLowerCase())) continue;
        out.push(name, upRes.rawHeaders[i + 1] as string);
      }
      res.writeHead(upRes.statusCode ?? 502, out);
      finish(upRes.statusCode ?? 502);
      pipeline(upRes, res, (err) => {
        if (err) res.destroy();
      });
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (answered || res.headersSent) {
        res.destroy();
        return;
      }
      const { status, body, logCode } = targetFailure(err);
      req.unpipe(upstream);
      req.resume();
      res.writeHead(status, errorHeaders(requestId, undefined, body));
      res.end(body);
      finish(status, logCode);
    });
    req.on('error', () => upstream.destroy());
    // Client gone before the exchange finished: drop the target request too, so nothing lingers.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  // ------------------------------------------------------------------------------------------- HTTP/2

  function handleHttp2(stream: ServerHttp2Stream, h: H2IncomingHeaders, rawHeaders: string[]): void {
    stats.requests++;
    const requestId = randomUUID();
    stream.on('error', () => {
      /* a reset or a torn-down session: the close handlers below deal with it */
    });
    const headers: Array<[string, string]> = [];
    const headerNames: string[] = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i] as string;
      if (name.startsWith(':')) continue;
      headers.push([name, rawHeaders[i + 1] as string]);
      headerNames.push(name);
    }
    const authority = (h[':authority'] as string | undefined) ?? (h.host as string | undefined) ?? '';
    if (h.host === undefined) headers.push(['host', authority]);
    const view: RequestView = {
      protocol: 'HTTP/2',
      method: (h[':method'] as string | undefined) ?? 'GET',
      rawPath: (h[':path'] as string | undefined) ?? '',
      authority,
      headers,
      grpc: isGrpc(h['content-type']),
    };
    const entry = newEntry(view, headerNames);
    const finish = (status: number, code?: string): void => {
      entry.status = status;
      if (code) entry.code = code;
      record(entry);
    };
    const admission: Admission = view.rawPath.startsWith('/')
      ? admit(view, entry)
      : refusal(400, 'BadRequestException', 'BadRequestException', `BadRequestException: '${view.method}' requests without an origin-form :path are not supported.`);
    if (!admission.ok) {
      replyHttp2(stream, admission.status, admission.errorType, admission.body, requestId);
      finish(admission.status, admission.logCode);
      return;
    }
    const exchange: Exchange = { view, service: admission.service, identity: admission.identity, requestId, entry, finish };
    if (admission.service.protocolVersion === 'HTTP1') forwardHttp2ToHttp1(stream, exchange);
    else forwardHttp2(stream, exchange);
  }

  function replyHttp2(stream: ServerHttp2Stream, status: number, errorType: string | undefined, body: string, requestId: string): void {
    // The request body is never read on refusal; consume it so flow control does not stall the session.
    stream.resume();
    if (stream.destroyed || stream.closed || stream.headersSent) return;
    stream.respond({ ':status': status, ...errorHeaders(requestId, errorType, body) });
    stream.end(body);
  }

  /** How a failing target shows: refused connection = no healthy target (503), anything else 502. */
  function targetFailure(err: NodeJS.ErrnoException): { status: number; body: string; logCode: string } {
    const refused = err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH';
    return refused ? { status: 503, body: 'Service Unavailable', logCode: 'TargetUnavailable' } : { status: 502, body: 'Bad Gateway', logCode: 'TargetError' };
  }

  function upstreamSession(target: { host: string; port: number }): ClientHttp2Session {
    const key = `${urlHost(target.host)}:${target.port}`;
    const existing = upstreamSessions.get(key);
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const session = http2Connect(`http://${key}`);
    const forget = (): void => {
      if (upstreamSessions.get(key) === session) upstreamSessions.delete(key);
    };
    session.on('error', forget);
    session.on('goaway', forget);
    session.on('close', forget);
    session.unref();
    upstreamSessions.set(key, session);
    return session;
  }

  /** HTTP/2 (or gRPC) to an HTTP2/GRPC target group: h2c to the target, stream by stream, trailers and resets relayed. */
  function forwardHttp2(stream: ServerHttp2Stream, x: Exchange): void {
    const { view, service, requestId, entry, finish } = x;
    const out: H2OutgoingHeaders = { ':method': view.method, ':path': view.rawPath, ':authority': view.authority, ':scheme': 'http' };
    const keep = (lower: string, value: string): boolean => (lower === 'te' ? value.trim().toLowerCase() === 'trailers' : !H2_FORBIDDEN.has(lower) && !HOP_BY_HOP.has(lower));
    for (const [name, value] of targetHeaders(view, service, x.identity, requestId, keep)) appendHeader(out, name.toLowerCase(), value);
    const bodyless = stream.endAfterHeaders;
    let up: ClientHttp2Stream;
    try {
      up = upstreamSession(service.target).request(out, bodyless ? { endStream: true } : { waitForTrailers: true });
    } catch {
      replyHttp2(stream, 502, undefined, 'Bad Gateway', requestId);
      finish(502, 'TargetError');
      return;
    }
    let requestTrailers: H2IncomingHeaders | undefined;
    let responseTrailers: H2IncomingHeaders | undefined;
    stream.on('trailers', (t: H2IncomingHeaders) => (requestTrailers = t));
    up.on('wantTrailers', () => sendTrailers(up, requestTrailers));
    up.on('response', (h, flags) => {
      const status = Number(h[':status'] ?? 502);
      noteGrpcStatus(entry, h);
      finish(status);
      if (stream.destroyed || stream.closed) return;
      const headers = { ...plainHeaders(h), ':status': status };
      // A trailers-only answer (gRPC errors) is one HEADERS frame with END_STREAM: relay it as such.
      if ((flags & h2c.NGHTTP2_FLAG_END_STREAM) !== 0) {
        stream.respond(headers, { endStream: true });
        up.resume();
        return;
      }
      stream.respond(headers, { waitForTrailers: true });
      stream.on('wantTrailers', () => sendTrailers(stream, responseTrailers));
      up.pipe(stream);
    });
    up.on('trailers', (t: H2IncomingHeaders) => {
      responseTrailers = t;
      noteGrpcStatus(entry, t);
    });
    // Lattice's own answer when the target fails before answering (then the client stream is left to finish).
    let failed = false;
    const fail = (failure: { status: number; body: string; logCode: string }): void => {
      failed = true;
      replyHttp2(stream, failure.status, undefined, failure.body, requestId);
      finish(failure.status, failure.logCode);
    };
    up.on('error', (err: NodeJS.ErrnoException) => {
      if (!stream.headersSent && !failed) fail(targetFailure(err));
    });
    // Resets travel both ways: the target resetting its stream resets the client's, and the reverse.
    up.on('close', () => {
      if (failed || stream.destroyed || stream.closed) return;
      const code = up.rstCode ?? h2c.NGHTTP2_NO_ERROR;
      if (!stream.headersSent) fail({ status: 502, body: 'Bad Gateway', logCode: 'TargetError' });
      else if (code !== h2c.NGHTTP2_NO_ERROR) stream.close(code);
    });
    stream.on('close', () => {
      if (up.closed || up.destroyed) return;
      const code = stream.rstCode ?? h2c.NGHTTP2_NO_ERROR;
      if (code !== h2c.NGHTTP2_NO_ERROR || !stream.writableFinished) up.close(code !== h2c.NGHTTP2_NO_ERROR ? code : h2c.NGHTTP2_CANCEL);
    });
    if (!bodyless) stream.pipe(up);
  }

  /** HTTP/2 to an HTTP1 target group: the same exchange as HTTP/1.1 to the target. */
  function forwardHttp2ToHttp1(stream: ServerHttp2Stream, x: Exchange): void {
    const { requestId, finish } = x;
    const upstream = http1TargetRequest(x);
    upstream.on('response', (upRes) => {
      const status = upRes.statusCode ?? 502;
      finish(status);
      if (stream.destroyed || stream.closed) {
        upRes.destroy();
        return;
      }
      const out: H2OutgoingHeaders = { ':status': status };
      for (let i = 0; i + 1 < upRes.rawHeaders.length; i += 2) {
        const lower = (upRes.rawHeaders[i] as string).toLowerCase();
        if (!HOP_BY_HOP.has(lower) && !H2_FORBIDDEN.has(lower)) appendHeader(out, lower, upRes.rawHeaders[i + 1] as string);
      }
      const announcesTrailers = upRes.headers.trailer !== undefined;
      stream.respond(out, announcesTrailers ? { waitForTrailers: true } : {});
      if (announcesTrailers) stream.on('wantTrailers', () => sendTrailers(stream, upRes.trailers));
      pipeline(upRes, stream, (err) => {
        if (err && !stream.closed) stream.close(h2c.NGHTTP2_INTERNAL_ERROR);
      });
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (stream.headersSent) {
        if (!stream.closed) stream.close(h2c.NGHTTP2_INTERNAL_ERROR);
        return;
      }
      const failure = targetFailure(err);
      stream.unpipe(upstream);
      replyHttp2(stream, failure.status, undefined, failure.body, requestId);
      finish(failure.status, failure.logCode);
    });
    stream.on('close', () => {
      if (!stream.writableFinished) upstream.destroy();
    });
    if (stream.endAfterHeaders) upstream.end();
    else stream.pipe(upstream);
  }

  // ------------------------------------------------------------------------------------------- connections

  function goAwaySession(session: ServerHttp2Session): boolean {
    if (session.closed || session.destroyed) return false;
    stats.goaways++;
    // close(): GOAWAY with the last stream id processed, no new streams, the session ends once its streams have.
    session.close();
    return true;
  }

  function armIdle(session: ServerHttp2Session): void {
    const state = sessions.get(session);
    if (!state || state.active > 0 || idleMs <= 0) return;
    clearTimeout(state.idle);
    state.idle = setTimeout(() => {
      if (state.active === 0 && goAwaySession(session)) stats.idleClosed++;
    }, idleMs);
    state.idle.unref();
  }

  const h1Server = createHttpServer({ keepAlive: true }, (req, res) => {
    // A policy using an operator the emulator does not implement must fail that request loudly, not the process.
    try {
      handleHttp1(req, res);
    } catch (err) {
      req.resume();
      if (res.headersSent) res.destroy();
      else {
        const body = `InternalServerException: ${String(err)}`;
        res.writeHead(500, errorHeaders(randomUUID(), 'InternalServerException', body));
        res.end(body);
      }
    }
  });
  h1Server.keepAliveTimeout = idleMs > 0 ? idleMs : 60_000;
  h1Server.headersTimeout = 30_000;
  h1Server.requestTimeout = 0; // 1 GiB uploads must not be cut by the default 5 min request timeout

  // Session memory above node's 10 MB default: load tests open many concurrent streams on one session.
  const h2Server = createHttp2Server({ maxSessionMemory: 64 });
  h2Server.on('session', (session: ServerHttp2Session) => {
    stats.sessions++;
    const state: { active: number; idle?: NodeJS.Timeout; age?: NodeJS.Timeout } = { active: 0 };
    sessions.set(session, state);
    if (maxAgeMs > 0) {
      state.age = setTimeout(() => goAwaySession(session), maxAgeMs);
      state.age.unref();
    }
    session.on('error', () => {
      /* a client tearing the connection down is a test scenario */
    });
    session.on('close', () => {
      clearTimeout(state.idle);
      clearTimeout(state.age);
      sessions.delete(session);
    });
    armIdle(session);
  });
  h2Server.on('stream', (stream: ServerHttp2Stream, headers: H2IncomingHeaders, _flags: number, rawHeaders: string[]) => {
    // Captured now: a closed stream no longer knows its session.
    const session = stream.session as ServerHttp2Session;
    const state = sessions.get(session);
    if (state) {
      state.active++;
      clearTimeout(state.idle);
      stream.once('close', () => {
        state.active--;
        armIdle(session);
      });
    }
    try {
      handleHttp2(stream, headers, rawHeaders);
    } catch (err) {
      const body = `InternalServerException: ${String(err)}`;
      if (!stream.headersSent) replyHttp2(stream, 500, 'InternalServerException', body, randomUUID());
      else stream.close(h2c.NGHTTP2_INTERNAL_ERROR);
    }
  });

  const tlsServer = createTlsServer({ cert: opts.certPem, key: opts.keyPem, ALPNProtocols: opts.alpnProtocols ?? ['h2', 'http/1.1'] }, (socket) => {
    stats.connections++;
    sockets.add(socket);
    socketOpened.set(socket, now());
    socket.on('close', () => sockets.delete(socket));
    if (socket.alpnProtocol === 'h2') h2Server.emit('connection', socket);
    else h1Server.emit('connection', socket);
  });
  tlsServer.on('tlsClientError', () => {
    /* a client refusing our certificate is a test scenario, not a server failure */
  });
  const port = await listen(tlsServer as unknown as import('node:http').Server, host, opts.port ?? 0);
  api.port = port;
  api.url = `https://${urlHost(host)}:${port}`;
  return api;
}

/** Non-pseudo header fields of a received header block, for re-sending. */
function plainHeaders(h: H2IncomingHeaders | Record<string, string | string[] | undefined> | undefined): H2OutgoingHeaders {
  const out: H2OutgoingHeaders = {};
  if (!h) return out;
  for (const [name, value] of Object.entries(h)) {
    if (!name.startsWith(':') && value !== undefined && !H2_FORBIDDEN.has(name)) out[name] = value;
  }
  return out;
}

/** Trailers (possibly none: an empty DATA frame with END_STREAM) on a stream that may have been reset meanwhile. */
function sendTrailers(stream: ServerHttp2Stream | ClientHttp2Stream, trailers: H2IncomingHeaders | Record<string, string | string[] | undefined> | undefined): void {
  if (stream.destroyed || stream.closed) return;
  try {
    stream.sendTrailers(plainHeaders(trailers));
  } catch {
    stream.close(h2c.NGHTTP2_INTERNAL_ERROR);
  }
}

function appendHeader(out: H2OutgoingHeaders, name: string, value: string): void {
  const existing = out[name];
  if (existing === undefined) out[name] = value;
  else out[name] = Array.isArray(existing) ? [...existing, value] : [String(existing), value];
}

function noteGrpcStatus(entry: LatticeLogEntry, h: H2IncomingHeaders): void {
  const status = h['grpc-status'];
  if (typeof status === 'string' && /^\d+$/.test(status)) entry.grpcStatus = Number(status);
}
