// One HTTP/1.x request of the app sent to Lattice as HTTP/2 (its host is in HTTP2_HOSTS: a service whose
// target group protocol version is HTTP2, where Lattice refuses HTTP/1.1). The same stages as Exchange:
// upstream → relay → log, with an h2 stream in place of an HTTP/1.1 connection; the answer is framed for
// the app as HTTP/1.x (app-response.ts).

import { STATUS_CODES } from 'node:http';
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { AppContext } from './app-connection.js';
import { AppFraming, appFraming, CRLF, headTail, LAST_CHUNK, writeBody } from './app-response.js';
import { upstreamErrorFrom } from './errors.js';
import { pathWithoutQuery, type AppExchange, type AppSide } from './exchange.js';
import type { H2Session } from './h2-upstream.js';
import type { ResolvedTarget } from './target-cache.js';
import type { Timed } from './ticker.js';

const { NGHTTP2_CANCEL } = constants;
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

export class H1ToH2Exchange implements AppExchange, Timed {
  readonly #ctx: AppContext;
  readonly #app: AppSide;
  readonly method: string;
  readonly #target: ResolvedTarget;
  readonly #headers: OutgoingHttpHeaders;
  readonly #hasBody: boolean;
  readonly #appMinor: number;
  readonly #wantsClose: boolean;
  readonly #started: number;
  #up: ClientHttp2Stream | undefined;
  #queued: Buffer[] | undefined = [];
  #requestComplete = false;
  #framing = AppFraming.None;
  #close = false;
  #deadline = Infinity;
  status = 0;
  responseStarted = false;
  done = false;
  #bytesIn = 0;
  #bytesOut = 0;

  constructor(ctx: AppContext, app: AppSide, method: string, target: ResolvedTarget, headers: OutgoingHttpHeaders, hasBody: boolean, appMinor: number, wantsClose: boolean, started: number) {
    this.#ctx = ctx;
    this.#app = app;
    this.method = method;
    this.#target = target;
    this.#headers = headers;
    this.#hasBody = hasBody;
    this.#appMinor = appMinor;
    this.#wantsClose = wantsClose;
    this.#started = started;
  }

  get closesConnection(): boolean {
    return this.#close;
  }

  start(): void {
    const t = this.#target;
    this.#app.pauseForUpstream(true);
    this.#ctx.ticker.add(this);
    this.#ctx.h2upstream.acquire(t.origin, t.host, t.port, (err, s) => {
      if (this.done) return;
      if (err !== undefined || s === undefined) this.#failed(err ?? new Error('no session'));
      else this.#open(s);
    });
  }

  #open(s: H2Session): void {
    const up = this.#ctx.h2upstream.request(s, this.#headers, !this.#hasBody);
    this.#up = up;
    up.on('error', (err: NodeJS.ErrnoException) => this.#failed(err));
    up.on('wantTrailers', () => up.sendTrailers({}));
    up.on('drain', () => this.#app.pauseForUpstream(false));
    const queued = this.#queued!;
    this.#queued = undefined;
    let ok = true;
    for (const b of queued) ok = up.write(b);
    if (this.#requestComplete && this.#hasBody) up.end();
    this.#app.pauseForUpstream(!ok);
    if (this.#requestComplete) this.#armTimeout();

    up.once('response', (h: IncomingHttpHeaders) => this.#onResponse(h));
    up.on('data', (chunk: Buffer) => {
      if (this.done) return;
      this.#bytesOut += chunk.length;
      this.#armTimeout();
      if (!writeBody(this.#app, this.#framing, chunk)) up.pause();
    });
    up.once('end', () => {
      if (this.done) return;
      if (this.#framing === AppFraming.Chunked) this.#app.write(LAST_CHUNK);
      this.#finish(this.status, 'upstream', undefined);
    });
    up.once('close', () => {
      if (this.done) return;
      const err = new Error(`the upstream reset the stream (HTTP/2 error code ${up.rstCode})`) as NodeJS.ErrnoException;
      err.code = 'ERR_HTTP2_STREAM_RESET';
      this.#failed(err);
    });
  }

  #onResponse(h: IncomingHttpHeaders): void {
    if (this.done) return;
    const status = Number(h[':status']);
    this.status = status;
    const noBody = this.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    const framing = appFraming(noBody ? 'none' : h['content-length'] !== undefined ? 'length' : 'unknown', this.#appMinor);
    this.#framing = framing;
    this.#close = this.#wantsClose || !this.#requestComplete || this.#ctx.draining || framing === AppFraming.UntilClose;
    let out = 'HTTP/1.1 ' + status + ' ' + (STATUS_CODES[status] ?? '') + CRLF;
    for (const name of Object.keys(h)) {
      if (name.charCodeAt(0) === 58 /* : */ || CONNECTION_SPECIFIC.has(name)) continue;
      const v = h[name];
      if (Array.isArray(v)) for (const one of v) out += name + ': ' + one + CRLF;
      else if (v !== undefined) out += name + ': ' + v + CRLF;
    }
    this.responseStarted = true;
    this.#app.write(out + headTail(framing, this.#close, this.#appMinor));
  }

  requestBody(buf: Buffer, start: number, end: number): void {
    if (this.done) return;
    this.#bytesIn += end - start;
    const slice = buf.subarray(start, end);
    const up = this.#up;
    if (up === undefined) {
      this.#queued!.push(slice);
      return;
    }
    if (!up.write(slice)) this.#app.pauseForUpstream(true);
  }

  requestEnd(): void {
    this.#requestComplete = true;
    const up = this.#up;
    if (this.done || up === undefined) return;
    if (this.#hasBody) up.end();
    this.#armTimeout();
  }

  onAppDrain(): void {
    this.#up?.resume();
  }

  #armTimeout(): void {
    const t = this.#ctx.config.upstreamTimeoutMs;
    if (t > 0) this.#deadline = this.#ctx.ticker.coarseNow + t;
  }

  onTick(now: number): void {
    if (now < this.#deadline || this.done) return;
    const err = new Error('the upstream did not answer in time') as NodeJS.ErrnoException;
    err.code = 'ERR_UPSTREAM_RESPONSE_TIMEOUT';
    this.#failed(err);
  }

  #failed(err: NodeJS.ErrnoException): void {
    if (this.done) return;
    const up = this.#up;
    if (up !== undefined && !up.closed) up.close(NGHTTP2_CANCEL);
    const upstreamErr = upstreamErrorFrom(err, this.#target.authority);
    const { metrics, logger } = this.#ctx;
    metrics.upstreamError(upstreamErr.kind);
    if (this.responseStarted) {
      logger.warn({ event: 'upstream_failed_mid_response', host: this.#target.host, kind: upstreamErr.kind, error: err.message }, 'upstream failed after the response started');
      this.#close = true;
      this.#app.cut();
      this.#finish(this.status, 'upstream', undefined);
      return;
    }
    logger.warn({ event: 'upstream_failed', host: this.#target.host, kind: upstreamErr.kind, code: upstreamErr.code, error: err.message }, 'upstream request failed');
    this.#close ||= !this.#requestComplete;
    this.#app.answerUpstreamError(this, upstreamErr);
  }

  abort(status: number, origin: 'upstream' | 'proxy' = 'upstream', code?: string): void {
    if (this.done) return;
    const up = this.#up;
    if (up !== undefined && !up.closed) up.close(NGHTTP2_CANCEL);
    this.#close = true;
    this.#finish(status, origin, code);
  }

  answeredByProxy(status: number, code: string): void {
    this.#finish(status, 'proxy', code);
  }

  #finish(status: number, origin: 'upstream' | 'proxy', code: string | undefined): void {
    if (this.done) return;
    this.done = true;
    const ctx = this.#ctx;
    ctx.ticker.delete(this);
    const seconds = (performance.now() - this.#started) / 1000;
    ctx.metrics.request(status, origin, seconds);
    ctx.accessLog?.write({
      method: this.method,
      host: this.#target.host,
      path: pathWithoutQuery(this.#target.path),
      status,
      origin,
      code,
      durationMs: Math.round(seconds * 1e6) / 1e3,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      upstreamProtocol: 'h2',
    });
    ctx.exchangeFinished();
    this.#app.exchangeDone(this, this.#close);
  }
}
