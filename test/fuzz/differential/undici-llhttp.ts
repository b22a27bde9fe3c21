// The response oracle: the llhttp WebAssembly build undici ships (node_modules/undici/lib/llhttp), instantiated
// and driven as undici/lib/dispatcher/client-h1.js does: the SIMD build when it compiles, else the plain one;
// one RESPONSE parser; the chunk copied into wasm memory and passed to llhttp_execute; llhttp_finish at EOF.
// The callbacks return what client-h1's Parser returns, because those values decide llhttp's framing: 1 from
// on_headers_complete for a HEAD request and for a 1xx (no body), -1 for an upgrade nobody asked for or a
// message nobody asked for (no request outstanding), PAUSED from on_message_complete when the connection is
// not kept alive (undici reads nothing more from it).
//
// Two client-h1 checks are request-level policy, not parsing, and are reported rather than applied, so that
// the comparison is with llhttp's reading: undici refuses a `100 Continue` (it never sends Expect), and it
// refuses a completed message whose Content-Length differs from the bytes read (which also fires for a 204
// or 304 that carries the Content-Length of the representation). Both land in `policy`.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

const constants = require('undici/lib/llhttp/constants.js') as { ERROR: Record<string, number>; TYPE: Record<string, number> };
const ERR = constants.ERROR;
const ERROR_NAME = new Map(Object.entries(ERR).map(([k, v]) => [v, k]));

interface LlhttpExports {
  memory: WebAssembly.Memory;
  malloc(n: number): number;
  free(p: number): void;
  llhttp_alloc(type: number): number;
  llhttp_reset(p: number): void;
  llhttp_execute(p: number, data: number, len: number): number;
  llhttp_finish(p: number): number;
  llhttp_get_error_reason(p: number): number;
  llhttp_get_http_major(p: number): number;
  llhttp_get_http_minor(p: number): number;
  llhttp_should_keep_alive(p: number): number;
}

export interface LlhttpResponse {
  status: number;
  /** The reason phrase bytes llhttp delivered, as latin1. */
  reason: string;
  major: number;
  minor: number;
  readonly names: string[];
  /** Values as llhttp delivered them (leading OWS skipped; trailing OWS included, as Node's binding would trim). */
  readonly values: string[];
  keepAlive: boolean;
  readonly body: Buffer[];
  complete: boolean;
  /** Index of the request this answers, or -1 for an interim (1xx) response. */
  request: number;
  /** The request it answers was HEAD. */
  headRequest: boolean;
}

export interface LlhttpResponses {
  /** Final and interim responses in arrival order. */
  readonly responses: LlhttpResponse[];
  error: { code: string; reason: string } | undefined;
  /** A client-h1 check that would refuse what llhttp accepted (see the header comment). */
  policy: string | undefined;
  /** undici stopped reading: the connection is not kept alive. */
  closed: boolean;
}

export interface Exchange {
  /** The request was HEAD. */
  readonly head: boolean;
  readonly bytes: Buffer;
}

export class UndiciResponseOracle {
  readonly #llhttp: LlhttpExports;
  readonly #ptr: number;
  readonly #maxHeaderSize: number;
  #buf = 0;
  #bufSize = 0;
  #data: Buffer = Buffer.alloc(0);
  // per-stream state
  #exchanges: readonly Exchange[] = [];
  #next = 0;
  #out: LlhttpResponses = { responses: [], error: undefined, policy: undefined, closed: false };
  #current: LlhttpResponse | undefined;
  #headersSize = 0;
  #overflow = false;
  #reason = '';
  #headersDone = false;
  #undiciKeepAlive = false;

  /** `maxHeaderSize`: undici's maxHeaderSize (the same limit the proxy gives its own reader). */
  constructor(maxHeaderSize: number) {
    this.#maxHeaderSize = maxHeaderSize;
    let mod: WebAssembly.Module | undefined;
    try {
      mod = new WebAssembly.Module(require('undici/lib/llhttp/llhttp_simd-wasm.js') as BufferSource);
    } catch {
      mod = undefined;
    }
    mod ??= new WebAssembly.Module(require('undici/lib/llhttp/llhttp-wasm.js') as BufferSource);
    const bytes = (at: number, len: number): Buffer => {
      const off = at - this.#buf;
      return this.#data.subarray(off, off + len);
    };
    const instance = new WebAssembly.Instance(mod, {
      env: {
        wasm_on_url: () => 0,
        wasm_on_status: (_p: number, at: number, len: number) => {
          this.#reason += bytes(at, len).toString('latin1');
          return 0;
        },
        wasm_on_message_begin: () => this.#onMessageBegin(),
        wasm_on_header_field: (_p: number, at: number, len: number) => this.#onHeader(true, bytes(at, len)),
        wasm_on_header_value: (_p: number, at: number, len: number) => this.#onHeader(false, bytes(at, len)),
        wasm_on_headers_complete: (_p: number, status: number, upgrade: number, keepAlive: number) => this.#onHeadersComplete(status, upgrade === 1, keepAlive === 1),
        wasm_on_body: (_p: number, at: number, len: number) => {
          this.#current?.body.push(Buffer.from(bytes(at, len)));
          return 0;
        },
        wasm_on_message_complete: () => this.#onMessageComplete(),
      },
    });
    this.#llhttp = instance.exports as unknown as LlhttpExports;
    this.#ptr = this.#llhttp.llhttp_alloc(constants.TYPE.RESPONSE!);
  }

  /** Parse the answers to `exchanges` (their bytes in order, as one stream), then EOF when `eof`. */
  parse(exchanges: readonly Exchange[], eof: boolean): LlhttpResponses {
    this.#exchanges = exchanges;
    this.#next = 0;
    this.#out = { responses: [], error: undefined, policy: undefined, closed: false };
    this.#current = undefined;
    this.#headersSize = 0;
    this.#overflow = false;
    this.#reason = '';
    const ll = this.#llhttp;
    ll.llhttp_reset(this.#ptr);
    const stream = exchanges.length === 1 ? exchanges[0]!.bytes : Buffer.concat(exchanges.map((e) => e.bytes));
    if (stream.length > this.#bufSize) {
      if (this.#buf !== 0) ll.free(this.#buf);
      this.#bufSize = Math.ceil(stream.length / 4096) * 4096;
      this.#buf = ll.malloc(this.#bufSize);
    }
    new Uint8Array(ll.memory.buffer, this.#buf, this.#bufSize).set(stream);
    this.#data = Buffer.from(ll.memory.buffer, this.#buf, stream.length);
    let ret = ll.llhttp_execute(this.#ptr, this.#buf, stream.length);
    if (ret === ERR.OK && eof) ret = ll.llhttp_finish(this.#ptr);
    if (ret === ERR.PAUSED) this.#out.closed = true;
    else if (ret !== ERR.OK) this.#out.error = { code: this.#overflow ? 'UND_ERR_HEADERS_OVERFLOW' : `HPE_${ERROR_NAME.get(ret) ?? ret}`, reason: this.#errorReason() };
    return this.#out;
  }

  #errorReason(): string {
    const ll = this.#llhttp;
    const p = ll.llhttp_get_error_reason(this.#ptr);
    if (p === 0) return '';
    const mem = new Uint8Array(ll.memory.buffer);
    const end = mem.indexOf(0, p);
    return Buffer.from(mem.subarray(p, end)).toString('latin1');
  }

  #onMessageBegin(): number {
    // client-h1: no request outstanding → 'bad response'.
    if (this.#next >= this.#exchanges.length) return -1;
    this.#current = { status: 0, reason: '', major: 0, minor: 0, names: [], values: [], keepAlive: false, body: [], complete: false, request: -1, headRequest: false };
    this.#reason = '';
    this.#headersSize = 0;
    this.#headersDone = false;
    return 0;
  }

  #onHeader(field: boolean, b: Buffer): number {
    const r = this.#current!;
    // After on_headers_complete these are trailer fields (validated by llhttp, dropped by both sides).
    if (this.#headersDone) return 0;
    const list = field ? r.names : r.values;
    const s = b.toString('latin1');
    // A field or value split across callbacks continues the last entry.
    if (field ? r.names.length === r.values.length : r.values.length < r.names.length) list.push(s);
    else list[list.length - 1] += s;
    this.#headersSize += b.length;
    if (this.#headersSize >= this.#maxHeaderSize) {
      this.#overflow = true;
      return -1;
    }
    return 0;
  }

  #onHeadersComplete(status: number, upgrade: boolean, keepAlive: boolean): number {
    const r = this.#current!;
    const ll = this.#llhttp;
    this.#headersDone = true;
    r.status = status;
    r.reason = this.#reason;
    r.major = ll.llhttp_get_http_major(this.#ptr);
    r.minor = ll.llhttp_get_http_minor(this.#ptr);
    const request = this.#exchanges[this.#next]!;
    r.headRequest = request.head;
    const connection = r.names.reduce((acc, n, i) => (n.length === 10 && n.toLowerCase() === 'connection' ? acc + r.values[i] : acc), '');
    // client-h1's keep-alive: llhttp's, computed before this callback says the request was HEAD (so a HEAD
    // answer with neither length nor chunking "needs EOF"), overridden for HEAD with Connection: keep-alive.
    this.#undiciKeepAlive = keepAlive || (request.head && connection.toLowerCase() === 'keep-alive');
    this.#out.responses.push(r);
    if (status === 100) this.#out.policy ??= 'undici refuses a 100 Continue it did not ask for';
    // The pool never asks for an upgrade: client-h1's 'bad upgrade'.
    if (upgrade) return -1;
    if (status >= 200) r.request = this.#next;
    if (request.head || status < 200) return 1;
    return 0;
  }

  #onMessageComplete(): number {
    const r = this.#current;
    if (r === undefined) return 0;
    r.complete = true;
    this.#current = undefined;
    // llhttp's own reading, now that it knows the body was skipped: after a message it does not keep alive, any
    // further byte is HPE_CLOSED_CONNECTION.
    r.keepAlive = this.#llhttp.llhttp_should_keep_alive(this.#ptr) === 1;
    if (r.status < 200) return 0;
    if (r.keepAlive && !this.#undiciKeepAlive) this.#out.policy ??= 'undici closes the connection after a HEAD answer without Content-Length or Connection: keep-alive; llhttp reads on';
    this.#next++;
    const request = this.#exchanges[r.request]!;
    const i = r.names.findIndex((n) => n.toLowerCase() === 'content-length');
    if (!request.head && i >= 0) {
      const read = r.body.reduce((n, b) => n + b.length, 0);
      if (read !== parseInt(r.values[i]!, 10)) this.#out.policy ??= `undici refuses a ${r.status} whose Content-Length (${r.values[i]}) is not the bytes read (${read})`;
    }
    if (!r.keepAlive) return ERR.PAUSED!;
    return 0;
  }
}
