// Issue 15: upstream failures are classified by their error CODE, not by words in the message (the message
// names the host, and `getaddrinfo ENOTFOUND mtls-api.example.com` was reported as ERR_UPSTREAM_TLS, "nothing
// was sent", counted as kind="tls"). Every error here comes from a real node:net / node:tls socket, first fed
// to upstreamErrorFrom directly, then provoked end to end through the built proxy (status, code, metric).
// Also the two timeouts: CONNECT_TIMEOUT_MS covers TCP connect AND the TLS handshake (504), and
// UPSTREAM_TIMEOUT_MS between body chunks after the status went out cuts the app's connection (a status that
// is sent cannot change).

import { createServer as createNetServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstreamErrorFrom, type UpstreamErrorKind } from '../proxy/src/errors.js';
import { createTestCa, createUntrustedCa } from './emulators/pki.js';
import { startProxy, type ProxyProcess } from './helpers/proxy-process.js';
import { BODY_PREFIX, headerOf } from './fuzz/contract.js';
import { faultProxyEnv, startFaultUpstream, type FaultUpstream } from './fuzz/fault-upstream.js';
import { rawExchange } from './fuzz/raw-client.js';
import { appRequest, metricValue } from './fuzz/seed-proxy.js';

/** A host name with "tls" in it, under .invalid (RFC 6761: never resolves). */
const UNRESOLVABLE = 'mtls-api.invalid';
const CONNECT_TIMEOUT_MS = 1_000;
const UPSTREAM_TIMEOUT_MS = 1_000;

const servers: Server[] = [];
const held = new Set<Socket>();

function listen(server: Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

/** A port nothing listens on (bound, noted, released). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** The error a socket ends with (fails the test if it connects instead). */
function socketError(open: () => Socket): Promise<Error> {
  return new Promise((resolve, reject) => {
    const s = open();
    s.once('error', (e) => resolve(e));
    s.once('secureConnect', () => {
      s.destroy();
      reject(new Error('connected: no error to classify'));
    });
  });
}

let rstPort: number;
let silentPort: number;
let tlsCa: Awaited<ReturnType<typeof createTestCa>>;
let ports: { untrusted: number; wrongName: number; expired: number };

beforeAll(async () => {
  // Accepts and resets at once: a reset before any answer (before the TLS handshake even).
  rstPort = await listen(createNetServer((s) => s.resetAndDestroy()));
  // Accepts and never answers the ClientHello: the TLS handshake hangs.
  silentPort = await listen(
    createNetServer((s) => {
      held.add(s);
      s.on('error', () => undefined);
      s.on('close', () => held.delete(s));
    }),
  );
  tlsCa = await createTestCa('upstream-errors root');
  const foreign = await createUntrustedCa();
  const tlsServer = (cert: { certPem: string; keyPem: string }): Server => {
    const s = createTlsServer({ cert: cert.certPem, key: cert.keyPem }, (sock) => sock.end());
    s.on('tlsClientError', () => undefined);
    return s;
  };
  ports = {
    untrusted: await listen(tlsServer(await foreign.issue({ dnsNames: ['svc.example.com'] }))),
    wrongName: await listen(tlsServer(await tlsCa.issue({ dnsNames: ['someone-else.example.com'] }))),
    expired: await listen(tlsServer(await tlsCa.issue({ dnsNames: ['svc.example.com'], notAfter: new Date(Date.now() - 3_600_000) }))),
  };
});

afterAll(async () => {
  for (const s of held) s.destroy();
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
});

const tlsTo = (port: number, servername = 'svc.example.com') => () => tlsConnect({ host: '127.0.0.1', port, servername, ca: tlsCa.certPem });

describe('upstreamErrorFrom on errors from real sockets', () => {
  const cases: Array<{ name: string; open: () => Promise<Socket> | Socket; code: string; kind: UpstreamErrorKind; errno: RegExp }> = [
    {
      name: `unresolvable name (${UNRESOLVABLE}, "tls" inside the name)`,
      open: () => tlsConnect({ host: UNRESOLVABLE, port: 443, servername: UNRESOLVABLE }),
      code: 'ERR_UPSTREAM_CONNECT',
      kind: 'connect',
      errno: /^(ENOTFOUND|EAI_AGAIN)$/,
    },
    { name: 'refused port', open: () => netConnect({ host: '127.0.0.1', port: refusedPort }), code: 'ERR_UPSTREAM_CONNECT', kind: 'connect', errno: /^ECONNREFUSED$/ },
    // "Client network socket disconnected before secure TLS connection was established": a TLS word in the
    // message, a reset in the code.
    { name: 'reset before any answer (during the TLS handshake)', open: () => tlsTo(rstPort)(), code: 'ERR_UPSTREAM_RESET', kind: 'reset', errno: /^ECONNRESET$/ },
    { name: 'certificate from a foreign CA', open: () => tlsTo(ports.untrusted)(), code: 'ERR_UPSTREAM_TLS', kind: 'tls', errno: /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/ },
    { name: 'certificate for another name', open: () => tlsTo(ports.wrongName)(), code: 'ERR_UPSTREAM_TLS', kind: 'tls', errno: /^ERR_TLS_CERT_ALTNAME_INVALID$/ },
    { name: 'expired certificate', open: () => tlsTo(ports.expired)(), code: 'ERR_UPSTREAM_TLS', kind: 'tls', errno: /^CERT_HAS_EXPIRED$/ },
  ];
  let refusedPort = 0;
  beforeAll(async () => {
    refusedPort = await closedPort();
  });

  for (const c of cases) {
    it(`${c.name} → ${c.code} (kind ${c.kind})`, async () => {
      const started = Date.now();
      const err = (await socketError(() => c.open() as Socket)) as NodeJS.ErrnoException;
      expect(err.code).toMatch(c.errno);
      const u = upstreamErrorFrom(err, 'svc.example.com');
      expect({ code: u.code, kind: u.kind, status: u.status }).toEqual({ code: c.code, kind: c.kind, status: 502 });
      if (c.kind !== 'tls') expect(u.message).not.toMatch(/TLS|nothing was sent/);
      // All of these fail at once here (no DNS wait, no timeout): the end-to-end tests below rely on it.
      expect(Date.now() - started).toBeLessThan(5_000);
    });
  }
});

describe('end to end: status, code and lattice_proxy_upstream_errors_total{kind}', () => {
  let direct: ProxyProcess;
  let viaFault: ProxyProcess;
  let up: FaultUpstream;
  let refusedPort: number;

  beforeAll(async () => {
    up = await startFaultUpstream();
    refusedPort = await closedPort();
    [direct, viaFault] = await Promise.all([
      // No CONNECT_TO: the proxy resolves and dials what the Host names. The allowlist covers the .invalid
      // name and the loopback literal the other cases dial.
      startProxy(
        faultProxyEnv(up, {
          CONNECT_TO: undefined,
          ALLOWED_HOSTS: '*.invalid,127.0.0.1',
          CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
          UPSTREAM_TIMEOUT_MS: '30000',
        }),
      ),
      startProxy(faultProxyEnv(up, { UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS) })),
    ]);
  });
  afterAll(async () => {
    await Promise.all([direct?.stop(), viaFault?.stop()]);
    await up?.close();
  });

  async function provoke(p: ProxyProcess, host: string, path: string, status: number, code: string, kind: UpstreamErrorKind): Promise<number> {
    const before = metricValue(await p.metrics(), `lattice_proxy_upstream_errors_total{kind="${kind}"}`) ?? 0;
    const started = Date.now();
    const r = await rawExchange(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`, { port: p.port, idleMs: 40_000, timeoutMs: 45_000 });
    const took = Date.now() - started;
    // Status, code and body here; the access line of each row is test/error-contract.test.ts's.
    const a = r.responses[0];
    const summary = `${a?.status} ${headerOf(a ?? { status: 0, headers: new Map(), body: '' }, 'x-lattice-proxy-error')} ${a?.body.toString('utf8').slice(0, 200)}`;
    expect(a?.status, summary).toBe(status);
    expect(a?.headers.get('x-lattice-proxy-error')?.[0], summary).toBe(code);
    expect(a?.body.toString('utf8').startsWith(BODY_PREFIX), summary).toBe(true);
    expect(metricValue(await p.metrics(), `lattice_proxy_upstream_errors_total{kind="${kind}"}`)).toBe(before + 1);
    return took;
  }

  it(`unresolvable name ${UNRESOLVABLE} → 502 ERR_UPSTREAM_CONNECT, kind connect, fast`, async () => {
    const took = await provoke(direct, UNRESOLVABLE, '/', 502, 'ERR_UPSTREAM_CONNECT', 'connect');
    expect(took).toBeLessThan(CONNECT_TIMEOUT_MS); // DNS says no at once here; not a timeout in disguise
  });

  it('refused port → 502 ERR_UPSTREAM_CONNECT, kind connect', async () => {
    await provoke(direct, `127.0.0.1:${refusedPort}`, '/', 502, 'ERR_UPSTREAM_CONNECT', 'connect');
  });

  it('reset before any answer (TCP reset at accept) → 502 ERR_UPSTREAM_RESET, kind reset', async () => {
    await provoke(direct, `127.0.0.1:${rstPort}`, '/', 502, 'ERR_UPSTREAM_RESET', 'reset');
  });

  it('upstream closes after the request, before any answer → 502 ERR_UPSTREAM_RESET, kind reset', async () => {
    await provoke(viaFault, up.goodHost, '/close-now', 502, 'ERR_UPSTREAM_RESET', 'reset');
  });

  it('certificate from a foreign CA → 502 ERR_UPSTREAM_TLS, kind tls, nothing sent', async () => {
    await provoke(viaFault, up.untrustedHost, '/', 502, 'ERR_UPSTREAM_TLS', 'tls');
    expect(up.bytesBySni.get(up.untrustedHost) ?? 0).toBe(0);
  });

  it('certificate for another name → 502 ERR_UPSTREAM_TLS, kind tls, nothing sent', async () => {
    await provoke(viaFault, up.wrongHost, '/', 502, 'ERR_UPSTREAM_TLS', 'tls');
    expect(up.bytesBySni.get(up.wrongHost) ?? 0).toBe(0);
  });

  it('expired certificate → 502 ERR_UPSTREAM_TLS (CERT_HAS_EXPIRED), kind tls, nothing sent', async () => {
    await provoke(viaFault, up.expiredHost, '/', 502, 'ERR_UPSTREAM_TLS', 'tls');
    expect(up.bytesBySni.get(up.expiredHost) ?? 0).toBe(0);
  });

  it('an answer that is not HTTP → 502 ERR_UPSTREAM_PROTOCOL, kind protocol', async () => {
    await provoke(viaFault, up.goodHost, '/garbage', 502, 'ERR_UPSTREAM_PROTOCOL', 'protocol');
  });

  it(`CONNECT_TIMEOUT_MS covers the TLS handshake: a server that never answers the ClientHello → 504 ERR_UPSTREAM_TIMEOUT after about ${CONNECT_TIMEOUT_MS} ms`, async () => {
    const took = await provoke(direct, `127.0.0.1:${silentPort}`, '/', 504, 'ERR_UPSTREAM_TIMEOUT', 'timeout');
    // The trigger, not a performance figure: not before the limit, and long before UPSTREAM_TIMEOUT_MS (30 s).
    expect(took).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50);
    expect(took).toBeLessThan(CONNECT_TIMEOUT_MS + 10_000);
  }, 60_000);

  it(`UPSTREAM_TIMEOUT_MS between body chunks: gaps shorter than ${UPSTREAM_TIMEOUT_MS} ms never cut, even when the whole body takes longer`, async () => {
    const gap = Math.round(UPSTREAM_TIMEOUT_MS * 0.4);
    const n = 7; // ~2.4 s in all, over twice the timeout
    const r = await appRequest(viaFault.port, up.goodHost, `/gap?n=${n}&ms=${gap}`);
    expect(r.status).toBe(200);
    expect(r.truncated).toBe(false);
    expect(r.body).toBe(Array.from({ length: n }, (_, i) => `piece ${i + 1}\n`).join(''));
  });

  it('UPSTREAM_TIMEOUT_MS between body chunks after the status went out → the app connection is cut (the 200 cannot become a 504)', async () => {
    const before = metricValue(await viaFault.metrics(), 'lattice_proxy_upstream_errors_total{kind="timeout"}') ?? 0;
    const started = Date.now();
    const r = await appRequest(viaFault.port, up.goodHost, `/gap?n=3&ms=${UPSTREAM_TIMEOUT_MS * 3}`);
    expect(r.status).toBe(200);
    expect(r.truncated).toBe(true);
    expect(r.body).toBe('piece 1\n');
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(UPSTREAM_TIMEOUT_MS - 50);
    expect(took).toBeLessThan(UPSTREAM_TIMEOUT_MS * 3);
    expect(metricValue(await viaFault.metrics(), 'lattice_proxy_upstream_errors_total{kind="timeout"}')).toBe(before + 1);
  });

  it('after all of the above both proxies are alive and serve', async () => {
    expect((await appRequest(viaFault.port, up.goodHost, '/ok')).status).toBe(200);
    expect(direct.child.exitCode).toBeNull();
    expect((await direct.readyz()).status).toBe(200);
  });
});
