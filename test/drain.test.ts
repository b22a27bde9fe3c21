// Issue 15, drain: during the drain /readyz is exactly 503 `not ready: draining`, and an app connection that
// sits idle in a real keep-alive pool is closed by the proxy on SIGTERM (every other SIGTERM test uses
// agent:false, so no connection of theirs is ever idle). A request kept in flight holds the drain open, so a
// close seen here is the drain's doing, not the process exiting.

import { Agent, request, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type ProxyProcess } from './helpers/proxy-process.js';
import { faultProxyEnv, startFaultUpstream, type FaultUpstream } from './fuzz/fault-upstream.js';
import { appRequest, eventually, sleep } from './fuzz/seed-proxy.js';

const SLOW_MS = 4_000;

let up: FaultUpstream;

beforeAll(async () => {
  up = await startFaultUpstream({ slowMs: SLOW_MS });
});
afterAll(async () => {
  await up?.close();
});

/** GET through a keep-alive agent; resolves with the response and the socket it came on. */
function pooledGet(agent: Agent, port: number, host: string, path: string): Promise<{ res: IncomingMessage; body: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ res, body, socket: req.socket as Socket }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('SIGTERM drain', () => {
  let p: ProxyProcess;
  afterAll(async () => {
    await p?.stop('SIGKILL');
  });

  it('/readyz is exactly 503 "not ready: draining" for the whole drain; an idle keep-alive app connection is closed at once', async () => {
    p = await startProxy(faultProxyEnv(up, { DRAIN_TIMEOUT_MS: '15000' }));
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    try {
      // A real keep-alive pool: the request completes, its socket goes back to the agent and sits idle.
      const first = await pooledGet(agent, p.port, up.goodHost, '/ok');
      expect(first.res.statusCode).toBe(200);
      expect(first.res.headers.connection).not.toBe('close');
      const idle = first.socket;
      await sleep(100);
      expect(idle.destroyed).toBe(false);
      let idleClosedAt: number | undefined;
      let processAliveAtClose: boolean | undefined;
      idle.once('close', () => {
        idleClosedAt = Date.now();
        processAliveAtClose = p.child.exitCode === null && p.child.signalCode === null;
      });

      // Holds the drain open for SLOW_MS.
      const inFlight = appRequest(p.port, up.goodHost, '/slow');
      await eventually('the slow request reached the upstream', 5_000, () => (up.slowPending() > 0 ? true : undefined), 10);

      const sigtermAt = Date.now();
      const exited = p.stop('SIGTERM', 20_000);
      await p.waitForLog((l) => l['event'] === 'draining');

      const readyz: Array<{ status: number; body: string }> = [];
      while (up.slowPending() > 0 && Date.now() - sigtermAt < SLOW_MS - 500) {
        readyz.push(await p.readyz());
        await sleep(200);
      }
      expect(readyz.length).toBeGreaterThanOrEqual(3);
      // One trailing newline allowed (a text/plain body line); nothing else.
      expect(readyz.map((r) => `${r.status} ${r.body.replace(/\n$/, '')}`)).toEqual(readyz.map(() => '503 not ready: draining'));

      await eventually('the idle keep-alive connection is closed by the drain', 3_000, () => (idleClosedAt !== undefined ? true : undefined), 10);
      expect(processAliveAtClose).toBe(true);
      // Closed promptly, long before the in-flight request (and with it the drain) ended.
      expect(idleClosedAt! - sigtermAt).toBeLessThan(SLOW_MS / 2);

      const r = await inFlight;
      expect(r.status).toBe(200);
      expect(r.body).toBe('slow answer');
      expect(await exited).toBe(0);
      console.log(`drain: idle keep-alive connection closed ${idleClosedAt! - sigtermAt} ms after SIGTERM; ${readyz.length} /readyz samples, all 503 draining; exit 0 after the in-flight request`);
    } finally {
      agent.destroy();
    }
  }, 40_000);
});
