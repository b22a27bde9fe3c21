// Figures derived from one run's measurements, shared by the goals, the terminal report and the chart:
// ratios between targets in the same scenario, and the medians of the interleaved fixed-rate rounds.

import type { LoadResult } from './wrk.js';
import type { TailDiagnosis } from './tail.js';

export interface FixedRateResult {
  target: string;
  /** Interleaving round (0-based): every target runs once per round, one after the other. */
  round: number;
  /** Requests measured (after the warm-up), and sent in all (warm-up included). */
  requests: number;
  sent?: number;
  rate: number;
  achievedRate: number;
  non2xx: number;
  socketErrors: number;
  lateStarts: number;
  /** From the moment the request was handed to the client's HTTP agent (what the goal compares). */
  latency_us: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** From the request's intended time on the schedule (wrk2's definition; includes the sender's timer lateness). */
  latencyFromSchedule_us?: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** vCPU steal (both vCPUs) during this target's run: host noise the latency figures include. */
  stealMs?: number;
  /** CPU time of the process under test per request at this rate (µs); ×rate/1e6 = vCPU used. */
  cpuUsPerRequest?: number;
  /** VmHWM of the process under test over this run (reset before it through /proc/<pid>/clear_refs). */
  peakRssBytes?: number;
  /** New connections the upstream nginx served a first request on during the run, -1 when unknown. */
  upstreamAccepted?: number;
  /** --trace-tail: what the slowest 1 % overlapped inside the process (Node targets only). */
  tail?: TailDiagnosis;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface FixedSummary {
  target: string;
  rounds: number;
  /** Medians over the rounds, µs. */
  p50: number;
  p99: number;
  p999: number;
  /** Medians over the rounds of (this target − the same round's direct), µs; undefined for direct. */
  addedP50?: number;
  addedP99?: number;
  addedP999?: number;
  cpuUsPerRequest?: number;
  peakRssBytes?: number;
  errors: number;
}

/** Per target: medians of its rounds, and of its added latency against the direct run of the same round. */
export function fixedSummary(runs: readonly FixedRateResult[]): FixedSummary[] {
  const targets = [...new Set(runs.map((r) => r.target))];
  const direct = new Map(runs.filter((r) => r.target === 'direct').map((r) => [r.round, r]));
  return targets.map((target) => {
    const mine = runs.filter((r) => r.target === target);
    const paired = mine.filter((r) => direct.has(r.round));
    const added = (key: 'p50' | 'p99' | 'p999'): number | undefined =>
      target === 'direct' || paired.length === 0 ? undefined : median(paired.map((r) => r.latency_us[key] - direct.get(r.round)!.latency_us[key]));
    const cpu = mine.map((r) => r.cpuUsPerRequest).filter((x): x is number => x !== undefined);
    const rss = mine.map((r) => r.peakRssBytes).filter((x): x is number => x !== undefined);
    return {
      target,
      rounds: mine.length,
      p50: median(mine.map((r) => r.latency_us.p50)),
      p99: median(mine.map((r) => r.latency_us.p99)),
      p999: median(mine.map((r) => r.latency_us.p999)),
      addedP50: added('p50'),
      addedP99: added('p99'),
      addedP999: added('p999'),
      ...(cpu.length > 0 ? { cpuUsPerRequest: Math.round(median(cpu) * 10) / 10 } : {}),
      ...(rss.length > 0 ? { peakRssBytes: Math.max(...rss) } : {}),
      errors: mine.reduce((a, r) => a + r.non2xx + r.socketErrors, 0),
    };
  });
}

export interface RatioRow {
  scenario: string;
  connections: number;
  /** proxy ÷ nginx-ref, proxy ÷ floor, floor ÷ nginx-ref (req/s); CPU µs per request proxy ÷ nginx-ref, proxy ÷ floor. */
  rpsProxyToNginx?: number;
  rpsProxyToFloor?: number;
  rpsFloorToNginx?: number;
  cpuProxyToNginx?: number;
  cpuProxyToFloor?: number;
}

const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a !== undefined && b !== undefined && b > 0 ? Math.round((a / b) * 100) / 100 : undefined);

export function findLoad(load: readonly LoadResult[], scenario: string, target: string, connections: number): LoadResult | undefined {
  return load.find((x) => x.scenario === scenario && x.target === target && x.connections === connections);
}

/** One row per (scenario, connections) the proxy ran. */
export function ratios(load: readonly LoadResult[]): RatioRow[] {
  return load
    .filter((x) => x.target === 'proxy')
    .map((p) => {
      const n = findLoad(load, p.scenario, 'nginx-ref', p.connections);
      const f = findLoad(load, p.scenario, 'floor', p.connections);
      return {
        scenario: p.scenario,
        connections: p.connections,
        rpsProxyToNginx: ratio(p.rps, n?.rps),
        rpsProxyToFloor: ratio(p.rps, f?.rps),
        rpsFloorToNginx: ratio(f?.rps, n?.rps),
        cpuProxyToNginx: ratio(p.cpuUsPerRequest, n?.cpuUsPerRequest),
        cpuProxyToFloor: ratio(p.cpuUsPerRequest, f?.cpuUsPerRequest),
      };
    });
}
