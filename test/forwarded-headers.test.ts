// Issue 15, headers end to end against the echo target behind the Lattice emulator (IAM auth on: a 200 means
// the signature verified over what arrived). Hop-by-hop removal comes first: a header the app names in
// Connection is gone before anything else happens, Authorization included, so `Connection: authorization`
// forwards neither the Authorization nor its renamed copy. An app-sent copy of the forward header
// (AUTHORIZATION_FORWARD_HEADER, default x-original-authorization) is dropped, never merged with the real one.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type ProxyProcess } from './helpers/proxy-process.js';
import { echoed, echoOf, startEchoWorld, type EchoWorld } from './fuzz/echo-world.js';
import { rawExchange, type RawResponse } from './fuzz/raw-client.js';
import type { EchoResponse } from './emulators/demo-target.js';

let world: EchoWorld;
let proxy: ProxyProcess;
let custom: ProxyProcess;

beforeAll(async () => {
  world = await startEchoWorld();
  [proxy, custom] = await Promise.all([startProxy(world.env()), startProxy(world.env({ AUTHORIZATION_FORWARD_HEADER: 'X-App-Auth' }))]);
});

afterAll(async () => {
  await Promise.all([proxy?.stop(), custom?.stop()]);
  await world?.close();
});

/** GET through `p` with these extra header lines; the echo target's view of what arrived (asserts the 200). */
async function through(p: ProxyProcess, headerLines: string[]): Promise<EchoResponse> {
  const r = await rawExchange(`GET /headers HTTP/1.1\r\nHost: ${world.host}\r\n${headerLines.map((l) => l + '\r\n').join('')}\r\n`, { port: p.port, idleMs: 5_000 });
  const a: RawResponse | undefined = r.responses[0];
  expect(a?.status, a?.body.toString('utf8').slice(0, 300)).toBe(200);
  return echoOf(a!);
}

describe('Connection-nominated headers are removed first', () => {
  it('control: Authorization travels as x-original-authorization, X-Foo as itself', async () => {
    const e = await through(proxy, ['Authorization: Bearer app-token', 'X-Foo: bar']);
    expect(echoed(e, 'x-original-authorization')).toEqual(['Bearer app-token']);
    expect(echoed(e, 'x-foo')).toEqual(['bar']);
  });

  it('Connection: authorization, x-foo delivers neither Authorization (nor x-original-authorization) nor x-foo', async () => {
    const e = await through(proxy, ['Authorization: Bearer app-token', 'X-Foo: bar', 'X-Bar: kept', 'Connection: authorization, x-foo']);
    expect(echoed(e, 'authorization')).toEqual([]);
    expect(echoed(e, 'x-original-authorization')).toEqual([]);
    expect(echoed(e, 'x-foo')).toEqual([]);
    expect(echoed(e, 'x-bar')).toEqual(['kept']);
  });

  it('the same when Connection comes before the headers it names, in another case, among other tokens', async () => {
    const e = await through(proxy, ['Connection: keep-alive, X-FOO, Authorization', 'authorization: Bearer app-token', 'x-foo: bar']);
    expect(echoed(e, 'x-original-authorization')).toEqual([]);
    expect(echoed(e, 'x-foo')).toEqual([]);
  });

  it('with a configured forward header too (AUTHORIZATION_FORWARD_HEADER=X-App-Auth)', async () => {
    const e = await through(custom, ['Authorization: Bearer app-token', 'Connection: authorization']);
    expect(echoed(e, 'x-app-auth')).toEqual([]);
    expect(echoed(e, 'x-original-authorization')).toEqual([]);
  });
});

describe('an app-sent copy of the forward header is dropped, never merged', () => {
  it('with an Authorization: only the renamed real one arrives', async () => {
    const e = await through(proxy, ['Authorization: Bearer app-token', 'X-Original-Authorization: forged']);
    expect(echoed(e, 'x-original-authorization')).toEqual(['Bearer app-token']);
  });

  it('with the copy first, in lower case', async () => {
    const e = await through(proxy, ['x-original-authorization: forged', 'Authorization: Bearer app-token']);
    expect(echoed(e, 'x-original-authorization')).toEqual(['Bearer app-token']);
  });

  it('without an Authorization: nothing arrives under that name', async () => {
    const e = await through(proxy, ['X-Original-Authorization: forged']);
    expect(echoed(e, 'x-original-authorization')).toEqual([]);
  });

  it('AUTHORIZATION_FORWARD_HEADER=X-App-Auth: an app-sent X-App-Auth is dropped, with and without an Authorization', async () => {
    const withAuth = await through(custom, ['X-App-Auth: forged', 'Authorization: Bearer app-token']);
    expect(echoed(withAuth, 'x-app-auth')).toEqual(['Bearer app-token']);
    const without = await through(custom, ['X-App-Auth: forged']);
    expect(echoed(without, 'x-app-auth')).toEqual([]);
    // Only the configured name is special: x-original-authorization is then an ordinary app header.
    const ordinary = await through(custom, ['X-Original-Authorization: an app header']);
    expect(echoed(ordinary, 'x-original-authorization')).toEqual(['an app header']);
  });
});

describe('the oracle', () => {
  it('the front saw only signed requests for allowed hosts', () => {
    expect(world.front.stats.requests).toBeGreaterThan(0);
    expect(world.front.violations).toEqual([]);
    expect(world.lattice.log.every((e) => e.verified)).toBe(true);
  });
});
