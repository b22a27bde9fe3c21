// Issue 7, faults of the upstream: it refuses connections, resets in the middle of a response, stalls, or
// presents a certificate the proxy must not trust. Each gets a clear status, nothing is sent over a refused
// TLS session, and the proxy stays up and keeps serving.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type ProxyProcess } from './helpers/proxy-process.js';
import { startFaultUpstream, type FaultUpstream } from './fuzz/fault-upstream.js';
import { parseResponses, rawExchange } from './fuzz/raw-client.js';
import { appRequest, metricValue, sleep } from './fuzz/seed-proxy.js';

const UPSTREAM_TIMEOUT_MS = 1_000;

function staticEnv(extra: Record<string, string>): Record<string, string> {
  // Static credentials: these tests are about the upstream, not about where credentials come from.
  return {
    AWS_REGION: 'us-west-2',
    AWS_ACCESS_KEY_ID: 'AKIAFAULTTESTS000001',
    AWS_SECRET_ACCESS_KEY: 'fault-tests-secret-key-not-a-real-one-000',
    APP_DOMAIN: 'example.com',
    ...extra,
  };
}

let up: FaultUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  up = await startFaultUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'lsp-faults-'));
  writeFileSync(join(dir, 'ca.pem'), up.ca.certPem);
  proxy = await startProxy(staticEnv({ CA_FILE: join(dir, 'ca.pem'), CONNECT_TO: `127.0.0.1:${up.port}`, UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS) }));
});

afterAll(async () => {
  await proxy?.stop();
  await up?.close();
});

async function upstreamErrors(kind: string): Promise<number> {
  return metricValue(await proxy.metrics(), `lattice_proxy_upstream_errors_total{kind="${kind}"}`) ?? 0;
}

async function stillServes(): Promise<void> {
  const r = await appRequest(proxy.port, up.goodHost, '/ok');
  expect(r.status).toBe(200);
  expect(r.body).toBe('ok');
  expect(proxy.child.exitCode).toBeNull();
}

describe('upstream faults', () => {
  it('upstream refuses connections → 502 ERR_UPSTREAM_CONNECT, counted, proxy stays up', async () => {
    // A port that was just free: nothing listens there.
    const closedPort = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const p = await startProxy(staticEnv({ CONNECT_TO: `127.0.0.1:${closedPort}` }));
    try {
      for (let i = 0; i < 5; i++) {
        const r = await appRequest(p.port, up.goodHost, '/ok');
        expect(r.status).toBe(502);
        expect(r.headers['x-lattice-proxy-error']).toBe('ERR_UPSTREAM_CONNECT');
        expect(r.body).toContain(`could not connect to upstream ${up.goodHost} (ECONNREFUSED)`);
      }
      expect(metricValue(await p.metrics(), 'lattice_proxy_upstream_errors_total{kind="connect"}')).toBe(5);
      expect((await p.readyz()).status).toBe(200);
    } finally {
      expect(await p.stop()).toBe(0);
    }
  });

  it('upstream resets in the middle of a response → the app sees a truncated response, not a made-up ending', async () => {
    const before = await upstreamErrors('reset');
    const r = await appRequest(proxy.port, up.goodHost, '/reset-mid');
    // The status line was already relayed; the only honest signal left is cutting the connection short.
    expect(r.status).toBe(200);
    expect(r.truncated).toBe(true);
    expect(r.body.length).toBeLessThan(1 << 20);
    expect(await upstreamErrors('reset')).toBe(before + 1);
    // Logged, not just counted (the writer batches lines for up to 50 ms, hence the wait).
    await proxy.waitForLog((l) => l['event'] === 'upstream_failed_mid_response', 5_000);
    await stillServes();
  });

  it(`upstream stalls before answering → 504 ERR_UPSTREAM_TIMEOUT after UPSTREAM_TIMEOUT_MS (${UPSTREAM_TIMEOUT_MS} ms)`, async () => {
    const before = await upstreamErrors('timeout');
    const started = Date.now();
    const r = await appRequest(proxy.port, up.goodHost, '/stall');
    const elapsed = Date.now() - started;
    expect(r.status).toBe(504);
    expect(r.headers['x-lattice-proxy-error']).toBe('ERR_UPSTREAM_TIMEOUT');
    expect(r.body).toContain(`upstream ${up.goodHost} did not answer in time`);
    // The timeout is the trigger of this fault, not a performance figure: it must not fire early.
    expect(elapsed).toBeGreaterThanOrEqual(UPSTREAM_TIMEOUT_MS - 50);
    expect(await upstreamErrors('timeout')).toBe(before + 1);
    await stillServes();
  });

  it('upstream stalls in the middle of the body → the connection is cut after the timeout', async () => {
    const r = await appRequest(proxy.port, up.goodHost, '/stall-body');
    expect(r.status).toBe(200);
    expect(r.truncated).toBe(true);
    expect(r.body).toBe('only the start');
    await stillServes();
  });

  it('untrusted certificate → 502 ERR_UPSTREAM_TLS and not one byte sent after the handshake', async () => {
    const r = await appRequest(proxy.port, up.untrustedHost, '/secret-path', { method: 'POST', body: 'payload that must not leave' });
    expect(r.status).toBe(502);
    expect(r.headers['x-lattice-proxy-error']).toBe('ERR_UPSTREAM_TLS');
    expect(r.body).toMatch(/TLS to upstream untrusted\.example\.com failed .*nothing was sent/);
    expect(up.bytesBySni.get(up.untrustedHost) ?? 0).toBe(0);
    expect(up.requests.filter((q) => q.host.startsWith(up.untrustedHost))).toEqual([]);
    await stillServes();
  });

  it('trusted certificate for another host → 502 ERR_UPSTREAM_TLS (ERR_TLS_CERT_ALTNAME_INVALID), nothing sent', async () => {
    const r = await appRequest(proxy.port, up.wrongHost, '/secret-path', { method: 'POST', body: 'payload that must not leave' });
    expect(r.status).toBe(502);
    expect(r.body).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(up.bytesBySni.get(up.wrongHost) ?? 0).toBe(0);
    expect(up.requests.filter((q) => q.host.startsWith(up.wrongHost))).toEqual([]);
    await stillServes();
  });

  it('garbage pipelined behind a response that is still streaming: the response completes untouched, then one 400, then the connection closes', async () => {
    const sock = connect({ port: proxy.port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
    sock.on('error', () => undefined);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.write(`GET /drip HTTP/1.1\r\nHost: ${up.goodHost}\r\n\r\n`);
    // Wait for the first piece of the body: the response is on the wire now.
    for (let i = 0; i < 50 && !Buffer.concat(chunks).includes('piece 1'); i++) await sleep(50);
    expect(Buffer.concat(chunks).toString('latin1')).toContain('piece 1');
    sock.write('G@RBAGE / HTTP/1.1\r\n\r\n');
    await Promise.race([closed, sleep(5_000)]);
    expect(sock.destroyed || sock.readableEnded).toBe(true);
    // Requests are answered strictly in order: the garbage is not even parsed until the 200 is complete, so
    // nothing is ever spliced into its body; the 400 follows it and ends the connection (RFC 9112 §9.6).
    const responses = parseResponses(Buffer.concat(chunks), true);
    expect(responses.map((r) => r.status)).toEqual([200, 400]);
    expect(responses[0]!.body.toString('latin1')).toBe(Array.from({ length: 10 }, (_, i) => `piece ${i + 1}\n`).join(''));
    expect(responses[1]!.headers.get('x-lattice-proxy-error')).toEqual(['ERR_BAD_REQUEST']);
    sock.destroy();
    await stillServes();
  });

  it('after every fault above the proxy is alive, ready, and has nothing in flight', async () => {
    const r = await rawExchange(`GET /ok HTTP/1.1\r\nHost: ${up.goodHost}\r\n\r\n`, { port: proxy.port, idleMs: 2_000 });
    expect(r.responses[0]?.status).toBe(200);
    expect((await proxy.readyz()).status).toBe(200);
    expect(metricValue(await proxy.metrics(), 'lattice_proxy_in_flight_requests')).toBe(0);
    expect(proxy.logs.filter((l) => l['event'] === 'internal_error' || l['event'] === 'uncaught_exception')).toEqual([]);
  });
});
