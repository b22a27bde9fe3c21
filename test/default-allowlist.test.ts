// Issue 15: the default allowlist is Lattice's own generated names in the signing region plus *.APP_DOMAIN,
// no longer all of `*.on.aws` (Lambda function URLs and other AWS services live there too, and the sidecar
// would sign with the pod's identity and send its session token to them). End to end: the built proxy with no
// ALLOWED_HOSTS, the recording front standing in for every upstream (it records the SNI and Host it is offered).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type ProxyProcess } from './helpers/proxy-process.js';
import { startEchoWorld, type EchoWorld } from './fuzz/echo-world.js';
import { rawExchange } from './fuzz/raw-client.js';

let world: EchoWorld;
let proxy: ProxyProcess;

beforeAll(async () => {
  world = await startEchoWorld();
  proxy = await startProxy(world.env({ ALLOWED_HOSTS: undefined }));
});

afterAll(async () => {
  await proxy?.stop();
  await world?.close();
});

async function get(host: string): Promise<{ status: number | undefined; code: string | undefined }> {
  const r = await rawExchange(`GET /allowlist HTTP/1.1\r\nHost: ${host}\r\n\r\n`, { port: proxy.port, idleMs: 5_000 });
  return { status: r.responses[0]?.status, code: r.responses[0]?.headers.get('x-lattice-proxy-error')?.[0] };
}

describe('default allowlist (no ALLOWED_HOSTS, AWS_REGION=us-west-2, APP_DOMAIN=example.com)', () => {
  for (const host of ['abc.lambda-url.us-west-2.on.aws', 'bucket.s3-object-lambda.us-west-2.on.aws', 'svc-0123.7d67968.vpc-lattice-svcs.eu-west-1.on.aws', 'anything.on.aws']) {
    it(`${host} → 403 ERR_TARGET_NOT_ALLOWED, nothing dialled`, async () => {
      const before = world.front.stats.clientHellos;
      expect(await get(host)).toEqual({ status: 403, code: 'ERR_TARGET_NOT_ALLOWED' });
      expect(world.front.stats.clientHellos).toBe(before);
      expect(world.front.sniSeen.has(host)).toBe(false);
    });
  }

  it('svc-0123.7d67968.vpc-lattice-svcs.us-west-2.on.aws is allowed: signed and sent (Lattice answers for it)', async () => {
    const host = 'svc-0123.7d67968.vpc-lattice-svcs.us-west-2.on.aws';
    const r = await get(host);
    // The emulated Lattice has no such service: its own 404, not a refusal of the proxy.
    expect(r).toEqual({ status: 404, code: undefined });
    expect(world.front.sniSeen.get(host)).toBe(1);
    expect(world.front.requests.filter((q) => q.host === host && q.signed)).toHaveLength(1);
  });

  it('*.APP_DOMAIN is allowed: the echo service answers', async () => {
    expect(await get(world.host)).toEqual({ status: 200, code: undefined });
  });

  it('the oracle saw nothing outside the allowlist', () => {
    expect(world.front.violations).toEqual([]);
  });
});
