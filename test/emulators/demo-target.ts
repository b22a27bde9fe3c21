// Plain-HTTP targets behind the emulated Lattice: the seed's demo app, and an echo server for tests.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { closeServer, listen, sendJson, urlHost } from './server-util.js';

export interface TargetServer {
  url: string;
  host: string;
  port: number;
  /** requests answered so far; body bytes received so far (echo target, counted as they stream in) */
  stats: { requests: number; bodyBytes: number };
  close(): Promise<void>;
}

export interface DemoTargetOptions {
  host?: string;
  port?: number;
  /** e.g. demo-cluster2-v1 */
  app: string;
  podName: string;
}

async function start(server: Server, host: string, port: number, stats: TargetServer['stats']): Promise<TargetServer> {
  // Long keep-alive so the Lattice emulator's pooled connections are not closed under it between requests.
  server.keepAliveTimeout = 65_000;
  const bound = await listen(server, host, port);
  return { url: `http://${urlHost(host)}:${bound}`, host, port: bound, stats, close: () => closeServer(server) };
}

/** The seed's demo app: every request gets `Requesting to Pod(<pod>): Hello from <app>`. */
export function startDemoTarget(opts: DemoTargetOptions): Promise<TargetServer> {
  const stats = { requests: 0, bodyBytes: 0 };
  const text = `Requesting to Pod(${opts.podName}): Hello from ${opts.app}\n`;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      stats.requests++;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  return start(server, opts.host ?? '127.0.0.1', opts.port ?? 0, stats);
}

export interface EchoResponse {
  method: string;
  rawPath: string;
  /** wire-order [name, value] pairs */
  headers: Array<[string, string]>;
  bodyBytes: number;
  bodySha256: string;
}

/** Describes each request it receives; the body is hashed as it streams (tests send 1 GiB), never buffered. */
export function startEchoTarget(opts: { host?: string; port?: number } = {}): Promise<TargetServer> {
  const stats = { requests: 0, bodyBytes: 0 };
  const server = createServer((req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      stats.bodyBytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      stats.requests++;
      const headers: Array<[string, string]> = [];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
        headers.push([req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string]);
      }
      const body: EchoResponse = {
        method: req.method ?? '',
        rawPath: req.url ?? '',
        headers,
        bodyBytes: bytes,
        bodySha256: hash.digest('hex'),
      };
      sendJson(res, 200, body);
    });
    req.on('error', () => res.destroy());
  });
  return start(server, opts.host ?? '127.0.0.1', opts.port ?? 0, stats);
}
