// h2c from the app, on the same port as HTTP/1.1: a connection whose first bytes are the HTTP/2 connection
// preface (prior knowledge, what gRPC clients with insecure channel credentials send) is handed to a
// node:http2 server session; every stream then becomes an H2Exchange. Envoy's codec AUTO does the same.

import { createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { AppContext } from './app-connection.js';
import { H2Exchange } from './h2-exchange.js';

/** RFC 9113 §3.4. */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** 1: the bytes start with the preface; 0: they are a prefix of it (wait for more); -1: they are not HTTP/2. */
export function matchPreface(buf: Buffer): 1 | 0 | -1 {
  const n = Math.min(buf.length, H2_PREFACE.length);
  for (let i = 0; i < n; i++) if (buf[i] !== H2_PREFACE[i]) return -1;
  return buf.length >= H2_PREFACE.length ? 1 : 0;
}

export class H2AppServer {
  readonly #server: Http2Server;
  readonly #sessions = new Set<ServerHttp2Session>();

  constructor(ctx: AppContext) {
    this.#server = createServer({
      // The app's streams are bounded by what the upstream accepts; this keeps one app from opening more.
      settings: { maxConcurrentStreams: 256 },
    });
    this.#server.on('session', (session: ServerHttp2Session) => {
      this.#sessions.add(session);
      session.on('error', () => undefined);
      session.once('close', () => this.#sessions.delete(session));
      // A session accepted while draining takes no stream.
      if (ctx.draining) session.close();
    });
    this.#server.on('sessionError', () => undefined);
    this.#server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
      const endStream = (flags & 0x1) !== 0; // END_STREAM on the HEADERS frame: no body
      new H2Exchange(ctx, stream, headers).start(headers, rawHeaders, endStream);
    });
  }

  /** Take over a socket that began with the preface; `buffered` are the bytes already read from it. */
  accept(socket: Socket, buffered: Buffer): void {
    socket.unshift(buffered);
    this.#server.emit('connection', socket);
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  /** GOAWAY to every app session: no new streams, the ones in flight finish. */
  drain(): void {
    for (const s of this.#sessions) if (!s.closed) s.close();
  }

  destroy(): void {
    for (const s of this.#sessions) s.destroy();
  }
}
