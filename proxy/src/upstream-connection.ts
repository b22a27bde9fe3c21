// One TLS connection to an upstream (Lattice): writes one request at a time, reads its response with the
// strict response reader, and hands the events to whoever holds the connection now. Deadlines (connect,
// response, idle) are numbers checked by the shared ticker, not timers.

import { checkServerIdentity, connect, type SecureContext, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import type { ResponseHead } from './http1-response-head.js';
import type { ResponseProtocolError, UpstreamClosedError } from './http1-response-head.js';
import { ResponseReader, type ResponseEvents } from './http1-response-reader.js';

/** What the holder of a connection receives (an exchange). */
export interface UpstreamUser {
  onUpstreamHead(head: ResponseHead): void;
  onUpstreamBody(buf: Buffer, start: number, end: number): void;
  onUpstreamEnd(): void;
  /** The connection failed while this user held it. `err.code` classifies it (errors.ts). */
  onUpstreamError(err: NodeJS.ErrnoException): void;
  /** The socket's write buffer drained (request body backpressure). */
  onUpstreamDrain(): void;
  /** Around each read from the upstream: the user corks and uncorks the app socket so one read is one write. */
  beginBatch(): void;
  endBatch(): void;
}

export interface DialOptions {
  readonly host: string;
  readonly port: number;
  /** Where to dial instead (CONNECT_TO); SNI and the certificate check keep `host`. */
  readonly dialHost: string;
  readonly dialPort: number;
  readonly secureContext: SecureContext;
  readonly session: Buffer | undefined;
  readonly maxHeaderSize: number;
}

export interface ConnectionOwner {
  /** The connection closed (for any reason): forget it. */
  onConnectionClosed(conn: UpstreamConnection): void;
  /** A TLS session ticket to resume the next handshake to the same origin with. */
  onSession(conn: UpstreamConnection, session: Buffer): void;
}

export const enum Deadline {
  None = 0,
  Connect = 1,
  Response = 2,
  Idle = 3,
}

function codedError(code: string, message: string): NodeJS.ErrnoException {
  const e = new Error(message) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

const MAX_RESPONSE_HEADERS = 256;

export class UpstreamConnection implements ResponseEvents {
  readonly socket: TLSSocket;
  readonly originKey: string;
  readonly #owner: ConnectionOwner;
  readonly #reader: ResponseReader;
  user: UpstreamUser | undefined;
  /** Requests sent on this connection (a reused one may have been closed by the peer meanwhile). */
  requests = 0;
  connected = false;
  closed = false;
  /** Made with a trust context that has since been replaced: closed instead of reused. */
  stale = false;
  deadline = Infinity;
  deadlineKind = Deadline.None;
  /** From the upstream's `Keep-Alive: timeout=N`, in ms (or Infinity). */
  peerIdleMs = Infinity;
  #error: NodeJS.ErrnoException | undefined;
  #paused = false;
  /** The response timeout to arm once the handshake completes (a request written while connecting). */
  #responseTimeoutMs = 0;

  constructor(originKey: string, o: DialOptions, owner: ConnectionOwner, now: number, connectTimeoutMs: number) {
    this.originKey = originKey;
    this.#owner = owner;
    this.#reader = new ResponseReader(this, o.maxHeaderSize, MAX_RESPONSE_HEADERS);
    this.deadline = now + connectTimeoutMs;
    this.deadlineKind = Deadline.Connect;
    this.socket = connect({
      host: o.dialHost,
      port: o.dialPort,
      // SNI takes a name, never an address (RFC 6066 §3); the certificate is still checked against `host`.
      servername: isIP(o.host) === 0 ? o.host : undefined,
      secureContext: o.secureContext,
      ALPNProtocols: ['http/1.1'],
      session: o.session,
      rejectUnauthorized: true,
      // With CONNECT_TO the dialled address differs from the name: the certificate is checked against the
      // name the request is for, with or without it.
      checkServerIdentity: (_dialled, cert) => checkServerIdentity(o.host, cert),
    });
    this.socket.setNoDelay(true);
    this.socket.on('secureConnect', this.#onSecureConnect);
    this.socket.on('session', this.#onSession);
    this.socket.on('data', this.#onData);
    this.socket.on('end', this.#onEnd);
    this.socket.on('drain', this.#onDrain);
    this.socket.on('error', this.#onError);
    this.socket.on('close', this.#onClose);
  }

  readonly #onSecureConnect = (): void => {
    this.connected = true;
    if (this.deadlineKind === Deadline.Connect) {
      const t = this.#responseTimeoutMs;
      this.deadline = t > 0 ? performance.now() + t : Infinity;
      this.deadlineKind = t > 0 ? Deadline.Response : Deadline.None;
    }
  };

  readonly #onSession = (session: Buffer): void => this.#owner.onSession(this, session);

  readonly #onData = (chunk: Buffer): void => {
    const u = this.user;
    if (u === undefined) {
      this.#reader.push(chunk); // an unsolicited answer: the reader fails, the connection is closed
      return;
    }
    u.beginBatch();
    this.#reader.push(chunk);
    u.endBatch();
  };

  readonly #onEnd = (): void => {
    this.#reader.end();
    // The peer will send nothing more; a connection it closed is never reused.
    if (!this.socket.destroyed) this.socket.destroy();
  };

  readonly #onDrain = (): void => this.user?.onUpstreamDrain();

  readonly #onError = (err: NodeJS.ErrnoException): void => {
    this.#error ??= err;
  };

  readonly #onClose = (): void => {
    this.closed = true;
    this.deadline = Infinity;
    this.deadlineKind = Deadline.None;
    const u = this.user;
    this.user = undefined;
    this.#reader.stop();
    this.#owner.onConnectionClosed(this);
    if (u !== undefined) u.onUpstreamError(this.#error ?? codedError('ERR_UPSTREAM_CLOSED', 'the upstream closed the connection'));
  };

  /** Start a request on this connection: `head` is the whole request head; the body follows with write(). */
  send(user: UpstreamUser, head: string, headRequest: boolean): boolean {
    this.user = user;
    this.requests++;
    this.#reader.expect(headRequest);
    if (this.deadlineKind === Deadline.Idle) {
      this.deadline = Infinity;
      this.deadlineKind = Deadline.None;
    }
    return this.socket.write(head, 'latin1');
  }

  write(data: Buffer | string): boolean {
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  /** The request is fully written: the response is now due within `timeoutMs` (0: no limit). */
  awaitResponse(now: number, timeoutMs: number): void {
    if (timeoutMs > 0 && this.deadlineKind !== Deadline.Connect) {
      this.deadline = now + timeoutMs;
      this.deadlineKind = Deadline.Response;
    } else if (timeoutMs > 0) {
      // Still connecting: the connect deadline runs first; the response one is armed on the first read.
      this.#responseTimeoutMs = timeoutMs;
    }
  }

  /** A response byte arrived: the upstream is alive, push the deadline out. */
  touch(now: number, timeoutMs: number): void {
    if (timeoutMs > 0 && this.deadlineKind !== Deadline.Idle) {
      this.deadline = now + timeoutMs;
      this.deadlineKind = Deadline.Response;
    }
  }

  /** Back in the pool: nobody holds it; it is closed once idle for `idleMs`. */
  idle(now: number, idleMs: number): void {
    this.user = undefined;
    this.#responseTimeoutMs = 0;
    this.deadline = now + Math.min(idleMs, this.peerIdleMs);
    this.deadlineKind = Deadline.Idle;
    if (this.#paused) this.resume();
  }

  /** Whether the connection can carry another request. */
  get reusable(): boolean {
    return !this.closed && !this.stale && !this.#reader.failed && this.#reader.idle && this.#reader.head.reusable && !this.socket.destroyed;
  }

  pause(): void {
    if (!this.#paused) {
      this.#paused = true;
      this.socket.pause();
    }
  }

  resume(): void {
    if (this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
  }

  /** A response byte has arrived for the current request (a retry elsewhere would no longer be safe). */
  get responseStarted(): boolean {
    return this.#reader.started;
  }

  /** Close now. `err` is what the current user (if any) is told; pass undefined to detach it first. */
  destroy(err?: NodeJS.ErrnoException): void {
    if (err !== undefined) this.#error ??= err;
    else this.user = undefined;
    this.socket.destroy();
  }

  onTick(now: number): void {
    if (now < this.deadline) return;
    switch (this.deadlineKind) {
      case Deadline.Connect:
        this.destroy(codedError('ERR_UPSTREAM_CONNECT_TIMEOUT', 'the TLS connection was not established in time'));
        return;
      case Deadline.Response:
        this.destroy(codedError('ERR_UPSTREAM_RESPONSE_TIMEOUT', 'the upstream did not answer in time'));
        return;
      case Deadline.Idle:
        this.destroy();
        return;
      default:
    }
  }

  // --- ResponseEvents, from the reader

  onResponseHead(head: ResponseHead): void {
    if (head.keepAliveTimeout >= 0) this.peerIdleMs = head.keepAliveTimeout * 1000;
    this.user?.onUpstreamHead(head);
  }

  onResponseBody(buf: Buffer, start: number, end: number): void {
    this.user?.onUpstreamBody(buf, start, end);
  }

  onResponseEnd(): void {
    const u = this.user;
    if (this.deadlineKind === Deadline.Response) {
      this.deadline = Infinity;
      this.deadlineKind = Deadline.None;
    }
    u?.onUpstreamEnd();
  }

  onResponseError(err: ResponseProtocolError | UpstreamClosedError): void {
    this.destroy(err as unknown as NodeJS.ErrnoException);
  }
}
