// The gRPC upstream of the bench's gRPC scenarios: Hello (unary) and Chat (bidirectional) of
// test/emulators/proto/demo.proto, served with node:http2's core API and the wire format of grpc-wire.ts.
// By default h2 over TLS with ALPN (as Lattice offers it: the proxy and nginx-grpc-ref dial it with SNI and
// verify its certificate); --plaintext serves h2c instead. It is the bench's upstream rather than grpc-js (behind
// nginx for TLS) because it costs 3-5x less CPU per call on the shared load core (bench/README.md, "gRPC").
//
// Every call is counted, and so are the calls that arrived signed (an Authorization header with a SigV4 or SigV4A
// credential): GET /stats on --stats-port (HTTP/1.1) answers the counts as JSON, which is how the bench checks that
// the calls h2load counted as 200 really reached a gRPC server and ended with grpc-status 0.
//
// Usage: node --import tsx bench/lib/grpc-server.ts --port P --stats-port S --cert cert.pem --key key.pem [--plaintext]

import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { constants, createSecureServer, createServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { parseArgs } from 'node:util';
import { CHAT_PATH, decodeHelloRequest, encodeHelloReply, frameMessage, GREETING_PREFIX, GRPC_INTERNAL, GRPC_OK, GRPC_UNIMPLEMENTED, HELLO_PATH, MessageReader, UPSTREAM_POD } from './grpc-wire.js';


export interface GrpcServerStats {
  sessions: number;
  helloOk: number;
  helloSigned: number;
  chatCalls: number;
  chatOk: number;
  chatSigned: number;
  chatMessages: number;
  /** Requests that were not a well-formed gRPC call of Hello or Chat (answered with a non-zero grpc-status). */
  rejected: number;
  /** Calls the client reset or abandoned before the answer ended. */
  aborted: number;
}

const { values } = parseArgs({ options: { port: { type: 'string' }, 'stats-port': { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, plaintext: { type: 'boolean', default: false } } });

const stats: GrpcServerStats = { sessions: 0, helloOk: 0, helloSigned: 0, chatCalls: 0, chatOk: 0, chatSigned: 0, chatMessages: 0, rejected: 0, aborted: 0 };
const greeting = (name: string): string => (name ? `${GREETING_PREFIX}, ${name}` : GREETING_PREFIX);
const signed = (h: IncomingHttpHeaders): boolean => {
  const a = h['authorization'];
  return typeof a === 'string' && (a.startsWith('AWS4-HMAC-SHA256 Credential=') || a.startsWith('AWS4-ECDSA-P256-SHA256 Credential='));
};

function respond(stream: ServerHttp2Stream, status: number, message?: string): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(status), ...(message ? { 'grpc-message': encodeURIComponent(message) } : {}) }));
}

/** A trailers-only answer: how gRPC servers answer a call they will not serve. */
function reject(stream: ServerHttp2Stream, status: number, message: string): void {
  if (stream.destroyed || stream.headersSent) return; // reset by the client meanwhile: nothing to answer
  stats.rejected++;
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(status), 'grpc-message': encodeURIComponent(message) }, { endStream: true });
}

function hello(stream: ServerHttp2Stream, wasSigned: boolean): void {
  const reader = new MessageReader();
  const messages: Buffer[] = [];
  stream.on('data', (c: Buffer) => {
    try {
      messages.push(...reader.push(c));
    } catch (e) {
      reject(stream, GRPC_INTERNAL, (e as Error).message);
    }
  });
  stream.on('end', () => {
    if (stream.destroyed || stream.headersSent) return;
    if (messages.length !== 1 || reader.pendingBytes !== 0) return reject(stream, GRPC_INTERNAL, `unary call with ${messages.length} messages (${reader.pendingBytes} bytes left over)`);
    const req = decodeHelloRequest(messages[0]!);
    respond(stream, GRPC_OK);
    stream.end(frameMessage(encodeHelloReply({ message: greeting(req.name), pod: UPSTREAM_POD, index: 0, payload: req.payload })));
    stats.helloOk++;
    if (wasSigned) stats.helloSigned++;
  });
}

function chat(stream: ServerHttp2Stream, wasSigned: boolean): void {
  stats.chatCalls++;
  if (wasSigned) stats.chatSigned++;
  const reader = new MessageReader();
  let index = 0;
  respond(stream, GRPC_OK);
  stream.on('data', (c: Buffer) => {
    let msgs: Buffer[];
    try {
      msgs = reader.push(c);
    } catch (e) {
      stream.close(constants.NGHTTP2_PROTOCOL_ERROR);
      process.stderr.write(`grpc-server: ${(e as Error).message}\n`);
      return;
    }
    for (const m of msgs) {
      const req = decodeHelloRequest(m);
      stream.write(frameMessage(encodeHelloReply({ message: greeting(req.name), pod: UPSTREAM_POD, index: index++, payload: req.payload })));
    }
    stats.chatMessages += msgs.length;
  });
  stream.on('end', () => {
    stream.end();
    stats.chatOk++;
  });
}

function onStream(stream: ServerHttp2Stream, h: IncomingHttpHeaders): void {
  stream.on('aborted', () => stats.aborted++);
  stream.on('error', () => undefined); // a reset from the client: counted as aborted, nothing to answer
  const ct = h['content-type'];
  if (h[':method'] !== 'POST' || typeof ct !== 'string' || !ct.startsWith('application/grpc')) return reject(stream, GRPC_INTERNAL, `not a gRPC call: ${h[':method']} ${String(ct)}`);
  if (h[':path'] === HELLO_PATH) return hello(stream, signed(h));
  if (h[':path'] === CHAT_PATH) return chat(stream, signed(h));
  stream.resume();
  reject(stream, GRPC_UNIMPLEMENTED, `unknown method ${h[':path']}`);
}

// Node's default SETTINGS_MAX_CONCURRENT_STREAMS is unbounded; 128 is nginx's default (Lattice does not document
// its own), so a client with more streams in flight has to open a second session, as it would against nginx.
const settings = { maxConcurrentStreams: 128 };
const server = values.plaintext ? createServer({ settings }) : createSecureServer({ cert: readFileSync(values.cert!), key: readFileSync(values.key!), allowHTTP1: false, settings });
server.on('session', () => stats.sessions++);
server.on('stream', onStream);
server.listen(Number(values.port), '127.0.0.1');

const statsServer = createHttpServer((req, res) => {
  if (req.url !== '/stats') {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
});
statsServer.listen(Number(values['stats-port']), '127.0.0.1');

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    statsServer.close();
    server.close();
    process.exit(0);
  });
}
