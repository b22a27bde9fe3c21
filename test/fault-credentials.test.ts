// Issue 7, faults of the neighbours that provide identity and trust: the Pod Identity agent down at start and
// later (cached credentials carry on until they expire, refresh is retried and counted), and the ACM PCA
// failing at start. The proxy is never ready without both, never forwards while not ready, and recovers
// without a restart.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSeedWorld, type SeedWorld } from './emulators/scenario.js';
import { startPodIdentityAgent, type PodIdentityAgent } from './emulators/pod-identity.js';
import type { ProxyProcess } from './helpers/proxy-process.js';
import { appRequest, metricValue, sleep, startSeedProxy } from './fuzz/seed-proxy.js';

let world: SeedWorld;
const started: ProxyProcess[] = [];
const unsignedUpstream: string[] = [];

beforeAll(async () => {
  world = await startSeedWorld();
  world.lattice.onRequest = (e) => {
    if (!e.signed || !e.verified) unsignedUpstream.push(`${e.method} ${e.rawPath} signed=${e.signed} verified=${e.verified}`);
  };
});
afterEach(async () => {
  for (const p of started.splice(0)) await p.stop();
  await world.agents.cluster1.setDown(false);
  await world.pca.setDown(false);
  world.pca.failNext(0);
});
afterAll(async () => {
  await world?.close();
  // Whatever the faults, nothing unsigned or unverifiable ever reached Lattice.
  expect(unsignedUpstream).toEqual([]);
});

async function metric(p: ProxyProcess, sample: string): Promise<number> {
  return metricValue(await p.metrics(), sample) ?? 0;
}

describe('Pod Identity agent', () => {
  it('down at start: not ready, requests 503 with the reason, nothing forwarded; ready once it is back', async () => {
    await world.agents.cluster1.setDown(true);
    const seenBefore = world.lattice.stats.requests;
    const p = await startSeedProxy(world, 'cluster1', {}, { waitReady: false });
    started.push(p);
    const ready = await p.readyz();
    expect(ready.status).toBe(503);
    expect(ready.body).toContain('no AWS credentials yet');
    for (let i = 0; i < 10; i++) {
      const r = await appRequest(p.port, world.scenario.callers.cluster1.allowedHostname);
      expect(r.status).toBe(503);
      expect(r.headers['x-lattice-proxy-error']).toBe('ERR_NO_CREDENTIALS');
      expect(r.body).toContain('the request was not forwarded');
    }
    expect(world.lattice.stats.requests).toBe(seenBefore);
    expect(await metric(p, 'lattice_proxy_signing_failures_total{reason="no_credentials"}')).toBe(10);
    await p.waitForLog((l) => l['event'] === 'credentials_refresh_failed', 30_000);
    expect(await metric(p, 'lattice_proxy_credential_refreshes_total{result="failure"}')).toBeGreaterThanOrEqual(1);

    await world.agents.cluster1.setDown(false);
    await p.waitReady(45_000);
    expect((await appRequest(p.port, world.scenario.callers.cluster1.allowedHostname)).status).toBe(200);
  }, 90_000);

  describe('down later, with short-lived credentials', () => {
    let agent: PodIdentityAgent;
    const TTL_S = 30;
    beforeAll(async () => {
      const c = world.scenario.callers.cluster1;
      agent = await startPodIdentityAgent({ token: 'short-ttl-token-0123456789', iamKey: world.iamKey, roleArn: c.roleArn, tags: c.tags, ttlSeconds: TTL_S });
    });
    afterAll(async () => {
      await agent?.close();
    });

    it('serves with the cached credentials until they expire, retries the refresh and counts failures, then 503 and not ready; recovers', async () => {
      // Refresh is due 15 s into a 30 s lifetime (margin capped at half of it); the proxy stops using
      // credentials 10 s before expiry, so there is a window of cached use with the agent gone.
      const p = await startSeedProxy(world, 'cluster1', {
        AWS_CONTAINER_CREDENTIALS_FULL_URI: agent.url,
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: agent.tokenFile,
        CREDENTIALS_REFRESH_MARGIN_S: '20',
      });
      started.push(p);
      const fetched = await p.waitForLog((l) => l['event'] === 'credentials_refreshed');
      const expiresAt = Date.parse(String(fetched['expiration']));
      const host = world.scenario.callers.cluster1.allowedHostname;
      expect((await appRequest(p.port, host)).status).toBe(200);
      await agent.setDown(true);

      // Phase 1: agent gone, cached credentials still good.
      let cachedOk = 0;
      while (Date.now() < expiresAt - 12_000) {
        const r = await appRequest(p.port, host);
        expect(r.status).toBe(200);
        cachedOk++;
        await sleep(250);
      }
      expect(cachedOk).toBeGreaterThan(5);
      // The refresh came due while the agent was down: failed, retried, still holding valid credentials.
      const failed = await p.waitForLog((l) => l['event'] === 'credentials_refresh_failed' && l['haveValidCredentials'] === true, 20_000);
      expect(failed['attempt']).toBe(1);
      await p.waitForLog((l) => l['event'] === 'credentials_refresh_failed' && Number(l['attempt']) >= 2, 20_000);
      expect(await metric(p, 'lattice_proxy_credential_refreshes_total{result="failure"}')).toBeGreaterThanOrEqual(2);

      // Phase 2: past the safety margin before expiry → refused, not ready.
      await sleep(Math.max(0, expiresAt - 10_000 - Date.now() + 200));
      const r = await appRequest(p.port, host);
      expect(r.status).toBe(503);
      expect(r.headers['x-lattice-proxy-error']).toBe('ERR_NO_CREDENTIALS');
      expect(r.body).toContain('expired');
      const ready = await p.readyz();
      expect(ready.status).toBe(503);
      expect(ready.body).toContain('AWS credentials expired');
      expect(await p.metrics()).not.toMatch(/lattice_proxy_credentials_expiry_seconds [1-9]\d\d/);

      // Phase 3: the agent is back; the next retry picks it up.
      await agent.setDown(false);
      await p.waitReady(45_000);
      expect((await appRequest(p.port, host)).status).toBe(200);
      console.log(`fault-credentials: ${cachedOk} requests served on cached credentials with the agent down`);
    }, 120_000);
  });
});

describe('ACM PCA', () => {
  it('down at start: not ready, requests 503 ERR_NOT_READY, fetch retried and counted; ready once it is back', async () => {
    await world.pca.setDown(true);
    const p = await startSeedProxy(world, 'cluster1', {}, { waitReady: false });
    started.push(p);
    await p.waitForLog((l) => l['event'] === 'ca_fetch_failed', 30_000);
    const ready = await p.readyz();
    expect(ready.status).toBe(503);
    expect(ready.body).toContain('Private CA root not loaded');
    const r = await appRequest(p.port, world.scenario.callers.cluster1.allowedHostname);
    expect(r.status).toBe(503);
    expect(r.headers['x-lattice-proxy-error']).toBe('ERR_NOT_READY');
    await p.waitForLog((l) => l['event'] === 'ca_fetch_failed' && p.logs.filter((x) => x['event'] === 'ca_fetch_failed').length >= 2, 30_000);
    expect(await metric(p, 'lattice_proxy_ca_loads_total{source="pca",result="failure"}')).toBeGreaterThanOrEqual(2);

    await world.pca.setDown(false);
    await p.waitReady(45_000);
    expect((await appRequest(p.port, world.scenario.callers.cluster1.allowedHostname)).status).toBe(200);
    expect(await metric(p, 'lattice_proxy_ca_loads_total{source="pca",result="success"}')).toBe(1);
  }, 90_000);

  it('answering 500s at start: retried until it serves the root', async () => {
    const callsBefore = world.pca.stats.calls;
    world.pca.failNext(4);
    const p = await startSeedProxy(world, 'cluster1', {}, { waitReady: false });
    started.push(p);
    await p.waitReady(45_000);
    expect(world.pca.stats.calls - callsBefore).toBeGreaterThanOrEqual(5);
    expect(await metric(p, 'lattice_proxy_ca_loads_total{source="pca",result="failure"}')).toBeGreaterThanOrEqual(1);
    expect((await appRequest(p.port, world.scenario.callers.cluster1.allowedHostname)).status).toBe(200);
  }, 90_000);
});
