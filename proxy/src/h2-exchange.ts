// One HTTP/2 stream from the app (h2c, e.g. a gRPC call) through the sidecar: allow → sign → an h2 stream
// to Lattice → relay both ways with HTTP/2 flow control (a slow reader pauses the other side; nothing is
// buffered beyond the streams' windows), trailers both ways, RST_STREAM both ways, grpc-timeout enforced →
// one access line. Errors the sidecar makes for a gRPC caller are gRPC-shaped: HTTP 200 with grpc-status and
// grpc-message in a trailers-only answer, so the client sees a status, not a protocol error.

import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } from './http2-module.js';
import type { AppContext } from './app-connection.js';
import {
  BadRequestError,
  errorResponse,
  GrpcStatus,
  InternalError,
  MethodNotAllowedError,
  ProxyError,
  ShuttingDownError,
  upstreamErrorFrom,
} from './errors.js';
import { pathWithoutQuery } from './exchange.js';
import type { H2Session } from './h2-upstream.js';
import { prepareHeaders } from './headers.js';
import { REQUEST_VALUE_CHAR, TARGET_CHAR } from './http1-syntax.js';
import { rejectReason } from './proxy-answer.js';
import { allowAndSign } from './request-gate.js';
import { http2RequestHeaders } from './signed-request.js';
import type { ResolvedTarget } from './target-cache.js';
import type { Timed } from './ticker.js';


/** Response headers that are about the connection, never relayed (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** grpc-timeout (gRPC over HTTP/2): 1-8 digits and a unit. */
const GRPC_TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };

export function grpcTimeoutMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = GRPC_TIMEOUT.exec(value);
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : undefined;
}

/** grpc-message is percent-encoded UTF-8 (gRPC over HTTP/2: bytes outside 0x20-0x7E, and %). */
export function encodeGrpcMessage(msg: string): string {
  let out = '';
  for (const b of Buffer.from(msg, 'utf8')) out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  return out;
}

function isGrpc(headers: IncomingHttpHeaders): boolean {
  const ct = headers['content-type'];
  return typeof ct === 'string' && ct.startsWith('application/grpc');
}

/** The bytes a request carries on HTTP/2 must pass the same checks as on HTTP/1.1: what is signed is what is sent. */
function checkTarget(path: string): void {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c > 0xff || TARGET_CHAR[c] !== 1) throw new BadRequestError(`malformed HTTP request: invalid byte 0x${c.toString(16)} in :path`);
    if (c === 0x23) throw new BadRequestError('malformed HTTP request: the request target has a fragment (#...); a request-target never carries one');
  }
}

function checkValue(name: string, value: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff || REQUEST_VALUE_CHAR[c] !== 1) throw new BadRequestError(`malformed HTTP request: invalid byte 0x${c.toString(16)} in the value of header "${name}"`);
  }
}

export class H2Exchange implements Timed {
  readonly #ctx: AppContext;
  readonly #app: ServerHttp2Stream;
  readonly #grpc: boolean;
  readonly #method: string;
  readonly #started = performance.now();
  #target: ResolvedTarget | undefined;
  #up: ClientHttp2Stream | undefined;
  #status = 0;
  #grpcStatus: number | undefined;
  #responseStarted = false;
  #responseTrailers: OutgoingHttpHeaders | undefined;
  #requestTrailers: OutgoingHttpHeaders | undefined;
  #done = false;
  #bytesIn = 0;
  #bytesOut = 0;
  /** Absolute deadlines on the ticker's clock (Infinity: none). */
  #deadline = Infinity;
  #deadlineIsGrpc = false;
  /** Counted in the proxy's in-flight requests (refusals answered at once are not). */
  #counted = false;

  constructor(ctx: AppContext, app: ServerHttp2Stream, headers: IncomingHttpHeaders) {
    this.#ctx = ctx;
    this.#app = app;
    this.#grpc = isGrpc(headers);
    this.#method = String(headers[':method'] ?? '');
    app.on('error', () => undefined); // a reset stream: 'close' cleans up
  }

  /** allow → sign → upstream. `rawHeaders` keeps repeated fields and their order. */
  start(headers: IncomingHttpHeaders, rawHeaders: readonly string[], endStream: boolean): void {
    const ctx = this.#ctx;
    try {
      if (ctx.draining) throw new ShuttingDownError();
      const method = this.#method;
      if (method === 'CONNECT') throw new MethodNotAllowedError('CONNECT');
      const path = headers[':path'];
      if (typeof path !== 'string' || path.charCodeAt(0) !== 47 /* / */) throw new BadRequestError('malformed HTTP request: :path must be an origin-form path');
      checkTarget(path);
      const names: string[] = [];
      const values: string[] = [];
      let trailersTe = false;
      for (let i = 0; i < rawHeaders.length; i += 2) {
        const name = rawHeaders[i]!;
        if (name.charCodeAt(0) === 58 /* : */) continue; // pseudo-headers are never signed
        const value = rawHeaders[i + 1]!.trim();
        checkValue(name, value);
        if (name === 'te') {
          // The one TE value HTTP/2 allows, and what gRPC servers require: forwarded, not signed.
          if (value.toLowerCase() === 'trailers') trailersTe = true;
          continue;
        }
        names.push(name);
        values.push(value);
      }
      const authority = headers[':authority'] ?? headers['host'];
      const prepared = prepareHeaders(names, values, [], ctx.headerPolicy);
      const target = ctx.targets.resolve(path, typeof authority === 'string' ? authority : prepared.host);
      this.#target = target;
      const out: OutgoingHttpHeaders = http2RequestHeaders(method, path, allowAndSign(ctx, method, target, prepared, false), prepared);
      if (trailersTe) out['te'] = 'trailers';
      const timeout = grpcTimeoutMs(typeof headers['grpc-timeout'] === 'string' ? headers['grpc-timeout'] : undefined);
      if (timeout !== undefined) {
        this.#deadline = ctx.ticker.now() + timeout;
        this.#deadlineIsGrpc = true;
      }
      ctx.exchangeStarted();
      this.#counted = true;
      ctx.ticker.add(this);
      this.#app.once('close', this.#onAppClose);
      ctx.h2upstream.acquire(target.origin, target.host, target.port, (err, s) => {
        if (this.#done) return;
        if (err !== undefined || s === undefined) this.#upstreamFailed(err ?? new Error('no session'));
        else this.#open(s, out, endStream);
      });
    } catch (err) {
      this.#answer(err);
    }
  }

  #open(s: H2Session, headers: OutgoingHttpHeaders, endStream: boolean): void {
    const ctx = this.#ctx;
    const app = this.#app;
    const up = ctx.h2upstream.request(s, headers, endStream);
    this.#up = up;
    up.on('error', (err: NodeJS.ErrnoException) => this.#upstreamFailed(err));
    if (!this.#grpc && ctx.config.upstreamTimeoutMs > 0 && endStream) this.#armUpstreamTimeout();

    // app → Lattice, with the app paused whenever the upstream stream's window is full.
    if (!endStream) {
      app.on('data', (chunk: Buffer) => {
        this.#bytesIn += chunk.length;
        if (!up.write(chunk)) app.pause();
      });
      up.on('drain', () => app.resume());
      app.on('trailers', (t: IncomingHttpHeaders) => {
        this.#requestTrailers = trailerFields(t);
      });
      app.once('end', () => {
        up.end();
        if (!this.#grpc && ctx.config.upstreamTimeoutMs > 0) this.#armUpstreamTimeout();
      });
      up.on('wantTrailers', () => up.sendTrailers(this.#requestTrailers ?? {}));
    }

    // Lattice → app.
    up.once('response', (h: IncomingHttpHeaders, flags: number) => {
      if (this.#done) return;
      this.#status = Number(h[':status']);
      const out: OutgoingHttpHeaders = { ':status': this.#status };
      for (const name of Object.keys(h)) {
        if (name.charCodeAt(0) === 58 || CONNECTION_SPECIFIC.has(name)) continue;
        out[name] = h[name];
      }
      const trailersOnly = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
      if (trailersOnly && h['grpc-status'] !== undefined) this.#grpcStatus = Number(h['grpc-status']);
      this.#responseStarted = true;
      if (!this.#deadlineIsGrpc) this.#touch();
      app.respond(out, trailersOnly ? { endStream: true } : { waitForTrailers: true });
      if (trailersOnly) this.#finish(this.#status, 'upstream', undefined);
    });
    up.on('data', (chunk: Buffer) => {
      this.#bytesOut += chunk.length;
      if (!this.#deadlineIsGrpc) this.#touch();
      // A slow app: stop reading from Lattice; the HTTP/2 window then stops Lattice itself.
      if (!app.write(chunk)) up.pause();
    });
    app.on('drain', () => up.resume());
    up.on('trailers', (t: IncomingHttpHeaders) => {
      this.#responseTrailers = trailerFields(t);
      if (t['grpc-status'] !== undefined) this.#grpcStatus = Number(t['grpc-status']);
    });
    app.on('wantTrailers', () => app.sendTrailers(this.#responseTrailers ?? {}));
    up.once('end', () => {
      if (this.#done) return;
      if (!app.closed && !app.writableEnded) app.end();
      this.#finish(this.#status, 'upstream', undefined);
    });
    up.once('close', () => {
      if (this.#done) return;
      // Reset by Lattice (or its connection died) before the end: pass the reset on, or answer if nothing
      // was relayed yet.
      const code = up.rstCode ?? NGHTTP2_INTERNAL_ERROR;
      if (!this.#responseStarted) {
        const err = new Error(`the upstream reset the stream (HTTP/2 error code ${code})`) as NodeJS.ErrnoException;
        err.code = code === NGHTTP2_CANCEL ? 'ECONNRESET' : 'ERR_HTTP2_STREAM_RESET';
        this.#upstreamFailed(err);
        return;
      }
      if (!app.closed) app.close(code === NGHTTP2_NO_ERROR ? NGHTTP2_INTERNAL_ERROR : code);
      this.#finish(this.#status, 'upstream', undefined);
    });
  }

  readonly #onAppClose = (): void => {
    if (this.#done) return;
    // The app cancelled (RST_STREAM) or went away: cancel the upstream stream too.
    const up = this.#up;
    if (up !== undefined && !up.closed) up.close(NGHTTP2_CANCEL);
    this.#finish(499, 'upstream', undefined);
  };

  #armUpstreamTimeout(): void {
    this.#deadline = this.#ctx.ticker.coarseNow + this.#ctx.config.upstreamTimeoutMs;
  }

  #touch(): void {
    if (this.#deadline !== Infinity) this.#armUpstreamTimeout();
  }

  onTick(now: number): void {
    if (now < this.#deadline || this.#done) return;
    this.#deadline = Infinity;
    const up = this.#up;
    if (up !== undefined && !up.closed) up.close(NGHTTP2_CANCEL);
    if (this.#deadlineIsGrpc) {
      // The caller's own deadline passed: what grpc-js would report, without holding Lattice's stream.
      if (!this.#responseStarted) this.#answerGrpc(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded (grpc-timeout) waiting for the upstream', 504, 'ERR_UPSTREAM_TIMEOUT', 'proxy');
      else {
        this.#responseTrailers = { 'grpc-status': String(GrpcStatus.DEADLINE_EXCEEDED), 'grpc-message': 'deadline exceeded (grpc-timeout)' };
        this.#grpcStatus = GrpcStatus.DEADLINE_EXCEEDED;
        if (!this.#app.closed) this.#app.end();
        this.#finish(this.#status, 'upstream', undefined);
      }
      return;
    }
    const err = new Error('the upstream did not answer in time') as NodeJS.ErrnoException;
    err.code = 'ERR_UPSTREAM_RESPONSE_TIMEOUT';
    this.#upstreamFailed(err);
  }

  #upstreamFailed(err: NodeJS.ErrnoException): void {
    if (this.#done) return;
    const t = this.#target!;
    const upstreamErr = upstreamErrorFrom(err, t.authority);
    this.#ctx.metrics.upstreamError(upstreamErr.kind);
    const up = this.#up;
    if (up !== undefined && !up.closed) up.close(NGHTTP2_CANCEL);
    if (this.#responseStarted) {
      this.#ctx.logger.warn({ event: 'upstream_failed_mid_response', host: t.host, kind: upstreamErr.kind, error: err.message }, 'upstream failed after the response started');
      if (!this.#app.closed) this.#app.close(NGHTTP2_INTERNAL_ERROR);
      this.#finish(this.#status, 'upstream', undefined);
      return;
    }
    this.#ctx.logger.warn({ event: 'upstream_failed', host: t.host, kind: upstreamErr.kind, code: upstreamErr.code, error: err.message }, 'upstream request failed');
    this.#answer(upstreamErr);
  }

  /** The proxy's own answer, from the one mapping: gRPC-shaped for gRPC callers, plain text otherwise. */
  #answer(err: unknown): void {
    if (!(err instanceof ProxyError)) {
      this.#ctx.logger.error({ event: 'internal_error', error: (err as Error)?.message }, 'unexpected error on the request path');
      err = new InternalError(err);
    }
    const r = errorResponse(err);
    const reason = rejectReason(r.code);
    if (reason !== undefined) this.#ctx.metrics.rejected(reason);
    if (this.#grpc) {
      this.#answerGrpc(r.grpcStatus, r.body.trim(), r.status, r.code, 'proxy');
      return;
    }
    const app = this.#app;
    if (!app.closed && !app.headersSent) {
      app.respond({ ':status': r.status, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(r.body), 'x-lattice-proxy-error': r.code });
      app.end(this.#method === 'HEAD' ? undefined : r.body);
    }
    this.#finish(r.status, 'proxy', r.code);
  }

  #answerGrpc(grpcStatus: number, message: string, status: number, code: string, origin: 'proxy' | 'upstream'): void {
    const app = this.#app;
    this.#grpcStatus = grpcStatus;
    if (!app.closed && !app.headersSent) {
      app.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(grpcStatus), 'grpc-message': encodeGrpcMessage(message), 'x-lattice-proxy-error': code },
        { endStream: true },
      );
    }
    this.#finish(status, origin, code);
  }

  #finish(status: number, origin: 'upstream' | 'proxy', code: string | undefined): void {
    if (this.#done) return;
    this.#done = true;
    const ctx = this.#ctx;
    ctx.ticker.delete(this);
    const seconds = (performance.now() - this.#started) / 1000;
    ctx.metrics.request(status, origin, seconds);
    const t = this.#target;
    ctx.accessLog?.write({
      method: this.#method,
      host: t?.host,
      path: t === undefined ? undefined : pathWithoutQuery(t.path),
      status,
      origin,
      code,
      durationMs: Math.round(seconds * 1e6) / 1e3,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      protocol: 'h2c',
      upstreamProtocol: 'h2',
      grpcStatus: this.#grpcStatus,
    });
    if (this.#counted) ctx.exchangeFinished();
  }
}

/** Trailer fields to relay: everything but pseudo-headers and connection-specific ones. */
function trailerFields(t: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(t)) {
    if (name.charCodeAt(0) === 58 || CONNECTION_SPECIFIC.has(name)) continue;
    out[name] = t[name];
  }
  return out;
}
