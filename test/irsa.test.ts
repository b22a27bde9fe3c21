// Issue 13: the built proxy on IRSA (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ENDPOINT_URL_STS) against the
// STS emulator and the emulated EKS Anywhere service-account issuer: it signs with the credentials STS returned,
// re-reads the rotated token file at each refresh, calls STS in AWS_REGION explicitly, and fails closed when STS
// is down (not ready at start; cached credentials until they expire, then 503).
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSeedWorld, type SeedWorld } from './emulators/scenario.js';
import { tokenSha256 } from './emulators/sts.js';
import { irsaProxyEnv } from './helpers/irsa-env.js';
import { isolatedEnv, PROXY_MAIN, startProxy, type ProxyProcess } from './helpers/proxy-process.js';
import { appRequest, sleep } from './fuzz/seed-proxy.js';

const started: ProxyProcess[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) await p.stop();
});

async function proxy(world: SeedWorld, extra: Record<string, string | undefined> = {}, waitReady = true): Promise<ProxyProcess> {
  const p = await startProxy(irsaProxyEnv(world, extra), { waitReady });
  started.push(p);
  return p;
}

const refreshed = (p: ProxyProcess) => p.logs.filter((l) => l['event'] === 'credentials_refreshed');

describe('with hour-long STS credentials', () => {
  let world: SeedWorld;
  beforeAll(async () => {
    world = await startSeedWorld({ irsa: true });
  });
  afterAll(async () => {
    await world?.close();
  });

  it('signs with the credentials STS returned: the allowed service answers 200, the other 403 from Lattice', async () => {
    const irsa = world.irsa!;
    const p = await proxy(world);
    const source = await p.waitForLog((l) => l['event'] === 'credentials_source');
    expect(source).toMatchObject({ source: 'web-identity', roleArn: irsa.caller.roleArn, tokenFile: irsa.tokenFile, stsEndpoint: irsa.sts.url });

    const ok = await appRequest(p.port, irsa.caller.allowedHostname);
    expect(ok.status, ok.body).toBe(200);
    expect(ok.body).toMatch(/Hello from demo-cluster1-v1/);
    const denied = await appRequest(p.port, irsa.caller.deniedHostname);
    expect(denied.status).toBe(403);
    expect(denied.body).toMatch(/^AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role\/eksa-cluster3-lattice-client\//);

    // One STS call, with the token file's content; Lattice verified the key STS issued, as the assumed role.
    const issued = irsa.sts.issued();
    expect(issued).toHaveLength(1);
    expect(issued[0]!.tokenSha256).toBe(tokenSha256(readFileSync(irsa.tokenFile, 'utf8')));
    const entry = world.lattice.log.filter((e) => e.host === irsa.caller.allowedHostname).pop()!;
    expect(entry).toMatchObject({ verified: true, status: 200, accessKeyId: issued[0]!.accessKeyId });
    expect(entry.principalArn).toMatch(/^arn:aws:sts::123456789012:assumed-role\/eksa-cluster3-lattice-client\/aws-sdk-js-session-\d+$/);
    // The Private CA root was fetched with the same STS credentials (the proxy is ready only once it has it).
    expect(world.pca.stats.served).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('STS down at start: not ready with STS named, 503 ERR_NO_CREDENTIALS, nothing forwarded; ready once STS is back', async () => {
    const irsa = world.irsa!;
    await irsa.sts.setDown(true);
    try {
      const seen = world.lattice.stats.requests;
      const p = await proxy(world, {}, false);
      const failed = await p.waitForLog((l) => l['event'] === 'credentials_refresh_failed', 30_000);
      expect(failed).toMatchObject({ provider: 'IRSA (STS AssumeRoleWithWebIdentity)', code: 'ECONNREFUSED', haveValidCredentials: false });
      expect(String(failed['url'])).toBe(`${irsa.sts.url}/`);
      const ready = await p.readyz();
      expect(ready.status).toBe(503);
      expect(ready.body).toMatch(/^not ready: no AWS credentials yet: IRSA \(STS AssumeRoleWithWebIdentity\) http:\/\/127\.0\.0\.1:\d+\/: ECONNREFUSED: .*cannot reach STS/);
      const r = await appRequest(p.port, irsa.caller.allowedHostname);
      expect([r.status, r.headers['x-lattice-proxy-error']]).toEqual([503, 'ERR_NO_CREDENTIALS']);
      expect(world.lattice.stats.requests).toBe(seen);
      // Retried with backoff.
      await p.waitForLog((l) => l['event'] === 'credentials_refresh_failed' && Number(l['attempt']) >= 2, 30_000);

      await irsa.sts.setDown(false);
      await p.waitReady(45_000);
      expect((await p.readyz()).body).toBe('ready\n');
      expect((await appRequest(p.port, irsa.caller.allowedHostname)).status).toBe(200);
    } finally {
      await irsa.sts.setDown(false);
    }
  }, 90_000);

  it('calls STS in AWS_REGION explicitly, whatever the SDK release defaults to (AWS_STS_REGIONAL_ENDPOINTS ignored)', async (ctx) => {
    // Without an endpoint override the SDK resolves the regional endpoint itself. In a network namespace with no
    // network the name cannot resolve, and the diagnosis shows which endpoint was chosen: no packet leaves.
    if (process.getuid?.() !== 0) {
      console.warn('SKIPPED: needs root for a throwaway network namespace');
      ctx.skip();
    }
    const ns = `lsp-irsa-${process.pid}`;
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      // The second case is the one SDK defaults get wrong: the region comes from AWS_DEFAULT_REGION (config.ts's
      // fallback), which the SDK's STS region resolver does not read (it falls back to us-east-1).
      for (const [region, regionEnv] of [
        ['eu-west-1', { AWS_REGION: 'eu-west-1', AWS_STS_REGIONAL_ENDPOINTS: 'legacy' }],
        ['ap-southeast-2', { AWS_REGION: undefined, AWS_DEFAULT_REGION: 'ap-southeast-2' }],
      ] as const) {
        const env = isolatedEnv(
          irsaProxyEnv(world, { ...regionEnv, AWS_ENDPOINT_URL_STS: undefined, CA_ARN: undefined, AWS_ENDPOINT_URL_ACM_PCA: undefined, CONNECT_TO: undefined }),
        );
        const child = spawn('ip', ['netns', 'exec', ns, process.execPath, PROXY_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        try {
          const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('no credentials_refresh_failed line')), 20_000);
            createInterface({ input: child.stdout! }).on('line', (l) => {
              if (!l.startsWith('{')) return;
              const j = JSON.parse(l) as Record<string, unknown>;
              if (j['event'] === 'credentials_refresh_failed') {
                clearTimeout(timer);
                resolve(j);
              }
            });
          });
          expect(line['url']).toBe(`https://sts.${region}.amazonaws.com/`);
          expect(String(line['code'])).toMatch(/^(EAI_AGAIN|ENOTFOUND|ECONNREFUSED|ENETUNREACH)$/);
        } finally {
          child.kill('SIGKILL');
        }
      }
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
    }
  }, 60_000);
});

describe('with short-lived STS credentials (24 s)', () => {
  // The refresh comes due halfway (12 s before expiry: the margin is capped at half the lifetime), and the proxy
  // stops using credentials 10 s before they expire.
  let world: SeedWorld;
  beforeAll(async () => {
    world = await startSeedWorld({ irsa: true, irsaDurationSeconds: 24 });
  });
  afterAll(async () => {
    await world?.close();
  });

  it('re-reads the token file at each refresh: the rotated token is the one the next STS call carries', async () => {
    const irsa = world.irsa!;
    const first = readFileSync(irsa.tokenFile, 'utf8');
    const p = await proxy(world);
    expect(irsa.sts.issued().map((c) => c.tokenSha256)).toEqual([tokenSha256(first)]);
    // The kubelet rewrites the projected token well before it expires.
    const second = irsa.rotateToken();
    expect(second).not.toBe(first);
    await p.waitForLog(() => refreshed(p).length >= 2, 30_000);
    const issued = irsa.sts.issued();
    expect(issued.map((c) => c.tokenSha256)).toEqual([tokenSha256(first), tokenSha256(second)]);
    // Requests are now signed with the second key.
    const r = await appRequest(p.port, irsa.caller.allowedHostname);
    expect(r.status).toBe(200);
    expect(world.lattice.log.filter((e) => e.host === irsa.caller.allowedHostname).pop()?.accessKeyId).toBe(issued[1]!.accessKeyId);
  }, 60_000);

  it('STS down later: cached credentials until they expire, then 503 and not ready naming STS; recovers without restart', async () => {
    const irsa = world.irsa!;
    const p = await proxy(world);
    // Ready means credentials are loaded; their log line may still be in the writer's batch (up to 50 ms).
    const fetched = await p.waitForLog((l) => l['event'] === 'credentials_refreshed', 5_000);
    const expiresAt = Date.parse(String(fetched['expiration']));
    const host = irsa.caller.allowedHostname;
    await irsa.sts.setDown(true);
    try {
      let cachedOk = 0;
      while (Date.now() < expiresAt - 11_000) {
        expect((await appRequest(p.port, host)).status).toBe(200);
        cachedOk++;
        await sleep(250);
      }
      expect(cachedOk).toBeGreaterThan(3);
      const failed = await p.waitForLog((l) => l['event'] === 'credentials_refresh_failed', 20_000);
      expect(failed).toMatchObject({ code: 'ECONNREFUSED', haveValidCredentials: true });

      await sleep(Math.max(0, expiresAt - 10_000 - Date.now() + 300));
      const r = await appRequest(p.port, host);
      expect([r.status, r.headers['x-lattice-proxy-error']]).toEqual([503, 'ERR_NO_CREDENTIALS']);
      const ready = await p.readyz();
      expect(ready.status).toBe(503);
      expect(ready.body).toMatch(/^not ready: AWS credentials expired and not refreshed: IRSA \(STS AssumeRoleWithWebIdentity\) .*ECONNREFUSED/);
    } finally {
      await irsa.sts.setDown(false);
    }
    await p.waitReady(45_000);
    expect((await appRequest(p.port, host)).status).toBe(200);
  }, 90_000);
});
