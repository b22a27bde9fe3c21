// One request through the sidecar, after it was allowed and signed: upstream → relay → log. It holds an
// upstream connection for the length of the exchange, streams the app's body to it and its answer back,
// with backpressure both ways, and ends with exactly one access line.

import type { Config } from './config.js';
import { upstreamErrorFrom } from './errors.js';
import { AppFraming, appFraming, CRLF, headTail, LAST_CHUNK, writeBody } from './app-response.js';
import { isResponseHopByHop } from './headers.js';
import { ResponseBody, type ResponseHead } from './http1-response-head.js';
import type { AccessLog, Logger } from './logging.js';
import type { Metrics } from './metrics.js';
import { RequestFraming } from './signed-request.js';
import type { ResolvedTarget } from './target-cache.js';
import type { Ticker } from './ticker.js';
import type { PoolWaiter, Upstream } from './upstream.js';
import type { UpstreamConnection, UpstreamUser } from './upstream-connection.js';

/** What an exchange needs from the proxy (one object, shared by all exchanges). */
export interface EngineContext {
  readonly config: Config;
  readonly upstream: Upstream;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly accessLog: AccessLog | undefined;
  readonly ticker: Ticker;
  readonly draining: boolean;
  exchangeFinished(): void;
}

/** One request of an HTTP/1.x app connection, whichever protocol it goes to Lattice on. */
export interface AppExchange {
  readonly method: string;
  readonly status: number;
  /** The answer's head went to the app: the status can no longer change. */
  readonly responseStarted: boolean;
  /** The answer is the connection's last. */
  readonly closesConnection: boolean;
  readonly done: boolean;
  start(): void;
  requestBody(buf: Buffer, start: number, end: number): void;
  requestEnd(): void;
  /** The app's socket drained: the upstream may send again. */
  onAppDrain(): void;
  abort(status: number, origin?: 'upstream' | 'proxy', code?: string): void;
  /** The proxy answered for this exchange (upstream failure before any response byte). */
  answeredByProxy(status: number, code: string): void;
}

/** The app side of an exchange (the app connection). */
export interface AppSide {
  write(data: string | Buffer): boolean;
  cork(): void;
  uncork(): void;
  /** Pause or resume reading the app's bytes for upstream backpressure. */
  pauseForUpstream(paused: boolean): void;
  /** The exchange failed before any byte of an answer went out: answer with the proxy's error. */
  answerUpstreamError(exchange: AppExchange, err: unknown): void;
  /** Cut the connection: the only honest signal once a status is out and the body cannot complete. */
  cut(): void;
  /** The answer is complete (successfully or not). */
  exchangeDone(exchange: AppExchange, close: boolean): void;
}


export function pathWithoutQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

export class Exchange implements AppExchange, UpstreamUser, PoolWaiter {
  readonly #ctx: EngineContext;
  readonly #app: AppSide;
  readonly method: string;
  readonly target: ResolvedTarget;
  readonly #head: string;
  readonly #framing: RequestFraming;
  readonly #appMinor: number;
  readonly started: number;
  #wantsClose: boolean;
  #conn: UpstreamConnection | undefined;
  /** Body slices that arrived before a connection was free. */
  #queued: Buffer[] | undefined;
  #requestComplete = false;
  #requestSent = false;
  #retried = false;
  status = 0;
  /** The answer's head went to the app: the status can no longer change. */
  responseStarted = false;
  #appFraming = AppFraming.None;
  #close = false;
  done = false;
  bytesIn = 0;
  bytesOut = 0;

  constructor(ctx: EngineContext, app: AppSide, method: string, target: ResolvedTarget, head: string, framing: RequestFraming, appMinor: number, wantsClose: boolean, started: number) {
    this.#ctx = ctx;
    this.#app = app;
    this.method = method;
    this.target = target;
    this.#head = head;
    this.#framing = framing;
    this.#appMinor = appMinor;
    this.#wantsClose = wantsClose;
    this.started = started;
  }

  /** Get a connection (or wait for one) and send the head. */
  start(): void {
    const t = this.target;
    const conn = this.#ctx.upstream.acquire(t.origin, t.host, t.port, this);
    if (conn === undefined) {
      this.#queued = [];
      this.#app.pauseForUpstream(true);
      return;
    }
    this.#attach(conn);
  }

  /** PoolWaiter: a connection freed up. */
  onConnection(conn: UpstreamConnection): void {
    if (this.done) {
      this.#ctx.upstream.release(conn, true);
      return;
    }
    this.#attach(conn);
    this.#app.pauseForUpstream(false);
  }

  #attach(conn: UpstreamConnection): void {
    this.#conn = conn;
    let ok = conn.send(this, this.#head, this.method === 'HEAD');
    const queued = this.#queued;
    if (queued !== undefined) {
      this.#queued = undefined;
      for (const b of queued) ok = this.#writeBody(conn, b);
    }
    if (this.#requestComplete) this.#sendEnd(conn);
    if (!ok) this.#app.pauseForUpstream(true);
  }

  requestBody(buf: Buffer, start: number, end: number): void {
    if (this.done) return;
    this.bytesIn += end - start;
    const slice = buf.subarray(start, end);
    const conn = this.#conn;
    if (conn === undefined) {
      (this.#queued ??= []).push(slice);
      return;
    }
    if (!this.#writeBody(conn, slice)) this.#app.pauseForUpstream(true);
  }

  #writeBody(conn: UpstreamConnection, slice: Buffer): boolean {
    if (this.#framing !== RequestFraming.Chunked) return conn.write(slice);
    conn.write(slice.length.toString(16) + CRLF);
    conn.write(slice);
    return conn.write(CRLF);
  }

  requestEnd(): void {
    this.#requestComplete = true;
    if (this.done) return;
    const conn = this.#conn;
    if (conn !== undefined) this.#sendEnd(conn);
  }

  #sendEnd(conn: UpstreamConnection): void {
    if (this.#requestSent) return;
    this.#requestSent = true;
    if (this.#framing === RequestFraming.Chunked) conn.write(LAST_CHUNK);
    conn.awaitResponse(this.#ctx.ticker.coarseNow, this.#ctx.config.upstreamTimeoutMs);
  }

  // --- UpstreamUser

  beginBatch(): void {
    this.#app.cork();
  }

  endBatch(): void {
    this.#app.uncork();
  }

  onUpstreamDrain(): void {
    this.#app.pauseForUpstream(false);
  }

  onUpstreamHead(head: ResponseHead): void {
    if (this.done) return;
    this.status = head.status;
    const framing = appFraming(head.body === ResponseBody.None ? 'none' : head.body === ResponseBody.Length ? 'length' : 'unknown', this.#appMinor);
    this.#appFraming = framing;
    // Unread request bytes, an app that asked for it, or a drain: the answer is the connection's last.
    this.#close = this.#wantsClose || !this.#requestComplete || this.#ctx.draining || framing === AppFraming.UntilClose;
    let out = 'HTTP/1.1 ' + head.status + ' ' + head.reason + CRLF;
    const names = head.names;
    const connection = head.connection;
    for (let i = 0; i < names.length; i++) {
      if (isResponseHopByHop(names[i]!, connection)) continue;
      out += head.rawNames[i] + ': ' + head.values[i] + CRLF;
    }
    this.responseStarted = true;
    this.#app.write(out + headTail(framing, this.#close, this.#appMinor));
  }

  onUpstreamBody(buf: Buffer, start: number, end: number): void {
    if (this.done) return;
    const conn = this.#conn!;
    conn.touch(this.#ctx.ticker.coarseNow, this.#ctx.config.upstreamTimeoutMs);
    const n = end - start;
    this.bytesOut += n;
    const ok = writeBody(this.#app, this.#appFraming, buf.subarray(start, end));
    // The app reads slower than Lattice sends: stop reading the upstream until the app has caught up, so
    // the proxy holds at most a socket buffer per direction.
    if (!ok) conn.pause();
  }

  /** The app's socket drained: the upstream may send again. */
  onAppDrain(): void {
    this.#conn?.resume();
  }

  onUpstreamEnd(): void {
    if (this.done) return;
    if (this.#appFraming === AppFraming.Chunked) this.#app.write(LAST_CHUNK);
    const conn = this.#conn!;
    this.#conn = undefined;
    this.#ctx.upstream.release(conn, this.#requestSent);
    this.#finish(this.status, 'upstream', undefined);
  }

  onUpstreamError(err: NodeJS.ErrnoException): void {
    if (this.done) return;
    const conn = this.#conn;
    this.#conn = undefined;
    // A reused connection the peer closed while idle (the keep-alive race): nothing of this request was
    // processed, so one retry on a fresh connection is safe for a request without a body.
    if (
      conn !== undefined && conn.requests > 1 && !conn.responseStarted && !this.responseStarted && !this.#retried &&
      this.#framing === RequestFraming.None && (err.code === 'ECONNRESET' || err.code === 'ERR_UPSTREAM_CLOSED' || err.code === 'EPIPE')
    ) {
      const fresh = this.#ctx.upstream.dialFresh(this.target.origin);
      if (fresh !== undefined) {
        this.#retried = true;
        this.#requestSent = false;
        this.#attach(fresh);
        return;
      }
    }
    const upstreamErr = upstreamErrorFrom(err, this.target.authority);
    const { metrics, logger } = this.#ctx;
    metrics.upstreamError(upstreamErr.kind);
    if (this.responseStarted) {
      logger.warn({ event: 'upstream_failed_mid_response', host: this.target.host, kind: upstreamErr.kind, error: err.message }, 'upstream failed after the response started');
      this.#close = true;
      this.#app.cut();
      this.#finish(this.status, 'upstream', undefined);
      return;
    }
    logger.warn({ event: 'upstream_failed', host: this.target.host, kind: upstreamErr.kind, code: upstreamErr.code, error: err.message }, 'upstream request failed');
    this.#close ||= !this.#requestComplete;
    this.#app.answerUpstreamError(this, upstreamErr);
  }

  /**
   * The app went away (499) or timed out mid-exchange: stop the upstream side too, so no socket or buffer
   * is left. `origin`/`code` say who produced the status the access line records.
   */
  abort(status: number, origin: 'upstream' | 'proxy' = 'upstream', code?: string): void {
    if (this.done) return;
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn !== undefined) conn.destroy();
    else this.#ctx.upstream.cancel(this.target.origin, this);
    this.#close = true;
    this.#finish(status, origin, code);
  }

  /** The proxy answered for this exchange (upstream failure before any response byte). */
  answeredByProxy(status: number, code: string): void {
    this.#finish(status, 'proxy', code);
  }

  get closesConnection(): boolean {
    return this.#close;
  }

  #finish(status: number, origin: 'upstream' | 'proxy', code: string | undefined): void {
    if (this.done) return;
    this.done = true;
    const ctx = this.#ctx;
    const seconds = (performance.now() - this.started) / 1000;
    ctx.metrics.request(status, origin, seconds);
    ctx.accessLog?.write({
      method: this.method,
      host: this.target.host,
      path: pathWithoutQuery(this.target.path),
      status,
      origin,
      code,
      durationMs: Math.round(seconds * 1e6) / 1e3,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
    });
    ctx.exchangeFinished();
    this.#app.exchangeDone(this, this.#close);
  }
}
