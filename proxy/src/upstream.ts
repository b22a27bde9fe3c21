// The upstream side: a keep-alive pool of TLS connections per target origin (undici's Agent), trusting the
// current SecureContext, optionally dialling a fixed address (CONNECT_TO) while SNI, certificate
// verification, Host and the signature keep the real host name.
//
// Why undici rather than http-proxy/https.Agent: see README "Choosing the upstream client" for the figures.

import { Agent, buildConnector, type Dispatcher } from 'undici';
import type { SecureContext } from 'node:tls';
import type { ConnectTo } from './config.js';
import type { Logger } from './logging.js';
import type { Metrics } from './metrics.js';

export interface UpstreamOptions {
  readonly connectTo: ConnectTo | undefined;
  readonly connectTimeoutMs: number;
  readonly timeoutMs: number;
  readonly maxConnections: number;
  readonly keepAliveTimeoutMs: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export class Upstream {
  readonly #o: UpstreamOptions;
  #agent: Agent | undefined;

  constructor(options: UpstreamOptions) {
    this.#o = options;
  }

  get ready(): boolean {
    return this.#agent !== undefined;
  }

  /** Switch to a new trust context. New requests use it at once; the old pool finishes its requests. */
  setSecureContext(context: SecureContext): void {
    const old = this.#agent;
    this.#agent = this.#createAgent(context);
    if (old) {
      old.close().catch((err: unknown) => this.#o.logger.warn({ event: 'pool_close_failed', error: (err as Error).message }, 'closing the previous upstream pool failed'));
    }
  }

  #createAgent(secureContext: SecureContext): Agent {
    const { connectTo, metrics } = this.#o;
    const base = buildConnector({ secureContext, timeout: this.#o.connectTimeoutMs, rejectUnauthorized: true });
    const connect: buildConnector.connector = (opts, callback) => {
      metrics.upstreamConnections.inc();
      if (connectTo === undefined) return base(opts, callback);
      // `host` (name:port) still carries the real name: undici derives SNI from it, and Node verifies the
      // certificate against the SNI name, not against the address dialled.
      return base({ ...opts, hostname: connectTo.host, port: String(connectTo.port), servername: opts.servername ?? opts.hostname }, callback);
    };
    return new Agent({
      connect,
      connections: this.#o.maxConnections,
      keepAliveTimeout: this.#o.keepAliveTimeoutMs,
      keepAliveMaxTimeout: Math.max(this.#o.keepAliveTimeoutMs, 60_000),
      headersTimeout: this.#o.timeoutMs,
      bodyTimeout: this.#o.timeoutMs,
      pipelining: 1,
    });
  }

  /** Start a request; `handler` receives the response (undici's dispatch handler protocol). */
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.#agent!.dispatch(options, handler);
  }

  async close(): Promise<void> {
    await this.#agent?.close();
  }

  async destroy(): Promise<void> {
    await this.#agent?.destroy();
  }
}
