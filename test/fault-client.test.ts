// Issue 7, faults on the app's side and of the pod's lifecycle: the app aborts in the middle of an upload
// (the upstream request must be aborted too, nothing left behind), and SIGTERM arrives under load (in-flight
// requests complete, new connections are refused, exit 0 within DRAIN_TIMEOUT_MS).

import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type ProxyProcess } from './helpers/proxy-process.js';
import { startFaultUpstream, type FaultUpstream } from './fuzz/fault-upstream.js';
import { appRequest, eventually, fdCounts, metricValue, rssBytes, sleep } from './fuzz/seed-proxy.js';

let up: FaultUpstream;
let caFile: string;

function env(extra: Record<string, string>): Record<string, string> {
  return {
    AWS_REGION: 'us-west-2',
    AWS_ACCESS_KEY_ID: 'AKIAFAULTTESTS000002',
    AWS_SECRET_ACCESS_KEY: 'client-fault-secret-key-not-a-real-one-00',
    APP_DOMAIN: 'example.com',
    CA_FILE: caFile,
    CONNECT_TO: `127.0.0.1:${up.port}`,
    ...extra,
  };
}

beforeAll(async () => {
  up = await startFaultUpstream({ slowMs: 1_000 });
  const dir = mkdtempSync(join(tmpdir(), 'lsp-client-faults-'));
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, up.ca.certPem);
});
afterAll(async () => {
  await up?.close();
});

/** Start a chunked upload, stream until the upstream has seen `atLeast` bytes, then destroy the socket. */
async function abortedUpload(port: number, host: string, atLeast: number): Promise<void> {
  const before = up.uploads.length;
  const sock = connect({ port, host: '127.0.0.1' });
  sock.on('error', () => undefined);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(`POST /upload HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n`);
  const piece = Buffer.alloc(16_384, 0x62);
  const frame = Buffer.concat([Buffer.from(piece.length.toString(16) + '\r\n'), piece, Buffer.from('\r\n')]);
  await eventually('upload reaches the upstream', 10_000, async () => {
    sock.write(frame);
    await sleep(5);
    const rec = up.uploads[before];
    return rec && rec.bytes >= atLeast ? true : undefined;
  }, 0);
  sock.destroy();
}

describe('the app aborts in the middle of an upload', () => {
  let p: ProxyProcess;
  beforeAll(async () => {
    p = await startProxy(env({}));
  });
  afterAll(async () => {
    await p?.stop();
  });

  it('the upstream request is aborted, nothing stays in flight, and no socket or memory is left behind', async () => {
    // Warm the pool and the heap, then take the baseline.
    for (let i = 0; i < 3; i++) await abortedUpload(p.port, up.goodHost, 64 * 1024);
    await eventually('warm-up settles', 10_000, async () => (metricValue(await p.metrics(), 'lattice_proxy_in_flight_requests') === 0 ? true : undefined));
    await sleep(500);
    const fdBefore = fdCounts(p.pid);
    const rssBefore = rssBytes(p.pid);
    const first = up.uploads.length;

    const ROUNDS = 25;
    for (let i = 0; i < ROUNDS; i++) await abortedUpload(p.port, up.goodHost, 256 * 1024);

    // Every upload was cut on the upstream side too (the proxy did not keep streaming or hold it open).
    await eventually('upstream sees every upload aborted', 10_000, () => (up.uploads.slice(first).every((u) => u.aborted) ? true : undefined));
    const recs = up.uploads.slice(first);
    expect(recs).toHaveLength(ROUNDS);
    expect(recs.filter((u) => u.ended)).toEqual([]);
    await eventually('in-flight gauge back to 0', 10_000, async () => (metricValue(await p.metrics(), 'lattice_proxy_in_flight_requests') === 0 ? true : undefined));
    // The access log is batched (up to 50 ms): wait for the lines rather than read them at once.
    const aborted = await eventually('an access line with 499 per aborted upload', 10_000, () => {
      const lines = p.logs.filter((l) => l['event'] === 'access' && l['status'] === 499 && l['path'] === '/upload');
      return lines.length >= ROUNDS ? lines : undefined;
    });
    expect(aborted.length).toBeGreaterThanOrEqual(ROUNDS);

    // File descriptors: the app-side and upstream-side sockets of 25 aborted exchanges are all closed.
    const fdAfter = await eventually('sockets released', 10_000, () => {
      const now = fdCounts(p.pid);
      return now.sockets <= fdBefore.sockets + 2 ? now : undefined;
    });
    const rssAfter = rssBytes(p.pid);
    console.log(`fault-client: ${ROUNDS} aborted uploads; sockets ${fdBefore.sockets} → ${fdAfter.sockets}; fds ${fdBefore.total} → ${fdAfter.total}; RSS ${(rssBefore / 2 ** 20).toFixed(1)} → ${(rssAfter / 2 ** 20).toFixed(1)} MiB`);
    expect(fdAfter.total).toBeLessThanOrEqual(fdBefore.total + 2);
    // 25 × 256 KiB streamed and dropped: buffering any of it per exchange would show as ≥ 6 MiB.
    expect(rssAfter).toBeLessThan(rssBefore + 24 * 2 ** 20);

    const ok = await appRequest(p.port, up.goodHost, '/ok');
    expect(ok.status).toBe(200);
  }, 60_000);
});

describe('SIGTERM while under load', () => {
  it('in-flight requests complete with 200, new connections are refused, exit 0 within DRAIN_TIMEOUT_MS', async () => {
    const DRAIN_TIMEOUT_MS = 8_000;
    const N = 30;
    const p = await startProxy(env({ DRAIN_TIMEOUT_MS: String(DRAIN_TIMEOUT_MS) }));
    try {
      expect((await appRequest(p.port, up.goodHost, '/ok')).status).toBe(200);
      const requestsBefore = up.requests.length;
      const inFlight = Array.from({ length: N }, () => appRequest(p.port, up.goodHost, '/slow'));
      // All N are at the upstream (each answers 1 s after it arrived) before the signal.
      await eventually('all requests in flight', 10_000, () => (up.requests.length - requestsBefore >= N && up.slowPending() >= N ? true : undefined), 10);

      const sigtermAt = Date.now();
      const exited = p.stop('SIGTERM', DRAIN_TIMEOUT_MS + 5_000);
      await p.waitForLog((l) => l['event'] === 'draining');
      expect((await p.readyz().catch(() => ({ status: 0, body: '' }))).status).not.toBe(200);
      // The listener is closed at once: a new connection is refused, never accepted and then dropped.
      await sleep(50);
      const refused = await new Promise<string>((resolve) => {
        const s = connect({ port: p.port, host: '127.0.0.1' });
        s.on('connect', () => {
          s.destroy();
          resolve('accepted');
        });
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect(refused).toBe('ECONNREFUSED');

      const results = await Promise.all(inFlight);
      expect(results.map((r) => `${r.status} ${r.body}`)).toEqual(Array.from({ length: N }, () => '200 slow answer'));
      const code = await exited;
      const tookMs = Date.now() - sigtermAt;
      expect(code).toBe(0);
      expect(tookMs).toBeLessThan(DRAIN_TIMEOUT_MS);
      const stopped = p.logs.find((l) => l['event'] === 'stopped');
      expect(stopped).toMatchObject({ completed: true, abandoned: 0 });
      console.log(`fault-client: SIGTERM with ${N} requests in flight: all 200, exit ${code} after ${tookMs} ms (drain timeout ${DRAIN_TIMEOUT_MS} ms)`);
    } finally {
      await p.stop('SIGKILL');
    }
  }, 60_000);

  it('requests still running at DRAIN_TIMEOUT_MS are cut and the process still exits 0', async () => {
    const p = await startProxy(env({ DRAIN_TIMEOUT_MS: '500' }));
    try {
      const stalled = appRequest(p.port, up.goodHost, '/stall').catch((e: Error) => ({ status: -1, body: e.message, headers: {}, truncated: true }));
      await eventually('stall request at upstream', 5_000, () => (up.requests.some((q) => q.path === '/stall') ? true : undefined), 10);
      const sigtermAt = Date.now();
      const code = await p.stop('SIGTERM', 10_000);
      expect(code).toBe(0);
      expect(Date.now() - sigtermAt).toBeLessThan(5_000);
      expect(p.logs.find((l) => l['event'] === 'stopped')).toMatchObject({ completed: false, abandoned: 1 });
      const r = await stalled;
      expect(r.status).not.toBe(200);
    } finally {
      await p.stop('SIGKILL');
    }
  }, 30_000);
});
