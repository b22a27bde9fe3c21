// Issue 15: trust.ts kept the last error after a successful load, so /readyz could show an old cause. Each source
// (CA_FILE, the Private CA) now clears its own failure when it loads: a CA_FILE that is broken then fixed leaves
// no trace, while the cause that still holds (the Private CA unreachable) is the one /readyz names.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialCache } from '../proxy/src/credentials.js';
import { createLogger } from '../proxy/src/logging.js';
import { createMetrics } from '../proxy/src/metrics.js';
import { TrustStore } from '../proxy/src/trust.js';
import { createTestCa } from './emulators/pki.js';
import { startSeedWorld, type SeedWorld } from './emulators/scenario.js';
import { startProxy } from './helpers/proxy-process.js';
import { seedProxyEnv, sleep } from './fuzz/seed-proxy.js';

let dir: string;
let caPem: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trust-errors-'));
  caPem = (await createTestCa()).certPem;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
}

describe('TrustStore.lastError', () => {
  it('is cleared when CA_FILE loads after failing, and set again when it breaks', async () => {
    const file = join(dir, 'ca-unit.pem');
    writeFileSync(file, 'not a certificate');
    const logger = createLogger('silent', { write: () => undefined });
    const metrics = createMetrics({ defaultMetrics: false });
    const credentials = new CredentialCache({ providerFactory: () => async () => ({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'x' }), refreshMarginMs: 1000, logger, metrics });
    const trust = new TrustStore({
      caArn: undefined, caRegion: undefined, caFile: file, pcaEndpoint: undefined, refreshIntervalMs: 60_000,
      filePollMs: 50, retryBaseMs: 20, retryCapMs: 40, credentials, logger, metrics, onChange: () => undefined,
    });
    trust.start();
    try {
      await until('the broken file is reported', () => trust.lastError !== undefined);
      expect(trust.lastError).toMatch(/^CA_FILE .* holds no PEM certificate$/);
      expect(trust.loaded).toBe(false);
      writeFileSync(file, caPem);
      await until('the fixed file loads', () => trust.loaded);
      expect(trust.lastError).toBeUndefined();
      // Broken again after a good load: the previous roots are kept, and the new failure is reported.
      writeFileSync(file, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
      await until('the new failure is reported', () => trust.lastError !== undefined);
      expect(trust.loaded).toBe(true);
      writeFileSync(file, caPem);
      await until('cleared again', () => trust.lastError === undefined);
    } finally {
      trust.stop();
    }
  });
});

describe('the built proxy', () => {
  let world: SeedWorld;
  beforeAll(async () => {
    world = await startSeedWorld();
  });
  afterAll(async () => {
    await world?.pca.setDown(false);
    await world?.close();
  });

  it('CA_FILE broken then fixed, Private CA down: /readyz names the Private CA only; then a clean "ready"', async () => {
    const file = join(dir, 'ca-proxy.pem');
    writeFileSync(file, 'not a certificate');
    await world.pca.setDown(true);
    const p = await startProxy(seedProxyEnv(world, 'cluster1', { CA_FILE: file }), { waitReady: false });
    try {
      await p.waitForLog((l) => l['event'] === 'ca_file_failed');
      await p.waitForLog((l) => l['event'] === 'ca_fetch_failed', 30_000);
      const both = await p.readyz();
      expect(both.status).toBe(503);
      expect(both.body).toMatch(/CA_FILE .* holds no PEM certificate/);
      expect(both.body).toMatch(/GetCertificateAuthorityCertificate/);

      writeFileSync(file, world.caPem);
      await p.waitForLog((l) => l['event'] === 'ca_loaded' && l['source'] === 'file', 30_000);
      const pcaOnly = await p.readyz();
      expect(pcaOnly.status).toBe(503);
      expect(pcaOnly.body).toMatch(/^not ready: Private CA root not loaded: .*GetCertificateAuthorityCertificate/);
      expect(pcaOnly.body).not.toMatch(/CA_FILE/);

      await world.pca.setDown(false);
      await p.waitReady(45_000);
      expect(await p.readyz()).toEqual({ status: 200, body: 'ready\n' });
    } finally {
      await p.stop();
    }
  }, 90_000);
});
