// HTTP/2 to Lattice: node:http2 client sessions over TLS with ALPN h2, per origin, trusting the current
// SecureContext, dialling CONNECT_TO like the HTTP/1.1 pool. Lattice closes a connection after at most 10
// minutes (GOAWAY first) and idle ones after the service's idle timeout (60 s by default): a session that
// announced GOAWAY, or is older than H2_MAX_SESSION_AGE_MS, takes no new stream (new streams go to a fresh
// session, those in flight finish), and an idle one is closed first, after UPSTREAM_KEEPALIVE_TIMEOUT_MS.

import type { ClientHttp2Session, ClientHttp2Stream, OutgoingHttpHeaders } from 'node:http2';
import { http2Module } from './http2-module.js';
import { isIP } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type SecureContext, type TLSSocket } from 'node:tls';
import type { ConnectTo } from './config.js';
import type { Logger } from './logging.js';
import type { Metrics } from './metrics.js';
import type { Ticker, Timed } from './ticker.js';
import { ownString } from './own-string.js';

export interface H2UpstreamOptions {
  readonly connectTo: ConnectTo | undefined;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxAgeMs: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly ticker: Ticker;
}

function codedError(code: string, message: string): NodeJS.ErrnoException {
  const e = new Error(message) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

type Waiter = (err: NodeJS.ErrnoException | undefined, s: H2Session | undefined) => void;

export class H2Session {
  readonly session: ClientHttp2Session;
  readonly originKey: string;
  readonly createdAt: number;
  lastActive: number;
  active = 0;
  ready = false;
  /** GOAWAY received, too old, or closing: takes no new stream. */
  draining = false;
  closed = false;
  readonly waiters: Waiter[] = [];
  connectDeadline: number;

  constructor(originKey: string, session: ClientHttp2Session, now: number, connectTimeoutMs: number) {
    this.originKey = originKey;
    this.session = session;
    this.createdAt = now;
    this.lastActive = now;
    this.connectDeadline = now + connectTimeoutMs;
  }

  /** Room for one more stream under the peer's SETTINGS_MAX_CONCURRENT_STREAMS. */
  get hasRoom(): boolean {
    const max = this.session.remoteSettings?.maxConcurrentStreams ?? 100;
    return this.active < max;
  }
}

export class H2Upstream implements Timed {
  readonly #o: H2UpstreamOptions;
  readonly #origins = new Map<string, H2Session[]>();
  #context: SecureContext | undefined;
  #closing = false;

  constructor(options: H2UpstreamOptions) {
    this.#o = options;
    options.ticker.add(this);
  }

  /** New sessions use the new trust context; current ones finish their streams and take no new one. */
  setSecureContext(context: SecureContext): void {
    const had = this.#context !== undefined;
    this.#context = context;
    if (had) for (const list of this.#origins.values()) for (const s of list) this.#retire(s);
  }

  /** A session ready for a new stream to `host:port` (reused, or new), or the reason there is none. */
  acquire(key: string, host: string, port: number, cb: Waiter): void {
    let list = this.#origins.get(key);
    if (list === undefined) {
      list = [];
      // Outlives the request: must not pin its head (own-string.ts).
      this.#origins.set(ownString(key), list);
    }
    for (const s of list) {
      if (s.draining || s.closed) continue;
      if (!s.ready) {
        s.waiters.push(cb);
        return;
      }
      if (s.hasRoom) {
        cb(undefined, s);
        return;
      }
    }
    const s = this.#dial(ownString(key), ownString(host), port);
    list.push(s);
    s.waiters.push(cb);
  }

  /** Open a stream on a session from acquire(). */
  request(s: H2Session, headers: OutgoingHttpHeaders, endStream: boolean): ClientHttp2Stream {
    const stream = s.session.request(headers, { endStream, waitForTrailers: !endStream });
    s.active++;
    s.lastActive = this.#o.ticker.coarseNow;
    stream.once('close', () => {
      s.active--;
      s.lastActive = this.#o.ticker.coarseNow;
    });
    return stream;
  }

  #dial(key: string, host: string, port: number): H2Session {
    const ct = this.#o.connectTo;
    const context = this.#context!;
    let socket: TLSSocket | undefined;
    const session = http2Module().connect(`https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`, {
      createConnection: () => {
        socket = tlsConnect({
          host: ct?.host ?? host,
          port: ct?.port ?? port,
          servername: isIP(host) === 0 ? host : undefined,
          secureContext: context,
          // http/1.1 too, only so a listener without h2 completes the handshake and is named for what it is.
          ALPNProtocols: ['h2', 'http/1.1'],
          rejectUnauthorized: true,
          checkServerIdentity: (_dialled, cert) => checkServerIdentity(host, cert),
        });
        return socket;
      },
    });
    const s = new H2Session(key, session, this.#o.ticker.now(), this.#o.connectTimeoutMs);
    this.#o.metrics.upstreamConnectionOpened();
    const settle = (err: NodeJS.ErrnoException | undefined): void => {
      for (const w of s.waiters.splice(0)) w(err, err === undefined ? s : undefined);
    };
    session.once('connect', () => {
      // A listener without h2 (ALPN picked http/1.1, or none): HTTP/2 cannot go through it.
      if (socket?.alpnProtocol !== 'h2') {
        const err = codedError('ERR_UPSTREAM_NOT_H2', `the upstream did not negotiate HTTP/2 (ALPN: ${socket?.alpnProtocol || 'none'})`);
        settle(err);
        s.draining = true;
        session.destroy(err);
        return;
      }
      s.ready = true;
      s.connectDeadline = Infinity;
      settle(undefined);
    });
    session.on('goaway', () => {
      // The peer stops accepting streams: new ones go to a fresh session, those in flight finish here.
      s.draining = true;
    });
    session.on('error', (err: NodeJS.ErrnoException) => {
      settle(err);
    });
    session.once('close', () => {
      s.closed = true;
      s.draining = true;
      settle(codedError('ERR_UPSTREAM_CLOSED', 'the upstream closed the HTTP/2 connection'));
      const list = this.#origins.get(key);
      if (list !== undefined) {
        const i = list.indexOf(s);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.#origins.delete(key);
      }
    });
    // The session must not keep a draining process alive on its own.
    session.unref();
    return s;
  }

  /** No new stream; close once the ones in flight are done (a graceful GOAWAY from our side). */
  #retire(s: H2Session): void {
    if (s.closed) return;
    s.draining = true;
    if (!s.session.closed) s.session.close();
  }

  onTick(now: number): void {
    for (const list of this.#origins.values()) {
      for (const s of list) {
        if (s.closed) continue;
        if (!s.ready && now >= s.connectDeadline) {
          const err = codedError('ERR_UPSTREAM_CONNECT_TIMEOUT', 'the HTTP/2 connection was not established in time');
          for (const w of s.waiters.splice(0)) w(err, undefined);
          s.draining = true;
          s.session.destroy(err);
        } else if (s.ready && !s.draining && now - s.createdAt >= this.#o.maxAgeMs) {
          this.#retire(s);
        } else if (s.ready && s.active === 0 && now - s.lastActive >= this.#o.idleTimeoutMs) {
          this.#retire(s);
        }
      }
    }
  }

  /** Close every session gracefully (streams in flight finish). */
  close(): Promise<void> {
    this.#closing = true;
    const all: Array<Promise<void>> = [];
    for (const list of this.#origins.values()) {
      for (const s of list) {
        if (s.closed) continue;
        all.push(new Promise((resolve) => s.session.once('close', () => resolve())));
        this.#retire(s);
      }
    }
    return Promise.all(all).then(() => undefined);
  }

  destroy(): Promise<void> {
    const done = this.close();
    for (const list of this.#origins.values()) for (const s of list) s.session.destroy();
    return done;
  }

  get closing(): boolean {
    return this.#closing;
  }
}
