// `node proxy/dist/main.js check [URL]`: the diagnosis an operator runs inside the sidecar's container (the image
// has no shell: `kubectl exec <pod> -c lattice-sigv4-proxy -- /usr/local/bin/node /app/proxy/dist/main.js check
// URL`). Same environment, same configuration parser, credential cache, trust store and signer as the sidecar;
// then, for URL, each step a call takes, one line each, and Lattice's answer explained. Off the request path, so
// plain node:net/node:tls/node:http, one connection, nothing pooled.

import { lookup } from 'node:dns/promises';
import { request, type IncomingMessage } from 'node:http';
import { BlockList, connect as tcpConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, rootCertificates, type PeerCertificate, type TLSSocket } from 'node:tls';
import { ConfigError, parseConfig, type Config } from './config.js';
import { loadCredentialSource } from './credential-source.js';
import { CredentialCache } from './credentials.js';
import { ProxyError } from './errors.js';
import { parseTarget, type Target } from './hosts.js';
import { createLogger } from './logging.js';
import { createMetrics } from './metrics.js';
import { SigV4Signer } from './signer.js';
import { TrustStore, trustSettings } from './trust.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONFIG = 78; // EX_CONFIG, as the sidecar

const USAGE = `usage: node proxy/dist/main.js check [http://host[:port]/path]
  With the sidecar's environment: checks the configuration, the credentials and the trusted roots; with a URL,
  also the allowlist, DNS, TCP, TLS and a signed GET with Lattice's answer. Exit 0 only if all that was asked
  for works (for a URL: the signed call answers below 400), 1 otherwise, 78 for an invalid configuration.
`;

type Env = Readonly<Record<string, string | undefined>>;
type Write = (line: string) => void;

/** Prints one verdict line: `ok`, `FAIL`, `warn`, or an indented detail. */
class Report {
  failed = false;
  constructor(private readonly write: Write) {}
  ok(step: string, text: string): void {
    this.write(`ok    ${step}: ${text}`);
  }
  fail(step: string, text: string): void {
    this.failed = true;
    this.write(`FAIL  ${step}: ${text}`);
  }
  warn(step: string, text: string): void {
    this.write(`warn  ${step}: ${text}`);
  }
  detail(text: string): void {
    this.write(`        ${text}`);
  }
}

// VPC Lattice's link-local ranges: what the init container captures by default (LATTICE_CIDR_V4 / _V6).
const LATTICE_RANGES = new BlockList();
LATTICE_RANGES.addSubnet('169.254.171.0', 24, 'ipv4');
LATTICE_RANGES.addSubnet('fd00:ec2:80::', 64, 'ipv6');

/** Whether an address is in VPC Lattice's ranges, i.e. what the capture redirects to the sidecar. */
export function inLatticeRange(address: string): boolean {
  const family = isIP(address);
  return family !== 0 && LATTICE_RANGES.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Which source the AWS default chain takes, judged from the variables it reads, in its order. */
export function credentialSource(env: Env): string {
  if (env['AWS_ACCESS_KEY_ID']) return 'environment variables (AWS_ACCESS_KEY_ID)';
  if (env['AWS_PROFILE']) return `shared config profile "${env['AWS_PROFILE']}"`;
  if (env['AWS_WEB_IDENTITY_TOKEN_FILE'] && env['AWS_ROLE_ARN']) return `web identity, IRSA (role ${env['AWS_ROLE_ARN']})`;
  if (env['AWS_CONTAINER_CREDENTIALS_FULL_URI']) return `container provider, EKS Pod Identity (${env['AWS_CONTAINER_CREDENTIALS_FULL_URI']})`;
  if (env['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI']) return 'container provider (ECS task role)';
  return 'the default chain: shared files or instance metadata';
}

/**
 * What Lattice's error answer usually means, one line each. `body` is the answer as relayed to the app:
 * `<Code>: <message>` (Lattice answers text/plain).
 */
export function explainLatticeAnswer(status: number, body: string, region: string): string[] {
  const denied = /AccessDeniedException: User: (\S+) is not authorized to perform: (\S+) on resource: (\S+) (because no (network|service)-based policy allows|with an explicit deny in a (network|service)-based policy)/.exec(body);
  if (denied) {
    const [, principal, , resource, why, noAllowLayer, denyLayer] = denied;
    const layer = noAllowLayer ?? denyLayer;
    const lines = [
      layer === 'network'
        ? "refused by the service network's auth policy (the platform chart's serviceNetworkAuthPolicy, on the Gateway)"
        : `refused by the service's own auth policy (the IAMAuthPolicy of the service, on its HTTPRoute), for ${resource}`,
      why!.startsWith('because')
        ? 'no Allow statement matched: compare its conditions with the caller below'
        : 'a Deny statement matched the caller below',
    ];
    const role = /^arn:aws[a-z-]*:sts::(\d+):assumed-role\/([^/]+)\/(.+)$/.exec(principal!);
    if (principal === 'anonymous') {
      lines.push('caller: anonymous: the request reached Lattice unsigned (was it sent past the sidecar?)');
    } else if (role) {
      lines.push(`caller: role ${role[2]} of account ${role[1]}, session ${role[3]}`);
      lines.push("if that is not the role of this namespace and service account's Pod Identity association (or IRSA role), the association is missing or the pod started before it");
      lines.push('the policy matches principal tags EKS Pod Identity puts on the session: eks-cluster-name, kubernetes-namespace, kubernetes-service-account; do this pod\'s cluster and namespace satisfy it?');
    } else {
      lines.push(`caller: ${principal}`);
    }
    return lines;
  }
  const code = /^([A-Za-z]+Exception)\b/.exec(body)?.[1];
  switch (code) {
    case 'InvalidSignatureException':
      return [`Lattice refused the signature: is AWS_REGION (${region}) the service's region, and is the clock right (5 minutes of skew at most)?`];
    case 'UnrecognizedClientException':
      return ['Lattice does not know the access key, or the session token is missing'];
    case 'ExpiredTokenException':
      return ['the credentials had expired when Lattice checked them'];
    case 'NotFoundException':
      return ['no service of the service network answers to this host name: the HTTPRoute and its custom domain name, and the service network association'];
    default:
      if (status >= 500) return ['VPC Lattice or the service behind it failed the request: the target group health, the service\'s pods and logs'];
      return [];
  }
}

function describeCert(c: PeerCertificate): string {
  const san = c.subjectaltname ? `, ${c.subjectaltname}` : '';
  return `subject ${c.subject?.CN ?? JSON.stringify(c.subject)}${san}, issuer ${c.issuer?.CN ?? JSON.stringify(c.issuer)}, valid until ${c.valid_to}`;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function connectTcp(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return withTimeout(
    new Promise<Socket>((resolve, reject) => {
      const s = tcpConnect({ host, port });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    }),
    timeoutMs,
    `TCP ${host}:${port}`,
  );
}

function startTls(socket: Socket, servername: string | undefined, trust: TrustStore, timeoutMs: number): Promise<TLSSocket> {
  return withTimeout(
    new Promise<TLSSocket>((resolve, reject) => {
      // Verification is judged below, not by refusing: the report says what the certificate was. Nothing is sent
      // on a connection that did not verify.
      const t = tlsConnect({ socket, servername, secureContext: trust.secureContext(), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
      t.once('secureConnect', () => resolve(t));
      t.once('error', reject);
    }),
    timeoutMs,
    'TLS handshake',
  );
}

function signedGet(tls: TLSSocket, target: Target, headers: Record<string, string>, timeoutMs: number): Promise<{ res: IncomingMessage; body: string }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = request({ createConnection: () => tls, method: 'GET', path: target.path, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < 4096) body += c;
        });
        res.on('end', () => resolve({ res, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    }),
    timeoutMs,
    'signed request',
  );
}

/** Resolve once every configured root source loaded once, or one failed, or `ms` passed. */
async function settle(trust: TrustStore, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!trust.loaded && trust.lastError === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/** Runs the check; returns the exit code. `write` receives each line of the report. */
export async function runCheck(args: readonly string[], env: Env, write: Write): Promise<number> {
  if (args.some((a) => a === '-h' || a === '--help')) {
    write(USAGE.trimEnd());
    return EXIT_OK;
  }
  if (args.length > 1 || args.some((a) => a.startsWith('-'))) {
    write(USAGE.trimEnd());
    return EXIT_USAGE;
  }
  const url = args[0];
  const r = new Report(write);

  let config: Config;
  try {
    config = parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      r.fail('configuration', `invalid: ${err.message} (the sidecar exits 78 with this)`);
      return EXIT_CONFIG;
    }
    throw err;
  }
  r.ok('configuration', `valid; region ${config.region}, service ${config.signingService}, allowed hosts ${config.allowedHosts.join(', ')}`);

  // The sidecar's own components, reporting through its log events (the ca_loaded event describes the roots).
  const events: Array<Record<string, unknown>> = [];
  const logger = createLogger('info', {
    write(line: string) {
      try {
        events.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not JSON: nothing to report
      }
    },
  });
  const metrics = createMetrics({ defaultMetrics: false });
  // The proxy's own source and provider (main.ts), so check fetches exactly as the sidecar does.
  const source = await loadCredentialSource(config.credentialSource, { region: config.region });
  const credentials = new CredentialCache({ providerFactory: source.providerFactory, refreshMarginMs: config.credentialsRefreshMarginMs, logger, metrics });
  const trust = new TrustStore({
    ...trustSettings(config),
    credentials,
    logger,
    metrics,
    onChange: () => undefined,
  });
  try {
    await credentials.refresh();
    credentials.stop();
    const state = credentials.state();
    const creds = credentials.current();
    const source = credentialSource(env);
    if (state.status === 'valid' && creds) {
      const expiry =
        state.expiresAt === undefined
          ? 'no expiry (static credentials)'
          : `expire ${new Date(state.expiresAt).toISOString()} (in ${Math.round((state.expiresAt - Date.now()) / 60_000)} min)`;
      r.ok('credentials', `from ${source}; access key ...${creds.accessKeyId.slice(-4)}, ${creds.sessionToken ? 'temporary' : 'long-term'}, ${expiry}`);
    } else {
      const error = 'lastError' in state ? state.lastError : undefined;
      r.fail('credentials', `none from ${source}${error ? `: ${error}` : ''} (the sidecar answers 503 ERR_NO_CREDENTIALS and is not ready)`);
    }

    trust.start();
    // The ACM PCA call needs credentials; without them it is never made.
    if (config.caArn === undefined || creds) await settle(trust, 15_000);
    const loaded = events.filter((e) => e['event'] === 'ca_loaded');
    r.ok('trusted roots', `${rootCertificates.length} system roots`);
    for (const e of loaded) {
      const from = e['source'] === 'pca' ? `CA_ARN ${config.caArn}` : `CA_FILE ${config.caFile}`;
      for (const c of (e['certificates'] as Array<{ subject: string; validTo: string }>) ?? []) r.ok('trusted roots', `${from}: ${c.subject}, expires ${c.validTo}`);
    }
    if (!trust.loaded) {
      r.fail('trusted roots', `Private CA root not loaded: ${trust.lastError ?? (creds ? 'no answer yet' : 'needs credentials to call ACM PCA')} (the sidecar is not ready)`);
    }
    if (url === undefined) return r.failed ? EXIT_FAILED : EXIT_OK;
    await checkUrl(url, config, credentials, trust, r);
    return r.failed ? EXIT_FAILED : EXIT_OK;
  } finally {
    credentials.stop();
    trust.stop();
  }
}

async function checkUrl(url: string, config: Config, credentials: CredentialCache, trust: TrustStore, r: Report): Promise<void> {
  let target: Target;
  try {
    target = parseTarget(/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`, undefined, config.upstreamPort);
  } catch (err) {
    r.fail('URL', err instanceof ProxyError ? err.message : String(err));
    return;
  }
  if (!config.allowlist.allows(target.host)) {
    r.fail('allowlist', `${target.host} is not in ALLOWED_HOSTS (${config.allowedHosts.join(', ')}): the sidecar answers 403 ERR_TARGET_NOT_ALLOWED and signs nothing`);
    return;
  }
  r.ok('allowlist', `${target.host} is allowed`);

  let addresses: string[] = [];
  if (isIP(target.host) !== 0) {
    addresses = [target.host];
  } else {
    try {
      addresses = (await lookup(target.host, { all: true })).map((a) => a.address);
    } catch (err) {
      const text = `${target.host} does not resolve (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
      if (config.connectTo === undefined) {
        r.fail('DNS', `${text}: neither the app nor the sidecar can reach it`);
        return;
      }
      r.warn('DNS', `${text}: an app could not reach it; the sidecar dials CONNECT_TO instead`);
    }
  }
  if (addresses.length > 0) {
    const outside = addresses.filter((a) => !inLatticeRange(a));
    if (outside.length === 0) r.ok('DNS', `${target.host} -> ${addresses.join(', ')}: in the VPC Lattice range (169.254.171.0/24, fd00:ec2:80::/64), so an app's connection to it is captured into the sidecar`);
    else r.warn('DNS', `${target.host} -> ${addresses.join(', ')}: ${outside.join(', ')} outside the VPC Lattice range (169.254.171.0/24, fd00:ec2:80::/64): an app's connection there is not captured and leaves unsigned; only an app using the sidecar as its http_proxy reaches it`);
  }

  const dial = config.connectTo ?? { host: addresses[0]!, port: target.port };
  if (config.connectTo) r.ok('CONNECT_TO', `the sidecar dials ${dial.host}:${dial.port} for every host`);
  const started = performance.now();
  let tcp: Socket;
  try {
    tcp = await connectTcp(dial.host, dial.port, config.connectTimeoutMs);
  } catch (err) {
    r.fail('TCP', `${dial.host}:${dial.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (the sidecar answers 502 ERR_UPSTREAM_CONNECT or 504): node security groups, the VPC's association with the service network`);
    return;
  }
  r.ok('TCP', `connected to ${dial.host}:${dial.port} in ${Math.round(performance.now() - started)} ms`);

  let tls: TLSSocket;
  try {
    tls = await startTls(tcp, isIP(target.host) === 0 ? target.host : undefined, trust, config.connectTimeoutMs);
  } catch (err) {
    tcp.destroy();
    r.fail('TLS', `handshake failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (the sidecar answers 502 ERR_UPSTREAM_TLS)`);
    return;
  }
  try {
    const cert = tls.getPeerCertificate();
    if (!tls.authorized) {
      r.fail('TLS', `${tls.getProtocol() ?? 'TLS'}: certificate refused: ${String(tls.authorizationError)} (the sidecar answers 502 ERR_UPSTREAM_TLS and sends nothing)`);
      r.detail(`presented: ${describeCert(cert)}`);
      r.detail(`trusted: the system roots${trust.loaded && (config.caArn || config.caFile) ? ' and the Private CA roots above' : ''}; is CA_ARN (or CA_FILE) the CA that issued the service's certificate, and does the certificate name ${target.host}?`);
      return;
    }
    r.ok('TLS', `${tls.getProtocol() ?? 'TLS'}, certificate verified for ${target.host}: ${describeCert(cert)}`);

    const creds = credentials.current();
    if (!creds) {
      r.fail('request', 'not sent: no credentials to sign with');
      return;
    }
    const signer = new SigV4Signer(config.region, config.signingService);
    const signed: Array<[string, string]> = [['host', target.authority]];
    const { authorization } = signer.sign('GET', target.path, signed, creds, Date.now());
    const headers = Object.fromEntries(signed);
    headers['authorization'] = authorization;
    headers['user-agent'] = 'lattice-sigv4-proxy-check';
    const { res, body } = await signedGet(tls, target, headers, config.upstreamTimeoutMs);
    const status = res.statusCode ?? 0;
    const errorType = res.headers['x-amzn-errortype'];
    const firstLine = body.split('\n')[0]!.slice(0, 400);
    const line = `GET http://${target.authority}${target.path} signed as ...${creds.accessKeyId.slice(-4)} -> ${status} ${res.statusMessage ?? ''}`.trimEnd();
    if (status < 400) {
      r.ok('request', `${line}: ${firstLine}`);
      return;
    }
    r.fail('request', `${line}${errorType ? ` (x-amzn-errortype: ${String(errorType)})` : ''}: ${firstLine}`);
    for (const l of explainLatticeAnswer(status, body, config.region)) r.detail(l);
    const requestId = res.headers['x-amzn-requestid'];
    if (requestId) r.detail(`request id ${String(requestId)}`);
  } catch (err) {
    r.fail('request', `${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`.trim());
  } finally {
    tls.destroy();
  }
}

/** The command: prints to stdout, exits with the code. */
export async function checkCommand(args: readonly string[]): Promise<never> {
  const code = await runCheck(args, process.env, (line) => process.stdout.write(line + '\n'));
  process.exit(code);
}
