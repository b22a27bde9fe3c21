// Incremental reading of the app's requests from a byte stream: finds each head (however the bytes are split
// across reads), parses it, delimits the body, and stops after each request until the connection asks for
// the next one, so pipelined requests are answered strictly in order and a request behind a refused one is
// never even parsed. Pure: no sockets, no timers; the app connection and the differential fuzzer drive it.

import { BadRequestError, HeadersTooLargeError, ProxyError } from './errors.js';
import { ChunkedDecoder, type ChunkSink } from './http1-chunked.js';
import { BodyKind, parseRequestHead, RequestHead } from './http1-request-head.js';
import { CR, LF } from './http1-syntax.js';

export interface RequestEvents {
  /** A complete, valid head. The body (if any) follows as onRequestBody calls. */
  onRequestHead(head: RequestHead): void;
  onRequestBody(buf: Buffer, start: number, end: number): void;
  /** The request is complete; the reader now waits for `next()`. */
  onRequestEnd(): void;
  /** The bytes are not a request this proxy accepts. The reader reads nothing more. */
  onRequestError(err: ProxyError): void;
}

export interface RequestLimits {
  /** Largest head (request line and header lines) accepted. */
  readonly maxHeaderSize: number;
  /** Most header lines accepted. */
  readonly maxHeaders: number;
}

const enum R {
  Head,
  Length,
  Chunked,
  /** Between requests: buffered bytes wait for next(). */
  Waiting,
  Failed,
}

function failChunked(message: string): never {
  throw new BadRequestError(`malformed HTTP request: invalid chunked body: ${message}`);
}

export class RequestReader implements ChunkSink {
  readonly head = new RequestHead();
  readonly #events: RequestEvents;
  readonly #limits: RequestLimits;
  #state = R.Head;
  /** Bytes received and not yet consumed (a partial head, or what arrived while waiting). */
  #pending: Buffer | undefined;
  /** Where the search for the end of the head resumes in #pending. */
  #scanned = 0;
  #remaining = 0;
  readonly #chunked: ChunkedDecoder;
  /** Bytes of the current head seen so far (0: no byte of a new request yet). */
  #headSeen = 0;
  #running = false;

  constructor(events: RequestEvents, limits: RequestLimits) {
    this.#events = events;
    this.#limits = limits;
    this.#chunked = new ChunkedDecoder(failChunked, limits.maxHeaderSize);
  }

  /** A request has started arriving and is not complete (for the request timeout and idle close). */
  get midRequest(): boolean {
    return (this.#state === R.Head && this.#headSeen > 0) || this.#state === R.Length || this.#state === R.Chunked;
  }

  /** Waiting between requests (the current one is complete). */
  get waiting(): boolean {
    return this.#state === R.Waiting;
  }

  get failed(): boolean {
    return this.#state === R.Failed;
  }

  /** Bytes buffered and not consumed. */
  get pendingBytes(): number {
    return this.#pending === undefined ? 0 : this.#pending.length;
  }

  /** Feed bytes read from the socket. */
  push(chunk: Buffer): void {
    if (this.#state === R.Failed) return;
    if (this.#state === R.Length || this.#state === R.Chunked) {
      if (this.#pending === undefined && !this.#running) {
        this.#running = true;
        try {
          this.#consume(chunk, 0);
        } finally {
          this.#running = false;
        }
        this.#run(); // next() may have been called from an event: parse what follows
        return;
      }
    }
    this.#pending = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#run();
  }

  /** The previous request is answered: parse the next one from what is buffered. */
  next(): void {
    if (this.#state !== R.Waiting) return;
    this.#state = R.Head;
    this.#scanned = 0;
    this.#headSeen = 0;
    this.#run();
  }

  /**
   * The app closed its side. A request cut inside its head is answered 400 (as llhttp's end-of-stream check
   * does); one cut inside its body is the connection's business (the exchange is aborted).
   */
  end(): void {
    if (this.#state === R.Head && this.#pending !== undefined && this.#headSeen > 0) {
      this.#fail(new BadRequestError('malformed HTTP request: the connection ended inside the request head'));
    }
  }

  /** Stop reading for good (the connection is closing). */
  stop(): void {
    this.#state = R.Failed;
    this.#pending = undefined;
  }

  /**
   * Parse as far as the buffered bytes and the state allow. Re-entrant calls (an event handler answering at
   * once and calling next()) only change the state; this loop picks the work up, so pipelined requests never
   * recurse.
   */
  #run(): void {
    if (this.#running) return;
    this.#running = true;
    try {
      for (;;) {
        const buf = this.#pending;
        if (buf === undefined) return;
        if (this.#state === R.Length || this.#state === R.Chunked) {
          this.#pending = undefined;
          this.#consume(buf, 0);
          continue;
        }
        if (this.#state !== R.Head) return;
        let start = 0;
        // RFC 9112 §2.2: empty lines before a request-line are ignored (some clients send a CRLF after a body).
        while (start + 1 < buf.length && buf[start] === CR && buf[start + 1] === LF) start += 2;
        if (start >= buf.length || (start === buf.length - 1 && buf[start] === CR)) {
          this.#pending = start >= buf.length ? undefined : buf.subarray(start);
          this.#scanned = 0;
          return;
        }
        const end = this.#findHeadEnd(buf, start, Math.min(buf.length, start + this.#limits.maxHeaderSize));
        if (end < 0) {
          this.#headSeen = buf.length - start;
          if (buf.length - start > this.#limits.maxHeaderSize) throw new HeadersTooLargeError();
          if (start > 0) {
            this.#pending = buf.subarray(start);
            this.#scanned -= start;
          }
          return;
        }
        if (end - start > this.#limits.maxHeaderSize) throw new HeadersTooLargeError();
        parseRequestHead(buf, start, end, this.head, this.#limits.maxHeaders);
        this.#scanned = 0;
        this.#headSeen = end - start;
        const head = this.head;
        if (head.bodyKind === BodyKind.Length) {
          this.#state = R.Length;
          this.#remaining = head.contentLength;
        } else if (head.bodyKind === BodyKind.Chunked) {
          this.#state = R.Chunked;
          this.#chunked.reset();
        } else {
          this.#state = R.Waiting;
        }
        this.#pending = end < buf.length ? buf.subarray(end) : undefined;
        this.#events.onRequestHead(head);
        if (this.#state === R.Waiting) this.#events.onRequestEnd();
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#running = false;
    }
  }

  /**
   * The index just after the CRLF CRLF ending the head that starts at `start`, or -1. Every LF must follow a
   * CR: a bare LF is refused at once rather than after the head timeout.
   */
  #findHeadEnd(buf: Buffer, start: number, limit: number): number {
    // Nothing past the size limit is looked at, so a head too large is a 431 however its bytes arrive.
    let i = Math.max(start, this.#scanned);
    for (;;) {
      let lf = buf.indexOf(LF, i);
      if (lf >= limit) lf = -1;
      if (lf < 0) {
        // No end yet. A CR followed by anything but LF can never become a valid head: say so now rather than
        // after the head timeout.
        for (let cr = buf.indexOf(CR, i); cr >= 0 && cr + 1 < limit; cr = buf.indexOf(CR, cr + 1)) {
          if (buf[cr + 1] !== LF) throw new BadRequestError('malformed HTTP request: bare CR in the request head');
        }
        this.#scanned = buf[limit - 1] === CR ? limit - 1 : limit;
        return -1;
      }
      if (lf === start || buf[lf - 1] !== CR) throw new BadRequestError('malformed HTTP request: bare LF in the request head (lines end in CRLF)');
      // The same check on the bytes before this LF, which a read ending after them would have made already.
      const cr = buf.indexOf(CR, i);
      if (cr < lf - 1) throw new BadRequestError('malformed HTTP request: bare CR in the request head');
      if (lf - 3 >= start && buf[lf - 2] === LF && buf[lf - 3] === CR) return lf + 1;
      i = lf + 1;
    }
  }

  /** Body bytes `buf[from, ...)` of the current request; what follows the body stays pending. */
  #consume(buf: Buffer, from: number): void {
    try {
      if (this.#state === R.Length) {
        const n = Math.min(this.#remaining, buf.length - from);
        if (n > 0) {
          this.#remaining -= n;
          this.#events.onRequestBody(buf, from, from + n);
        }
        if (this.#remaining === 0 && this.#state === R.Length) {
          this.#state = R.Waiting;
          this.#keep(buf, from + n);
          this.#events.onRequestEnd();
        }
        return;
      }
      if (this.#state === R.Chunked) {
        const end = this.#chunked.feed(buf, from, buf.length, this);
        if (end >= 0 && this.#state === R.Chunked) {
          this.#state = R.Waiting;
          this.#keep(buf, end);
          this.#events.onRequestEnd();
        }
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  onChunkData(buf: Buffer, start: number, end: number): void {
    if (end > start) this.#events.onRequestBody(buf, start, end);
  }

  #keep(buf: Buffer, from: number): void {
    if (from < buf.length) this.#pending = this.#pending === undefined ? buf.subarray(from) : Buffer.concat([buf.subarray(from), this.#pending]);
    this.#scanned = 0;
  }

  #fail(err: unknown): void {
    if (this.#state === R.Failed) return;
    this.#state = R.Failed;
    this.#pending = undefined;
    if (err instanceof ProxyError) this.#events.onRequestError(err);
    else throw err;
  }
}
