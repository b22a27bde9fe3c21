// One wrk run pinned to the load core, with the CPU time of the processes under test, the busy share of
// each core, the peak RSS of the process under test over this run alone, the connections the upstream
// accepted, and (mid-run) the number of established connections to the upstream port recorded around it.

import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { coreBusy, cpuMicros, cpuTimes, memory, resetPeakRss, runPinned } from './proc.js';
import { BENCH_HOST } from './nginx.js';

export const LUA = resolve(import.meta.dirname, '..', 'wrk', 'bench.lua');

export interface WrkSummary {
  requests: number;
  duration_us: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { mean: number; stdev: number; max: number; p50: number; p90: number; p99: number; p999: number };
}

export interface LoadResult {
  scenario: string;
  target: string;
  connections: number;
  bodyBytes: number;
  seconds: number;
  requests: number;
  rps: number;
  latency_us: WrkSummary['latency_us'];
  /** Socket errors and answers >= 400 seen by wrk; proxyNon2xx: what the proxy's metrics counted (incl. 499 at the end). */
  errors: { total: number; connect: number; read: number; write: number; timeout: number; status: number; proxyNon2xx?: number };
  /** CPU time of the process under test (the proxy, or nginx for direct/reference), per request. */
  cpuUsPerRequest: number;
  /** vCPU the process under test needs per 1,000 req/s. */
  vcpuPer1kRps: number;
  /** CPU time of the upstream nginx per request (it shares the load core). */
  upstreamCpuUsPerRequest: number;
  /** Busy share of each core during the run, percent (includes anything else running on the machine). */
  coreBusyPercent: number[];
  /** Established TCP connections from the process under test to the upstream port, sampled mid-run (-1 for direct). */
  upstreamConnectionsEstablished: number;
  /** Upstream connections the proxy opened during the run (from its metrics), when known. */
  upstreamConnectionsOpened?: number;
  /** New connections the upstream nginx served a first request on during the run, whoever opened them; -1 when unknown. */
  upstreamAccepted: number;
  /** VmHWM of the process under test over this run only (reset before it), and its RSS right after. */
  peakRssBytes: number;
  rssAfterBytes: number;
  /** 'run' when the peak was reset before the run (clear_refs), 'lifetime' when the kernel refused. */
  peakRssScope: 'run' | 'lifetime';
}

/** Established connections to `port` owned by process `pid` (other clients' idle pools are not counted). */
export function establishedTo(port: number, pid: number): number {
  try {
    const out = execFileSync('ss', ['-Htnp', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' });
    return out.split('\n').filter((l) => l.includes(`pid=${pid},`)).length;
  } catch {
    return -1;
  }
}

export interface WrkRunOptions {
  scenario: string;
  target: string;
  url: string;
  connections: number;
  seconds: number;
  bodyBytes?: number;
  loadCore: number;
  /** PID of the process under test and of the upstream nginx. */
  pid: number;
  upstreamPid: number;
  upstreamPort: number;
  /** Reads the proxy's counters (upstream connections opened, non-2xx) when the target is our proxy. */
  proxyCounters?: () => Promise<{ connectionsOpened: number; non2xx: number }>;
  /** The upstream's count of connections seen so far (bench/lib/nginx.ts upstreamConnectionCount). */
  upstreamAccepts?: () => number;
}

export async function runWrk(o: WrkRunOptions): Promise<LoadResult> {
  const counters0 = await o.proxyCounters?.();
  const accepts0 = o.upstreamAccepts?.();
  const scope = resetPeakRss(o.pid) ? 'run' : 'lifetime';
  const cpu0 = cpuMicros(o.pid);
  const up0 = cpuMicros(o.upstreamPid);
  const cores0 = cpuTimes();
  let established = -1;
  const sampler = setTimeout(() => (established = o.pid === o.upstreamPid ? -1 : establishedTo(o.upstreamPort, o.pid)), (o.seconds * 1000) / 2);
  const out = await runPinned(
    `wrk ${o.scenario} ${o.target}`,
    o.loadCore,
    'wrk',
    ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--timeout', '5s', '-s', LUA, '-H', `Host: ${BENCH_HOST}`, '-H', 'User-Agent: bench-wrk', '-H', 'Accept: */*', o.url],
    { env: { ...process.env, BODY_BYTES: String(o.bodyBytes ?? 0) }, timeoutMs: (o.seconds + 30) * 1000 },
  );
  clearTimeout(sampler);
  const cores1 = cpuTimes();
  const cpu1 = cpuMicros(o.pid);
  const up1 = cpuMicros(o.upstreamPid);
  const mem = memory(o.pid);
  const counters1 = await o.proxyCounters?.();
  const accepts1 = o.upstreamAccepts?.();
  const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`wrk printed no summary:\n${out}`);
  const s = JSON.parse(line.slice('BENCH_JSON '.length)) as WrkSummary;
  const secs = s.duration_us / 1e6;
  const rps = s.requests / secs;
  const cpuUs = (cpu1 - cpu0) / Math.max(1, s.requests);
  const e = s.errors;
  const proxyNon2xx = counters0 && counters1 ? counters1.non2xx - counters0.non2xx : undefined;
  return {
    scenario: o.scenario,
    target: o.target,
    connections: o.connections,
    bodyBytes: o.bodyBytes ?? 0,
    seconds: Math.round(secs * 100) / 100,
    requests: s.requests,
    rps: Math.round(rps),
    latency_us: s.latency_us,
    // wrk's own count is what the client saw. The proxy's non-2xx count is shown beside it, not added: when
    // wrk stops it closes connections with requests in flight, which the proxy records as 499 (at most one
    // per connection), an artefact of ending the run rather than an error a client experienced.
    errors: { total: e.connect + e.read + e.write + e.timeout + e.status, ...e, ...(proxyNon2xx === undefined ? {} : { proxyNon2xx }) },
    cpuUsPerRequest: Math.round(cpuUs * 10) / 10,
    vcpuPer1kRps: Math.round(cpuUs) / 1000,
    upstreamCpuUsPerRequest: Math.round(((up1 - up0) / Math.max(1, s.requests)) * 10) / 10,
    coreBusyPercent: coreBusy(cores0, cores1),
    upstreamConnectionsEstablished: established,
    ...(counters0 && counters1 ? { upstreamConnectionsOpened: counters1.connectionsOpened - counters0.connectionsOpened } : {}),
    upstreamAccepted: accepts0 !== undefined && accepts1 !== undefined ? accepts1 - accepts0 : -1,
    peakRssBytes: mem.hwm,
    rssAfterBytes: mem.rss,
    peakRssScope: scope,
  };
}
