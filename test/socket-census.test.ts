// The soak's leak judge: bounded pool growth (a burst of overlapping requests keeps a few more upstream
// connections for the 50 s keep-alive) passes, every shape of a leak fails; and the census itself reads the
// real fd and TCP tables of a process right.

import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { judgeCensus, parseProcNetTcp, socketCensus, type SocketCensus } from './fuzz/socket-census.js';

const base: SocketCensus = { total: 30, nonSocket: 17, listening: 2, app: 8, upstream: 2, closeWait: 0, other: 1 };
const run = (n: number, f: (i: number) => Partial<SocketCensus>): SocketCensus[] => Array.from({ length: n }, (_, i) => ({ ...base, ...f(i) }));
const bounds = { appConnections: 8, upstreamOrigins: 2 };

describe('judgeCensus', () => {
  it('passes a steady run', () => {
    expect(judgeCensus(run(60, () => ({})), bounds)).toEqual([]);
  });

  it('passes the pool growing in the second half within its bound (the CI run that read "fds rise 8.7/min")', () => {
    expect(judgeCensus(run(60, (i) => ({ upstream: i < 40 ? 3 : i < 50 ? 4 : 7 })), bounds)).toEqual([]);
  });

  it('fails upstream sockets climbing past connections x origins', () => {
    const r = judgeCensus(run(60, (i) => ({ upstream: 2 + Math.floor(i / 3) })), bounds);
    expect(r.join('\n')).toMatch(/upstream sockets reached 21, past the pool's bound 8 x 2 origins/);
  });

  it('fails app-side sockets the proxy kept after the app replaced them', () => {
    expect(judgeCensus(run(60, (i) => ({ app: 8 + Math.floor(i / 10) })), bounds).join('\n')).toMatch(/app-side sockets reached 13/);
  });

  it('fails non-socket fds that climb (a file or pipe per refresh)', () => {
    expect(judgeCensus(run(60, (i) => ({ nonSocket: 17 + (i > 45 ? 1 : 0) })), bounds).join('\n')).toMatch(/non-socket fds rose to 18, past the first half's maximum 17/);
  });

  it('fails a socket left in CLOSE_WAIT, passes one caught closing', () => {
    expect(judgeCensus(run(60, (i) => ({ closeWait: i >= 30 ? 1 : 0 })), bounds).join('\n')).toMatch(/stayed in CLOSE_WAIT/);
    expect(judgeCensus(run(60, (i) => ({ closeWait: i % 7 === 0 ? 1 : 0 })), bounds)).toEqual([]);
  });

  it('refuses to judge a run with almost no censuses', () => {
    expect(judgeCensus(run(2, () => ({})), bounds)).toEqual(['only 2 socket censuses taken']);
  });
});

describe('parseProcNetTcp', () => {
  it('reads ports, state and inode; skips TIME_WAIT entries without an inode', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 30 10 -1',
      '   2: 0100007F:D432 0100007F:01BB 06 00000000:00000000 03:00000F1D 00000000     0        0 0 3 0000000000000000',
    ].join('\n');
    const m = parseProcNetTcp(text);
    expect([...m]).toEqual([
      ['4242', { localPort: 8080, remotePort: 0, state: '0A' }],
      ['4243', { localPort: 8080, remotePort: 54321, state: '01' }],
    ]);
  });
});

describe('socketCensus of a live process', () => {
  const closers: Array<() => void> = [];
  afterEach(() => {
    for (const c of closers.splice(0)) c();
  });

  const listen = async (): Promise<{ server: Server; port: number; accepted: Socket[] }> => {
    const accepted: Socket[] = [];
    const server = createServer((s) => accepted.push(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => {
      for (const s of accepted) s.destroy();
      server.close();
    });
    return { server, port: (server.address() as { port: number }).port, accepted };
  };
  const dial = async (port: number, allowHalfOpen = false): Promise<Socket> => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen });
    await once(s, 'connect');
    closers.push(() => s.destroy());
    return s;
  };

  it('counts listeners, accepted app connections, upstream connections and half-closed ones', async () => {
    const before = socketCensus(process.pid, { app: 1, upstream: 1 });
    const app = await listen();
    const upstream = await listen();
    await dial(app.port);
    await dial(app.port);
    const up = await dial(upstream.port, true);
    await new Promise((r) => setTimeout(r, 50));
    const c = socketCensus(process.pid, { app: app.port, upstream: upstream.port });
    expect(c.listening - before.listening).toBe(2);
    expect(c.app).toBe(2);
    expect(c.upstream).toBe(1);
    expect(c.closeWait).toBe(0);

    // The peer closes and this side (half-open allowed) does not: CLOSE_WAIT, what a missed 'end' leaves behind.
    const ended = once(up, 'end');
    upstream.accepted[0]!.end();
    await ended;
    const half = socketCensus(process.pid, { app: app.port, upstream: upstream.port });
    expect(half.upstream).toBe(1);
    expect(half.closeWait).toBe(1);
  });
});
