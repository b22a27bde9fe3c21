// Issue 15, framing and pipelining (RFC 9112), end to end through the built proxy to the echo target behind
// the Lattice emulator, with the recording front as the TLS-independent oracle. What is refused is never
// signed or forwarded (checked in the Lattice emulator's log AND at the front); what is forwarded is signed
// exactly as it goes on the wire (the emulator verifies it: a 200 means it did).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type ProxyProcess } from './helpers/proxy-process.js';
import { hasHead, openRaw } from './fuzz/contract.js';
import { echoed, echoOf, NEVER, startEchoWorld, type EchoWorld } from './fuzz/echo-world.js';
import { rawExchange, type RawResult } from './fuzz/raw-client.js';
import { sleep } from './fuzz/seed-proxy.js';

let world: EchoWorld;
let proxy: ProxyProcess;

beforeAll(async () => {
  world = await startEchoWorld();
  proxy = await startProxy(world.env());
});

afterAll(async () => {
  await proxy?.stop();
  await world?.close();
});

const H = (): string => world.host;

/** Send, wait for the proxy to close (every case here must end the connection or answer once). */
function send(bytes: string | Buffer, responses = 1): Promise<RawResult> {
  return rawExchange(bytes, { port: proxy.port, awaitClose: true, responses, idleMs: 3_000, timeoutMs: 4_000 });
}

function describeResult(r: RawResult): string {
  return `${r.responses.map((x) => `${x.status} ${x.headers.get('x-lattice-proxy-error')?.[0] ?? ''}`).join(' | ') || 'no response'}${r.closed ? ', closed' : ''}${r.hung ? ', hung' : ''}; raw ${JSON.stringify(r.raw.toString('latin1').slice(0, 200))}`;
}

/** Nothing with `marker` in its path reached the Lattice emulator or the front (after a moment for stragglers). */
async function neverForwarded(marker: string): Promise<void> {
  await sleep(300);
  expect(world.forwarded(marker)).toEqual([]);
}

function expectOnly(r: RawResult, status: number, code?: string): void {
  expect(r.responses.map((x) => x.status), describeResult(r)).toEqual([status]);
  if (code !== undefined) expect(r.responses[0]!.headers.get('x-lattice-proxy-error')?.[0], describeResult(r)).toBe(code);
  expect(r.closed && !r.hung, `the connection must be closed: ${describeResult(r)}`).toBe(true);
}

describe('nothing pipelined behind a 400 is processed (RFC 9112 §9.6)', () => {
  it('behind `Host: bad host`: one 400, closed, the next request never signed or forwarded', async () => {
    const r = await send(`GET /first HTTP/1.1\r\nHost: bad host\r\n\r\nGET ${NEVER}behind-bad-host HTTP/1.1\r\nHost: ${H()}\r\n\r\n`, 2);
    expectOnly(r, 400, 'ERR_BAD_REQUEST');
    await neverForwarded(`${NEVER}behind-bad-host`);
  });

  it('behind an https:// absolute form: one 400, closed, the next request never signed or forwarded', async () => {
    const r = await send(`GET https://${H()}/first HTTP/1.1\r\nHost: ${H()}\r\n\r\nGET ${NEVER}behind-https HTTP/1.1\r\nHost: ${H()}\r\n\r\n`, 2);
    expectOnly(r, 400, 'ERR_BAD_REQUEST');
    await neverForwarded(`${NEVER}behind-https`);
  });

  it('behind a 400, written in small pieces (the next request arrives while the 400 is being decided)', async () => {
    const r = await rawExchange(`GET /first HTTP/1.1\r\nHost: bad host\r\n\r\nGET ${NEVER}behind-pieces HTTP/1.1\r\nHost: ${H()}\r\n\r\n`, {
      port: proxy.port,
      awaitClose: true,
      responses: 2,
      chunkSize: 7,
      idleMs: 3_000,
    });
    expectOnly(r, 400, 'ERR_BAD_REQUEST');
    await neverForwarded(`${NEVER}behind-pieces`);
  });
});

describe('Connection: close ends the exchange: the first request is answered, nothing after it is read', () => {
  it('a full request after it: answered 200 once, the second never forwarded, no 400', async () => {
    const r = await send(`GET /closing HTTP/1.1\r\nHost: ${H()}\r\nConnection: close\r\n\r\nGET ${NEVER}after-close HTTP/1.1\r\nHost: ${H()}\r\n\r\n`, 2);
    expectOnly(r, 200);
    expect(echoOf(r.responses[0]!).rawPath).toBe('/closing');
    expect(r.raw.toString('latin1')).not.toContain('HTTP/1.1 400');
    await neverForwarded(`${NEVER}after-close`);
  });

  it('garbage after it: answered 200 once, no 400 for the garbage', async () => {
    const r = await send(`GET /closing-garbage HTTP/1.1\r\nHost: ${H()}\r\nConnection: close\r\n\r\nXYZ \x00\x01 not a request\r\n\r\n`, 2);
    expectOnly(r, 200);
    expect(r.raw.toString('latin1')).not.toContain('HTTP/1.1 400');
  });

  it('an HTTP/1.0 request without keep-alive, followed by another: answered once, the second never forwarded', async () => {
    const r = await send(`GET /http10 HTTP/1.0\r\nHost: ${H()}\r\n\r\nGET ${NEVER}after-http10 HTTP/1.1\r\nHost: ${H()}\r\n\r\n`, 2);
    expectOnly(r, 200);
    await neverForwarded(`${NEVER}after-http10`);
  });
});

describe('faulty or unsupported framing is refused before anything is forwarded', () => {
  it('HTTP/1.0 with Transfer-Encoding: chunked → 400, not forwarded, closed (RFC 9112 §6.1)', async () => {
    const r = await send(`POST ${NEVER}te-http10 HTTP/1.0\r\nHost: ${H()}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET ${NEVER}after-te-http10 HTTP/1.1\r\nHost: ${H()}\r\n\r\n`, 2);
    expectOnly(r, 400, 'ERR_BAD_REQUEST');
    await neverForwarded(`${NEVER}te-http10`);
    await neverForwarded(`${NEVER}after-te-http10`);
  });

  it('Transfer-Encoding: gzip, chunked → 501 ERR_UNSUPPORTED_TRANSFER_CODING, not forwarded, closed', async () => {
    const r = await send(`POST ${NEVER}gzip-chunked HTTP/1.1\r\nHost: ${H()}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    expectOnly(r, 501, 'ERR_UNSUPPORTED_TRANSFER_CODING');
    await neverForwarded(`${NEVER}gzip-chunked`);
  });

  for (const target of [`${NEVER}fragment#frag`, `${NEVER}fragment?q=1#frag`, `http://${'HOST'}${NEVER}fragment-abs#frag`]) {
    it(`a #fragment in the request-target (${target.replace('HOST', 'echo.example.com')}) → 400, not forwarded`, async () => {
      const r = await send(`GET ${target.replace('HOST', H())} HTTP/1.1\r\nHost: ${H()}\r\n\r\n`);
      expect(r.responses.map((x) => x.status), describeResult(r)).toEqual([400]);
      expect(r.responses[0]!.headers.get('x-lattice-proxy-error')?.[0]).toBe('ERR_BAD_REQUEST');
      await neverForwarded(`${NEVER}fragment`);
    });
  }
});

describe('what is signed is what goes on the wire', () => {
  it('Content-Length: 005 → forwarded and signed as 5 (the emulator verifies, the target sees content-length 5)', async () => {
    const r = await send(`POST /cl-leading-zeros HTTP/1.1\r\nHost: ${H()}\r\nContent-Length: 005\r\nConnection: close\r\n\r\nhello`);
    expect(r.responses.map((x) => x.status), describeResult(r)).toEqual([200]);
    const e = echoOf(r.responses[0]!);
    expect(echoed(e, 'content-length')).toEqual(['5']);
    expect(e.bodyBytes).toBe(5);
  });

  const c1 = Array.from({ length: 0x20 }, (_, i) => 0x80 + i);
  it(`a header value with a byte 0x80-0x9F → 400, not forwarded (each of the ${c1.length})`, async () => {
    const results = await Promise.all(
      c1.map(async (b) => {
        const hex = b.toString(16);
        const r = await send(Buffer.concat([Buffer.from(`GET ${NEVER}c1-${hex} HTTP/1.1\r\nHost: ${H()}\r\nX-Value: a`, 'latin1'), Buffer.from([b]), Buffer.from('b\r\n\r\n', 'latin1')]));
        const code = r.responses[0]?.headers.get('x-lattice-proxy-error')?.[0];
        return r.responses.length !== 1 || r.responses[0]!.status !== 400 || code !== 'ERR_BAD_REQUEST' ? `0x${hex}: ${describeResult(r).slice(0, 60)}` : undefined;
      }),
    );
    expect(results.filter((w) => w !== undefined)).toEqual([]);
    await neverForwarded(`${NEVER}c1-`);
  }, 60_000);

  it('a header value with every byte 0xA0-0xFF → forwarded unchanged and verified', async () => {
    const bytes = Buffer.from(Array.from({ length: 0x60 }, (_, i) => 0xa0 + i));
    const r = await send(Buffer.concat([Buffer.from(`GET /obs-text HTTP/1.1\r\nHost: ${H()}\r\nConnection: close\r\nX-Value: a`, 'latin1'), bytes, Buffer.from('z\r\n\r\n', 'latin1')]));
    expect(r.responses.map((x) => x.status), describeResult(r)).toEqual([200]);
    expect(echoed(echoOf(r.responses[0]!), 'x-value')).toEqual([`a${bytes.toString('latin1')}z`]);
  });
});

describe('Expect: 100-continue: allow or deny first', () => {
  it('a host outside the allowlist → 403 with no 100 Continue before it', async () => {
    const c = await openRaw(proxy.port);
    c.socket.write(`POST ${NEVER}expect-denied HTTP/1.1\r\nHost: evil.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n`);
    await c.until(hasHead, 5_000).catch(() => undefined);
    c.socket.destroy();
    const text = c.received().toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 403 /);
    expect(text).not.toContain('100 Continue');
    expect(c.responses()[0]?.headers.get('x-lattice-proxy-error')?.[0]).toBe('ERR_TARGET_NOT_ALLOWED');
  });

  it('an allowed host → 100 Continue, then the body is sent and answered', async () => {
    const c = await openRaw(proxy.port);
    c.socket.write(`POST /expect-allowed HTTP/1.1\r\nHost: ${H()}\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
    await c.until(hasHead, 5_000);
    expect(c.received().toString('latin1')).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
    c.socket.write('hello');
    await c.until((b) => /HTTP\/1\.1 200 /.test(b.toString('latin1')) && c.responses().length > 0, 5_000);
    c.socket.destroy();
    const e = echoOf(c.responses()[0]!);
    expect(e.bodyBytes).toBe(5);
    expect(echoed(e, 'expect')).toEqual([]);
  });
});

describe('the oracle', () => {
  it('the front and the Lattice emulator saw only signed, verified requests for allowed hosts, and none that was refused', async () => {
    await sleep(300);
    expect(world.front.violations.map((v) => v.slice(0, 120))).toEqual([]);
    expect(world.forwarded(NEVER)).toEqual([]);
    expect(world.lattice.log.filter((e) => !e.verified).map((e) => `${e.method} ${e.host} ${e.rawPath} ${e.code ?? ''}`)).toEqual([]);
    expect(proxy.child.exitCode).toBeNull();
  });
});
