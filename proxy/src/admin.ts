// The admin listener: liveness, readiness and metrics, and nothing else (it listens on all interfaces so
// the kubelet and Prometheus can reach it, so it must never expose the signing path).

import { createServer, type Server } from 'node:http';
import type { Logger } from './logging.js';
import type { Metrics } from './metrics.js';

export interface Readiness {
  /** Undefined when ready, else the reason it is not. */
  notReadyReason(): string | undefined;
}

export interface AdminServer {
  readonly server: Server;
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

export function createAdminServer(readiness: Readiness, metrics: Metrics, logger: Logger): AdminServer {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok\n');
    } else if (path === '/readyz') {
      const reason = readiness.notReadyReason();
      if (reason === undefined) res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ready\n');
      else res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end(`not ready: ${reason}\n`);
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err: unknown) => {
          logger.error({ event: 'metrics_failed', error: (err as Error).message }, 'metrics collection failed');
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics collection failed\n');
        },
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: this port serves /healthz, /readyz and /metrics only\n');
    }
  });
  server.keepAliveTimeout = 5_000;
  return {
    server,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port, host }, () => {
          server.off('error', reject);
          const a = server.address();
          resolve(typeof a === 'object' && a ? a.port : port);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
