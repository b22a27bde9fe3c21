// The fuzzer's TLS-independent oracle: a catch-all listener in front of the (emulated) Lattice that records
// every SNI name offered in a ClientHello and every Host (with method, path, and whether it was signed) of
// every request that arrives, and only then relays the request to the real upstream.
//
// Why: the Lattice emulator's certificate covers only its service names, so a request the proxy wrongly signs
// for `evil.com` or `169.254.169.254` fails TLS there and never reaches its log; the test would see an
// accepted 502 and nothing else. Here
// - the SNI is read from the raw ClientHello before any TLS processing, so a connection is recorded even when
//   the handshake later fails, and a connection WITHOUT SNI (the proxy dials IP literals without one) is
//   counted too;
// - every handshake succeeds: a certificate for the offered name is issued on the fly by a CA the proxy
//   under test trusts (`caPem`, given to it as CA_FILE), so whatever the proxy would send after TLS, Host
//   header, path and signature included, arrives here and is recorded.
// The relay to the upstream keeps the request as received (header order and case, body streamed), so the
// upstream still verifies the signature; it does not verify the upstream's certificate (it is a test hop).

import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Agent, createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { createServer as createNetServer, isIP, type Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { createTestCa } from '../emulators/pki.js';

export interface FrontRequest {
  readonly sni: string | undefined;
  readonly host: string;
  readonly method: string;
  readonly path: string;
  readonly signed: boolean;
}

export interface RecordingFrontOptions {
  /** Where requests are relayed (HTTPS). */
  readonly upstreamPort: number;
  readonly upstreamHost?: string;
  /** The oracle: may the proxy dial / sign for this host name (no port, lower case)? */
  readonly allowed: (host: string) => boolean;
  /** Paths that must never arrive (requests smuggled behind a refused one). */
  readonly forbiddenPath?: (path: string) => boolean;
}

export interface RecordingFront {
  readonly port: number;
  /** PEM of the CA that issues the front's certificates: the proxy under test must trust it (CA_FILE). */
  readonly caPem: string;
  /** ClientHellos read, ClientHellos without SNI, requests received. */
  readonly stats: { clientHellos: number; noSni: number; requests: number; unsigned: number };
  /** Times each SNI name was offered. */
  readonly sniSeen: Map<string, number>;
  /** The last requests received (bounded), newest last. */
  readonly requests: FrontRequest[];
  /** Everything the oracle refuses: a disallowed SNI or Host, a connection without SNI, an unsigned or forbidden request. */
  readonly violations: string[];
  close(): Promise<void>;
}

const KEEP_REQUESTS = 20_000;
const KEEP_VIOLATIONS = 100;
const MAX_CERTS = 4_096;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);

/**
 * The server_name of a TLS ClientHello, `null` when it has none, `undefined` when `buf` does not hold a
 * complete ClientHello record yet (or never will: then the caller gives up after 16 KiB).
 */
export function clientHelloSni(buf: Buffer): string | null | undefined {
  if (buf.length < 5) return undefined;
  if (buf[0] !== 0x16) return null; // not a TLS handshake record
  const recordLen = buf.readUInt16BE(3);
  if (buf.length < 5 + recordLen) return undefined;
  let p = 5;
  if (buf[p] !== 0x01) return null; // not a ClientHello
  p += 4 + 2 + 32; // handshake type + length, client_version, random
  const end = 5 + recordLen;
  if (p + 1 > end) return null;
  p += 1 + buf[p]!; // session id
  if (p + 2 > end) return null;
  p += 2 + buf.readUInt16BE(p); // cipher suites
  if (p + 1 > end) return null;
  p += 1 + buf[p]!; // compression methods
  if (p + 2 > end) return null;
  const extEnd = Math.min(end, p + 2 + buf.readUInt16BE(p));
  p += 2;
  while (p + 4 <= extEnd) {
    const type = buf.readUInt16BE(p);
    const len = buf.readUInt16BE(p + 2);
    p += 4;
    if (type === 0x0000 && p + 5 <= extEnd) {
      // server_name_list length (2), name_type (1, 0 = host_name), name length (2), name
      const nameLen = buf.readUInt16BE(p + 3);
      return buf.subarray(p + 5, p + 5 + nameLen).toString('latin1').toLowerCase();
    }
    p += len;
  }
  return null;
}

function hostName(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(1, hostHeader.indexOf(']')).toLowerCase();
  const colon = hostHeader.lastIndexOf(':');
  return (colon >= 0 ? hostHeader.slice(0, colon) : hostHeader).toLowerCase().replace(/\.$/, '');
}

export async function startRecordingFront(opts: RecordingFrontOptions): Promise<RecordingFront> {
  const ca = await createTestCa('recording front (catch-all) test root');
  const fallback = await ca.issue({ dnsNames: ['front.invalid'], ipAddresses: ['127.0.0.1', '::1'] });
  const contexts = new Map<string, Promise<SecureContext | undefined>>();
  const stats = { clientHellos: 0, noSni: 0, requests: 0, unsigned: 0 };
  const sniSeen = new Map<string, number>();
  const requests: FrontRequest[] = [];
  const violations: string[] = [];
  const sockets = new Set<Socket>();
  const agent = new Agent({ keepAlive: true, maxSockets: 64, rejectUnauthorized: false });
  const violation = (text: string): void => {
    if (violations.length < KEEP_VIOLATIONS) violations.push(text);
  };

  const contextFor = (name: string): Promise<SecureContext | undefined> => {
    let c = contexts.get(name);
    if (c === undefined) {
      if (contexts.size >= MAX_CERTS) return Promise.resolve(undefined);
      c = ca
        .issue({ dnsNames: [name] })
        .then((leaf) => createSecureContext({ cert: leaf.certPem, key: leaf.keyPem }))
        .catch(() => undefined); // a name no certificate can carry: the default certificate, the handshake fails
      contexts.set(name, c);
    }
    return c;
  };

  const relay = (req: IncomingMessage, res: ServerResponse): void => {
    const sni = String((req.socket as TLSSocket & { servername?: string | false }).servername || '') || undefined;
    const host = req.headers.host ?? '';
    const path = req.url ?? '';
    const signed = typeof req.headers.authorization === 'string' && req.headers.authorization.startsWith('AWS4-HMAC-SHA256 ');
    stats.requests++;
    if (!signed) stats.unsigned++;
    requests.push({ sni, host, method: req.method ?? '', path, signed });
    if (requests.length > KEEP_REQUESTS) requests.splice(0, requests.length - KEEP_REQUESTS);
    const name = hostName(host);
    if (!opts.allowed(name)) violation(`request for Host ${JSON.stringify(host)} (SNI ${sni ?? 'none'}) ${req.method} ${path.slice(0, 80)}`);
    if (sni !== undefined && sni !== name) violation(`SNI ${sni} differs from Host ${JSON.stringify(host)}`);
    if (!signed) violation(`unsigned request ${req.method} ${JSON.stringify(host)} ${path.slice(0, 80)}`);
    if (opts.forbiddenPath?.(path)) violation(`forbidden path reached the upstream: ${req.method} ${JSON.stringify(host)} ${path.slice(0, 80)}`);

    const headers: string[] = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      if (HOP_BY_HOP.has(req.rawHeaders[i]!.toLowerCase())) continue;
      headers.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    }
    const up = httpsRequest({
      host: opts.upstreamHost ?? '127.0.0.1',
      port: opts.upstreamPort,
      method: req.method,
      path,
      headers: headers as unknown as OutgoingHttpHeaders,
      setHost: false,
      agent,
      ...(sni !== undefined && isIP(sni) === 0 ? { servername: sni } : {}),
    });
    up.on('response', (upRes) => {
      const out: string[] = [];
      for (let i = 0; i + 1 < upRes.rawHeaders.length; i += 2) {
        if (HOP_BY_HOP.has(upRes.rawHeaders[i]!.toLowerCase())) continue;
        out.push(upRes.rawHeaders[i]!, upRes.rawHeaders[i + 1]!);
      }
      res.writeHead(upRes.statusCode ?? 502, out);
      pipeline(upRes, res, () => undefined);
    });
    up.on('error', () => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { 'content-type': 'text/plain' }).end('recording front: relay to the upstream failed\n');
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    pipeline(req, up, () => undefined);
  };

  const tlsServer = createHttpsServer(
    {
      cert: fallback.certPem,
      key: fallback.keyPem,
      SNICallback: (name, cb) => {
        contextFor(name.toLowerCase()).then(
          (c) => cb(null, c),
          () => cb(null, undefined),
        );
      },
    },
    relay,
  );
  // Short, and announced in Keep-Alive: the proxy's pool then drops the connections to the many distinct
  // (allowed) names a fuzz run dials within seconds, so the socket count after the run means something.
  tlsServer.keepAliveTimeout = 2_000;
  tlsServer.requestTimeout = 0;
  tlsServer.on('tlsClientError', () => undefined);
  tlsServer.on('clientError', (_e, s) => s.destroy());

  // Plain TCP first: read the ClientHello, record its SNI, then hand the connection to the TLS server (it
  // takes the bytes already read along).
  const tcp = createNetServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const sni = clientHelloSni(buf);
      if (sni === undefined && buf.length < 16_384) return;
      socket.off('data', onData);
      socket.pause();
      stats.clientHellos++;
      if (sni === null || sni === undefined) {
        stats.noSni++;
        violation('a connection without SNI (the proxy dialled an IP literal, or did not speak TLS)');
      } else {
        sniSeen.set(sni, (sniSeen.get(sni) ?? 0) + 1);
        if (!opts.allowed(sni)) violation(`ClientHello for SNI ${sni}`);
      }
      socket.unshift(buf);
      tlsServer.emit('connection', socket);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
  const port = (tcp.address() as { port: number }).port;

  return {
    port,
    caPem: ca.certPem,
    stats,
    sniSeen,
    requests,
    violations,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        agent.destroy();
        tlsServer.closeAllConnections();
        tcp.close(() => resolve());
      }),
  };
}
