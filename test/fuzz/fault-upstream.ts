// A misbehaving HTTPS upstream for the fault tests. One listener, several personalities:
// - by SNI name: `untrusted.<domain>` presents a certificate from a foreign CA, `wronghost.<domain>` a trusted
//   certificate for another name, anything else a good certificate;
// - by path: /ok answers, /stall never answers, /stall-body sends headers then nothing, /reset-mid sends
//   headers and part of the body then resets, /slow answers after `slowMs`, /drip sends the body in pieces,
//   /upload reads the body and records whether it ended or was cut.
// It records every application byte per SNI name, so a test can prove nothing was sent after a refused
// handshake.

import { createServer, type Server } from 'node:https';
import { createSecureContext, type TLSSocket } from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createTestCa, createUntrustedCa, type TestCa } from '../emulators/pki.js';

export interface UploadRecord {
  bytes: number;
  ended: boolean;
  aborted: boolean;
}

export interface FaultUpstream {
  readonly port: number;
  readonly ca: TestCa;
  readonly goodHost: string;
  readonly untrustedHost: string;
  readonly wrongHost: string;
  /** Application bytes received after the handshake, by SNI name. */
  readonly bytesBySni: Map<string, number>;
  /** Handshakes completed (server side), by SNI name. */
  readonly handshakesBySni: Map<string, number>;
  readonly requests: Array<{ method: string; path: string; host: string }>;
  readonly uploads: UploadRecord[];
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
  const ca = await createTestCa('fault-upstream test root');
  const foreign = await createUntrustedCa();
  const good = await ca.issue({ dnsNames: [`*.${domain}`] });
  const untrusted = await foreign.issue({ dnsNames: [untrustedHost] });
  const other = await ca.issue({ dnsNames: [`someone-else.${domain}`] });
  const contexts = new Map([
    [untrustedHost, createSecureContext({ cert: untrusted.certPem, key: untrusted.keyPem })],
    [wrongHost, createSecureContext({ cert: other.certPem, key: other.keyPem })],
  ]);
  const bytesBySni = new Map<string, number>();
  const handshakesBySni = new Map<string, number>();
  const requests: FaultUpstream['requests'] = [];
  const uploads: UploadRecord[] = [];
  const sockets = new Set<TLSSocket>();
  let slow = 0;

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]!;
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
    bytesBySni,
    handshakesBySni,
    requests,
    uploads,
    slowPending: () => slow,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
