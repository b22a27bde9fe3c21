// The BUILT proxy against the local emulators: what reaches Lattice is signed so that an independent
// verifier accepts it, and what reaches the target is byte-for-byte what the app sent (path, query, headers,
// body), for the request shapes that usually break signing proxies.

import { randomBytes, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa } from './emulators/pki.js';
import { startEchoTarget, type EchoResponse, type TargetServer } from './emulators/demo-target.js';
import { startLattice, type Lattice } from './emulators/lattice.js';
import { startPodIdentityAgent, type PodIdentityAgent } from './emulators/pod-identity.js';
import { startPcaEmulator, type PcaEmulator } from './emulators/pca.js';
import { authenticatedOnlyPolicy, podIdentityTags, SEED_CA_ARN } from './emulators/scenario.js';
import { startProxy, type ProxyProcess } from './helpers/proxy-process.js';

const REGION = 'us-west-2';
const ECHO = 'echo.example.com';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(port: number, opts: { path: string; method?: string; headers?: Record<string, string | string[]>; body?: Buffer | Readable }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: opts.path, method: opts.method ?? 'GET', headers: { host: ECHO, ...opts.headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    if (opts.body instanceof Readable) opts.body.pipe(req);
    else req.end(opts.body);
  });
}

/**
 * Raw bytes on a socket, for request lines Node's client refuses to produce (raw UTF-8, absolute-form).
 * The socket is not half-closed: like curl, it waits for the answer (`Connection: close` ends it).
 */
function sendRaw(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write(Buffer.from(head, 'latin1')));
    let out = '';
    sock.setEncoding('latin1');
    sock.on('data', (c: string) => (out += c));
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
  });
}

function echoOf(reply: Reply): EchoResponse {
  expect(reply.status, reply.body).toBe(200);
  return JSON.parse(reply.body) as EchoResponse;
}

function header(echo: EchoResponse, name: string): string[] {
  return echo.headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
}

let ca: TestCa;
let echo: TargetServer;
let lattice: Lattice;
let agent: PodIdentityAgent;
let pca: PcaEmulator;
let proxy: ProxyProcess;
const iamKey = randomBytes(32).toString('hex');

beforeAll(async () => {
  ca = await createTestCa();
  const cert = await ca.issue({ dnsNames: [ECHO, 'unrouted.example.com', 'localhost'], ipAddresses: ['127.0.0.1'] });
  echo = await startEchoTarget();
  lattice = await startLattice({
    certPem: cert.certPem,
    keyPem: cert.keyPem,
    iamKey,
    region: REGION,
    serviceNetworkPolicy: authenticatedOnlyPolicy(),
    services: [
      { hostname: ECHO, target: { host: '127.0.0.1', port: echo.port }, authPolicy: authenticatedOnlyPolicy() },
      { hostname: 'localhost', target: { host: '127.0.0.1', port: echo.port }, authPolicy: authenticatedOnlyPolicy() },
    ],
  });
  agent = await startPodIdentityAgent({
    token: 'integration-token-' + randomBytes(8).toString('hex'),
    iamKey,
    roleArn: 'arn:aws:iam::123456789012:role/integration',
    tags: podIdentityTags({ cluster: 'eks-cluster1', namespace: 'apps', serviceAccount: 'default', podName: 'p', podUid: 'u' }),
  });
  pca = await startPcaEmulator({ caArn: SEED_CA_ARN, caCertPem: ca.certPem, iamKey, region: REGION });
  proxy = await startProxy({
    AWS_REGION: REGION,
    APP_DOMAIN: 'example.com',
    CA_ARN: SEED_CA_ARN,
    AWS_ENDPOINT_URL_ACM_PCA: pca.endpoint,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: agent.url,
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: agent.tokenFile,
    CONNECT_TO: `127.0.0.1:${lattice.port}`,
  });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([lattice?.close(), echo?.close(), agent?.close(), pca?.close()]);
});

describe('paths and queries reach the target exactly as sent, and verify', () => {
  const paths = [
    '/',
    '/a%20b/c',
    '/a%2Fb',
    '/caf%C3%A9/%E2%82%AC',
    '/plus+sign/a+b',
    '/~user/file.txt',
    '/a/./b/../c',
    '/%2e%2e/%2E/x',
    '//double//slash/',
    '/search?q=a+b&q=c&q=a',
    '/x?empty=&flag&=v&&last',
    '/x?b=2&a=1&a=0&A=3',
    '/x?enc=%7E%20%2B%26&sp=a%20b',
    "/sub-delims/!$'()*,;=:@?x=!$'()*,;:@/?",
  ];
  for (const path of paths) {
    it(path, async () => {
      const before = lattice.log.length;
      const e = echoOf(await send(proxy.port, { path }));
      expect(e.rawPath).toBe(path);
      const entry = lattice.log[before]!;
      expect(entry.signed && entry.verified).toBe(true);
    });
  }

  it('raw (unencoded) UTF-8 bytes in the request line are a 400, not a mis-signed request', async () => {
    // RFC 9112 request-targets are ASCII; Node's parser refuses raw bytes >= 0x80, so the proxy answers 400
    // with a clear body. Percent-encoded UTF-8 (the form clients send) is covered above.
    const wire = Buffer.from('/ሴ/é?k=ü', 'utf8').toString('latin1');
    const out = await sendRaw(proxy.port, `GET ${wire} HTTP/1.1\r\nHost: ${ECHO}\r\nConnection: close\r\n\r\n`);
    expect(out).toMatch(/^HTTP\/1.1 400 Bad Request\r\n/);
    expect(out).toContain('malformed HTTP request: invalid byte 0xe1 in the request target');
  });

  it('absolute-form requests (explicit http_proxy use)', async () => {
    const out = await sendRaw(proxy.port, `GET http://${ECHO}/abs?x=1 HTTP/1.1\r\nHost: ignored.example.org\r\nConnection: close\r\n\r\n`);
    expect(out.slice(0, 200)).toMatch(/^HTTP\/1.1 200/);
    const body = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)) as EchoResponse;
    expect(body.rawPath).toBe('/abs?x=1');
  });
});

describe('headers', () => {
  it('repeated header lines are signed and sent as one comma-joined value', async () => {
    const e = echoOf(await send(proxy.port, { path: '/h', headers: { 'x-multi': ['a', 'b'], 'x-spaces': '  lots   of  space ' } }));
    expect(header(e, 'x-multi')).toEqual(['a,b']);
    expect(header(e, 'x-spaces')).toEqual(['lots   of  space']);
  });

  it("the app's Authorization travels as x-original-authorization; Lattice gets the SigV4 one", async () => {
    const before = lattice.log.length;
    const e = echoOf(await send(proxy.port, { path: '/auth', headers: { authorization: 'Bearer app-token' } }));
    expect(header(e, 'x-original-authorization')).toEqual(['Bearer app-token']);
    expect(lattice.log[before]!.verified).toBe(true);
    expect(lattice.log[before]!.headerNames).toContain('authorization');
  });

  it('sends x-amz-content-sha256: UNSIGNED-PAYLOAD, x-amz-date and the session token, and no hop-by-hop header', async () => {
    const before = lattice.log.length;
    await send(proxy.port, { path: '/hop', headers: { connection: 'keep-alive, x-private', 'x-private': 'secret-hop', 'keep-alive': 'timeout=5', 'x-forwarded-for': '10.1.2.3' } });
    const names = lattice.log[before]!.headerNames;
    for (const n of ['x-amz-content-sha256', 'x-amz-date', 'x-amz-security-token', 'host']) expect(names).toContain(n);
    for (const n of ['x-private', 'keep-alive', 'proxy-connection']) expect(names).not.toContain(n);
    expect(names).toContain('x-forwarded-for'); // forwarded, not signed
  });

  it('passes status, headers and body of the upstream answer back unchanged', async () => {
    const r = await send(proxy.port, { path: '/x', headers: { host: 'unrouted.example.com' } });
    expect(r.status).toBe(404); // Lattice's own answer for a host it does not serve, relayed as is
    expect(r.headers['x-lattice-proxy-error']).toBeUndefined();
  });
});

describe('targets', () => {
  it('refuses a host outside the allowlist with 403, before signing or forwarding', async () => {
    const before = lattice.log.length;
    const r = await send(proxy.port, { path: '/', headers: { host: 'evil.example.org' } });
    expect(r.status).toBe(403);
    expect(r.body).toContain('"evil.example.org" is not in the allowed hosts');
    expect(r.headers['x-lattice-proxy-error']).toBe('ERR_TARGET_NOT_ALLOWED');
    expect(lattice.log.length).toBe(before);
  });

  it('refuses a missing Host with 400', async () => {
    const out = await sendRaw(proxy.port, 'GET / HTTP/1.0\r\n\r\n');
    expect(out.startsWith('HTTP/1.1 400')).toBe(true);
    expect(out).toContain('no Host header');
  });

  it('refuses CONNECT with 405 and a clear body', async () => {
    const out = await sendRaw(proxy.port, `CONNECT ${ECHO}:443 HTTP/1.1\r\nHost: ${ECHO}:443\r\n\r\n`);
    expect(out.startsWith('HTTP/1.1 405')).toBe(true);
    expect(out).toContain('CONNECT is not supported');
  });

  it('dials the port given in Host and signs host:port (no CONNECT_TO)', async () => {
    const direct = await startProxy({
      AWS_REGION: REGION,
      ALLOWED_HOSTS: 'localhost',
      CA_FILE: await writeTemp('ca.pem', ca.certPem),
      AWS_CONTAINER_CREDENTIALS_FULL_URI: agent.url,
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: agent.tokenFile,
    });
    try {
      const before = lattice.log.length;
      const e = echoOf(await send(direct.port, { path: '/port', headers: { host: `localhost:${lattice.port}` } }));
      expect(header(e, 'host')[0]).toBe(`localhost:${lattice.port}`);
      expect(lattice.log[before]!.verified).toBe(true);
    } finally {
      await direct.stop();
    }
  });
});

describe('bodies stream both ways with bounded memory', () => {
  it('a 256 MiB chunked POST arrives intact and the proxy RSS stays bounded', async () => {
    const size = 256 * 1024 * 1024;
    const chunk = randomBytes(64 * 1024);
    const expected = createHash('sha256');
    let sent = 0;
    const source = new Readable({
      read() {
        if (sent >= size) return this.push(null);
        sent += chunk.length;
        expected.update(chunk);
        this.push(chunk);
      },
    });
    const rssBefore = vmHwmKb(proxy.pid);
    const e = echoOf(await send(proxy.port, { path: '/upload', method: 'POST', body: source, headers: { 'content-type': 'application/octet-stream' } }));
    expect(e.bodyBytes).toBe(size);
    expect(e.bodySha256).toBe(expected.digest('hex'));
    // Peak RSS may grow by buffers in flight, never by the body size.
    expect(vmHwmKb(proxy.pid) - rssBefore).toBeLessThan(64 * 1024);
  });

  it('a POST with Content-Length keeps it and the body matches', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 7);
    const e = echoOf(await send(proxy.port, { path: '/cl', method: 'PUT', body, headers: { 'content-length': String(body.length) } }));
    expect(e.bodyBytes).toBe(body.length);
    expect(header(e, 'content-length')).toEqual([String(body.length)]);
    expect(e.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
  });
});

describe('observability', () => {
  it('writes one access line per request without query strings or secrets', async () => {
    await send(proxy.port, { path: '/logged?token=should-not-appear' });
    const line = await proxy.waitForLog((l) => l['event'] === 'access' && l['path'] === '/logged');
    expect(line['status']).toBe(200);
    expect(line['host']).toBe(ECHO);
    expect(proxy.output()).not.toContain('should-not-appear');
  });

  it('exposes Prometheus metrics with bounded labels', async () => {
    const m = await proxy.metrics();
    expect(m).toMatch(/lattice_proxy_requests_total\{code="2xx",origin="upstream"\} [1-9]/);
    expect(m).toMatch(/lattice_proxy_requests_total\{code="4xx",origin="proxy"\} [1-9]/);
    expect(m).toMatch(/lattice_proxy_rejected_requests_total\{reason="not_allowed"\} [1-9]/);
    expect(m).toMatch(/lattice_proxy_credentials_expiry_seconds \d+/);
    expect(m).toMatch(/lattice_proxy_credential_refreshes_total\{result="success"\} [1-9]/);
    expect(m).toMatch(/lattice_proxy_ca_loads_total\{source="pca",result="success"\} 1/);
    expect(m).toContain('lattice_proxy_request_duration_seconds_bucket');
    expect(m).toContain('lattice_proxy_process_resident_memory_bytes');
    expect(m).not.toContain('/logged');
  });
});

function vmHwmKb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]);
}

async function writeTemp(name: string, text: string): Promise<string> {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const file = join(mkdtempSync(join(tmpdir(), 'lsp-')), name);
  writeFileSync(file, text);
  return file;
}
