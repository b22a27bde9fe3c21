// Issue 15, "credential failures say why": for each way the Pod Identity agent or STS can fail, the built proxy's
// /readyz and its credentials_refresh_failed log line name the provider, the URL, the HTTP status or network
// error (and STS's code), with a hint at the usual cause, and never the token. Fixing the cause makes the proxy
// ready without a restart, with no stale reason left behind.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSigningKey, mintServiceAccountToken } from './emulators/oidc.js';
import { startSeedWorld, type SeedWorld } from './emulators/scenario.js';
import { irsaProxyEnv } from './helpers/irsa-env.js';
import { startProxy, type ProxyProcess } from './helpers/proxy-process.js';
import { seedProxyEnv } from './fuzz/seed-proxy.js';

let world: SeedWorld;
let dir: string;
const started: ProxyProcess[] = [];

beforeAll(async () => {
  world = await startSeedWorld({ irsa: true });
  dir = mkdtempSync(join(tmpdir(), 'cred-diag-'));
});
afterEach(async () => {
  for (const p of started.splice(0)) await p.stop();
  world.agents.cluster1.setFailure(undefined);
  await world.agents.cluster1.setDown(false);
});
afterAll(async () => {
  await world?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Failure {
  readyz: string;
  log: Record<string, unknown>;
  proxy: ProxyProcess;
}

/** Starts a proxy that cannot get credentials and returns what it says about it. */
async function failing(env: Record<string, string | undefined>): Promise<Failure> {
  const proxy = await startProxy(env, { waitReady: false });
  started.push(proxy);
  const log = await proxy.waitForLog((l) => l['event'] === 'credentials_refresh_failed', 30_000);
  const r = await proxy.readyz();
  expect(r.status).toBe(503);
  return { readyz: r.body, log, proxy };
}

describe('EKS Pod Identity agent', () => {
  const PROVIDER = 'EKS Pod Identity (container credentials)';
  const cases: Array<[string, () => Promise<Record<string, string | undefined>>, Record<string, unknown>, RegExp]> = [
    [
      '401: the agent rejects the token',
      async () => {
        const file = join(dir, 'stale-pod-identity-token');
        writeFileSync(file, 'a-token-the-agent-does-not-know-0123456789');
        return seedProxyEnv(world, 'cluster1', { AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: file });
      },
      { httpStatus: 401 },
      /HTTP 401: .*rejected the service account token/,
    ],
    [
      '403: access denied (no association)',
      async () => {
        world.agents.cluster1.setFailure({ status: 403 });
        return seedProxyEnv(world, 'cluster1');
      },
      { httpStatus: 403 },
      /HTTP 403: the agent answered 403 \(no Pod Identity association for this service account\?\)/,
    ],
    [
      '500: the agent or EKS Auth fails',
      async () => {
        world.agents.cluster1.setFailure({ status: 500 });
        return seedProxyEnv(world, 'cluster1');
      },
      { httpStatus: 500 },
      /HTTP 500: the agent answered 500 \(the agent or EKS Auth failed: retried with backoff\)/,
    ],
    [
      'connection refused: no agent',
      async () => {
        await world.agents.cluster1.setDown(true);
        return seedProxyEnv(world, 'cluster1');
      },
      { code: 'ECONNREFUSED' },
      /ECONNREFUSED: .*\(nothing listens there: is the eks-pod-identity-agent DaemonSet running on this node\?\)/,
    ],
    [
      'token file missing',
      async () => seedProxyEnv(world, 'cluster1', { AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: join(dir, 'no-such-token') }),
      { code: 'ENOENT' },
      /ENOENT: token file .*no-such-token unreadable \(is the eks-pod-identity-token projected volume mounted/,
    ],
  ];

  it.each(cases)('%s', async (_what, setup, fields, reason) => {
    const url = world.agents.cluster1.url;
    const { readyz, log } = await failing(await setup());
    expect(readyz.startsWith(`not ready: no AWS credentials yet: ${PROVIDER} ${url}: `), readyz).toBe(true);
    expect(readyz).toMatch(reason);
    expect(log).toMatchObject({ provider: PROVIDER, url, ...fields, haveValidCredentials: false });
    expect(String(log['error'])).toBe(readyz.replace(/^not ready: no AWS credentials yet: /, '').trimEnd());
    expect(typeof log['hint']).toBe('string');
  }, 60_000);

  it('is ready once the agent answers again, and /readyz keeps no stale reason', async () => {
    world.agents.cluster1.setFailure({ status: 403 });
    const { proxy } = await failing(seedProxyEnv(world, 'cluster1'));
    world.agents.cluster1.setFailure(undefined);
    await proxy.waitReady(45_000);
    expect(await proxy.readyz()).toEqual({ status: 200, body: 'ready\n' });
  }, 60_000);
});

describe('STS (IRSA)', () => {
  const PROVIDER = 'IRSA (STS AssumeRoleWithWebIdentity)';
  const irsaToken = (extra: Partial<Parameters<NonNullable<SeedWorld['irsa']>['issuer']['mint']>[0]> = {}) =>
    world.irsa!.issuer.mint({ namespace: 'apps', serviceAccount: 'demo-eksa-v1', ...extra });
  const cases: Array<[string, () => string | undefined, number, string, RegExp]> = [
    ['wrong audience', () => irsaToken({ audience: 'vault' }), 400, 'InvalidIdentityToken', /InvalidIdentityToken: Incorrect token audience \(the token's audience must be a client id .* aud=vault /],
    ['expired token', () => irsaToken({ now: Date.now() - 7200_000, ttlSeconds: 3600 }), 400, 'ExpiredTokenException', /ExpiredTokenException: Token expired: current date\/time \d+ must be before the expiration date\/time \d+ \(the token file holds an expired token/],
    ['untrusted subject', () => irsaToken({ serviceAccount: 'default' }), 403, 'AccessDenied', /AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity \(the trust policy of arn:aws:iam::123456789012:role\/eksa-cluster3-lattice-client does not allow this service account.* sub=system:serviceaccount:apps:default /],
    [
      'bad signature',
      () => mintServiceAccountToken(createSigningKey(), { issuer: world.irsa!.issuer.url, namespace: 'apps', serviceAccount: 'demo-eksa-v1' }),
      400,
      'InvalidIdentityToken',
      /InvalidIdentityToken: The web identity token that was passed could not be validated by AWS.* \(the token's signature does not verify/,
    ],
    ['token file missing', () => undefined, 0, 'ENOENT', /ENOENT: token file .* unreadable \(is the aws-iam-token projected volume of the pod identity webhook mounted/],
  ];

  it.each(cases)('%s', async (what, token, status, code, reason) => {
    const file = join(dir, `irsa-${what.replace(/\W+/g, '-')}`);
    const t = token();
    if (t !== undefined) writeFileSync(file, t);
    const { readyz, log, proxy } = await failing(irsaProxyEnv(world, { AWS_WEB_IDENTITY_TOKEN_FILE: file }));
    const url = t === undefined ? world.irsa!.sts.url : `${world.irsa!.sts.url}/`;
    expect(readyz.startsWith(`not ready: no AWS credentials yet: ${PROVIDER} ${url}: `), readyz).toBe(true);
    expect(readyz).toMatch(reason);
    expect(log).toMatchObject({ provider: PROVIDER, url, code, ...(status ? { httpStatus: status } : {}), haveValidCredentials: false });
    // The token is a bearer credential: neither /readyz nor the log may carry it (its claims are not secret).
    if (t !== undefined) {
      for (const part of t.split('.').slice(1)) {
        expect(readyz).not.toContain(part);
        expect(proxy.output()).not.toContain(part);
      }
    }
  }, 60_000);

  it('a fixed token file makes it ready at the next retry, with no stale reason', async () => {
    const file = join(dir, 'irsa-fixed');
    writeFileSync(file, irsaToken({ audience: 'vault' }));
    const { proxy } = await failing(irsaProxyEnv(world, { AWS_WEB_IDENTITY_TOKEN_FILE: file }));
    writeFileSync(file, irsaToken());
    await proxy.waitReady(45_000);
    expect(await proxy.readyz()).toEqual({ status: 200, body: 'ready\n' });
  }, 60_000);
});
