// The data path: a plain-HTTP request from the app in, a SigV4-signed HTTPS request to the same host out,
// the answer streamed back unchanged.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Config } from './config.js';
import type { CredentialCache } from './credentials.js';
import {
  errorResponse,
  HeadersTooLargeError,
  MethodNotAllowedError,
  NoCredentialsError,
  NotReadyError,
  ProxyError,
  ShuttingDownError,
  SigningError,
  TargetNotAllowedError,
  UpgradeNotSupportedError,
  upstreamErrorFrom,
} from './errors.js';
import { compileHeaderPolicy, prepareHeaders, responseHeaders, type HeaderPolicy } from './headers.js';
import { parseAuthority, parseTarget, type Target } from './hosts.js';
import { accessLogger, type Logger } from './logging.js';
import type { Metrics } from './metrics.js';
import type { SigV4Signer } from './signer.js';
import type { Upstream } from './upstream.js';

export interface ProxyDeps {
  readonly config: Config;
  readonly signer: SigV4Signer;
  readonly credentials: CredentialCache;
  readonly upstream: Upstream;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** Rejection reasons for the metric, by error code. */
const REJECT_REASON: Partial<Record<string, 'not_allowed' | 'bad_request' | 'method' | 'shutting_down'>> = {
  ERR_TARGET_NOT_ALLOWED: 'not_allowed',
  ERR_BAD_REQUEST: 'bad_request',
  ERR_HEADERS_TOO_LARGE: 'bad_request',
  ERR_METHOD_NOT_ALLOWED: 'method',
  ERR_UPGRADE_NOT_SUPPORTED: 'method',
  ERR_SHUTTING_DOWN: 'shutting_down',
};

const MAX_REQUEST_HEADERS = 100;
const LINGER_MS = 2_000;

const MEMO_LIMIT = 1024;

function pathWithoutQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

/**
 * Per-request state and undici's dispatch handler in one object (one allocation per request). Uses the
 * handler protocol undici's HTTP/1.1 client speaks natively (onConnect/onHeaders/onData/onComplete/onError),
 * which avoids the wrapper undici puts around the newer controller-style handlers.
 */
class Exchange implements Dispatcher.DispatchHandler {
  abort: ((err?: Error) => void) | undefined;
  resume: (() => void) | undefined;
  bytesOut = 0;
  readonly bytesReadAtStart: number;
  done = false;
  readonly onClientClose: () => void;
  readonly onDrain: () => void;

  constructor(
    readonly proxy: ProxyServer,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly target: Target,
    readonly started: number,
  ) {
    this.bytesReadAtStart = req.socket.bytesRead;
    this.onClientClose = () => {
      // The app went away before the answer was complete: stop the upstream request too, so no socket or
      // buffer is left behind (an aborted upload must not keep streaming to Lattice).
      if (!this.done) {
        this.done = true;
        this.abort?.(new Error('client closed the connection'));
        this.proxy.finish(this, 499, 'upstream');
      }
    };
    this.onDrain = () => this.resume?.();
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.done) abort(new Error('client closed the connection'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // interim responses are not relayed
    this.resume = resume;
    if (this.proxy.draining) this.res.shouldKeepAlive = false;
    this.res.writeHead(statusCode, statusText, responseHeaders(rawHeaders));
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    if (this.res.write(chunk)) return true;
    // Backpressure from the app: pause the upstream socket until the app has read.
    this.res.once('drain', this.onDrain);
    return false;
  }

  onComplete(): void {
    if (this.done) return;
    this.done = true;
    this.res.end();
    this.proxy.finish(this, this.res.statusCode, 'upstream');
  }

  onError(err: Error): void {
    if (this.done) return;
    this.done = true;
    const upstreamErr = upstreamErrorFrom(err, this.target.authority);
    this.proxy.metrics.upstreamError(upstreamErr.kind);
    if (this.res.headersSent) {
      // The status is already out: cutting the connection is the only honest signal that the body is short.
      this.proxy.logger.warn({ event: 'upstream_failed_mid_response', host: this.target.host, kind: upstreamErr.kind, error: err.message }, 'upstream failed after the response started');
      this.res.destroy();
      this.proxy.finish(this, this.res.statusCode, 'upstream');
      return;
    }
    this.proxy.logger.warn({ event: 'upstream_failed', host: this.target.host, kind: upstreamErr.kind, code: upstreamErr.code, error: err.message }, 'upstream request failed');
    this.proxy.sendError(this.req, this.res, upstreamErr);
    this.proxy.finish(this, upstreamErr.status, 'proxy');
  }
}

export class ProxyServer {
  readonly config: Config;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly #signer: SigV4Signer;
  readonly #credentials: CredentialCache;
  readonly #upstream: Upstream;
  readonly #headerPolicy: HeaderPolicy;
  readonly #accessLog: Logger;
  readonly #servers: Server[] = [];
  readonly #lingering = new WeakSet<Duplex>();
  #listening = false;
  draining = false;
  #inFlight = 0;
  #idleWaiters: Array<() => void> = [];
  // A pod talks to a handful of hosts, yet parsing the Host header and the allowlist's IP-literal checks cost
  // ~3 µs per request (bench/README.md): both are remembered per distinct value, bounded so that a client
  // cycling through Host values cannot grow them.
  readonly #authorities = new Map<string, { host: string; port: number; authority: string }>();
  readonly #allowed = new Map<string, boolean>();

  constructor(deps: ProxyDeps) {
    this.config = deps.config;
    this.metrics = deps.metrics;
    this.logger = deps.logger;
    this.#accessLog = accessLogger(deps.logger);
    this.#signer = deps.signer;
    this.#credentials = deps.credentials;
    this.#upstream = deps.upstream;
    this.#headerPolicy = compileHeaderPolicy(deps.config.unsignedHeaders, deps.config.authorizationForwardHeader);
    this.metrics.inFlightSource(() => this.#inFlight);
  }

  get listening(): boolean {
    return this.#listening;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Listen on every configured address. Resolves with the bound ports (LISTEN_PORT=0 picks one). */
  async listen(): Promise<number[]> {
    const ports: number[] = [];
    for (const address of this.config.listenAddresses) {
      const server = createServer({ maxHeaderSize: this.config.maxHeaderSize, requestTimeout: this.config.requestTimeoutMs }, (req, res) => this.handle(req, res));
      // Apps keep connections to the sidecar open between calls; a short idle timeout would make them race
      // a server-side close (the classic keep-alive reset) for nothing.
      server.keepAliveTimeout = 65_000;
      server.headersTimeout = Math.min(60_000, this.config.requestTimeoutMs || 60_000);
      server.on('connect', (req: IncomingMessage, socket: Duplex) => this.#refuseSocket(req, socket, new MethodNotAllowedError('CONNECT')));
      server.on('upgrade', (req: IncomingMessage, socket: Duplex) => this.#refuseSocket(req, socket, new UpgradeNotSupportedError()));
      server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.#clientError(err, socket));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: ports[0] ?? this.config.listenPort, host: address, ipv6Only: address.includes(':') }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const addr = server.address();
      ports.push(typeof addr === 'object' && addr ? addr.port : this.config.listenPort);
      this.#servers.push(server);
    }
    this.#listening = true;
    this.logger.info({ event: 'listening', addresses: this.config.listenAddresses, port: ports[0] }, 'proxy listening');
    return ports;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    this.#inFlight++;
    let target: Target | undefined;
    let exchange: Exchange | undefined;
    try {
      if (this.draining) throw new ShuttingDownError();
      // Node keeps only the first 1000 header lines and drops the rest silently: the proxy would sign and
      // forward a request other than the one the app sent. Envoy, the sidecar this replaces, answers 431
      // above 100 request headers (max_headers_count), so apps that worked behind it stay within this.
      if (req.rawHeaders.length > MAX_REQUEST_HEADERS * 2) throw new HeadersTooLargeError();
      const headers = prepareHeaders(req.rawHeaders, this.#headerPolicy);
      target = this.#target(req.url ?? '', headers.host);
      if (!this.#allows(target.host)) throw new TargetNotAllowedError(target.host);
      const creds = this.#credentials.current();
      if (creds === undefined) {
        this.metrics.signingFailure('no_credentials');
        throw new NoCredentialsError(this.#credentials.state().status === 'expired' ? 'the cached credentials expired and could not be refreshed' : 'credentials have not been fetched yet');
      }
      if (!this.#upstream.ready) throw new NotReadyError('the trusted Private CA root is not loaded yet');

      const signed = headers.signed;
      signed.push(['host', target.authority]);
      let authorization: string;
      try {
        authorization = this.#signer.sign(req.method!, target.path, signed, creds, Date.now()).authorization;
      } catch (err) {
        this.metrics.signingFailure('error');
        throw new SigningError(err);
      }
      // `signed` now holds every signed header, x-amz-* included, exactly as they were signed. Authorization
      // goes first: a hop that truncates a long header list then drops app headers (the signature fails to
      // verify) and never the signature itself, which would turn the request into an anonymous one.
      const out: string[] = ['authorization', authorization];
      for (let i = 0; i < signed.length; i++) out.push(signed[i]![0], signed[i]![1]);
      const unsigned = headers.unsigned;
      for (let i = 0; i < unsigned.length; i++) out.push(unsigned[i]![0], unsigned[i]![1]);

      exchange = new Exchange(this, req, res, target, started);
      res.once('close', exchange.onClientClose);
      this.#upstream.dispatch(
        {
          origin: target.port === 443 ? 'https://' + target.host : 'https://' + target.authority,
          path: target.path,
          method: req.method as Dispatcher.HttpMethod,
          headers: out,
          body: headers.hasBody ? req : null,
        },
        exchange,
      );
    } catch (err) {
      // dispatch itself threw (e.g. a header undici refuses): this catch owns the answer, not the exchange.
      if (exchange) exchange.done = true;
      if (err instanceof ProxyError) {
        const reason = REJECT_REASON[err.code];
        if (reason) this.metrics.rejected(reason);
      } else {
        this.logger.error({ event: 'internal_error', error: (err as Error)?.message }, 'unexpected error on the request path');
      }
      const { status } = this.sendError(req, res, err);
      this.#done(req, status, started, target, 0, 0, 'proxy');
    }
  }

  /** parseTarget, memoised per Host value for origin-form requests (invalid values throw and are not kept). */
  #target(url: string, hostHeader: string | undefined): Target {
    if (url.charCodeAt(0) !== 47 /* / */ || hostHeader === undefined) return parseTarget(url, hostHeader, this.config.upstreamPort);
    let a = this.#authorities.get(hostHeader);
    if (a === undefined) {
      a = parseAuthority(hostHeader, this.config.upstreamPort);
      if (this.#authorities.size >= MEMO_LIMIT) this.#authorities.clear();
      this.#authorities.set(hostHeader, a);
    }
    return { host: a.host, port: a.port, authority: a.authority, path: url };
  }

  #allows(host: string): boolean {
    let ok = this.#allowed.get(host);
    if (ok === undefined) {
      ok = this.config.allowlist.allows(host);
      if (this.#allowed.size >= MEMO_LIMIT) this.#allowed.clear();
      this.#allowed.set(host, ok);
    }
    return ok;
  }

  /** Write the plain-text error answer for `err` (the mapping lives in errors.ts). */
  sendError(req: IncomingMessage, res: ServerResponse, err: unknown): { status: number } {
    const { status, code, body } = errorResponse(err);
    if (res.headersSent || res.destroyed) return { status };
    if (this.draining || status === 400) res.shouldKeepAlive = false;
    res.writeHead(status, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-lattice-proxy-error': code,
    });
    res.end(body);
    // A 400 may mean we misread the framing; do not read further requests from this connection.
    if (status === 400) req.resume();
    return { status };
  }

  finish(exchange: Exchange, status: number, origin: 'upstream' | 'proxy'): void {
    // Body bytes in: what the socket read since the head of this request was parsed.
    const bytesIn = exchange.req.socket ? exchange.req.socket.bytesRead - exchange.bytesReadAtStart : 0;
    this.#done(exchange.req, status, exchange.started, exchange.target, bytesIn, exchange.bytesOut, origin);
  }

  #done(req: IncomingMessage, status: number, started: number, target: Target | undefined, bytesIn: number, bytesOut: number, origin: 'upstream' | 'proxy'): void {
    const seconds = (performance.now() - started) / 1000;
    this.metrics.request(status, origin, seconds);
    if (this.config.accessLog) {
      this.#accessLog.info(
        {
          event: 'access',
          method: req.method,
          host: target?.host,
          path: target ? pathWithoutQuery(target.path) : undefined,
          status,
          origin,
          durationMs: Math.round(seconds * 1e6) / 1e3,
          bytesIn,
          bytesOut,
        },
        'request',
      );
    }
    if (--this.#inFlight === 0 && this.#idleWaiters.length > 0) for (const w of this.#idleWaiters.splice(0)) w();
  }

  #refuseSocket(req: IncomingMessage, socket: Duplex, err: ProxyError): void {
    const { status, code, body } = errorResponse(err);
    this.metrics.rejected(REJECT_REASON[err.code] ?? 'method');
    this.metrics.request(status, 'proxy', 0);
    this.logger.info({ event: 'access', method: req.method, status, origin: 'proxy', code }, 'request');
    socket.end(
      `HTTP/1.1 ${status} ${status === 405 ? 'Method Not Allowed' : 'Not Implemented'}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nx-lattice-proxy-error: ${code}\r\nconnection: close\r\n\r\n${body}`,
    );
  }

  #clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    // Malformed requests never reach `handle`: answer here and close, the process stays up.
    if (err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    if (!socket.writable) {
      // Already answered and ended, and more bytes of the refused request keep arriving (the parser reports
      // each chunk). Destroying now would reset the connection, and a reset discards the answer before the
      // app has read it (seen for 1 in 10 piecewise writers). Let it drain first, as nginx's lingering close
      // does, bounded so a client cannot hold the socket open.
      if (!this.#lingering.has(socket)) {
        this.#lingering.add(socket);
        const timer = setTimeout(() => socket.destroy(), LINGER_MS);
        timer.unref();
        socket.once('close', () => clearTimeout(timer));
      }
      return;
    }
    // The answer to an earlier request on this connection is already on the wire (garbage pipelined behind
    // it): a 400 written now would land inside that body. Cutting the connection is the only clean signal;
    // Node's default clientError handler makes the same check.
    if ((socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const status = tooLarge ? 431 : timeout ? 408 : 400;
    const text = tooLarge ? 'Request Header Fields Too Large' : timeout ? 'Request Timeout' : 'Bad Request';
    const body = `lattice-sigv4-proxy: ${tooLarge ? 'request header block is larger than the sidecar accepts' : timeout ? 'the request was not received in time' : `malformed HTTP request (${err.code ?? 'parse error'})`}\n`;
    this.metrics.rejected('bad_request');
    this.metrics.request(status, 'proxy', 0);
    socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  }

  /** Stop accepting, let in-flight requests finish up to `timeoutMs`, then cut what is left. */
  async drain(timeoutMs: number): Promise<{ completed: boolean; abandoned: number }> {
    this.draining = true;
    const closed = this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const s of this.#servers) s.closeIdleConnections();
    this.#listening = false;
    const idle = this.#inFlight === 0 ? Promise.resolve(true) : new Promise<boolean>((resolve) => this.#idleWaiters.push(() => resolve(true)));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const completed = await Promise.race([idle, timedOut]);
    clearTimeout(timer);
    const abandoned = this.#inFlight;
    for (const s of this.#servers) s.closeAllConnections();
    await Promise.all(closed);
    return { completed, abandoned };
  }
}
