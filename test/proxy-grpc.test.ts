// The BUILT proxy speaking HTTP/2: gRPC clients with insecure channel credentials (h2c prior knowledge) on the
// same LISTEN_PORT as HTTP/1.1, each RPC signed and sent to the Lattice emulator as h2 over TLS (ALPN), which
// verifies it independently and routes it to a real grpc-js target. All four RPC kinds, metadata and trailers,
// cancellation both ways, grpc-timeout, GOAWAY, gRPC-shaped errors from the sidecar, HTTP2_HOSTS for HTTP/1.1
// apps, an upstream without h2, and SigV4A on both protocols.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as h2connect, createServer as createH2cServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoTarget, type EchoResponse, type TargetServer } from './emulators/demo-target.js';
import { loadDemoPackage, startGrpcTarget, type CollectReply, type GrpcTarget, type HelloReply } from './emulators/grpc-target.js';
import { issueTemporaryCredentials } from './emulators/iam.js';
import { startLattice, type Lattice } from './emulators/lattice.js';
import { createTestCa, type TestCa } from './emulators/pki.js';
import type { PolicyDocument } from './emulators/policy.js';
import { authenticatedOnlyPolicy } from './emulators/scenario.js';
import { startProxy, type ProxyProcess } from './helpers/proxy-process.js';

const IAM_KEY = randomBytes(16).toString('hex');
const GRPC_HOST = 'grpc.example.com';
const DENIED_HOST = 'grpc-denied.example.com';
const H2_HOST = 'h2echo.example.com';
const ECHO_HOST = 'echo.example.com';
const ACCOUNT = '123456789012';
const GRPC_ARN = `arn:aws:vpc-lattice:us-west-2:${ACCOUNT}:service/svc-0grpc0000000000001`;
const DENIED_ARN = `arn:aws:vpc-lattice:us-west-2:${ACCOUNT}:service/svc-0grpc0000000000002`;

interface DemoClient extends grpc.Client {
  Hello(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r: HelloReply) => void): grpc.ClientUnaryCall;
  Watch(req: object, md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<HelloReply>;
  Collect(md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r: CollectReply) => void): grpc.ClientWritableStream<object>;
  Chat(md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<object, HelloReply>;
  Fail(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r: HelloReply) => void): grpc.ClientUnaryCall;
  Wait(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r: HelloReply) => void): grpc.ClientUnaryCall;
}

const { Demo } = loadDemoPackage();

function staticCreds(tags: Record<string, string>): Record<string, string> {
  const c = issueTemporaryCredentials({ iamKey: IAM_KEY, roleArn: `arn:aws:iam::${ACCOUNT}:role/grpc-caller`, sessionName: 'proxy-grpc-test', tags, ttlSeconds: 3600 });
  return { AWS_ACCESS_KEY_ID: c.AccessKeyId, AWS_SECRET_ACCESS_KEY: c.SecretAccessKey, AWS_SESSION_TOKEN: c.Token };
}

function blueOnly(arn: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: '*', Action: 'vpc-lattice-svcs:Invoke', Resource: `${arn}/*`, Condition: { StringEquals: { 'aws:PrincipalTag/team': 'blue' } } }],
  };
}

/** A grpc-js client with insecure channel credentials, as an app behind the capture uses. */
function demoClient(proxy: ProxyProcess, authority: string): DemoClient {
  return new Demo(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority }) as unknown as DemoClient;
}

function hello(c: DemoClient, name: string, opts: grpc.CallOptions = {}, md = new grpc.Metadata()): Promise<{ err: grpc.ServiceError | null; reply?: HelloReply; trailers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    const out: { err: grpc.ServiceError | null; reply?: HelloReply; trailers?: grpc.Metadata } = { err: null };
    let n = 0;
    const done = (): void => {
      if (++n === 2) resolve(out);
    };
    const call = c.Hello({ name }, md, opts, (err, r) => {
      out.err = err;
      if (r) out.reply = r;
      done();
    });
    call.on('status', (s: grpc.StatusObject) => {
      out.trailers = s.metadata;
      done();
    });
  });
}

let ca: TestCa;
let caFile: string;
let grpcTarget: GrpcTarget;
let echo: TargetServer;
let h2echo: Http2Server;
let lattice: Lattice;
let proxy: ProxyProcess;

async function startH2cEcho(): Promise<Http2Server> {
  const s = createH2cServer();
  s.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ method: headers[':method'], path: headers[':path'], bytes: Buffer.concat(chunks).length }));
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return s;
}

function proxyEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    AWS_REGION: 'us-west-2',
    ALLOWED_HOSTS: '*.example.com',
    CA_FILE: caFile,
    CONNECT_TO: `127.0.0.1:${lattice.port}`,
    HTTP2_HOSTS: H2_HOST,
    ...staticCreds({ team: 'blue' }),
    ...extra,
  };
}

beforeAll(async () => {
  ca = await createTestCa();
  const cert = await ca.issue({ dnsNames: [GRPC_HOST, DENIED_HOST, H2_HOST, ECHO_HOST] });
  caFile = join(mkdtempSync(join(tmpdir(), 'lsp-grpc-')), 'ca.pem');
  writeFileSync(caFile, ca.certPem);
  grpcTarget = await startGrpcTarget({ app: 'grpc-demo', podName: 'grpc-demo-0' });
  echo = await startEchoTarget();
  h2echo = await startH2cEcho();
  lattice = await startLattice({
    certPem: cert.certPem,
    keyPem: cert.keyPem,
    iamKey: IAM_KEY,
    region: 'us-west-2',
    accountId: ACCOUNT,
    serviceNetworkPolicy: authenticatedOnlyPolicy(),
    services: [
      { hostname: GRPC_HOST, serviceArn: GRPC_ARN, target: { host: '127.0.0.1', port: grpcTarget.port }, authPolicy: blueOnly(GRPC_ARN), protocolVersion: 'GRPC' },
      { hostname: DENIED_HOST, serviceArn: DENIED_ARN, target: { host: '127.0.0.1', port: grpcTarget.port }, authPolicy: { Version: '2012-10-17', Statement: [] }, protocolVersion: 'GRPC' },
      { hostname: H2_HOST, target: { host: '127.0.0.1', port: (h2echo.address() as AddressInfo).port }, authPolicy: authenticatedOnlyPolicy(), protocolVersion: 'HTTP2' },
      { hostname: ECHO_HOST, target: { host: '127.0.0.1', port: echo.port }, authPolicy: authenticatedOnlyPolicy() },
    ],
  });
  proxy = await startProxy(proxyEnv());
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([lattice?.close(), grpcTarget?.close(), echo?.close(), new Promise<void>((r) => (h2echo ? h2echo.close(() => r()) : r()))]);
});

describe('gRPC through the sidecar (h2c from the app, h2 to Lattice)', () => {
  it('unary: signed per RPC as POST /pkg.Service/Method, verified, answered by the target', async () => {
    const c = demoClient(proxy, GRPC_HOST);
    const before = lattice.log.length;
    const r = await hello(c, 'unary');
    c.close();
    expect(r.err).toBeNull();
    expect(r.reply!.message).toContain('Hello from grpc-demo, unary');
    const entry = lattice.log[before]!;
    expect(entry).toMatchObject({ protocol: 'HTTP/2', grpc: true, signed: true, verified: true, method: 'POST', rawPath: '/lattice.demo.v1.Demo/Hello', host: GRPC_HOST });
    // Pseudo-headers are never signed; te: trailers travels; hop-by-hop never.
    expect(entry.headerNames).toContain('te');
    expect(entry.headerNames).not.toContain('connection');
    // The target never sees the signature or the token.
    expect(r.reply!.metadata['authorization']).toBeUndefined();
    expect(r.reply!.metadata['x-amz-security-token']).toBeUndefined();
    const line = await proxy.waitForLog((l) => l['event'] === 'access' && l['path'] === '/lattice.demo.v1.Demo/Hello');
    expect(line).toMatchObject({ protocol: 'h2c', upstreamProtocol: 'h2', status: 200, grpcStatus: 0 });
  });

  it('server streaming, client streaming and bidirectional streaming', async () => {
    const c = demoClient(proxy, GRPC_HOST);
    const watched: HelloReply[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = c.Watch({ name: 'w', count: 5, interval_ms: 10, payload_bytes: 1000 });
      s.on('data', (m: HelloReply) => watched.push(m));
      s.on('error', reject);
      s.on('end', () => resolve());
    });
    expect(watched.map((m) => m.index)).toEqual([0, 1, 2, 3, 4]);

    const collected = await new Promise<CollectReply>((resolve, reject) => {
      const w = c.Collect(new grpc.Metadata(), {}, (err, r) => (err ? reject(err) : resolve(r)));
      for (const n of ['a', 'b', 'c']) w.write({ name: n, payload: Buffer.alloc(100) });
      w.end();
    });
    expect(collected).toMatchObject({ count: 3, names: 'a,b,c', payload_bytes: 300 });

    const chat = c.Chat();
    const replies: string[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      chat.on('data', (m: HelloReply) => replies.push(m.message));
      chat.on('error', reject);
      chat.on('end', () => resolve());
    });
    for (const n of ['one', 'two', 'three']) chat.write({ name: n });
    chat.end();
    await ended;
    c.close();
    expect(replies).toHaveLength(3);
    expect(replies[2]).toContain('three');
  });

  it('relays custom metadata, a failing status with its message, and custom trailers', async () => {
    const c = demoClient(proxy, GRPC_HOST);
    const md = new grpc.Metadata();
    md.set('x-app-request', 'r-1');
    const ok = await hello(c, 'md', {}, md);
    expect(ok.reply!.metadata['x-app-request']).toBe('r-1');
    const failed = await new Promise<{ err: grpc.ServiceError }>((resolve) => {
      c.Fail({ code: grpc.status.FAILED_PRECONDITION, message: 'no such order é' }, new grpc.Metadata(), {}, (err) => resolve({ err: err! }));
    });
    c.close();
    expect(failed.err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(failed.err.details).toBe('no such order é');
    expect(Object.keys(failed.err.metadata.getMap()).some((k) => k.startsWith('x-'))).toBe(true);
  });

  it("Lattice's 403 for an RPC its auth policy denies is relayed as it comes: grpc-js reports PERMISSION_DENIED", async () => {
    const c = demoClient(proxy, DENIED_HOST);
    const r = await hello(c, 'denied');
    c.close();
    expect(r.err!.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(r.err!.metadata.get('x-lattice-proxy-error')).toEqual([]);
  });

  it('a host outside the allowlist: the sidecar answers gRPC-shaped PERMISSION_DENIED and signs nothing', async () => {
    const c = demoClient(proxy, 'grpc.evil.org');
    const before = lattice.log.length;
    const r = await hello(c, 'evil');
    c.close();
    expect(r.err!.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(r.err!.details).toContain('"grpc.evil.org" is not in the allowed hosts');
    expect(r.err!.metadata.get('x-lattice-proxy-error')).toEqual(['ERR_TARGET_NOT_ALLOWED']);
    expect(lattice.log.length).toBe(before);
  });

  it('cancellation reaches the target (RST_STREAM propagated upstream)', async () => {
    const c = demoClient(proxy, GRPC_HOST);
    const cancelled = new Promise<void>((resolve) => grpcTarget.events.once('cancelled', () => resolve()));
    const started = new Promise<void>((resolve) => grpcTarget.events.once('call', () => resolve()));
    const call = c.Wait({ delay_ms: 30_000 }, new grpc.Metadata(), {}, () => undefined);
    await started;
    call.cancel();
    await cancelled;
    c.close();
  });

  it('grpc-timeout is honoured: the target sees the deadline and the caller gets DEADLINE_EXCEEDED', async () => {
    const c = demoClient(proxy, GRPC_HOST);
    const t0 = Date.now();
    const r = await new Promise<grpc.ServiceError>((resolve) => {
      c.Wait({ delay_ms: 30_000 }, new grpc.Metadata(), { deadline: Date.now() + 500 }, (err) => resolve(err!));
    });
    c.close();
    expect(r.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const rec = grpcTarget.calls.filter((x) => x.method.endsWith('/Wait')).at(-1)!;
    expect(rec.deadline).toBeDefined();
  });

  it("a GOAWAY from Lattice moves new RPCs to a fresh session while the one in flight completes", async () => {
    const c = demoClient(proxy, GRPC_HOST);
    expect((await hello(c, 'warm')).err).toBeNull();
    const sessionsBefore = lattice.stats.sessions;
    const started = new Promise<void>((resolve) => grpcTarget.events.once('call', () => resolve()));
    const slow = new Promise<grpc.ServiceError | null>((resolve) => c.Wait({ delay_ms: 800 }, new grpc.Metadata(), {}, (err) => resolve(err)));
    await started;
    expect(lattice.goAway()).toBeGreaterThan(0);
    const next = await hello(c, 'after-goaway');
    expect(next.err).toBeNull();
    expect(await slow).toBeNull();
    c.close();
    expect(lattice.stats.sessions).toBeGreaterThan(sessionsBefore);
  });
});

describe('HTTP/1.1 apps and HTTP/2 upstreams', () => {
  it('HTTP2_HOSTS: an HTTP/1.1 request to a service with an HTTP2 target group goes to Lattice as h2', async () => {
    const before = lattice.log.length;
    const body = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: proxy.port, path: '/h2?x=1', method: 'POST', headers: { host: H2_HOST, 'content-type': 'text/plain' }, agent: false }, (res) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (t += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: t }));
      });
      req.on('error', reject);
      req.end('hello h2');
    });
    expect(body.status).toBe(200);
    expect(JSON.parse(body.text)).toMatchObject({ method: 'POST', path: '/h2?x=1', bytes: 8 });
    expect(lattice.log[before]).toMatchObject({ protocol: 'HTTP/2', verified: true, host: H2_HOST });
  });

  it('HTTP/1.1 requests to other hosts stay HTTP/1.1 end to end', async () => {
    const before = lattice.log.length;
    const text = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: proxy.port, path: '/plain', headers: { host: ECHO_HOST }, agent: false }, (res) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (t += c));
        res.on('end', () => resolve(t));
      });
      req.on('error', reject);
      req.end();
    });
    expect((JSON.parse(text) as EchoResponse).rawPath).toBe('/plain');
    expect(lattice.log[before]).toMatchObject({ protocol: 'HTTP/1.1', verified: true });
  });

  it('h2c split across reads (the preface one byte at a time) still reaches the HTTP/2 side', async () => {
    const session = h2connect(`http://127.0.0.1:${proxy.port}`, {
      createConnection: () => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const net = require('node:net') as typeof import('node:net');
        const sock = net.connect(proxy.port, '127.0.0.1');
        const write = sock.write.bind(sock) as (chunk: Buffer, cb?: () => void) => boolean;
        let first = true;
        (sock as unknown as { write: (c: Buffer, e?: unknown, cb?: () => void) => boolean }).write = (chunk: Buffer, e?: unknown, cb?: () => void) => {
          if (!first) return write(chunk, typeof e === 'function' ? (e as () => void) : cb);
          first = false;
          for (let i = 0; i < chunk.length - 1; i++) write(chunk.subarray(i, i + 1));
          return write(chunk.subarray(chunk.length - 1), typeof e === 'function' ? (e as () => void) : cb);
        };
        return sock;
      },
    });
    const status = await new Promise<number>((resolve, reject) => {
      const r = session.request({ ':method': 'GET', ':path': '/split', ':authority': H2_HOST });
      r.on('response', (h) => resolve(Number(h[':status'])));
      r.on('error', reject);
      r.resume();
      r.end();
    });
    session.close();
    expect(status).toBe(200);
  });
});

describe('failure modes of the HTTP/2 path', () => {
  it('an upstream that does not negotiate h2: a clear 502 ERR_UPSTREAM_PROTOCOL (gRPC: UNAVAILABLE)', async () => {
    const cert = await ca.issue({ dnsNames: [GRPC_HOST] });
    const h1only = await startLattice({
      certPem: cert.certPem,
      keyPem: cert.keyPem,
      iamKey: IAM_KEY,
      region: 'us-west-2',
      alpnProtocols: ['http/1.1'],
      services: [{ hostname: GRPC_HOST, serviceArn: GRPC_ARN, target: { host: '127.0.0.1', port: grpcTarget.port }, protocolVersion: 'GRPC' }],
    });
    const p = await startProxy(proxyEnv({ CONNECT_TO: `127.0.0.1:${h1only.port}` }));
    try {
      const c = demoClient(p, GRPC_HOST);
      const r = await hello(c, 'no-h2');
      c.close();
      expect(r.err!.code).toBe(grpc.status.UNAVAILABLE);
      expect(r.err!.metadata.get('x-lattice-proxy-error')).toEqual(['ERR_UPSTREAM_PROTOCOL']);
      expect(r.err!.details).toContain('did not negotiate HTTP/2');
    } finally {
      await p.stop();
      await h1only.close();
    }
  });

  it('no credentials: UNAVAILABLE for a gRPC caller, nothing forwarded', async () => {
    const p = await startProxy(
      { AWS_REGION: 'us-west-2', ALLOWED_HOSTS: '*.example.com', CA_FILE: caFile, CONNECT_TO: `127.0.0.1:${lattice.port}`, AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:9/creds' },
      { waitReady: false },
    );
    try {
      const before = lattice.log.length;
      const c = demoClient(p, GRPC_HOST);
      const r = await hello(c, 'nocreds');
      c.close();
      expect(r.err!.code).toBe(grpc.status.UNAVAILABLE);
      expect(r.err!.metadata.get('x-lattice-proxy-error')).toEqual(['ERR_NO_CREDENTIALS']);
      expect(lattice.log.length).toBe(before);
    } finally {
      await p.stop();
    }
  });
});

describe('SigV4A', () => {
  it('SIGNING_ALGORITHM=sigv4a signs HTTP/1.1 and HTTP/2 requests with AWS4-ECDSA-P256-SHA256 and x-amz-region-set', async () => {
    const p = await startProxy(proxyEnv({ SIGNING_ALGORITHM: 'sigv4a', SIGV4A_REGION_SET: 'us-west-2' }));
    try {
      const before = lattice.log.length;
      const c = demoClient(p, GRPC_HOST);
      expect((await hello(c, 'v4a')).err).toBeNull();
      c.close();
      const text = await new Promise<string>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: p.port, path: '/v4a', headers: { host: ECHO_HOST }, agent: false }, (res) => {
          let t = '';
          res.setEncoding('utf8');
          res.on('data', (c2: string) => (t += c2));
          res.on('end', () => resolve(t));
        });
        req.on('error', reject);
        req.end();
      });
      expect((JSON.parse(text) as EchoResponse).rawPath).toBe('/v4a');
      const entries = lattice.log.slice(before);
      expect(entries.map((e) => [e.protocol, e.signingAlgorithm, e.verified])).toEqual([
        ['HTTP/2', 'AWS4-ECDSA-P256-SHA256', true],
        ['HTTP/1.1', 'AWS4-ECDSA-P256-SHA256', true],
      ]);
      for (const e of entries) expect(e.headerNames).toContain('x-amz-region-set');
    } finally {
      await p.stop();
    }
  });
});
