// One connection from the app: parse → allow → sign, then hand the request to an Exchange. It answers the
// requests of the connection strictly in order (the next is parsed only once the previous answer is out),
// makes every answer the proxy itself gives (through proxy-answer.ts), and owns the connection's deadlines
// (head, request, keep-alive idle, lingering close) on the shared ticker. Every socket it touches has an
// error handler from the first instant: a client can reset at any point without taking the process down.

import type { Socket } from 'node:net';
import type { Config } from './config.js';
import type { CredentialCache } from './credentials.js';
import {
  InternalError,
  MethodNotAllowedError,
  ProxyError,
  RequestTimeoutError,
  ShuttingDownError,
  UpgradeNotSupportedError,
} from './errors.js';
import { Exchange, pathWithoutQuery, type AppExchange, type AppSide, type EngineContext } from './exchange.js';
import { H1ToH2Exchange } from './h1-to-h2-exchange.js';
import { prepareHeaders, type HeaderPolicy } from './headers.js';
import { BodyKind, type RequestHead } from './http1-request-head.js';
import { RequestReader, type RequestEvents } from './http1-request-reader.js';
import { answerFor, closesConnection, rejectReason } from './proxy-answer.js';
import { matchPreface } from './h2-app.js';
import { allowAndSign } from './request-gate.js';
import { CredentialCheck, http1RequestHead, http2RequestHeaders, RequestFraming, type RequestSigner } from './signed-request.js';
import type { ResolvedTarget, TargetCache } from './target-cache.js';
import type { Timed } from './ticker.js';
import type { H2Upstream } from './h2-upstream.js';
import type { HostAllowlist } from './hosts.js';

/** Everything the app side needs, shared by all connections (the proxy server). */
export interface AppContext extends EngineContext {
  readonly signer: RequestSigner;
  readonly credentials: CredentialCache;
  readonly targets: TargetCache;
  readonly headerPolicy: HeaderPolicy;
  readonly credentialCheck: CredentialCheck;
  readonly headersTimeoutMs: number;
  readonly h2upstream: H2Upstream;
  /** Hosts whose HTTP/1.1 requests go to Lattice as HTTP/2 (HTTP2_HOSTS). */
  readonly http2Hosts: HostAllowlist;
  /** Where a connection that starts with the HTTP/2 preface goes. */
  acceptH2c(socket: Socket, buffered: Buffer): void;
  exchangeStarted(): void;
  connectionClosed(conn: AppConnection): void;
}

/** Envoy's max_headers_count: apps that worked behind the sidecar this replaces stay within it. */
export const MAX_REQUEST_HEADERS = 100;
/** How long a refused connection is drained before it is cut (nginx's lingering close, bounded). */
const LINGER_MS = 2_000;
/** Apps keep connections to the sidecar open between calls; a short idle timeout would race their reuse. */
const KEEP_ALIVE_MS = 65_000;
/** Pipelined bytes buffered behind the request being answered before reading pauses. */
const MAX_PIPELINED_BYTES = 64 * 1024;

const enum Pause {
  Upstream = 1,
  Pipeline = 2,
}

export class AppConnection implements RequestEvents, AppSide, Timed {
  readonly socket: Socket;
  readonly #ctx: AppContext;
  readonly #reader: RequestReader;
  #exchange: AppExchange | undefined;
  /** The current request (head parsed) is still being read. */
  #readingBody = false;
  /** The current request has been read to its end. */
  #requestComplete = false;
  /** Nothing more will be read or answered: the connection ends once the current answer is out. */
  #closing = false;
  #eof = false;
  #lingerUntil = 0;
  #pause = 0;
  /** When the current request's first byte arrived (0: between requests). */
  #requestStart = 0;
  #idleSince: number;
  #corks = 0;
  /** No byte seen yet that rules out the HTTP/2 preface. */
  #sniffing = true;
  #sniffed: Buffer | undefined;

  constructor(socket: Socket, ctx: AppContext) {
    this.socket = socket;
    this.#ctx = ctx;
    this.#reader = new RequestReader(this, { maxHeaderSize: ctx.config.maxHeaderSize, maxHeaders: MAX_REQUEST_HEADERS });
    this.#idleSince = ctx.ticker.coarseNow;
    socket.on('error', this.#onError);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('drain', this.#onDrain);
    socket.on('close', this.#onClose);
    socket.setNoDelay(true);
  }

  get idle(): boolean {
    return this.#exchange === undefined && !this.#reader.midRequest;
  }

  // --- socket events

  readonly #onError = (): void => {
    // Reset or write after close: the 'close' that follows cleans up. Nothing is thrown, ever.
  };

  readonly #onData = (chunk: Buffer): void => {
    if (this.#lingerUntil !== 0) return; // answered and closing: read and discard
    if (this.#requestStart === 0) this.#requestStart = this.#ctx.ticker.coarseNow;
    if (this.#sniffing) {
      // The first bytes decide the protocol: the HTTP/2 preface (possibly split across reads) or HTTP/1.x.
      const buf = this.#sniffed === undefined ? chunk : Buffer.concat([this.#sniffed, chunk]);
      const m = matchPreface(buf);
      if (m === 0) {
        this.#sniffed = buf;
        return;
      }
      this.#sniffing = false;
      this.#sniffed = undefined;
      if (m === 1) {
        this.#handOffToH2(buf);
        return;
      }
      chunk = buf;
    }
    this.#reader.push(chunk);
    if (this.#exchange !== undefined && this.#reader.waiting && this.#reader.pendingBytes > MAX_PIPELINED_BYTES) this.#pauseFor(Pause.Pipeline, true);
  };

  readonly #onEnd = (): void => {
    this.#eof = true;
    if (this.#lingerUntil !== 0) {
      this.socket.destroy();
      return;
    }
    const ex = this.#exchange;
    if (ex !== undefined) {
      // The app half-closed: it may still read the answer, unless its request is incomplete.
      if (!this.#requestComplete) {
        ex.abort(499);
      }
      return;
    }
    this.#reader.end(); // a head cut short is answered 400 (and the connection closed) from here
    if (this.#lingerUntil !== 0) return;
    this.#closing = true;
    this.#reader.stop();
    this.socket.end();
  };

  readonly #onDrain = (): void => {
    this.#exchange?.onAppDrain();
  };

  readonly #onClose = (): void => {
    this.#reader.stop();
    const ex = this.#exchange;
    // The app went away before the answer was complete: stop the upstream request too, so no socket or
    // buffer is left behind (an aborted upload must not keep streaming to Lattice).
    if (ex !== undefined) ex.abort(499);
    this.#ctx.connectionClosed(this);
  };

  /** h2c prior knowledge: the socket now belongs to an HTTP/2 session; this connection steps aside. */
  #handOffToH2(buffered: Buffer): void {
    const socket = this.socket;
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('drain', this.#onDrain);
    socket.off('close', this.#onClose);
    socket.pause();
    this.#reader.stop();
    this.#ctx.connectionClosed(this);
    this.#ctx.acceptH2c(socket, buffered);
  }

  // --- RequestEvents: parse → allow → sign

  onRequestHead(head: RequestHead): void {
    const ctx = this.#ctx;
    const started = performance.now();
    this.#readingBody = head.bodyKind !== BodyKind.None;
    this.#requestComplete = false;
    let target: ResolvedTarget | undefined;
    try {
      if (ctx.draining) throw new ShuttingDownError();
      if (head.method === 'CONNECT') throw new MethodNotAllowedError('CONNECT');
      if (head.upgrade && head.connection.includes('upgrade')) throw new UpgradeNotSupportedError();
      const prepared = prepareHeaders(head.names, head.values, head.connection, ctx.headerPolicy);
      target = ctx.targets.resolve(head.target, prepared.host);
      const framing = head.bodyKind === BodyKind.Chunked ? RequestFraming.Chunked : head.bodyKind === BodyKind.Length ? RequestFraming.Length : RequestFraming.None;
      const authorization = allowAndSign(ctx, head.method, target, prepared, framing === RequestFraming.None && head.contentLengthIndex < 0);
      // HTTP2_HOSTS: services whose target groups speak HTTP/2 take HTTP/1.1 apps' requests as HTTP/2.
      const ex: AppExchange = ctx.http2Hosts.allows(target.host)
        ? new H1ToH2Exchange(ctx, this, head.method, target, http2RequestHeaders(head.method, target.path, authorization, prepared), framing !== RequestFraming.None, head.minor, head.wantsClose, started)
        : new Exchange(ctx, this, head.method, target, http1RequestHead(head.method, target.path, authorization, prepared, framing), framing, head.minor, head.wantsClose, started);
      // Decided allowed and signed: only now is the app invited to send its body (RFC 9110 §10.1.1).
      if (head.expectContinue && head.minor === 1 && this.#readingBody) this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
      this.#exchange = ex;
      ctx.exchangeStarted();
      ex.start();
    } catch (err) {
      this.#answer(err, head, target, started);
    }
  }

  onRequestBody(buf: Buffer, start: number, end: number): void {
    this.#exchange?.requestBody(buf, start, end);
  }

  onRequestEnd(): void {
    this.#readingBody = false;
    this.#requestComplete = true;
    const ex = this.#exchange;
    if (ex !== undefined) {
      ex.requestEnd();
      // RFC 9112 §9.6: after a request with Connection: close, nothing more is read or processed.
      if (this.#reader.head.wantsClose) this.#closing = true;
    } else if (!this.#closing) {
      this.#next();
    }
  }

  onRequestError(err: ProxyError): void {
    this.#answer(err, undefined, undefined, performance.now());
  }

  /**
   * The proxy's own answer for the current request: the one mapping (errors.ts → proxy-answer.ts), the code
   * header, exactly one access line. After it, the connection goes on only if the request was read whole
   * and its framing can be trusted.
   */
  #answer(err: unknown, head: RequestHead | undefined, target: ResolvedTarget | undefined, started: number): void {
    const ctx = this.#ctx;
    if (!(err instanceof ProxyError)) {
      ctx.logger.error({ event: 'internal_error', error: (err as Error)?.message }, 'unexpected error on the request path');
      err = new InternalError(err);
    }
    const close = closesConnection(err) || this.#readingBody || ctx.draining || (head !== undefined && head.wantsClose);
    const a = answerFor(err, close, head?.method === 'HEAD');
    const reason = rejectReason(a.code);
    if (reason !== undefined) ctx.metrics.rejected(reason);
    this.socket.write(a.bytes, 'utf8');
    const seconds = (performance.now() - started) / 1000;
    ctx.metrics.request(a.status, 'proxy', seconds);
    ctx.accessLog?.write({
      method: head?.method,
      host: target?.host,
      path: target === undefined ? undefined : pathWithoutQuery(target.path),
      status: a.status,
      origin: 'proxy',
      code: a.code,
      durationMs: Math.round(seconds * 1e6) / 1e3,
      bytesIn: 0,
      bytesOut: 0,
    });
    // Otherwise the reader calls onRequestEnd right after this bodiless head, and the next request is
    // parsed from there.
    if (close) this.#closeAfterAnswer();
  }

  // --- AppSide, for the exchange

  write(data: string | Buffer): boolean {
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  cork(): void {
    if (this.#corks++ === 0) this.socket.cork();
  }

  uncork(): void {
    if (--this.#corks === 0) this.socket.uncork();
  }

  pauseForUpstream(paused: boolean): void {
    this.#pauseFor(Pause.Upstream, paused);
  }

  answerUpstreamError(exchange: AppExchange, err: unknown): void {
    const close = exchange.closesConnection || this.#ctx.draining || this.#reader.head.wantsClose;
    const a = answerFor(err, close, exchange.method === 'HEAD');
    this.socket.write(a.bytes, 'utf8');
    exchange.answeredByProxy(a.status, a.code);
  }

  cut(): void {
    this.#closing = true;
    this.#reader.stop();
    this.socket.destroy();
  }

  exchangeDone(exchange: AppExchange, close: boolean): void {
    if (this.#exchange !== exchange) return;
    this.#exchange = undefined;
    this.#pauseFor(Pause.Upstream, false);
    if (close || this.#closing || this.#eof || this.#ctx.draining) {
      if (!this.socket.destroyed) this.#closeAfterAnswer();
      return;
    }
    if (this.#requestComplete) this.#next();
    // else: the body is still arriving after an early answer; `close` was true for that case.
  }

  #next(): void {
    this.#requestStart = this.#reader.pendingBytes > 0 ? this.#ctx.ticker.coarseNow : 0;
    this.#idleSince = this.#ctx.ticker.coarseNow;
    this.#readingBody = false;
    this.#requestComplete = false;
    this.#pauseFor(Pause.Pipeline, false);
    this.#reader.next();
  }

  #pauseFor(bit: Pause, paused: boolean): void {
    const before = this.#pause;
    this.#pause = paused ? before | bit : before & ~bit;
    if (before === 0 && this.#pause !== 0) this.socket.pause();
    else if (before !== 0 && this.#pause === 0) this.socket.resume();
  }

  /**
   * Half-close after the answer and read (and drop) what the app still sends, for a bounded time: closing
   * at once could reset the connection and destroy the answer before the app has read it.
   */
  #closeAfterAnswer(): void {
    this.#closing = true;
    this.#reader.stop();
    this.#lingerUntil = this.#ctx.ticker.coarseNow + LINGER_MS;
    this.#pause = 0;
    this.socket.resume();
    this.socket.end();
    if (this.#eof) this.socket.destroySoon();
  }

  /** Close an idle keep-alive connection now (drain). */
  closeIfIdle(): boolean {
    if (!this.idle || this.#closing) return false;
    this.#closing = true;
    this.#reader.stop();
    this.socket.end();
    this.#lingerUntil = this.#ctx.ticker.coarseNow + LINGER_MS;
    return true;
  }

  destroy(): void {
    this.socket.destroy();
  }

  onTick(now: number): void {
    if (this.#lingerUntil !== 0) {
      if (now >= this.#lingerUntil) this.socket.destroy();
      return;
    }
    const ex = this.#exchange;
    const cfg: Config = this.#ctx.config;
    if (this.#requestStart !== 0 && (this.#reader.midRequest || (ex !== undefined && !this.#requestComplete))) {
      const inHead = ex === undefined;
      const limit = inHead ? this.#ctx.headersTimeoutMs : cfg.requestTimeoutMs;
      if (limit > 0 && now - this.#requestStart >= limit) this.#timeout(ex);
      return;
    }
    if (ex === undefined && now - this.#idleSince >= KEEP_ALIVE_MS) this.closeIfIdle();
  }

  #timeout(ex: AppExchange | undefined): void {
    if (ex === undefined) {
      this.#readingBody = false;
      this.#answer(new RequestTimeoutError('head', this.#ctx.headersTimeoutMs), undefined, undefined, performance.now());
      return;
    }
    if (ex.responseStarted) {
      // A status is out: it cannot become a 408. Cutting is the only honest signal.
      this.cut();
      ex.abort(ex.status);
      return;
    }
    // The body stopped arriving: the upstream request is abandoned and the app told why, in one access line.
    const a = answerFor(new RequestTimeoutError('body', this.#ctx.config.requestTimeoutMs), true, false);
    this.socket.write(a.bytes, 'utf8');
    ex.abort(a.status, 'proxy', a.code);
  }
}
