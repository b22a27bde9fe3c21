// The gRPC demo server: lattice.demo.v1.Demo (test/emulators/proto/demo.proto) Hello (unary) and Chat
// (bidirectional) over h2c, as a pod behind a VPC Lattice GRPC target group serves them. Plain node:http2 and a
// few lines of protobuf so any Node >= 18 image runs it unchanged, like server.mjs. GET /healthz answers `ok` over
// HTTP/2 for the target group's health check (protocolVersion HTTP2).
import { createServer, constants } from 'node:http2';
import { hostname } from 'node:os';

const port = Number(process.env.PORT ?? 50051);
const app = process.env.APP_NAME ?? 'demo-grpc';
const SERVICE = '/lattice.demo.v1.Demo/';
const GRPC = { OK: '0', UNIMPLEMENTED: '12', INTERNAL: '13' };

function readVarint(buf, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (at >= buf.length) throw new Error('truncated varint');
    const b = buf[at++];
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, at];
    shift += 7;
  }
}

/** HelloRequest: field 1 `name` (string); every other field is skipped. */
function decodeName(buf) {
  let name = '';
  for (let at = 0; at < buf.length; ) {
    let key;
    [key, at] = readVarint(buf, at);
    const wire = key & 7;
    if (wire === 0) [, at] = readVarint(buf, at);
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      let len;
      [len, at] = readVarint(buf, at);
      if (key >>> 3 === 1) name = buf.subarray(at, at + len).toString('utf8');
      at += len;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return name;
}

function varint(n) {
  const out = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

const stringField = (field, text) => {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
};

/** HelloReply { message = 1, pod = 2, index = 3 }, framed: compressed flag 0, 4-byte length, message. */
function helloReply(name, index) {
  const message = `Requesting to Pod(${hostname()}): Hello from ${app}${name ? `, ${name}` : ''}`;
  const parts = [stringField(1, message), stringField(2, hostname())];
  if (index > 0) parts.push(varint(3 << 3), varint(index));
  const body = Buffer.concat(parts);
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  return frame;
}

/** Calls onMessage(bytes) for every length-prefixed message of the request stream; onError on a bad frame. */
function onMessages(stream, onMessage, onEnd, onError) {
  let pending = Buffer.alloc(0);
  stream.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    try {
      while (pending.length >= 5) {
        const len = pending.readUInt32BE(1);
        if (pending.length < 5 + len) break;
        if (pending[0] !== 0) throw new Error('compressed messages are not supported');
        onMessage(pending.subarray(5, 5 + len));
        pending = pending.subarray(5 + len);
      }
    } catch (err) {
      onError(err);
    }
  });
  stream.on('end', onEnd);
}

function trailersOnly(stream, status, message) {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': status, 'grpc-message': encodeURIComponent(message) }, { endStream: true });
}

const server = createServer();
const sessions = new Set();
server.on('session', (session) => {
  sessions.add(session);
  session.on('close', () => sessions.delete(session));
});
server.on('stream', (stream, headers) => {
  stream.on('error', () => {}); // a client reset is not a server failure
  const path = headers[constants.HTTP2_HEADER_PATH];
  if (path === '/healthz') {
    stream.respond({ ':status': 200, 'content-type': 'text/plain; charset=utf-8' });
    stream.end('ok\n');
    return;
  }
  const method = typeof path === 'string' && path.startsWith(SERVICE) ? path.slice(SERVICE.length) : '';
  if (headers[':method'] !== 'POST' || !String(headers['content-type'] ?? '').startsWith('application/grpc') || !['Hello', 'Chat'].includes(method)) {
    stream.resume();
    trailersOnly(stream, GRPC.UNIMPLEMENTED, `unknown method ${path}`);
    return;
  }
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity' }, { waitForTrailers: true });
  let index = 0;
  let status = GRPC.OK;
  stream.on('wantTrailers', () => stream.sendTrailers(status === GRPC.OK ? { 'grpc-status': status } : { 'grpc-status': status, 'grpc-message': 'expected%20one%20request%20message' }));
  onMessages(
    stream,
    (bytes) => {
      const name = decodeName(bytes);
      if (method === 'Chat' || index === 0) stream.write(helloReply(name, index++));
    },
    () => {
      // A unary call must carry exactly one request message.
      if (method === 'Hello' && index === 0) status = GRPC.INTERNAL;
      stream.end();
    },
    (err) => {
      console.error(`${app}: ${err.message}`);
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    },
  );
});

server.listen(port, '0.0.0.0', () => console.log(`${app} (gRPC, h2c) listening on :${port}`));
// Kubernetes sends SIGTERM and waits: no new connections, GOAWAY on the open ones, calls in flight finish.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  for (const session of sessions) session.close();
});
