// The data path, top to bottom: accept (here) → parse, allow, sign (app-connection.ts) → upstream, relay,
// log (exchange.ts, upstream.ts). A plain-HTTP request from the app in, a SigV4-signed HTTPS request to the
// same host out, the answer streamed back. node:http and undici stay off this path: the app side is
// node:net with the strict parser of http1-*.ts, the upstream side node:tls.

import { createServer, type Server, type Socket } from 'node:net';
import type { Config } from './config.js';
import type { CredentialCache } from './credentials.js';
import { AppConnection, type AppContext } from './app-connection.js';
import { compileHeaderPolicy, type HeaderPolicy } from './headers.js';
import type { AccessLog, Logger } from './logging.js';
import type { Metrics } from './metrics.js';
import { CredentialCheck, type RequestSigner } from './signed-request.js';
import { TargetCache } from './target-cache.js';
import type { Ticker } from './ticker.js';
import type { Upstream } from './upstream.js';
import { H2AppServer } from './h2-app.js';
import type { H2Upstream } from './h2-upstream.js';
import type { HostAllowlist } from './hosts.js';

export interface ProxyDeps {
  readonly config: Config;
  readonly signer: RequestSigner;
  readonly credentials: CredentialCache;
  readonly upstream: Upstream;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Undefined: no access lines (ACCESS_LOG=false). */
  readonly accessLog: AccessLog | undefined;
  readonly ticker: Ticker;
  readonly h2upstream: H2Upstream;
}

export class ProxyServer implements AppContext {
  readonly config: Config;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly signer: RequestSigner;
  readonly credentials: CredentialCache;
  readonly upstream: Upstream;
  readonly accessLog: AccessLog | undefined;
  readonly ticker: Ticker;
  readonly targets: TargetCache;
  readonly headerPolicy: HeaderPolicy;
  readonly credentialCheck = new CredentialCheck();
  readonly headersTimeoutMs: number;
  readonly h2upstream: H2Upstream;
  readonly http2Hosts: HostAllowlist;
  readonly #h2app: H2AppServer;
  readonly #servers: Server[] = [];
  readonly #connections = new Set<AppConnection>();
  #listening = false;
  draining = false;
  #inFlight = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(deps: ProxyDeps) {
    this.config = deps.config;
    this.metrics = deps.metrics;
    this.logger = deps.logger;
    this.signer = deps.signer;
    this.credentials = deps.credentials;
    this.upstream = deps.upstream;
    this.accessLog = deps.config.accessLog ? deps.accessLog : undefined;
    this.ticker = deps.ticker;
    this.targets = new TargetCache(deps.config.allowlist, deps.config.upstreamPort);
    this.headerPolicy = compileHeaderPolicy(deps.config.unsignedHeaders, deps.config.authorizationForwardHeader);
    // Node's http server defaults, kept: the head within 60 s (or the request timeout, if shorter).
    this.headersTimeoutMs = Math.min(60_000, deps.config.requestTimeoutMs || 60_000);
    this.h2upstream = deps.h2upstream;
    this.http2Hosts = deps.config.http2Allowlist;
    this.#h2app = new H2AppServer(this);
    this.metrics.inFlightSource(() => this.#inFlight);
  }

  acceptH2c(socket: Socket, buffered: Buffer): void {
    this.#h2app.accept(socket, buffered);
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
      // allowHalfOpen: an app that half-closes after its request still gets the answer.
      const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
      server.on('error', (err) => this.logger.error({ event: 'listener_error', error: err.message }, 'listener error'));
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

  #accept(socket: Socket): void {
    const conn = new AppConnection(socket, this);
    this.#connections.add(conn);
    this.ticker.add(conn);
    // A connection accepted while draining (the listener closes asynchronously) is closed at once.
    if (this.draining) conn.closeIfIdle();
  }

  connectionClosed(conn: AppConnection): void {
    this.#connections.delete(conn);
    this.ticker.delete(conn);
  }

  exchangeStarted(): void {
    this.#inFlight++;
  }

  exchangeFinished(): void {
    if (--this.#inFlight === 0 && this.#idleWaiters.length > 0) for (const w of this.#idleWaiters.splice(0)) w();
  }

  /** Stop accepting, let in-flight requests finish up to `timeoutMs`, then cut what is left. */
  async drain(timeoutMs: number): Promise<{ completed: boolean; abandoned: number }> {
    this.draining = true;
    const closed = this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    this.#listening = false;
    // Idle keep-alive connections are closed now; busy ones after their answer (with Connection: close).
    for (const c of this.#connections) c.closeIfIdle();
    this.#h2app.drain();
    const idle = this.#inFlight === 0 ? Promise.resolve(true) : new Promise<boolean>((resolve) => this.#idleWaiters.push(() => resolve(true)));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const completed = await Promise.race([idle, timedOut]);
    clearTimeout(timer);
    const abandoned = this.#inFlight;
    for (const c of this.#connections) c.destroy();
    this.#h2app.destroy();
    await Promise.all(closed);
    return { completed, abandoned };
  }
}
