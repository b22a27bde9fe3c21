// A misbehaving HTTPS upstream for the fault tests. One listener, several personalities:
// - by SNI name: `untrusted.<domain>` presents a certificate from a foreign CA, `wronghost.<domain>` a trusted
//   certificate for another name, `expired.<domain>` a trusted certificate for its name that has expired,
//   anything else a good certificate;
// - by path: /ok answers, /stall never answers, /stall-body sends headers then nothing, /reset-mid sends
//   headers and part of the body then resets, /close-now closes the connection before any answer, /garbage
//   answers bytes that are not HTTP, /slow answers after `slowMs`, /drip sends the body in pieces,
//   /gap?n=N&ms=M sends N pieces M ms apart, /download?bytes=N streams N bytes honouring backpressure
//   (recorded in `downloads`), /upload reads the body and records whether it ended or was cut.
// It records every application byte per SNI name, so a test can prove nothing was sent after a refused
// handshake.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, type TLSSocket } from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createTestCa, createUntrustedCa, type TestCa } from '../emulators/pki.js';

export interface UploadRecord {
  bytes: number;
  ended: boolean;
  aborted: boolean;
}

/** One /download: what the upstream managed to hand to its socket, and how often the socket pushed back. */
export interface DownloadRecord {
  readonly total: number;
  /** Bytes accepted by res.write() so far. */
  written: number;
  /** Times res.write() returned false (the socket's buffer was full). */
  blocked: number;
  /** Longest wait from such a write to its 'drain': long only when the reader stopped reading. */
  longestBlockedMs: number;
  done: boolean;
  aborted: boolean;
}

export interface FaultUpstream {
  readonly port: number;
  readonly ca: TestCa;
  readonly goodHost: string;
  readonly untrustedHost: string;
  readonly wrongHost: string;
  readonly expiredHost: string;
  /** Application bytes received after the handshake, by SNI name. */
  readonly bytesBySni: Map<string, number>;
  /** Handshakes completed (server side), by SNI name. */
  readonly handshakesBySni: Map<string, number>;
  readonly requests: Array<{ method: string; path: string; host: string }>;
  readonly uploads: UploadRecord[];
  readonly downloads: DownloadRecord[];
  /** Requests of /slow started and not yet answered. */
  slowPending(): number;
  close(): Promise<void>;
}

export async function startFaultUpstream(opts: { domain?: string; slowMs?: number } = {}): Promise<FaultUpstream> {
  const domain = opts.domain ?? 'example.com';
  const slowMs = opts.slowMs ?? 1_000;
  const goodHost = `good.${domain}`;
  const untrustedHost = `untrusted.${domain}`;
  const wrongHost = `wronghost.${domain}`;
  const expiredHost = `expired.${domain}`;
  const ca = await createTestCa('fault-upstream test root');
  const foreign = await createUntrustedCa();
  const good = await ca.issue({ dnsNames: [`*.${domain}`] });
  const untrusted = await foreign.issue({ dnsNames: [untrustedHost] });
  const other = await ca.issue({ dnsNames: [`someone-else.${domain}`] });
  // Valid from a day ago (pki.ts) to an hour ago: trusted issuer, right name, expired.
  const expired = await ca.issue({ dnsNames: [expiredHost], notAfter: new Date(Date.now() - 3_600_000) });
  const contexts = new Map([
    [untrustedHost, createSecureContext({ cert: untrusted.certPem, key: untrusted.keyPem })],
    [wrongHost, createSecureContext({ cert: other.certPem, key: other.keyPem })],
    [expiredHost, createSecureContext({ cert: expired.certPem, key: expired.keyPem })],
  ]);
  const bytesBySni = new Map<string, number>();
  const handshakesBySni = new Map<string, number>();
  const requests: FaultUpstream['requests'] = [];
  const uploads: UploadRecord[] = [];
  const downloads: DownloadRecord[] = [];
  const sockets = new Set<TLSSocket>();
  let slow = 0;

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const [path = '/', query = ''] = (req.url ?? '/').split('?');
    const param = (name: string, dflt: number): number => Number(new URLSearchParams(query).get(name) ?? dflt);
    requests.push({ method: req.method ?? '', path, host: req.headers.host ?? '' });
    switch (path) {
      case '/stall':
        req.resume();
        return; // never answers
      case '/stall-body':
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
        res.write('only the start');
        return;
      case '/reset-mid': {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(1 << 20) });
        res.write(Buffer.alloc(16_384, 0x61), () => setTimeout(() => req.socket.destroy(), 50));
        return;
      }
      case '/close-now':
        // Before any byte of an answer: the proxy sees the connection end where a status line should be.
        req.socket.destroy();
        return;
      case '/garbage':
        req.resume();
        req.socket.end('SSH-2.0-OpenSSH_9.6 this is not HTTP\r\n\r\n');
        return;
      case '/gap': {
        req.resume();
        const n = param('n', 5);
        const ms = param('ms', 100);
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('piece 1\n');
        let i = 1;
        const t = setInterval(() => {
          if (res.destroyed || ++i > n) {
            clearInterval(t);
            res.end();
            return;
          }
          res.write(`piece ${i}\n`);
        }, ms);
        res.on('close', () => clearInterval(t));
        return;
      }
      case '/download': {
        req.resume();
        const rec: DownloadRecord = { total: param('bytes', 1 << 20), written: 0, blocked: 0, longestBlockedMs: 0, done: false, aborted: false };
        let blockedAt = 0;
        downloads.push(rec);
        const piece = Buffer.alloc(64 * 1024);
        for (let i = 0; i < piece.length; i++) piece[i] = (i * 31 + 7) & 0xff;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(rec.total) });
        const pump = (): void => {
          if (blockedAt > 0) rec.longestBlockedMs = Math.max(rec.longestBlockedMs, Date.now() - blockedAt);
          while (rec.written < rec.total && !res.destroyed) {
            const n = Math.min(piece.length, rec.total - rec.written);
            rec.written += n;
            if (!res.write(n === piece.length ? piece : piece.subarray(0, n))) {
              rec.blocked++;
              blockedAt = Date.now();
              res.once('drain', pump);
              return;
            }
          }
          if (rec.written >= rec.total && !rec.done) {
            rec.done = true;
            res.end();
          }
        };
        res.on('close', () => {
          if (!res.writableFinished) rec.aborted = true;
        });
        pump();
        return;
      }
      case '/slow':
        req.resume();
        slow++;
        setTimeout(() => {
          slow--;
          res.end('slow answer');
        }, slowMs);
        return;
      case '/drip': {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain' });
        let n = 0;
        const t = setInterval(() => {
          if (res.destroyed || ++n > 10) {
            clearInterval(t);
            res.end();
            return;
          }
          res.write(`piece ${n}\n`);
        }, 100);
        return;
      }
      case '/upload': {
        const rec: UploadRecord = { bytes: 0, ended: false, aborted: false };
        uploads.push(rec);
        req.on('data', (c: Buffer) => (rec.bytes += c.length));
        req.on('end', () => {
          rec.ended = true;
          res.end(`got ${rec.bytes}`);
        });
        req.on('close', () => {
          if (!rec.ended) rec.aborted = true;
        });
        return;
      }
      default:
        req.resume();
        res.end('ok');
    }
  };

  const server: Server = createServer(
    {
      cert: good.certPem,
      key: good.keyPem,
      SNICallback: (name, cb) => cb(null, contexts.get(name.toLowerCase())),
    },
    handler,
  );
  server.keepAliveTimeout = 30_000;
  server.on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const sni = String((socket as TLSSocket & { servername?: string | false }).servername || '');
    handshakesBySni.set(sni, (handshakesBySni.get(sni) ?? 0) + 1);
    socket.on('data', (c: Buffer) => bytesBySni.set(sni, (bytesBySni.get(sni) ?? 0) + c.length));
  });
  server.on('tlsClientError', () => {
    /* the proxy refusing our certificate is the point of some tests */
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    ca,
    goodHost,
    untrustedHost,
    wrongHost,
    expiredHost,
    bytesBySni,
    handshakesBySni,
    requests,
    uploads,
    downloads,
    slowPending: () => slow,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Environment of a proxy that dials `up` for every host, trusts its CA and signs with static keys (these
 * tests are about the data path, not about where credentials come from).
 */
export function faultProxyEnv(up: FaultUpstream, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const caFile = join(mkdtempSync(join(tmpdir(), 'lsp-fault-ca-')), 'ca.pem');
  writeFileSync(caFile, up.ca.certPem);
  return {
    AWS_REGION: 'us-west-2',
    AWS_ACCESS_KEY_ID: 'AKIACONTRACTTESTS001',
    AWS_SECRET_ACCESS_KEY: 'contract-tests-secret-key-not-a-real-one',
    APP_DOMAIN: 'example.com',
    CA_FILE: caFile,
    CONNECT_TO: `127.0.0.1:${up.port}`,
    ...extra,
  };
}
