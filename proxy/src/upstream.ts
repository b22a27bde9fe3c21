// The upstream side: keep-alive pools of TLS connections, one per target origin (host and port), trusting
// the current SecureContext, optionally dialling a fixed address (CONNECT_TO) while SNI, certificate
// verification, Host and the signature keep the real host name. Connections are reused most-recent-first
// (so the rest idle out), reaped after UPSTREAM_KEEPALIVE_TIMEOUT_MS (or the peer's own Keep-Alive timeout,
// whichever is shorter), and capped per origin; requests beyond the cap wait in order.

import type { SecureContext } from 'node:tls';
import type { ConnectTo } from './config.js';
import type { Logger } from './logging.js';
import type { Metrics } from './metrics.js';
import type { Ticker, Timed } from './ticker.js';
import { UpstreamConnection, type ConnectionOwner } from './upstream-connection.js';
import { ownString } from './own-string.js';

export interface UpstreamOptions {
  readonly connectTo: ConnectTo | undefined;
  readonly connectTimeoutMs: number;
  readonly timeoutMs: number;
  readonly maxConnections: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxHeaderSize: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly ticker: Ticker;
}

/** Someone waiting for a connection of a full pool. */
export interface PoolWaiter {
  onConnection(conn: UpstreamConnection): void;
}

const MAX_EMPTY_ORIGINS = 256;

class Origin {
  readonly idle: UpstreamConnection[] = [];
  readonly all = new Set<UpstreamConnection>();
  readonly waiting: PoolWaiter[] = [];
  session: Buffer | undefined;
  constructor(
    readonly key: string,
    readonly host: string,
    readonly port: number,
  ) {}
}

export class Upstream implements ConnectionOwner, Timed {
  readonly #o: UpstreamOptions;
  readonly #origins = new Map<string, Origin>();
  #context: SecureContext | undefined;
  #closing = false;
  #closedWaiters: Array<() => void> = [];

  constructor(options: UpstreamOptions) {
    this.#o = options;
    options.ticker.add(this);
  }

  get ready(): boolean {
    return this.#context !== undefined;
  }

  get timeoutMs(): number {
    return this.#o.timeoutMs;
  }

  /** Switch to a new trust context. New connections use it at once; existing ones finish and are not reused. */
  setSecureContext(context: SecureContext): void {
    const hadOne = this.#context !== undefined;
    this.#context = context;
    if (!hadOne) return;
    for (const origin of this.#origins.values()) {
      for (const c of origin.all) c.stale = true;
      for (const c of origin.idle.splice(0)) c.destroy();
      // A new root may mean a new certificate chain: resuming an old session would skip the new check.
      origin.session = undefined;
    }
  }

  /**
   * A connection for `origin` now (an idle one, or a new one still connecting: writes wait in its socket),
   * or undefined when the pool is at its cap; `waiter` then gets one when another is released.
   */
  acquire(key: string, host: string, port: number, waiter: PoolWaiter): UpstreamConnection | undefined {
    let origin = this.#origins.get(key);
    if (origin === undefined) {
      // The pool outlives the request: its key and host must not pin the request's head (own-string.ts).
      origin = new Origin(ownString(key), ownString(host), port);
      this.#origins.set(origin.key, origin);
    }
    while (origin.idle.length > 0) {
      const c = origin.idle.pop()!;
      if (c.reusable) return c;
      c.destroy();
    }
    if (origin.all.size >= this.#o.maxConnections) {
      origin.waiting.push(waiter);
      return undefined;
    }
    return this.#dial(origin);
  }

  /** A new connection even if idle ones exist (a retry after a reused one failed). */
  dialFresh(key: string): UpstreamConnection | undefined {
    const origin = this.#origins.get(key);
    return origin === undefined ? undefined : this.#dial(origin);
  }

  /** Forget a waiter that gave up (its app went away). */
  cancel(key: string, waiter: PoolWaiter): void {
    const origin = this.#origins.get(key);
    if (origin === undefined) return;
    const i = origin.waiting.indexOf(waiter);
    if (i >= 0) origin.waiting.splice(i, 1);
  }

  /** The holder is done with `conn`: reuse it (`reusable` and nothing wrong with it) or close it. */
  release(conn: UpstreamConnection, reusable: boolean): void {
    const origin = this.#origins.get(conn.originKey);
    if (origin === undefined || !reusable || !conn.reusable || this.#closing) {
      conn.destroy();
      return;
    }
    const next = origin.waiting.shift();
    if (next !== undefined) {
      conn.user = undefined;
      next.onConnection(conn);
      return;
    }
    conn.idle(this.#o.ticker.coarseNow, this.#o.keepAliveTimeoutMs);
    origin.idle.push(conn);
  }

  #dial(origin: Origin): UpstreamConnection {
    const ct = this.#o.connectTo;
    const conn = new UpstreamConnection(
      origin.key,
      {
        host: origin.host,
        port: origin.port,
        dialHost: ct?.host ?? origin.host,
        dialPort: ct?.port ?? origin.port,
        secureContext: this.#context!,
        session: origin.session,
        maxHeaderSize: Math.max(this.#o.maxHeaderSize, 64 * 1024),
      },
      this,
      this.#o.ticker.now(),
      this.#o.connectTimeoutMs,
    );
    origin.all.add(conn);
    this.#o.metrics.upstreamConnectionOpened();
    return conn;
  }

  onSession(conn: UpstreamConnection, session: Buffer): void {
    const origin = this.#origins.get(conn.originKey);
    if (origin !== undefined && !conn.stale) origin.session = session;
  }

  onConnectionClosed(conn: UpstreamConnection): void {
    const origin = this.#origins.get(conn.originKey);
    if (origin === undefined) return;
    origin.all.delete(conn);
    const i = origin.idle.indexOf(conn);
    if (i >= 0) origin.idle.splice(i, 1);
    // A slot freed: the first waiter gets a new connection.
    if (origin.waiting.length > 0 && !this.#closing && origin.all.size < this.#o.maxConnections) {
      origin.waiting.shift()!.onConnection(this.#dial(origin));
    }
    // An empty origin keeps its TLS session for the next connection; only a pod cycling through many hosts
    // sheds them.
    if (origin.all.size === 0 && origin.waiting.length === 0 && (this.#closing || this.#origins.size > MAX_EMPTY_ORIGINS)) this.#origins.delete(origin.key);
    if (this.#closing && this.#origins.size === 0) for (const w of this.#closedWaiters.splice(0)) w();
  }

  onTick(now: number): void {
    for (const origin of this.#origins.values()) for (const c of origin.all) if (now >= c.deadline) c.onTick(now);
  }

  /** Close idle connections now and the others once their request is done; resolves when all are closed. */
  close(): Promise<void> {
    this.#closing = true;
    for (const origin of [...this.#origins.values()]) {
      for (const c of origin.idle.splice(0)) c.destroy();
      if (origin.all.size === 0) this.#origins.delete(origin.key);
    }
    if (this.#origins.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#closedWaiters.push(resolve));
  }

  /** Close every connection now. */
  destroy(): Promise<void> {
    this.#closing = true;
    const done = this.close();
    for (const origin of this.#origins.values()) for (const c of origin.all) c.destroy();
    return done;
  }
}
