// The built proxy in the seed's world: IAM auth policy outcomes relayed as Lattice gives them, readiness
// that follows credentials and the Private CA, clear errors for a dead or untrusted upstream, and a clean
// SIGTERM drain.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, createUntrustedCa } from './emulators/pki.js';
import { startPodIdentityAgent } from './emulators/pod-identity.js';
import { startPcaEmulator } from './emulators/pca.js';
import { startSeedWorld, type SeedWorld } from './emulators/scenario.js';
import { httpGet, seedProxyEnv, startProxy, type ProxyProcess } from './helpers/proxy-process.js';

let world: SeedWorld;

beforeAll(async () => {
  world = await startSeedWorld();
});
afterAll(async () => {
  await world?.close();
});

function podEnv(cluster: 'cluster1' | 'cluster2', extra: Record<string, string> = {}): Record<string, string | undefined> {
  return seedProxyEnv(world, cluster, extra);
}

function get(port: number, host: string, path = '/'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

function tempFile(name: string, text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'lsp-')), name);
  writeFileSync(f, text);
  return f;
}

describe('IAM auth policy outcomes (the seed checks)', () => {
  let p1: ProxyProcess;
  let p2: ProxyProcess;
  beforeAll(async () => {
    [p1, p2] = await Promise.all([startProxy(podEnv('cluster1')), startProxy(podEnv('cluster2'))]);
  });
  afterAll(async () => {
    await Promise.all([p1?.stop(), p2?.stop()]);
  });

  it('cluster1 → cluster2 is allowed: 200 from the demo app', async () => {
    const r = await get(p1.port, 'demo-cluster2.example.com');
    expect(r.status).toBe(200);
    expect(r.body).toMatch(/^Requesting to Pod\(demo-cluster2-v1-.+\): Hello from demo-cluster2-v1/);
  });
  it('cluster2 → cluster1 is allowed', async () => {
    const r = await get(p2.port, 'demo-cluster1.example.com');
    expect(r.status).toBe(200);
    expect(r.body).toContain('Hello from demo-cluster1-v1');
  });
  it('cluster1 → cluster1 is denied by the IAM auth policy: 403 AccessDeniedException relayed unchanged', async () => {
    const r = await get(p1.port, 'demo-cluster1.example.com');
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/^AccessDeniedException: User: arn:aws:sts::\d+:assumed-role\/.+ is not authorized to perform: vpc-lattice-svcs:Invoke/);
    expect(r.headers['x-lattice-proxy-error']).toBeUndefined();
  });
  it('cluster2 → cluster2 is denied', async () => {
    const r = await get(p2.port, 'demo-cluster2.example.com');
    expect(r.status).toBe(403);
    expect(r.body).toContain('AccessDeniedException');
  });
});

describe('readiness follows credentials', () => {
  it('is not ready and answers 503 while the Pod Identity agent is down, then recovers', async () => {
    await world.agents.cluster1.setDown(true);
    const p = await startProxy(podEnv('cluster1'), { waitReady: false });
    try {
      const notReady = await p.readyz();
      expect(notReady.status).toBe(503);
      expect(notReady.body).toContain('no AWS credentials yet');
      const r = await get(p.port, 'demo-cluster2.example.com');
      expect(r.status).toBe(503);
      expect(r.body).toContain('no valid AWS credentials');
      expect(r.headers['x-lattice-proxy-error']).toBe('ERR_NO_CREDENTIALS');

      // Let at least one background fetch fail (the SDK retries inside one fetch first), then come back.
      await p.waitForLog((l) => l['event'] === 'credentials_refresh_failed', 30_000);
      expect(await p.metrics()).toMatch(/lattice_proxy_credential_refreshes_total\{result="failure"\} [1-9]/);
      await world.agents.cluster1.setDown(false);
      await p.waitReady(40_000);
      expect((await get(p.port, 'demo-cluster2.example.com')).status).toBe(200);
    } finally {
      await world.agents.cluster1.setDown(false);
      await p.stop();
    }
  });
});

describe('upstream failures get a clear status', () => {
  it('connection refused → 502 naming the host', async () => {
    const p = await startProxy(podEnv('cluster1', { CONNECT_TO: '127.0.0.1:1' }));
    try {
      const r = await get(p.port, 'demo-cluster2.example.com');
      expect(r.status).toBe(502);
      expect(r.body).toContain('could not connect to upstream demo-cluster2.example.com (ECONNREFUSED)');
      expect(await p.metrics()).toMatch(/lattice_proxy_upstream_errors_total\{kind="connect"\} 1/);
    } finally {
      await p.stop();
    }
  });

  it('a certificate from a CA other than the Private CA → 502, and no HTTP byte reaches the server', async () => {
    const rogueCa = await createUntrustedCa();
    const cert = await rogueCa.issue({ dnsNames: ['demo-cluster2.example.com'] });
    let httpRequests = 0;
    const rogue = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => {
      httpRequests++;
      res.end('should never be reached');
    });
    await new Promise<void>((r) => rogue.listen(0, '127.0.0.1', () => r()));
    const port = (rogue.address() as { port: number }).port;
    const p = await startProxy(podEnv('cluster1', { CONNECT_TO: `127.0.0.1:${port}` }));
    try {
      const r = await get(p.port, 'demo-cluster2.example.com');
      expect(r.status).toBe(502);
      expect(r.body).toContain('TLS to upstream demo-cluster2.example.com failed');
      expect(httpRequests).toBe(0);
    } finally {
      await p.stop();
      rogue.close();
    }
  });

  it('a trusted certificate for another host → 502', async () => {
    const p = await startProxy(podEnv('cluster1', { ALLOWED_HOSTS: 'other.example.net' }));
    try {
      const r = await get(p.port, 'other.example.net');
      expect(r.status).toBe(502);
      expect(r.body).toMatch(/TLS to upstream other.example.net failed \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
    } finally {
      await p.stop();
    }
  });
});

describe('Private CA trust', () => {
  it('trusts the root served by the emulated ACM PCA (CA_ARN) and reports it', async () => {
    const p = await startProxy(podEnv('cluster1'));
    try {
      const loaded = await p.waitForLog((l) => l['event'] === 'ca_loaded');
      expect(loaded['source']).toBe('pca');
      expect(JSON.stringify(loaded['certificates'])).toContain('Emulated AWS Private CA root');
      expect(world.pca.stats.calls).toBeGreaterThan(0);
    } finally {
      await p.stop();
    }
  });

  it('denied by ACM PCA (IAM): not ready, /readyz and the log say access denied for the ARN; nothing forwarded', async () => {
    const denying = await startPcaEmulator({ caArn: world.caArn, caCertPem: world.caPem, iamKey: world.iamKey, region: world.region, authorize: () => false });
    const seen = world.lattice.stats.requests;
    const p = await startProxy(podEnv('cluster1', { AWS_ENDPOINT_URL_ACM_PCA: denying.endpoint }), { waitReady: false });
    try {
      const failed = await p.waitForLog((l) => l['event'] === 'ca_fetch_failed');
      expect(failed['code']).toBe('ERR_PCA_ACCESS_DENIED');
      expect(failed['error']).toContain(`GetCertificateAuthorityCertificate ${world.caArn}: access denied`);
      const r = await p.readyz();
      expect(r.status).toBe(503);
      expect(r.body).toContain(`Private CA root not loaded: GetCertificateAuthorityCertificate ${world.caArn}: access denied`);
      expect(r.body).toContain('is not authorized to perform: acm-pca:GetCertificateAuthorityCertificate');
      expect((await get(p.port, 'demo-cluster2.example.com')).status).toBe(503);
      expect(world.lattice.stats.requests).toBe(seen);
      expect(denying.stats.served).toBe(0);
    } finally {
      await p.stop();
      await denying.close();
    }
  });

  it('with CA_FILE alone the upstream is trusted too', async () => {
    const p = await startProxy(podEnv('cluster1', { CA_ARN: '', CA_FILE: tempFile('ca.pem', world.caPem) }));
    try {
      expect((await get(p.port, 'demo-cluster2.example.com')).status).toBe(200);
    } finally {
      await p.stop();
    }
  });

  it('is not ready while CA_FILE is missing, and becomes ready when it appears', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lsp-'));
    const file = join(dir, 'ca.pem');
    const p = await startProxy(podEnv('cluster1', { CA_ARN: '', CA_FILE: file }), { waitReady: false });
    try {
      await p.waitForLog((l) => l['event'] === 'credentials_refreshed');
      const r = await p.readyz();
      expect(r.status).toBe(503);
      expect(r.body).toContain('Private CA root not loaded');
      expect((await get(p.port, 'demo-cluster2.example.com')).status).toBe(503);
      writeFileSync(file, (await createTestCa('unrelated root')).certPem + world.caPem);
      await p.waitReady(40_000);
      expect((await get(p.port, 'demo-cluster2.example.com')).status).toBe(200);
    } finally {
      await p.stop();
    }
  });
});

describe('rotation without a restart', () => {
  it('picks up a rotated Private CA from ACM PCA on the next periodic fetch', async () => {
    const oldCa = await createTestCa('root before rotation');
    const newCa = await createTestCa('root after rotation');
    const pca = await startPcaEmulator({ caArn: world.caArn, caCertPem: oldCa.certPem, iamKey: world.iamKey, region: world.region });
    const cert = await newCa.issue({ dnsNames: ['rotated.example.com'] });
    const upstream = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => res.end('served under the new root'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const port = (upstream.address() as { port: number }).port;
    const p = await startProxy(podEnv('cluster1', { AWS_ENDPOINT_URL_ACM_PCA: pca.endpoint, CONNECT_TO: `127.0.0.1:${port}`, CA_REFRESH_INTERVAL_S: '5' }));
    try {
      expect((await get(p.port, 'rotated.example.com')).status).toBe(502); // still trusting the old root
      pca.setCertificate(newCa.certPem);
      await p.waitForLog((l) => l['event'] === 'ca_loaded' && JSON.stringify(l['certificates']).includes('root after rotation'), 20_000);
      const r = await get(p.port, 'rotated.example.com');
      expect(r.status).toBe(200);
      expect(r.body).toBe('served under the new root');
    } finally {
      await p.stop();
      upstream.close();
      await pca.close();
    }
  });

  it('re-reads the Pod Identity token file at each refresh (projected tokens rotate)', async () => {
    const caller = world.scenario.callers.cluster1;
    // 30 s credentials: refreshed after 15 s, unusable from 20 s (10 s safety margin), so a 200 after 22 s
    // proves a refresh succeeded, which needs the rotated token read from the file.
    const agent = await startPodIdentityAgent({ token: 'token-before-rotation', iamKey: world.iamKey, roleArn: caller.roleArn, tags: caller.tags, ttlSeconds: 30 });
    const p = await startProxy(podEnv('cluster1', { AWS_CONTAINER_CREDENTIALS_FULL_URI: agent.url, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: agent.tokenFile }));
    try {
      expect((await get(p.port, 'demo-cluster2.example.com')).status).toBe(200);
      agent.setToken('token-after-rotation'); // the old token is refused from now on; the file holds the new one
      await new Promise((r) => setTimeout(r, 22_000));
      expect((await get(p.port, 'demo-cluster2.example.com')).status).toBe(200);
      const m = await p.metrics();
      expect(m).toMatch(/lattice_proxy_credential_refreshes_total\{result="success"\} [2-9]/);
      expect(m).toMatch(/lattice_proxy_credential_refreshes_total\{result="failure"\} 0/);
      expect(agent.stats.rejected).toBe(0);
    } finally {
      await p.stop();
      await agent.close();
    }
  }, 60_000);
});

describe('SIGTERM', () => {
  it('finishes the in-flight request, refuses new connections, exits 0', async () => {
    const ca = await createTestCa();
    const cert = await ca.issue({ dnsNames: ['slow.example.com'] });
    const slow = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => {
      setTimeout(() => res.end('slow answer'), 1_500);
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    const port = (slow.address() as { port: number }).port;
    const p = await startProxy(podEnv('cluster1', { CA_ARN: '', CA_FILE: tempFile('ca.pem', ca.certPem), CONNECT_TO: `127.0.0.1:${port}`, DRAIN_TIMEOUT_MS: '10000' }));
    try {
      const inFlight = get(p.port, 'slow.example.com');
      await new Promise((r) => setTimeout(r, 300));
      const exit = p.stop('SIGTERM');
      await p.waitForLog((l) => l['event'] === 'draining');
      await new Promise((r) => setTimeout(r, 100)); // the listener closes right after the log line
      await expect(httpGet(p.port, '/')).rejects.toThrow(/ECONNREFUSED/);
      const r = await inFlight;
      expect(r.status).toBe(200);
      expect(r.body).toBe('slow answer');
      expect(await exit).toBe(0);
      expect(p.logs.some((l) => l['event'] === 'stopped' && l['completed'] === true)).toBe(true);
    } finally {
      await p.stop('SIGKILL');
      slow.close();
    }
  });
});
