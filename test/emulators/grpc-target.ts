// The gRPC demo target: a real @grpc/grpc-js server (plaintext h2c, as a pod behind Lattice serves) for the API in
// proto/demo.proto. Every call is recorded (method, metadata the target saw, deadline, how it ended) so tests can
// observe what crossed Lattice and the proxy: stripped credentials, Lattice's identity headers, cancellation and
// deadlines arriving at the server, and backpressure (Watch only writes when the transport accepts more).
import { EventEmitter, once } from 'node:events';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { urlHost } from './server-util.js';

export const DEMO_PROTO_PATH = fileURLToPath(new URL('./proto/demo.proto', import.meta.url));
export const DEMO_SERVICE = 'lattice.demo.v1.Demo';

export interface HelloRequest {
  name: string;
  payload: Buffer;
}
export interface HelloReply {
  message: string;
  pod: string;
  index: number;
  metadata: Record<string, string>;
  payload: Buffer;
}
export interface WatchRequest {
  name: string;
  count: number;
  interval_ms: number;
  payload_bytes: number;
}
export interface CollectReply {
  count: number;
  names: string;
  payload_bytes: number;
  pod: string;
}

/** The loaded package: `new (loadDemoPackage().Demo)(address, credentials)` is a client. */
export function loadDemoPackage(): { Demo: grpc.ServiceClientConstructor } {
  const definition = protoLoader.loadSync(DEMO_PROTO_PATH, { keepCase: true, longs: Number, defaults: true });
  const root = grpc.loadPackageDefinition(definition) as unknown as { lattice: { demo: { v1: { Demo: grpc.ServiceClientConstructor } } } };
  return root.lattice.demo.v1;
}

export interface GrpcCallRecord {
  /** `/lattice.demo.v1.Demo/Hello` */
  method: string;
  /** text metadata as received (lower-case names), repeated values in order */
  metadata: Record<string, string[]>;
  /** the call's deadline in epoch ms (from grpc-timeout), undefined when it has none */
  deadline?: number;
  /** the client (through every hop) cancelled the call, or its deadline passed, before it finished */
  cancelled: boolean;
  /** the handler finished (status sent) */
  finished: boolean;
  /** bytes of message payload the handler handed to the transport so far */
  payloadBytesWritten: number;
}

export interface GrpcTargetOptions {
  host?: string;
  port?: number;
  app?: string;
  podName?: string;
  /** call records kept (oldest dropped first) */
  maxRecords?: number;
}

export interface GrpcTarget {
  /** `host:port` for grpc-js clients; `url` is the http:// (h2c) form */
  address: string;
  url: string;
  port: number;
  calls: GrpcCallRecord[];
  /** emits 'call' (record) when a call starts, 'cancelled' (record) and 'finished' (record) */
  events: EventEmitter;
  close(): Promise<void>;
}

function metadataRecord(md: grpc.Metadata): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(md.toJSON())) {
    if (!name.endsWith('-bin')) out[name] = (values as Array<string | Buffer>).map(String);
  }
  return out;
}

function flatMetadata(rec: GrpcCallRecord): Record<string, string> {
  return Object.fromEntries(Object.entries(rec.metadata).map(([k, v]) => [k, v.join(', ')]));
}

const md = (pairs: Record<string, string>): grpc.Metadata => {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(pairs)) m.set(k, v);
  return m;
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startGrpcTarget(opts: GrpcTargetOptions = {}): Promise<GrpcTarget> {
  const host = opts.host ?? '127.0.0.1';
  const app = opts.app ?? 'grpc-demo';
  const pod = opts.podName ?? `${app}-0`;
  const maxRecords = opts.maxRecords ?? 10_000;
  const calls: GrpcCallRecord[] = [];
  const events = new EventEmitter();
  const greeting = (name: string): string => `Requesting to Pod(${pod}): Hello from ${app}${name ? `, ${name}` : ''}`;

  type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;
  function begin(call: AnyCall): GrpcCallRecord {
    const deadline = call.getDeadline();
    const rec: GrpcCallRecord = {
      method: call.getPath(),
      metadata: metadataRecord(call.metadata),
      cancelled: false,
      finished: false,
      payloadBytesWritten: 0,
    };
    if (deadline instanceof Date) rec.deadline = deadline.getTime();
    else if (typeof deadline === 'number' && Number.isFinite(deadline)) rec.deadline = deadline;
    calls.push(rec);
    if (calls.length > maxRecords) calls.splice(0, calls.length - maxRecords);
    (call as EventEmitter).on('cancelled', () => {
      if (rec.finished) return;
      rec.cancelled = true;
      events.emit('cancelled', rec);
    });
    // Custom response metadata on every call: the proxy and Lattice must relay response headers.
    call.sendMetadata(md({ 'x-demo-pod': pod }));
    events.emit('call', rec);
    return rec;
  }
  function finish(rec: GrpcCallRecord): void {
    rec.finished = true;
    events.emit('finished', rec);
  }
  const reply = (rec: GrpcCallRecord, name: string, index: number, payload: Buffer = Buffer.alloc(0)): HelloReply => {
    rec.payloadBytesWritten += payload.length;
    return { message: greeting(name), pod, index, metadata: flatMetadata(rec), payload };
  };

  const handlers: grpc.UntypedServiceImplementation = {
    Hello(call: grpc.ServerUnaryCall<HelloRequest, HelloReply>, callback: grpc.sendUnaryData<HelloReply>) {
      const rec = begin(call);
      callback(null, reply(rec, call.request.name, 0, call.request.payload), md({ 'x-demo-trailer': 'hello-done' }));
      finish(rec);
    },
    async Watch(call: grpc.ServerWritableStream<WatchRequest, HelloReply>) {
      const rec = begin(call);
      const { name, count, interval_ms: interval, payload_bytes: size } = call.request;
      for (let i = 0; i < count && !rec.cancelled; i++) {
        if (i > 0 && interval > 0) await sleep(interval);
        if (rec.cancelled) break;
        // write() returning false means the transport (h2 flow control, ultimately the reader) is full: wait.
        if (!call.write(reply(rec, name, i, Buffer.alloc(size, i % 251))) && !rec.cancelled) {
          await Promise.race([once(call, 'drain'), once(call, 'cancelled')]);
        }
      }
      if (!rec.cancelled) call.end(md({ 'x-demo-trailer': 'watch-done', 'x-demo-sent': String(count) }));
      finish(rec);
    },
    Collect(call: grpc.ServerReadableStream<HelloRequest, CollectReply>, callback: grpc.sendUnaryData<CollectReply>) {
      const rec = begin(call);
      const names: string[] = [];
      let bytes = 0;
      call.on('data', (m: HelloRequest) => {
        names.push(m.name);
        bytes += m.payload.length;
      });
      call.on('end', () => {
        callback(null, { count: names.length, names: names.join(','), payload_bytes: bytes, pod }, md({ 'x-demo-trailer': 'collect-done' }));
        finish(rec);
      });
    },
    Chat(call: grpc.ServerDuplexStream<HelloRequest, HelloReply>) {
      const rec = begin(call);
      let index = 0;
      call.on('data', (m: HelloRequest) => {
        call.write(reply(rec, m.name, index++, m.payload));
      });
      call.on('end', () => {
        call.end(md({ 'x-demo-trailer': 'chat-done', 'x-demo-count': String(index) }));
        finish(rec);
      });
    },
    Fail(call: grpc.ServerUnaryCall<{ code: number; message: string }, HelloReply>, callback: grpc.sendUnaryData<HelloReply>) {
      const rec = begin(call);
      callback({ code: call.request.code, details: call.request.message, metadata: md({ 'x-demo-failure': 'requested' }) });
      finish(rec);
    },
    async Wait(call: grpc.ServerUnaryCall<{ delay_ms: number }, HelloReply>, callback: grpc.sendUnaryData<HelloReply>) {
      const rec = begin(call);
      const cancelled = once(call, 'cancelled');
      await Promise.race([sleep(call.request.delay_ms), cancelled]);
      if (!rec.cancelled) callback(null, reply(rec, `waited ${call.request.delay_ms} ms`, 0), md({ 'x-demo-trailer': 'wait-done' }));
      finish(rec);
    },
  };

  const server = new grpc.Server();
  server.addService(loadDemoPackage().Demo.service, handlers);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${urlHost(host)}:${opts.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  const address = `${urlHost(host)}:${port}`;
  return {
    address,
    url: `http://${address}`,
    port,
    calls,
    events,
    close: () =>
      new Promise<void>((resolve) => {
        // An emulator going away must look like the real thing going away: in-flight calls are cut.
        server.forceShutdown();
        resolve();
      }),
  };
}
