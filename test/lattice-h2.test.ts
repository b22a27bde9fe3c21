// Proves the Lattice emulator's HTTP/2 and gRPC side on its own (no proxy): a @grpc/grpc-js client over TLS h2
// (ALPN) straight to the emulator, every RPC signed per call by an implementation other than the emulator's
// verifier (SigV4: @smithy/signature-v4; SigV4A: the proxy's proxy/src/sigv4a.ts), reaching the real gRPC demo
// target: auth policy per RPC path, the four RPC kinds, metadata and trailers, cancellation and deadlines reaching
// the target, resets from the target reaching the client, backpressure, GOAWAY and idle/age limits, and the
// target group protocol version rules for HTTP/1.1, HTTP/2 and gRPC requests.
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { connect as http2Connect, createServer as createH2cServer, type ClientHttp2Session, type Http2Server, type IncomingHttpHeaders } from 'node:http2';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SigV4ASigner } from '../proxy/src/sigv4a.js';
import { createTestCa } from './emulators/pki.js';
import { issueTemporaryCredentials } from './emulators/iam.js';
import { startLattice, type Lattice, type LatticeOptions } from './emulators/lattice.js';
import { startEchoTarget, type EchoResponse, type TargetServer } from './emulators/demo-target.js';
import { loadDemoPackage, startGrpcTarget, type CollectReply, type GrpcCallRecord, type GrpcTarget, type HelloReply } from './emulators/grpc-target.js';
import { authenticatedOnlyPolicy } from './emulators/scenario.js';
import type { PolicyDocument } from './emulators/policy.js';

const IAM_KEY = 'lattice-h2-test-key';
const GRPC_HOST = 'grpc.example.com';
const DOOMED_HOST = 'grpc-doomed.example.com';
const H2_HOST = 'h2.example.com';
const ECHO_HOST = 'echo.example.com';
const GRPC_ARN = 'arn:aws:vpc-lattice:us-west-2:123456789012:service/svc-0grpc0000000000001';
const METHOD = (name: string): string => `/lattice.demo.v1.Demo/${name}`;

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

function credentials(sessionName: string, tags: Record<string, string>): Creds {
  const c = issueTemporaryCredentials({ iamKey: IAM_KEY, roleArn: 'arn:aws:iam::123456789012:role/grpc-caller', sessionName, tags, ttlSeconds: 3600 });
  return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.Token };
}

/** The service's policy: team=blue may invoke every Demo method, except that role=intern may not call Fail. */
function grpcServicePolicy(): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Principal: '*', Action: 'vpc-lattice-svcs:Invoke', Resource: `${GRPC_ARN}/lattice.demo.v1.Demo/*`, Condition: { StringEquals: { 'aws:PrincipalTag/team': 'blue' } } },
      { Effect: 'Deny', Principal: '*', Action: 'vpc-lattice-svcs:Invoke', Resource: `${GRPC_ARN}${METHOD('Fail')}`, Condition: { StringEquals: { 'aws:PrincipalTag/role': 'intern' } } },
    ],
  };
}

type Signer = (path: string, authority: string) => Promise<Record<string, string>>;

/** SigV4 as the AWS gRPC example does it: POST <path>, host = authority without port, UNSIGNED-PAYLOAD. */
function smithySigner(creds: Creds): Signer {
  const signer = new SignatureV4({ service: 'vpc-lattice-svcs', region: 'us-west-2', credentials: creds, sha256: Sha256 });
  return async (path, authority) => {
    const signed = await signer.sign({ method: 'POST', protocol: 'https:', hostname: authority, path, query: {}, headers: { host: authority, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    const { host: _host, ...rest } = signed.headers as Record<string, string>;
    return rest;
  };
}

function sigv4aSigner(creds: Creds, regionSet = '*'): Signer {
  const signer = new SigV4ASigner('vpc-lattice-svcs', regionSet);
  return (path, authority) => {
    const headers: Array<[string, string]> = [['host', authority]];
    const { authorization } = signer.sign('POST', path, headers, creds, Date.now());
    return Promise.resolve(Object.fromEntries([...headers.filter(([n]) => n !== 'host'), ['authorization', authorization]]));
  };
}

interface DemoClient extends grpc.Client {
  Hello(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r: HelloReply) => void): grpc.ClientUnaryCall;
  Watch(req: object, md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<HelloReply>;
  Collect(md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r: CollectReply) => void): grpc.ClientWritableStream<object>;
  Chat(md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<object, HelloReply>;
  Fail(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r: HelloReply) => void): grpc.ClientUnaryCall;
  Wait(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r: HelloReply) => void): grpc.ClientUnaryCall;
}

const { Demo } = loadDemoPackage();

/** A grpc-js client over TLS to the emulator, every RPC signed by `sign` (per-call credentials). */
function client(lattice: Lattice, caPem: string, authority: string, sign: Signer): DemoClient {
  const perCall = grpc.credentials.createFromMetadataGenerator((params, callback) => {
    // grpc-js hands over the full method path (/package.Service/Method): exactly what Lattice authorises.
    sign(params.method_name, authority).then(
      (headers) => {
        const md = new grpc.Metadata();
        for (const [k, v] of Object.entries(headers)) md.set(k, v);
        callback(null, md);
      },
      (err: Error) => callback(err),
    );
  });
  const channel = grpc.credentials.combineChannelCredentials(grpc.credentials.createSsl(Buffer.from(caPem)), perCall);
  return new Demo(`127.0.0.1:${lattice.port}`, channel, { 'grpc.ssl_target_name_override': authority, 'grpc.default_authority': authority }) as unknown as DemoClient;
}

interface UnaryResult<T> {
  err: grpc.ServiceError | null;
  reply?: T;
  headers?: grpc.Metadata;
  status?: grpc.StatusObject;
}

function unary<T>(start: (md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r: T) => void) => grpc.ClientUnaryCall, opts: grpc.CallOptions = {}): Promise<UnaryResult<T>> & { call?: grpc.ClientUnaryCall } {
  let call: grpc.ClientUnaryCall | undefined;
  const result = new Promise<UnaryResult<T>>((resolve) => {
    const out: UnaryResult<T> = { err: null };
    let done = 0;
    const maybe = (): void => {
      if (++done === 2) resolve(out);
    };
    call = start(new grpc.Metadata(), opts, (err, r) => {
      out.err = err;
      if (r) out.reply = r;
      maybe();
    });
    call.on('metadata', (m: grpc.Metadata) => (out.headers = m));
    call.on('status', (s: grpc.StatusObject) => {
      out.status = s;
      maybe();
    });
  });
  return Object.assign(result, { call });
}

function drain<T>(stream: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<object, T>): Promise<{ messages: T[]; status: grpc.StatusObject; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const messages: T[] = [];
    let error: grpc.ServiceError | undefined;
    stream.on('data', (m: T) => messages.push(m));
    stream.on('error', (e: grpc.ServiceError) => (error = e));
    stream.on('status', (status: grpc.StatusObject) => setImmediate(() => resolve({ messages, status, ...(error ? { error } : {}) })));
  });
}

function nextCall(target: GrpcTarget, method: string): Promise<GrpcCallRecord> {
  return new Promise((resolve) => {
    const on = (rec: GrpcCallRecord): void => {
      if (rec.method !== method) return;
      target.events.off('call', on);
      resolve(rec);
    };
    target.events.on('call', on);
  });
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface World {
  caPem: string;
  certPem: string;
  keyPem: string;
  grpcTarget: GrpcTarget;
  doomedTarget: GrpcTarget;
  echo: TargetServer;
  h2Echo: Http2Server;
  lattice: Lattice;
}

/** A plain h2c target for an HTTP2 (non-gRPC) target group: echoes method, path, headers and body; sends trailers. */
async function startH2cEcho(): Promise<Http2Server> {
  const server = createH2cServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    let trailers: IncomingHttpHeaders | undefined;
    stream.on('trailers', (t: IncomingHttpHeaders) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = JSON.stringify({ method: headers[':method'], path: headers[':path'], authority: headers[':authority'], headers, trailers, bytes: Buffer.concat(chunks).length });
      stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-h2-echo': 'yes' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-echo-trailer': 'done' }));
      stream.end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

async function startWorld(): Promise<World> {
  const ca = await createTestCa();
  const cert = await ca.issue({ dnsNames: [GRPC_HOST, DOOMED_HOST, H2_HOST, ECHO_HOST] });
  const grpcTarget = await startGrpcTarget({ app: 'grpc-demo', podName: 'grpc-demo-0' });
  const doomedTarget = await startGrpcTarget({ app: 'grpc-doomed', podName: 'grpc-doomed-0' });
  const echo = await startEchoTarget();
  const h2Echo = await startH2cEcho();
  const lattice = await startLattice(latticeOptions({ certPem: cert.certPem, keyPem: cert.keyPem, grpcTarget, doomedTarget, echo, h2Echo }));
  return { caPem: ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem, grpcTarget, doomedTarget, echo, h2Echo, lattice };
}

function latticeOptions(w: Pick<World, 'certPem' | 'keyPem' | 'grpcTarget' | 'doomedTarget' | 'echo' | 'h2Echo'>, extra: Partial<LatticeOptions> = {}): LatticeOptions {
  return {
    certPem: w.certPem,
    keyPem: w.keyPem,
    iamKey: IAM_KEY,
    serviceNetworkPolicy: authenticatedOnlyPolicy(),
    services: [
      { hostname: GRPC_HOST, serviceArn: GRPC_ARN, protocolVersion: 'GRPC', target: { host: '127.0.0.1', port: w.grpcTarget.port }, authPolicy: grpcServicePolicy() },
      { hostname: DOOMED_HOST, protocolVersion: 'GRPC', target: { host: '127.0.0.1', port: w.doomedTarget.port } },
      { hostname: H2_HOST, protocolVersion: 'HTTP2', target: { host: '127.0.0.1', port: (w.h2Echo.address() as AddressInfo).port } },
      { hostname: ECHO_HOST, target: { host: '127.0.0.1', port: w.echo.port } },
    ],
    ...extra,
  };
}

describe('Lattice emulator: gRPC over TLS h2 with per-RPC signatures', () => {
  let w: World;
  const blue = credentials('blue-caller', { team: 'blue' });
  const intern = credentials('blue-intern', { team: 'blue', role: 'intern' });
  const outsider = credentials('outsider', { team: 'red' });
  const clients: grpc.Client[] = [];
  const open = (authority: string, sign: Signer): DemoClient => {
    const c = client(w.lattice, w.caPem, authority, sign);
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    w = await startWorld();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await w?.lattice.close();
    await w?.grpcTarget.close();
    await w?.doomedTarget.close();
    await w?.echo.close();
    w?.h2Echo.close();
  });

  it('forwards a SigV4-signed unary call: reply, response metadata and trailers relayed, credentials stripped, identity added', async () => {
    const c = open(GRPC_HOST, smithySigner(blue));
    const r = await unary<HelloReply>((md, o, cb) => c.Hello({ name: 'sigv4' }, md, o, cb));
    expect(r.err).toBeNull();
    expect(r.reply?.message).toBe('Requesting to Pod(grpc-demo-0): Hello from grpc-demo, sigv4');
    expect(r.headers?.get('x-demo-pod')).toEqual(['grpc-demo-0']);
    expect(r.status?.metadata.get('x-demo-trailer')).toEqual(['hello-done']);
    const seen = r.reply?.metadata ?? {};
    expect(seen['authorization']).toBeUndefined();
    expect(seen['x-amz-security-token']).toBeUndefined();
    expect(seen['x-amzn-lattice-identity']).toMatch(/^Principal=arn:aws:sts::123456789012:assumed-role\/grpc-caller\/blue-caller; SessionName=blue-caller; Type=AWS_IAM$/);
    expect(seen['x-amzn-lattice-target']).toContain(`ServiceArn=${GRPC_ARN}`);
    const entry = w.lattice.log.at(-1);
    expect(entry).toMatchObject({ protocol: 'HTTP/2', grpc: true, method: 'POST', rawPath: METHOD('Hello'), signed: true, verified: true, signingAlgorithm: 'AWS4-HMAC-SHA256', status: 200, grpcStatus: 0 });
    expect(JSON.stringify(w.lattice.log)).not.toContain(blue.sessionToken);
  });

  it('forwards a SigV4A-signed call (proxy/src/sigv4a.ts, verified independently) and refuses a region set without us-west-2', async () => {
    const ok = await unary<HelloReply>((md, o, cb) => open(GRPC_HOST, sigv4aSigner(blue)).Hello({ name: 'sigv4a' }, md, o, cb));
    expect(ok.err).toBeNull();
    expect(ok.reply?.message).toContain('Hello from grpc-demo, sigv4a');
    expect(w.lattice.log.at(-1)).toMatchObject({ signingAlgorithm: 'AWS4-ECDSA-P256-SHA256', verified: true, status: 200, grpcStatus: 0 });

    const wrongRegion = await unary<HelloReply>((md, o, cb) => open(GRPC_HOST, sigv4aSigner(blue, 'eu-west-1')).Hello({ name: 'x' }, md, o, cb));
    expect(wrongRegion.err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(w.lattice.log.at(-1)).toMatchObject({ signingAlgorithm: 'AWS4-ECDSA-P256-SHA256', verified: false, status: 403, code: 'InvalidSignatureException' });
  });

  it('applies the auth policy per RPC path: 403 relayed (grpc-js: PERMISSION_DENIED), the target never called', async () => {
    const before = w.grpcTarget.calls.length;
    const denied = await unary<HelloReply>((md, o, cb) => open(GRPC_HOST, smithySigner(outsider)).Hello({ name: 'x' }, md, o, cb));
    expect(denied.err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(w.lattice.log.at(-1)).toMatchObject({ status: 403, code: 'AccessDeniedException', verified: true, rawPath: METHOD('Hello') });

    const internClient = open(GRPC_HOST, smithySigner(intern));
    const hello = await unary<HelloReply>((md, o, cb) => internClient.Hello({ name: 'intern' }, md, o, cb));
    expect(hello.err).toBeNull();
    const fail = await unary<HelloReply>((md, o, cb) => internClient.Fail({ code: grpc.status.ABORTED, message: 'never reached' }, md, o, cb));
    expect(fail.err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(w.lattice.log.at(-1)).toMatchObject({ status: 403, code: 'AccessDeniedException', rawPath: METHOD('Fail') });
    expect(w.grpcTarget.calls.slice(before).map((c) => c.method)).toEqual([METHOD('Hello')]);
  });

  it('refuses an unsigned gRPC call at the service network and a tampered signature', async () => {
    const unsigned = await unary<HelloReply>((md, o, cb) => open(GRPC_HOST, () => Promise.resolve({})).Hello({ name: 'x' }, md, o, cb));
    expect(unsigned.err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(w.lattice.log.at(-1)).toMatchObject({ signed: false, status: 403, code: 'AccessDeniedException' });
    // Signed for another method: the path is part of the signature.
    const sign = smithySigner(blue);
    const replayed = await unary<HelloReply>((md, o, cb) => open(GRPC_HOST, (_p, a) => sign(METHOD('Watch'), a)).Hello({ name: 'x' }, md, o, cb));
    expect(replayed.err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(w.lattice.log.at(-1)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('streams all four RPC kinds with their trailers', async () => {
    const c = open(GRPC_HOST, smithySigner(blue));
    const watched = await drain(c.Watch({ name: 'w', count: 5, interval_ms: 5, payload_bytes: 1000 }));
    expect(watched.status.code).toBe(grpc.status.OK);
    expect(watched.messages.map((m) => m.index)).toEqual([0, 1, 2, 3, 4]);
    expect(watched.messages.every((m) => m.payload.length === 1000)).toBe(true);
    expect(watched.status.metadata.get('x-demo-sent')).toEqual(['5']);

    const collected = await new Promise<UnaryResult<CollectReply>>((resolve) => {
      const call = c.Collect(new grpc.Metadata(), {}, (err, reply) => resolve({ err, reply }));
      for (let i = 0; i < 10; i++) call.write({ name: `n${i}`, payload: Buffer.alloc(100) });
      call.end();
    });
    expect(collected.err).toBeNull();
    expect(collected.reply).toMatchObject({ count: 10, payload_bytes: 1000, names: 'n0,n1,n2,n3,n4,n5,n6,n7,n8,n9' });

    // Bidirectional, lock-step: each answer arrives before the next request is sent.
    const chat = c.Chat();
    const done = drain(chat);
    for (let i = 0; i < 3; i++) {
      const [reply] = (await Promise.all([once(chat, 'data'), Promise.resolve(chat.write({ name: `m${i}` }))]))[0] as [HelloReply];
      expect(reply).toMatchObject({ index: i, message: expect.stringContaining(`m${i}`) });
    }
    chat.end();
    const chatEnd = await done;
    expect(chatEnd.status.code).toBe(grpc.status.OK);
    expect(chatEnd.status.metadata.get('x-demo-count')).toEqual(['3']);
    expect(chatEnd.status.metadata.get('x-demo-trailer')).toEqual(['chat-done']);
  });

  it('relays a failing RPC: status, message and custom trailer (trailers-only response)', async () => {
    const c = open(GRPC_HOST, smithySigner(blue));
    const r = await unary<HelloReply>((md, o, cb) => c.Fail({ code: grpc.status.FAILED_PRECONDITION, message: 'the widget is not ready' }, md, o, cb));
    expect(r.err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(r.err?.details).toBe('the widget is not ready');
    expect(r.err?.metadata.get('x-demo-failure')).toEqual(['requested']);
    expect(w.lattice.log.at(-1)).toMatchObject({ status: 200, grpcStatus: grpc.status.FAILED_PRECONDITION });
  });

  it('propagates a client cancellation (RST_STREAM) to the target, and the deadline (grpc-timeout) too', async () => {
    const c = open(GRPC_HOST, smithySigner(blue));
    const started = nextCall(w.grpcTarget, METHOD('Wait'));
    const pending = unary<HelloReply>((md, o, cb) => c.Wait({ delay_ms: 30_000 }, md, o, cb));
    const rec = await started;
    const cancelled = once(w.grpcTarget.events, 'cancelled');
    pending.call?.cancel();
    expect((await pending).err?.code).toBe(grpc.status.CANCELLED);
    expect(((await cancelled) as [GrpcCallRecord])[0]).toBe(rec);
    expect(rec.cancelled).toBe(true);

    const deadlineStarted = nextCall(w.grpcTarget, METHOD('Wait'));
    const sentAt = Date.now();
    const late = unary<HelloReply>((md, o, cb) => c.Wait({ delay_ms: 30_000 }, md, o, cb), { deadline: sentAt + 400 });
    const lateRec = await deadlineStarted;
    expect(lateRec.deadline).toBeDefined();
    expect(Math.abs((lateRec.deadline as number) - (sentAt + 400))).toBeLessThan(250);
    expect((await late).err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await until('the target to see the deadline pass', () => lateRec.cancelled);
  });

  it('propagates a reset from the target to the client (target gone mid-stream)', async () => {
    const c = open(DOOMED_HOST, smithySigner(blue));
    const stream = c.Watch({ name: 'doomed', count: 1000, interval_ms: 20, payload_bytes: 10 });
    const result = drain(stream);
    await once(stream, 'data');
    await w.doomedTarget.close();
    const end = await result;
    expect(end.status.code).not.toBe(grpc.status.OK);
    expect(end.messages.length).toBeLessThan(1000);
  });

  it('forwards with backpressure: a reader that stops reading stops the target from writing', async () => {
    const c = open(GRPC_HOST, smithySigner(blue));
    const started = nextCall(w.grpcTarget, METHOD('Watch'));
    const size = 256 * 1024;
    const count = 256; // 64 MiB if nothing pushed back
    const stream = c.Watch({ name: 'slow', count, interval_ms: 0, payload_bytes: size });
    const rec = await started;
    let received = 0;
    stream.on('data', () => {
      received++;
      if (received === 1) stream.pause();
    });
    await until('the first message', () => received === 1);
    // Wait until the target has stopped writing (flow-control windows and socket buffers full), then measure.
    let last = -1;
    while (rec.payloadBytesWritten !== last) {
      last = rec.payloadBytesWritten;
      await sleep(300);
    }
    expect(rec.payloadBytesWritten).toBeLessThan(24 * 1024 * 1024);
    const end = drain(stream);
    stream.resume();
    const { status } = await end;
    expect(status.code).toBe(grpc.status.OK);
    expect(received).toBe(count);
    expect(rec.payloadBytesWritten).toBe(count * size);
  });

  it('GOAWAY moves new calls to a new connection while the call in flight completes', async () => {
    const c = open(GRPC_HOST, smithySigner(blue));
    expect((await unary<HelloReply>((md, o, cb) => c.Hello({ name: 'warm' }, md, o, cb))).err).toBeNull();
    const connectionsBefore = w.lattice.stats.connections;
    const started = nextCall(w.grpcTarget, METHOD('Wait'));
    const inFlight = unary<HelloReply>((md, o, cb) => c.Wait({ delay_ms: 600 }, md, o, cb));
    await started;
    const goawaysBefore = w.lattice.stats.goaways;
    expect(w.lattice.goAway()).toBeGreaterThanOrEqual(1);
    expect(w.lattice.stats.goaways).toBeGreaterThan(goawaysBefore);
    const fresh = await unary<HelloReply>((md, o, cb) => c.Hello({ name: 'after goaway' }, md, o, cb));
    expect(fresh.err).toBeNull();
    expect(w.lattice.stats.connections).toBe(connectionsBefore + 1);
    const finished = await inFlight;
    expect(finished.err).toBeNull();
    expect(finished.reply?.message).toContain('waited 600 ms');
  });
});

describe('Lattice emulator: connection limits (idle timeout, maximum age)', () => {
  let w: World;
  let lattice: Lattice;
  const blue = credentials('limits', { team: 'blue' });
  beforeAll(async () => {
    w = await startWorld();
  });
  afterAll(async () => {
    await lattice?.close();
    await w?.lattice.close();
    await w?.grpcTarget.close();
    await w?.doomedTarget.close();
    await w?.echo.close();
    w?.h2Echo.close();
  });

  it('closes an idle HTTP/2 session after idleTimeoutMs; the client reconnects for the next call', async () => {
    lattice = await startLattice(latticeOptions(w, { idleTimeoutMs: 300 }));
    const c = client(lattice, w.caPem, GRPC_HOST, smithySigner(blue));
    try {
      expect((await unary<HelloReply>((md, o, cb) => c.Hello({ name: 'a' }, md, o, cb))).err).toBeNull();
      await until('the idle session to be closed', () => lattice.stats.idleClosed === 1 && lattice.openSessions() === 0).catch((e: Error) => {
        throw new Error(`${e.message}: ${JSON.stringify({ ...lattice.stats, open: lattice.openSessions() })}`);
      });
      expect((await unary<HelloReply>((md, o, cb) => c.Hello({ name: 'b' }, md, o, cb))).err).toBeNull();
      expect(lattice.stats.connections).toBe(2);
    } finally {
      c.close();
      await lattice.close();
    }
  });

  it('sends GOAWAY at maxConnectionAgeMs without failing the call in flight', async () => {
    lattice = await startLattice(latticeOptions(w, { maxConnectionAgeMs: 300 }));
    const c = client(lattice, w.caPem, GRPC_HOST, smithySigner(blue));
    try {
      const r = await unary<HelloReply>((md, o, cb) => c.Wait({ delay_ms: 800 }, md, o, cb));
      expect(r.err).toBeNull();
      expect(lattice.stats.goaways).toBeGreaterThanOrEqual(1);
      expect((await unary<HelloReply>((md, o, cb) => c.Hello({ name: 'next' }, md, o, cb))).err).toBeNull();
      expect(lattice.stats.connections).toBe(2);
    } finally {
      c.close();
      await lattice.close();
    }
  });
});

describe('Lattice emulator: HTTP/1.1 connection age', () => {
  it('answers connection: close on the first response after maxConnectionAgeMs, so the next request reconnects', async () => {
    const ca = await createTestCa();
    const cert = await ca.issue({ dnsNames: [ECHO_HOST] });
    const echo = await startEchoTarget();
    const lattice = await startLattice({ certPem: cert.certPem, keyPem: cert.keyPem, iamKey: IAM_KEY, maxConnectionAgeMs: 300, services: [{ hostname: ECHO_HOST, target: { host: '127.0.0.1', port: echo.port } }] });
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1 });
    const get = (): Promise<string | undefined> =>
      new Promise((resolve, reject) => {
        httpsRequest({ host: '127.0.0.1', port: lattice.port, servername: ECHO_HOST, ca: ca.certPem, path: '/', headers: { host: ECHO_HOST }, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.headers.connection));
        }).on('error', reject).end();
      });
    try {
      expect(await get()).toBe('keep-alive');
      await sleep(400);
      expect(await get()).toBe('close');
      expect(await get()).toBe('keep-alive');
      expect(lattice.stats.connections).toBe(2);
    } finally {
      agent.destroy();
      await lattice.close();
      await echo.close();
    }
  });
});

describe('Lattice emulator: target group protocol versions', () => {
  let w: World;
  const blue = credentials('protocols', { team: 'blue' });
  let session: ClientHttp2Session;
  beforeAll(async () => {
    w = await startWorld();
    session = http2Connect(w.lattice.url, { ca: w.caPem, servername: H2_HOST });
  });
  afterAll(async () => {
    session?.close();
    await w?.lattice.close();
    await w?.grpcTarget.close();
    await w?.doomedTarget.close();
    await w?.echo.close();
    w?.h2Echo.close();
  });

  async function signedHeaders(method: string, hostname: string, path: string, extra: Record<string, string> = {}, query: Record<string, string> = {}): Promise<Record<string, string>> {
    const signer = new SignatureV4({ service: 'vpc-lattice-svcs', region: 'us-west-2', credentials: blue, sha256: Sha256 });
    const signed = await signer.sign({ method, protocol: 'https:', hostname, path, query, headers: { host: hostname, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...extra } });
    return signed.headers as Record<string, string>;
  }

  function h2Request(authority: string, method: string, path: string, headers: Record<string, string>, body?: Buffer, trailers?: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders; trailers?: IncomingHttpHeaders; body: string }> {
    const { host: _host, ...rest } = headers;
    const req = session.request({ ':method': method, ':path': path, ':authority': authority, ...rest }, { endStream: body === undefined, waitForTrailers: trailers !== undefined });
    if (trailers) req.on('wantTrailers', () => req.sendTrailers(trailers));
    if (body) req.end(body);
    return new Promise((resolve, reject) => {
      let head: IncomingHttpHeaders = {};
      let tail: IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      req.on('response', (h) => (head = h));
      req.on('trailers', (t) => (tail = t));
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve({ status: Number(head[':status']), headers: head, ...(tail ? { trailers: tail } : {}), body: Buffer.concat(chunks).toString('utf8') }));
      req.on('error', reject);
    });
  }

  function h1Request(hostname: string, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string; alpn: string | false | null }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: w.lattice.port, servername: hostname, ca: w.caPem, method, path, headers, agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, alpn: (res.socket as import('node:tls').TLSSocket).alpnProtocol }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('answers HTTP/1.1 (no ALPN) on the same listener; HTTP/1.1 to a GRPC or HTTP2 target group is 464 IncompatibleProtocol', async () => {
    const ok = await h1Request(ECHO_HOST, 'GET', '/x', await signedHeaders('GET', ECHO_HOST, '/x'));
    expect(ok.status).toBe(200);
    expect(ok.alpn).toBe(false);
    expect(w.lattice.log.at(-1)).toMatchObject({ protocol: 'HTTP/1.1', grpc: false, status: 200 });
    for (const host of [GRPC_HOST, H2_HOST]) {
      const r = await h1Request(host, 'POST', METHOD('Hello'), await signedHeaders('POST', host, METHOD('Hello'), { 'content-type': 'application/grpc' }));
      expect(r.status).toBe(464);
      expect(r.body).toMatch(/^IncompatibleProtocol: the target group of \S+ has protocol version (GRPC|HTTP2)/);
      expect(w.lattice.log.at(-1)).toMatchObject({ protocol: 'HTTP/1.1', status: 464, code: 'IncompatibleProtocol', verified: true });
    }
  });

  it('needs gRPC (HTTP/2 POST, application/grpc) for a GRPC target group', async () => {
    const get = await h2Request(GRPC_HOST, 'GET', METHOD('Hello'), await signedHeaders('GET', GRPC_HOST, METHOD('Hello')));
    expect(get.status).toBe(464);
    const notGrpc = await h2Request(GRPC_HOST, 'POST', METHOD('Hello'), await signedHeaders('POST', GRPC_HOST, METHOD('Hello'), { 'content-type': 'application/json' }), Buffer.from('{}'));
    expect(notGrpc.status).toBe(464);
    expect(w.lattice.log.at(-1)).toMatchObject({ protocol: 'HTTP/2', grpc: false, status: 464 });
  });

  it('forwards HTTP/2 to an HTTP2 target group over h2c with request and response trailers', async () => {
    const body = randomBytes(100_000);
    const r = await h2Request(H2_HOST, 'POST', '/items?x=1', { ...(await signedHeaders('POST', H2_HOST, '/items', { 'content-type': 'application/octet-stream' }, { x: '1' })), te: 'trailers' }, body, { 'x-client-trailer': 'sent' });
    expect(r.status, r.body).toBe(200);
    expect(r.headers['x-h2-echo']).toBe('yes');
    expect(r.trailers?.['x-echo-trailer']).toBe('done');
    const seen = JSON.parse(r.body) as { method: string; path: string; authority: string; headers: Record<string, string>; trailers: Record<string, string>; bytes: number };
    expect(seen).toMatchObject({ method: 'POST', path: '/items?x=1', authority: H2_HOST, bytes: body.length });
    expect(seen.trailers['x-client-trailer']).toBe('sent');
    expect(seen.headers['te']).toBe('trailers');
    expect(seen.headers['authorization']).toBeUndefined();
    expect(seen.headers['x-amzn-lattice-identity']).toMatch(/Type=AWS_IAM$/);
  });

  it('forwards HTTP/2 to an HTTP1 target group as HTTP/1.1, streaming a 32 MiB body', async () => {
    const total = 32 * 1024 * 1024;
    const hash = createHash('sha256');
    const headers = await signedHeaders('PUT', ECHO_HOST, '/blob', { 'content-type': 'application/octet-stream' });
    const { host: _host, ...rest } = headers;
    const req = session.request({ ':method': 'PUT', ':path': '/blob', ':authority': ECHO_HOST, ...rest });
    const before = w.echo.stats.bodyBytes;
    let sent = 0;
    let maxInFlight = 0;
    const chunk = randomBytes(64 * 1024);
    const pump = (): void => {
      while (sent < total) {
        maxInFlight = Math.max(maxInFlight, sent - (w.echo.stats.bodyBytes - before));
        const piece = Buffer.from(chunk);
        piece.writeUInt32BE(sent / chunk.length, 0);
        hash.update(piece);
        sent += piece.length;
        if (!req.write(piece)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
    const chunks: Buffer[] = [];
    let status = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => chunks.push(c));
    await once(req, 'end');
    expect(status).toBe(200);
    const echoed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as EchoResponse;
    expect(echoed.bodyBytes).toBe(total);
    expect(echoed.bodySha256).toBe(hash.digest('hex'));
    expect(echoed.headers.find(([n]) => n.toLowerCase() === 'host')?.[1]).toBe(ECHO_HOST);
    expect(maxInFlight).toBeLessThan(24 * 1024 * 1024);
    expect(w.lattice.log.at(-1)).toMatchObject({ protocol: 'HTTP/2', method: 'PUT', status: 200, verified: true });
  });

  it('refuses h2 to an unknown service with 404 and never lets a client spoof x-amzn-lattice-identity', async () => {
    const r = await h2Request('nope.example.com', 'GET', '/', await signedHeaders('GET', 'nope.example.com', '/'));
    expect(r.status).toBe(404);
    const spoof = await h2Request(H2_HOST, 'GET', '/', await signedHeaders('GET', H2_HOST, '/', { 'x-amzn-lattice-identity': 'Principal=arn:aws:iam::999999999999:root' }));
    expect(spoof.status).toBe(200);
    const seen = JSON.parse(spoof.body) as { headers: Record<string, string> };
    expect(seen.headers['x-amzn-lattice-identity']).toMatch(/^Principal=arn:aws:sts::123456789012:assumed-role\/grpc-caller\/protocols/);
  });
});

describe('Lattice emulator: a listener without h2', () => {
  it('negotiates http/1.1 when alpnProtocols excludes h2, so an h2-only client fails to connect', async () => {
    const ca = await createTestCa();
    const cert = await ca.issue({ dnsNames: [ECHO_HOST] });
    const echo = await startEchoTarget();
    const lattice = await startLattice({ certPem: cert.certPem, keyPem: cert.keyPem, iamKey: IAM_KEY, alpnProtocols: ['http/1.1'], services: [{ hostname: ECHO_HOST, target: { host: '127.0.0.1', port: echo.port } }] });
    try {
      const session = http2Connect(lattice.url, { ca: ca.certPem, servername: ECHO_HOST });
      const [err] = (await once(session, 'error').catch((e: unknown) => [e])) as [Error];
      expect(String(err)).toMatch(/ALPN|protocol|ERR_HTTP2/i);
      session.destroy();
    } finally {
      await lattice.close();
      await echo.close();
    }
  });
});
