// YARDSTICK, NOT A PRODUCT: the "minimal Node net/tls data path" of issue 11, the floor the proxy is compared
// with ("proxy ÷ floor" in the bench report). It does the proxy's job on the fast path only:
// - app side on node:net, request head parsed by hand (request line, `name: value` lines),
// - the head rewritten and signed with the proxy's SigV4Signer (the compiled proxy/dist/signer.js by default,
//   the same JavaScript the proxy runs), sent upstream over a pool of keep-alive node:tls sockets (LIFO per
//   server name, TLS sessions reused),
// - bodies framed by content-length only, both ways, with backpressure.
// It has NO limits, timeouts, allowlist, access log, metrics, chunked coding, Expect handling or error codes
// beyond "502 and close": it must never be deployed. Anything it does not understand closes the connection.
//
// Usage: node floor-proxy.js --port 8082 --connect-to 127.0.0.1:8443 --ca ca.pem --signer proxy/dist/signer.js
//          [--no-sign]    (credentials from AWS_* env; prints {"listening":true} once it listens)

import { createServer, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Credentials, SigV4Signer } from '../../proxy/src/signer.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'connect-to': { type: 'string' },
    ca: { type: 'string' },
    signer: { type: 'string' },
    'no-sign': { type: 'boolean', default: false },
  },
});
const [connectHost, connectPortText] = values['connect-to']!.split(':') as [string, string];
const connectPort = Number(connectPortText);
// One secure context for every upstream connection: passing `ca` to each tls.connect would parse the CA again.
const secureContext = createSecureContext({ ca: readFileSync(values.ca!) });
const noSign = values['no-sign']!;
const signerModule = (await import(pathToFileURL(resolve(values.signer!)).href)) as typeof import('../../proxy/src/signer.js');
const signer: SigV4Signer = new signerModule.SigV4Signer(process.env['AWS_REGION'] ?? 'us-west-2', 'vpc-lattice-svcs');
const creds: Credentials = { accessKeyId: process.env['AWS_ACCESS_KEY_ID']!, secretAccessKey: process.env['AWS_SECRET_ACCESS_KEY']!, sessionToken: process.env['AWS_SESSION_TOKEN'] };

const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD = 64 * 1024;
// Hop-by-hop (RFC 9110 7.6.1) plus the signer's own headers; transfer-encoding is refused (content-length only).
const REQUEST_DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'authorization']);
const RESPONSE_DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']);

/** Answer 502 (when nothing was sent yet) and close: the floor's only error path. */
function fail(app: Socket, answered: boolean, why: string): void {
  if (!answered && app.writable) {
    const body = `floor-proxy: ${why}\n`;
    app.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
  } else {
    app.destroy();
  }
}

class Upstream {
  readonly sock: TLSSocket;
  app: AppConn | undefined;
  #buf: Buffer | undefined;
  #inBody = false;
  #bodyLeft = 0;
  #noBody = false;
  #reusable = true;

  constructor(
    readonly pool: Pool,
    readonly servername: string,
  ) {
    this.sock = tlsConnect({ host: connectHost, port: connectPort, servername, secureContext, session: pool.sessions.get(servername) });
    this.sock.setNoDelay(true);
    this.sock.on('session', (s: Buffer) => pool.sessions.set(servername, s));
    this.sock.on('data', (d: Buffer) => this.#onData(d));
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
      this.pool.forget(this);
      const app = this.app;
      this.app = undefined;
      if (app) fail(app.sock, app.answered, 'upstream connection closed');
    });
    this.sock.on('drain', () => this.app?.sock.resume());
  }

  begin(app: AppConn, head: boolean): void {
    this.app = app;
    this.#noBody = head;
    this.#inBody = false;
    this.#buf = undefined;
  }

  #onData(chunk: Buffer): void {
    const app = this.app;
    if (!app) {
      this.sock.destroy(); // bytes nobody asked for
      return;
    }
    if (!this.#inBody) {
      const buf = this.#buf ? Buffer.concat([this.#buf, chunk]) : chunk;
      const end = buf.indexOf(HEAD_END);
      if (end < 0) {
        if (buf.length > MAX_HEAD) this.sock.destroy();
        else this.#buf = buf;
        return;
      }
      this.#buf = undefined;
      const lines = buf.toString('latin1', 0, end).split('\r\n');
      const status = Number(lines[0]!.slice(9, 12));
      let out = lines[0]! + '\r\n';
      let length = -1;
      this.#reusable = true;
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i]!;
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        if (name === 'content-length') length = Number(line.slice(colon + 1).trim());
        else if (name === 'transfer-encoding') {
          this.sock.destroy(); // chunked answers are outside the yardstick
          return;
        } else if (name === 'connection' && line.toLowerCase().includes('close')) this.#reusable = false;
        if (RESPONSE_DROP.has(name)) continue;
        out += line + '\r\n';
      }
      const bodyless = this.#noBody || status === 204 || status === 304 || (status >= 100 && status < 200);
      if (!bodyless && length < 0) {
        this.sock.destroy(); // read-until-close framing is outside the yardstick
        return;
      }
      if (!app.sock.writable) {
        this.sock.destroy();
        return;
      }
      app.answered = true;
      app.sock.write(out + '\r\n', 'latin1');
      this.#inBody = true;
      this.#bodyLeft = bodyless ? 0 : length;
      chunk = buf.subarray(end + 4);
    }
    if (chunk.length > this.#bodyLeft) {
      this.sock.destroy(); // more than content-length said
      return;
    }
    if (!app.sock.writable) {
      // The app left (e.g. wrk stopping mid-request): this answer has nowhere to go, and a socket paused for
      // it must never go back to the pool.
      this.sock.destroy();
      return;
    }
    if (chunk.length > 0) {
      this.#bodyLeft -= chunk.length;
      // Only pause while more of this answer is to come: a socket released to the pool is always flowing.
      if (!app.sock.write(chunk) && this.#bodyLeft > 0) {
        this.sock.pause();
        app.sock.once('drain', () => this.sock.resume());
      }
    }
    if (this.#bodyLeft === 0) {
      this.app = undefined;
      if (this.#reusable) this.pool.release(this);
      else this.sock.end();
      app.exchangeDone();
    }
  }
}

class Pool {
  readonly sessions = new Map<string, Buffer>();
  readonly #idle = new Map<string, Upstream[]>();

  acquire(servername: string): Upstream {
    const list = this.#idle.get(servername);
    while (list && list.length > 0) {
      const up = list.pop()!;
      if (!up.sock.destroyed) return up;
    }
    return new Upstream(this, servername);
  }

  release(up: Upstream): void {
    let list = this.#idle.get(up.servername);
    if (!list) this.#idle.set(up.servername, (list = []));
    list.push(up);
  }

  forget(up: Upstream): void {
    const list = this.#idle.get(up.servername);
    const i = list ? list.indexOf(up) : -1;
    if (i >= 0) list!.splice(i, 1);
  }
}

class AppConn {
  answered = false;
  #buf: Buffer | undefined;
  #busy = false;
  #bodyLeft = 0;
  #up: Upstream | undefined;
  #close = false;

  constructor(
    readonly sock: Socket,
    readonly pool: Pool,
  ) {
    sock.on('data', (d: Buffer) => this.#onData(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      // An app that leaves mid-exchange takes the upstream connection with it (its framing is unknown now).
      if (this.#up?.app === this) this.#up.sock.destroy();
    });
  }

  #onData(chunk: Buffer): void {
    if (this.#bodyLeft > 0) {
      const n = Math.min(this.#bodyLeft, chunk.length);
      this.#forwardBody(chunk.subarray(0, n));
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    this.#buf = this.#buf ? Buffer.concat([this.#buf, chunk]) : chunk;
    if (!this.#busy) this.#next();
  }

  #forwardBody(part: Buffer): void {
    this.#bodyLeft -= part.length;
    // Resumed on the upstream's 'drain'; never left paused once the body is all sent.
    if (!this.#up!.sock.write(part) && this.#bodyLeft > 0) this.sock.pause();
  }

  /** Parse, sign and send the next buffered request head (pipelined requests wait their turn). */
  #next(): void {
    const buf = this.#buf!;
    const end = buf.indexOf(HEAD_END);
    if (end < 0) {
      if (buf.length > MAX_HEAD) this.sock.destroy();
      return;
    }
    const lines = buf.toString('latin1', 0, end).split('\r\n');
    const [method, target] = lines[0]!.split(' ') as [string, string];
    let host = '';
    let length = 0;
    const headers: Array<[string, string]> = [];
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) return void this.sock.destroy();
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'host') host = value;
      else if (name === 'content-length') {
        length = Number(value);
        if (length > 0) headers.push([name, value]);
      } else if (name === 'transfer-encoding') return void fail(this.sock, false, 'transfer-encoding is outside the yardstick');
      else if (name === 'connection' && value.toLowerCase().includes('close')) this.#close = true;
      else if (!REQUEST_DROP.has(name)) headers.push([name, value]);
    }
    if (host === '' || target === undefined || !Number.isSafeInteger(length) || length < 0) return void fail(this.sock, false, 'malformed request');
    const servername = host.split(':')[0]!;
    headers.push(['host', host]);
    let out = method + ' ' + target + ' HTTP/1.1\r\n';
    if (!noSign) out += 'authorization: ' + signer.sign(method, target, headers, creds, Date.now()).authorization + '\r\n';
    for (let i = 0; i < headers.length; i++) out += headers[i]![0] + ': ' + headers[i]![1] + '\r\n';
    out += '\r\n';

    this.#busy = true;
    this.answered = false;
    const up = this.pool.acquire(servername);
    this.#up = up;
    up.begin(this, method === 'HEAD');
    const rest = buf.subarray(end + 4);
    const n = Math.min(length, rest.length);
    this.#buf = n < rest.length ? rest.subarray(n) : undefined;
    this.#bodyLeft = length;
    up.sock.cork();
    up.sock.write(out, 'latin1');
    if (n > 0) this.#forwardBody(rest.subarray(0, n));
    up.sock.uncork();
  }

  exchangeDone(): void {
    if (this.#bodyLeft > 0) {
      // Answered before the whole body was sent: the rest of the body would be read as the next head.
      this.sock.destroy();
      return;
    }
    this.#busy = false;
    this.#up = undefined;
    if (this.#close) this.sock.end();
    else if (this.#buf) this.#next();
  }
}

const pool = new Pool();
const server = createServer({ noDelay: true }, (sock) => new AppConn(sock, pool));
server.listen(Number(values.port), '127.0.0.1', () => process.stdout.write(JSON.stringify({ listening: true }) + '\n'));
process.on('SIGTERM', () => process.exit(0));
