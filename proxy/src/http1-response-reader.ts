// Incremental reading of one upstream connection's responses: one response per request sent (the pool never
// pipelines), interim 1xx answers skipped, the body delimited by RFC 9112 §6.3. Pure, like the request reader.

import { ChunkedDecoder, type ChunkSink } from './http1-chunked.js';
import { parseResponseHead, ResponseBody, ResponseHead, ResponseProtocolError, UpstreamClosedError } from './http1-response-head.js';
import { CR, LF } from './http1-syntax.js';

export interface ResponseEvents {
  onResponseHead(head: ResponseHead): void;
  onResponseBody(buf: Buffer, start: number, end: number): void;
  onResponseEnd(): void;
  onResponseError(err: ResponseProtocolError | UpstreamClosedError): void;
}

const enum S {
  /** No request outstanding: any byte now is a protocol error. */
  Idle,
  Head,
  Length,
  Chunked,
  UntilClose,
  Failed,
}

function failChunked(message: string): never {
  throw new ResponseProtocolError(`invalid chunked response body: ${message}`);
}

export class ResponseReader implements ChunkSink {
  readonly head = new ResponseHead();
  readonly #events: ResponseEvents;
  readonly #maxHeaderSize: number;
  readonly #maxHeaders: number;
  #state = S.Idle;
  #pending: Buffer | undefined;
  #scanned = 0;
  #remaining = 0;
  #headRequest = false;
  /** Some byte of the current response has arrived. */
  #started = false;
  readonly #chunked: ChunkedDecoder;

  constructor(events: ResponseEvents, maxHeaderSize: number, maxHeaders: number) {
    this.#events = events;
    this.#maxHeaderSize = maxHeaderSize;
    this.#maxHeaders = maxHeaders;
    this.#chunked = new ChunkedDecoder(failChunked, maxHeaderSize);
  }

  /** A request was written; read its response. `headRequest`: the request was HEAD. */
  expect(headRequest: boolean): void {
    this.#state = S.Head;
    this.#headRequest = headRequest;
    this.#started = false;
    this.#scanned = 0;
  }

  /** Some byte of the expected response has arrived (a retry on a fresh connection is no longer safe). */
  get started(): boolean {
    return this.#started;
  }

  get idle(): boolean {
    return this.#state === S.Idle;
  }

  push(chunk: Buffer): void {
    switch (this.#state) {
      case S.Failed:
        return;
      case S.Idle:
        // An answer nobody asked for: the connection's framing can no longer be trusted.
        this.#fail(new ResponseProtocolError('the upstream sent bytes with no request outstanding'));
        return;
      case S.Head:
        this.#started = true;
        this.#pending = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
        this.#readHead();
        return;
      default:
        this.#body(chunk, 0);
    }
  }

  /** The upstream closed its side. */
  end(): void {
    if (this.#state === S.UntilClose) {
      this.#state = S.Idle;
      this.#events.onResponseEnd();
    } else if (this.#state === S.Head || this.#state === S.Length || this.#state === S.Chunked) {
      this.#fail(new UpstreamClosedError(this.#started ? 'the upstream closed the connection before the response was complete' : 'the upstream closed the connection without answering'));
    }
  }

  stop(): void {
    this.#state = S.Failed;
    this.#pending = undefined;
  }

  #readHead(): void {
    try {
      while (this.#state === S.Head && this.#pending !== undefined) {
        const buf = this.#pending;
        const end = this.#findHeadEnd(buf);
        if (end < 0) {
          if (buf.length > this.#maxHeaderSize) throw new ResponseProtocolError('response header block too large');
          return;
        }
        if (end > this.#maxHeaderSize) throw new ResponseProtocolError('response header block too large');
        parseResponseHead(buf, 0, end, this.head, this.#headRequest, this.#maxHeaders);
        this.#pending = undefined;
        this.#scanned = 0;
        const head = this.head;
        if (head.status < 200) {
          // 100 Continue, 102, 103 Early Hints: not relayed (the proxy answers Expect itself). 101 would
          // switch protocols on a request that never asked to.
          if (head.status === 101) throw new ResponseProtocolError('the upstream switched protocols (101) without being asked');
          // llhttp reads nothing after an interim answer that ends the connection (HTTP/1.0 without keep-alive,
          // Connection: close): neither does this one.
          if (!head.reusable) throw new ResponseProtocolError('an interim (1xx) response that ends the connection');
          if (end < buf.length) this.#pending = buf.subarray(end);
          continue;
        }
        switch (head.body) {
          case ResponseBody.None:
            this.#state = S.Idle;
            break;
          case ResponseBody.Length:
            this.#state = S.Length;
            this.#remaining = head.contentLength;
            break;
          case ResponseBody.Chunked:
            this.#state = S.Chunked;
            this.#chunked.reset();
            break;
          default:
            this.#state = S.UntilClose;
        }
        this.#events.onResponseHead(head);
        if (this.#state === S.Idle) {
          this.#finish(end < buf.length);
          return;
        }
        if (end < buf.length) this.#body(buf, end);
        return;
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  #findHeadEnd(buf: Buffer): number {
    let i = this.#scanned;
    for (;;) {
      const lf = buf.indexOf(LF, i);
      if (lf < 0) {
        this.#scanned = buf.length;
        return -1;
      }
      if (lf === 0 || buf[lf - 1] !== CR) throw new ResponseProtocolError('bare LF in the response head');
      if (lf >= 3 && buf[lf - 2] === LF && buf[lf - 3] === CR) return lf + 1;
      i = lf + 1;
    }
  }

  #body(buf: Buffer, from: number): void {
    try {
      switch (this.#state) {
        case S.Length: {
          const n = Math.min(this.#remaining, buf.length - from);
          this.#remaining -= n;
          if (n > 0) this.#events.onResponseBody(buf, from, from + n);
          if (this.#remaining === 0 && this.#state === S.Length) {
            this.#state = S.Idle;
            this.#finish(from + n < buf.length);
          }
          return;
        }
        case S.Chunked: {
          const end = this.#chunked.feed(buf, from, buf.length, this);
          if (end >= 0 && this.#state === S.Chunked) {
            this.#state = S.Idle;
            this.#finish(end < buf.length);
          }
          return;
        }
        case S.UntilClose:
          if (from < buf.length) this.#events.onResponseBody(buf, from, buf.length);
          return;
        default:
          return;
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  onChunkData(buf: Buffer, start: number, end: number): void {
    if (end > start) this.#events.onResponseBody(buf, start, end);
  }

  /**
   * The response is complete. Bytes after it (more than its length said, or an unasked answer) do not spoil
   * this response, but the connection's framing is no longer trusted: it is never reused.
   */
  #finish(trailingBytes: boolean): void {
    if (trailingBytes) {
      this.#state = S.Failed;
      this.#pending = undefined;
    }
    this.#events.onResponseEnd();
  }

  /** No further response can be read on this connection (a protocol error, or bytes after a response). */
  get failed(): boolean {
    return this.#state === S.Failed;
  }

  #fail(err: unknown): void {
    if (this.#state === S.Failed) return;
    this.#state = S.Failed;
    this.#pending = undefined;
    if (err instanceof ResponseProtocolError || err instanceof UpstreamClosedError) this.#events.onResponseError(err);
    else throw err;
  }
}
