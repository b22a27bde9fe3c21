// Emulated VPC Lattice data plane: HTTPS listener → service by Host → SigV4 (vpc-lattice-svcs, UNSIGNED-PAYLOAD)
// → IAM auth policies (service network AND service) → plain-HTTP target, streaming both ways.
//
// Documented choices:
// - Auth: SigV4 is checked only when the service network or the service has an auth policy (auth type AWS_IAM),
//   like Lattice, where auth type NONE on both layers ignores signatures. An unsigned request is anonymous.
// - Headers to the target: `authorization` and `x-amz-security-token` are stripped (targets never see
//   credentials); `x-amz-date` and `x-amz-content-sha256` are passed through. Client-sent `x-amzn-lattice-*` and
//   `x-amzn-source-vpc` headers are dropped and replaced by Lattice's own (they must not be spoofable).
// - Errors: 403 text/plain `<Code>: <message>` plus `x-amzn-ErrorType`; an unknown Host gets 404; a target that
//   refuses the connection gets 503 (no healthy target), a target failing mid-way 502.
import { randomUUID, createHash } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingMessage, type ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { pipeline } from 'node:stream';
import { resolveAccessKey, type Identity, type StaticUser } from './iam.js';
import { evaluateLattice, type PolicyDocument } from './policy.js';
import { closeServer, listen, urlHost } from './server-util.js';
import { verifySigV4, type VerifyFailureCode } from './sigv4-verify.js';

export const LATTICE_SIGNING_SERVICE = 'vpc-lattice-svcs';

export interface LatticeServiceConfig {
  hostname: string;
  serviceArn?: string;
  target: { host: string; port: number };
  /** absent = auth type NONE for this service */
  authPolicy?: PolicyDocument;
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
}

export interface LatticeLogEntry {
  time: string;
  method: string;
  host: string;
  rawPath: string;
  signed: boolean;
  verified: boolean;
  code?: string;
  accessKeyId?: string;
  principalArn?: string;
  status: number;
  /** lower-cased request header names as received (never values: they hold signatures and tokens) */
  headerNames: string[];
}

export interface Lattice {
  url: string;
  port: number;
  log: LatticeLogEntry[];
  stats: { connections: number; requests: number };
  onRequest?: (entry: LatticeLogEntry) => void;
  /** the ARNs used in policies and messages, by hostname */
  serviceArns: Record<string, string>;
  serviceNetworkArn: string;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade',
]);
const STRIPPED = new Set(['authorization', 'x-amz-security-token', 'x-amzn-source-vpc']);

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

export async function startLattice(opts: LatticeOptions): Promise<Lattice> {
  const host = opts.host ?? '127.0.0.1';
  const region = opts.region ?? 'us-west-2';
  const accountId = opts.accountId ?? '123456789012';
  const now = opts.now ?? Date.now;
  const maxLog = opts.maxLogEntries ?? 10_000;
  const sourceVpcId = opts.sourceVpcId ?? 'vpc-0emulated0000001';
  const serviceNetworkArn =
    opts.serviceNetworkArn ?? `arn:aws:vpc-lattice:${region}:${accountId}:servicenetwork/${shortId('sn', accountId + region)}`;
  const services = new Map(
    opts.services.map((s) => {
      const hostname = s.hostname.toLowerCase();
      const serviceArn = s.serviceArn ?? `arn:aws:vpc-lattice:${region}:${accountId}:service/${shortId('svc', hostname)}`;
      return [hostname, { ...s, hostname, serviceArn }] as const;
    }),
  );
  const agent = new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 1000 });
  const log: LatticeLogEntry[] = [];
  const stats = { connections: 0, requests: 0 };

  const api: Lattice = {
    url: '',
    port: 0,
    log,
    stats,
    serviceArns: Object.fromEntries([...services.values()].map((s) => [s.hostname, s.serviceArn])),
    serviceNetworkArn,
    close: async () => {
      await closeServer(server);
      agent.destroy();
    },
  };

  function record(entry: LatticeLogEntry): void {
    log.push(entry);
    if (log.length > maxLog) log.splice(0, log.length - maxLog);
    api.onRequest?.(entry);
  }

  function reply(res: ServerResponse, status: number, code: string | undefined, text: string, requestId: string): void {
    const body = code ? `${code}: ${text}` : text;
    const headers: OutgoingHttpHeaders = {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-amzn-requestid': requestId,
    };
    if (code) headers['x-amzn-errortype'] = code;
    res.writeHead(status, headers);
    res.end(body);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    stats.requests++;
    const requestId = randomUUID();
    const rawPath = req.url ?? '/';
    const hostHeader = req.headers.host ?? '';
    const hostname = hostWithoutPort(hostHeader);
    const headerNames: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) headerNames.push((req.rawHeaders[i] as string).toLowerCase());
    const signed = req.headers.authorization !== undefined;
    const entry: LatticeLogEntry = {
      time: new Date(now()).toISOString(),
      method: req.method ?? '',
      host: hostHeader,
      rawPath,
      signed,
      verified: false,
      status: 0,
      headerNames,
    };
    const finish = (status: number, code?: string): void => {
      entry.status = status;
      if (code) entry.code = code;
      record(entry);
    };
    const refuse = (status: number, code: string, logCode: string, text: string): void => {
      // The request body is never read on refusal; drain it so the connection stays reusable.
      req.resume();
      reply(res, status, code, text, requestId);
      finish(status, logCode);
    };

    const service = services.get(hostname);
    if (!service) {
      refuse(404, 'NotFoundException', 'NotFoundException', `No service is associated with host '${hostname}'.`);
      return;
    }

    let identity: Identity | undefined;
    const authEnabled = opts.serviceNetworkPolicy !== undefined || service.authPolicy !== undefined;
    if (authEnabled && signed) {
      const result = verifySigV4(
        { method: req.method ?? 'GET', rawPath, headers: req.rawHeaders },
        {
          service: LATTICE_SIGNING_SERVICE,
          region,
          now: now(),
          maxSkewSeconds: opts.maxSkewSeconds ?? 300,
          requireUnsignedPayload: true,
          resolveSecret: (accessKeyId, token) => {
            const r = resolveAccessKey({ iamKey: opts.iamKey, staticUsers: opts.staticUsers }, accessKeyId, token, now());
            return r.ok ? { ok: true, secretAccessKey: r.identity.secretAccessKey, identity: r.identity } : r;
          },
        },
      );
      if (result.accessKeyId) entry.accessKeyId = result.accessKeyId;
      if (!result.ok) {
        refuse(403, publicCode(result.code), result.code, result.message);
        return;
      }
      identity = result.identity;
      entry.verified = true;
      entry.principalArn = identity.principalArn;
    }

    const path = rawPath.split('?')[0] ?? '/';
    if (authEnabled) {
      const decision = evaluateLattice(
        { serviceNetworkPolicy: opts.serviceNetworkPolicy, servicePolicy: service.authPolicy },
        {
          principalArn: identity?.principalArn,
          principalTags: identity?.tags,
          method: req.method ?? 'GET',
          path,
          serviceArn: service.serviceArn,
          serviceNetworkArn,
          sourceVpc: sourceVpcId,
        },
      );
      if (!decision.allowed) {
        // The message already starts with "AccessDeniedException: User: ...".
        req.resume();
        res.writeHead(403, {
          'content-type': 'text/plain; charset=utf-8',
          'content-length': Buffer.byteLength(decision.message),
          'x-amzn-requestid': requestId,
          'x-amzn-errortype': 'AccessDeniedException',
        });
        res.end(decision.message);
        finish(403, 'AccessDeniedException');
        return;
      }
    }

    forward(req, res, service, identity, requestId, finish);
  }

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    service: LatticeServiceConfig & { serviceArn: string },
    identity: Identity | undefined,
    requestId: string,
    finish: (status: number, code?: string) => void,
  ): void {
    const headers: Array<[string, string]> = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i] as string;
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower) || STRIPPED.has(lower) || lower.startsWith('x-amzn-lattice-')) continue;
      headers.push([name, req.rawHeaders[i + 1] as string]);
    }
    const sessionName = identity?.principalArn.split('/').pop();
    headers.push(
      ['x-amzn-source-vpc', sourceVpcId],
      ['x-amzn-lattice-network', `SourceVpcArn=arn:aws:ec2:${region}:${accountId}:vpc/${sourceVpcId}`],
      ['x-amzn-lattice-target', `ServiceArn=${service.serviceArn}; ServiceNetworkArn=${serviceNetworkArn}; TargetGroupArn=arn:aws:vpc-lattice:${region}:${accountId}:targetgroup/${shortId('tg', service.hostname)}`],
      [
        'x-amzn-lattice-identity',
        identity
          ? `Principal=${identity.principalArn}; SessionName=${sessionName ?? ''}; Type=AWS_IAM`
          : 'Type=Anonymous',
      ],
      ['x-amzn-requestid', requestId],
    );
    // A chunked request stays chunked: without content-length, node re-chunks the piped body.
    const upstream = httpRequest({
      host: service.target.host,
      port: service.target.port,
      method: req.method,
      path: req.url,
      headers: headers.flat() as unknown as OutgoingHttpHeaders,
      agent,
      setHost: false,
    });
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
      const refused = err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH';
      req.unpipe(upstream);
      req.resume();
      reply(res, refused ? 503 : 502, undefined, refused ? 'Service Unavailable' : 'Bad Gateway', requestId);
      finish(refused ? 503 : 502, refused ? 'TargetUnavailable' : 'TargetError');
    });
    req.on('error', () => upstream.destroy());
    // Client gone before the exchange finished: drop the target request too, so nothing lingers.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  // A policy using an operator the emulator does not implement must fail that request loudly, not the process.
  const safeHandle = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      handle(req, res);
    } catch (err) {
      req.resume();
      if (!res.headersSent) reply(res, 500, 'InternalServerException', String(err), randomUUID());
      else res.destroy();
    }
  };
  const server = createHttpsServer({ cert: opts.certPem, key: opts.keyPem, keepAlive: true }, safeHandle);
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 30_000;
  server.requestTimeout = 0; // 1 GiB uploads must not be cut by the default 5 min request timeout
  server.on('secureConnection', () => {
    stats.connections++;
  });
  server.on('tlsClientError', () => {
    /* a client refusing our certificate is a test scenario, not a server failure */
  });
  const port = await listen(server, host, opts.port ?? 0);
  api.port = port;
  api.url = `https://${urlHost(host)}:${port}`;
  return api;
}
