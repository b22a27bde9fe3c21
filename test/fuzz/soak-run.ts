// Steady load through the BUILT proxy in the seed world, for minutes, watching what grows: errors, RSS and file
// descriptors of the proxy process, sockets counted by role (see socket-census.ts). Used by `npm run soak`
// (scripts/soak.ts) and the 60-second CI version (test/soak.test.ts). Loopback only, bounded in time and rate.

import { Agent, request } from 'node:http';
import { startSeedWorld } from '../emulators/scenario.js';
import { DEFAULT_NODE_OPTIONS, metricValue, rssBytes, sleep, startSeedProxy } from './seed-proxy.js';
import { judgeCensus, socketCensus, type SocketCensus } from './socket-census.js';

export interface SoakOptions {
  /** Total duration. */
  readonly seconds: number;
  /** Target requests per second, across all connections. */
  readonly rate: number;
  /** Keep-alive connections from the "app" to the proxy. */
  readonly connections: number;
  /** Progress line every this many seconds. */
  readonly reportEverySeconds?: number;
  /** Fail when RSS rises faster than this over the second half (MiB per minute, least squares). */
  readonly maxRssSlopeMiBPerMin?: number;
  readonly log?: (line: string) => void;
  /** NODE_OPTIONS of the proxy process (see DEFAULT_NODE_OPTIONS). */
  readonly nodeOptions?: string;
}


export interface SoakSample {
  /** seconds since start */
  readonly t: number;
  readonly rssMiB: number;
  /** V8 heap in use (from the proxy's own metrics): separates a JS leak from allocator growth. */
  readonly heapUsedMiB: number;
  /** The proxy's open fds, by role. */
  readonly census: SocketCensus;
  readonly requests: number;
  readonly errors: number;
}

export interface SoakResult {
  readonly seconds: number;
  readonly rateTarget: number;
  readonly connections: number;
  readonly requests: number;
  readonly errors: number;
  readonly errorSamples: string[];
  readonly rps: number;
  readonly latencyMs: { p50: number; p99: number; max: number };
  readonly rssMiB: { start: number; end: number; max: number };
  readonly rssSlopeMiBPerMin: number;
  readonly maxRssSlopeMiBPerMin: number;
  readonly fds: { start: number; end: number; max: number };
  /** What the proxy still held once the app had closed its connections (the upstream pool may stay). */
  readonly afterClose: SocketCensus | undefined;
  readonly upstream: { requests: number; unsigned: number };
  readonly proxyAlive: boolean;
  readonly samples: SoakSample[];
  readonly ok: boolean;
  readonly reasons: string[];
}

/**
 * RSS slope limit. Even with the heap capped, V8 grows the old generation until its first major collection
 * (~45 s into a 200 req/s run here): a one-minute run sees +6 MiB/min of warm-up that is not a leak, so short
 * runs can only catch a leak above ~10 MiB/min (about 850 bytes per request at 200 req/s). From 5 minutes on
 * the warm-up is out of the second half and the limit is 2 MiB/min (a 10-minute run measured about 0).
 */
export function defaultMaxSlope(seconds: number): number {
  return seconds < 300 ? 10 : 2;
}

/** Least-squares slope of y over x. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const d = n * sxx - sx * sx;
  return d === 0 ? 0 : (n * sxy - sx * sy) / d;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

type Kind = 'allowed' | 'post' | 'denied-by-policy' | 'not-allowed';
/** allowedHostname (GET and POST) and deniedHostname reach the upstream; 'not-allowed' never leaves the proxy. */
const UPSTREAM_ORIGINS = 2;

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const reportEvery = opts.reportEverySeconds ?? 10;
  const maxSlope = opts.maxRssSlopeMiBPerMin ?? defaultMaxSlope(opts.seconds);
  const world = await startSeedWorld();
  let unsigned = 0;
  let upstreamRequests = 0;
  world.lattice.onRequest = (e) => {
    upstreamRequests++;
    if (!e.signed || !e.verified) unsigned++;
  };
  const proxy = await startSeedProxy(world, 'cluster1', { NODE_OPTIONS: opts.nodeOptions ?? DEFAULT_NODE_OPTIONS });
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections });
  const caller = world.scenario.callers.cluster1;
  const body = Buffer.alloc(4096, 0x78);
  let requests = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  const latencies: number[] = [];
  const samples: SoakSample[] = [];
  const started = Date.now();
  const deadline = started + opts.seconds * 1000;

  const expected: Record<Kind, number> = { allowed: 200, post: 200, 'denied-by-policy': 403, 'not-allowed': 403 };
  const one = (kind: Kind): Promise<void> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const host = kind === 'denied-by-policy' ? caller.deniedHostname : kind === 'not-allowed' ? 'not-allowed.example.net' : caller.allowedHostname;
      const req = request(
        { host: '127.0.0.1', port: proxy.port, agent, method: kind === 'post' ? 'POST' : 'GET', path: `/soak/${kind}?n=${requests}`, headers: { host, ...(kind === 'post' ? { 'content-length': body.length } : {}) } },
        (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => (n += c.length));
          res.on('end', () => {
            requests++;
            latencies.push(performance.now() - t0);
            if (res.statusCode !== expected[kind] || n === 0) {
              errors++;
              if (errorSamples.length < 20) errorSamples.push(`${kind}: status ${res.statusCode}, ${n} body bytes`);
            }
            resolve();
          });
          res.on('error', (e) => {
            errors++;
            if (errorSamples.length < 20) errorSamples.push(`${kind}: ${e.message}`);
            resolve();
          });
        },
      );
      req.on('error', (e) => {
        requests++;
        errors++;
        if (errorSamples.length < 20) errorSamples.push(`${kind}: ${e.message}`);
        resolve();
      });
      req.end(kind === 'post' ? body : undefined);
    });

  // Each connection paces itself to rate/connections requests per second.
  const perConnIntervalMs = (1000 * opts.connections) / opts.rate;
  const worker = async (id: number): Promise<void> => {
    let i = id;
    let next = Date.now() + (perConnIntervalMs * id) / opts.connections;
    while (Date.now() < deadline) {
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      next += perConnIntervalMs;
      const m = i++ % 20;
      await one(m === 0 ? 'denied-by-policy' : m === 1 ? 'not-allowed' : m < 4 ? 'post' : 'allowed');
    }
  };

  const ports = { app: proxy.port, upstream: world.latticePort };
  let proxyAlive = true;
  proxy.child.once('exit', () => (proxyAlive = false));
  const sampler = async (): Promise<void> => {
    let lastReport = Date.now();
    let lastRequests = 0;
    while (Date.now() < deadline && proxyAlive) {
      await sleep(1000);
      if (!proxyAlive) break;
      const heap = metricValue(await proxy.metrics().catch(() => ''), 'lattice_proxy_nodejs_heap_size_used_bytes') ?? 0;
      const census = socketCensus(proxy.pid, ports);
      const s: SoakSample = {
        t: (Date.now() - started) / 1000,
        rssMiB: rssBytes(proxy.pid) / 2 ** 20,
        heapUsedMiB: heap / 2 ** 20,
        census,
        requests,
        errors,
      };
      samples.push(s);
      if (Date.now() - lastReport >= reportEvery * 1000 - 50) {
        const rps = (requests - lastRequests) / ((Date.now() - lastReport) / 1000);
        const c = s.census;
        log(
          `soak t=${s.t.toFixed(0)}s rps=${rps.toFixed(0)} requests=${requests} errors=${errors} rss=${s.rssMiB.toFixed(1)}MiB heap=${s.heapUsedMiB.toFixed(1)}MiB ` +
            `fds=${c.total} (sockets: app ${c.app}, upstream ${c.upstream}, listening ${c.listening}, other ${c.other}; non-socket ${c.nonSocket})`,
        );
        lastReport = Date.now();
        lastRequests = requests;
      }
    }
  };

  try {
    await Promise.all([sampler(), ...Array.from({ length: opts.connections }, (_, id) => worker(id))]);
    const inFlight = proxyAlive ? metricValue(await proxy.metrics(), 'lattice_proxy_in_flight_requests') : undefined;
    // The app hangs up: every socket on its side must go, and none may linger half-closed.
    agent.destroy();
    let afterClose: SocketCensus | undefined;
    for (let waited = 0; proxyAlive && waited <= 5_000; waited += 100) {
      afterClose = socketCensus(proxy.pid, ports);
      if (afterClose.app === 0 && afterClose.closeWait === 0) break;
      await sleep(100);
    }
    const half = samples.filter((s) => s.t >= opts.seconds / 2);
    const rssSlope = slope(half.map((s) => [s.t / 60, s.rssMiB] as const));
    const sorted = latencies.sort((a, b) => a - b);
    const rss = samples.map((s) => s.rssMiB);
    const fds = samples.map((s) => s.census.total);
    const reasons: string[] = [];
    if (!proxyAlive) reasons.push('the proxy exited');
    if (errors > 0) reasons.push(`${errors} errors`);
    if (unsigned > 0) reasons.push(`${unsigned} unsigned or unverified requests reached upstream`);
    if (rssSlope > maxSlope) reasons.push(`RSS rises ${rssSlope.toFixed(2)} MiB/min over the second half (limit ${maxSlope})`);
    if (proxyAlive) reasons.push(...judgeCensus(samples.map((x) => x.census), { appConnections: opts.connections, upstreamOrigins: UPSTREAM_ORIGINS }));
    if (afterClose && afterClose.app > 0) reasons.push(`${afterClose.app} app-side sockets still open 5 s after the app closed its connections`);
    if (afterClose && afterClose.closeWait > 0) reasons.push(`${afterClose.closeWait} sockets in CLOSE_WAIT 5 s after the app closed its connections`);
    if (inFlight !== undefined && inFlight !== 0) reasons.push(`${inFlight} requests still in flight at the end`);
    if (requests < opts.rate * opts.seconds * 0.5) reasons.push(`only ${requests} requests sent (target ${opts.rate * opts.seconds})`);
    return {
      seconds: opts.seconds,
      rateTarget: opts.rate,
      connections: opts.connections,
      requests,
      errors,
      errorSamples,
      rps: requests / ((Date.now() - started) / 1000),
      latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? 0 },
      rssMiB: { start: rss[0] ?? 0, end: rss[rss.length - 1] ?? 0, max: Math.max(0, ...rss) },
      rssSlopeMiBPerMin: rssSlope,
      maxRssSlopeMiBPerMin: maxSlope,
      fds: { start: fds[0] ?? 0, end: fds[fds.length - 1] ?? 0, max: Math.max(0, ...fds) },
      afterClose,
      upstream: { requests: upstreamRequests, unsigned },
      proxyAlive,
      samples,
      ok: reasons.length === 0,
      reasons,
    };
  } finally {
    agent.destroy();
    await proxy.stop('SIGTERM');
    await world.close();
  }
}
