// The bench report: JSON shape, the goals of issue 4 checked against it, and the terminal table.

import type { LoadResult } from './wrk.js';

export interface FixedRateResult {
  target: string;
  requests: number;
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
}

export interface StreamResult {
  bytes: number;
  baselineRssBytes: number;
  peakRssBytes: number;
  runs: Array<{ mode: string; status: number; bytesExpected: number; bytesTransferred: number; seconds: number; mbPerSecond: number; peakRssBytes: number; rssRiseBytes: number; ok: boolean }>;
}

export interface Goal {
  goal: string;
  measured: string;
  pass: boolean;
}

export interface BenchReport {
  date: string;
  quick: boolean;
  elapsedSeconds?: number;
  machine: Record<string, unknown>;
  setup: Record<string, unknown>;
  signing: { sessionTokenChars: number; signedHeaders: number; results: Array<{ name: string; usPerOp: number; ops: number }> } | undefined;
  load: LoadResult[];
  fixedRate: FixedRateResult[];
  stream: StreamResult | undefined;
  /** RSS of the proxy once ready, before any load. */
  proxyStartRssBytes?: number;
  /** VmHWM of the proxy after every load scenario (its whole life up to then). */
  proxyPeakRssBytes: number;
  goals: Goal[];
}

const MB = 1024 * 1024;
const mb = (b: number): string => (b / MB).toFixed(1) + ' MB';

export function evaluateGoals(r: BenchReport): Goal[] {
  const goals: Goal[] = [];
  const ours = r.signing?.results.find((x) => x.name.startsWith('ours (SigV4Signer'));
  if (ours) goals.push({ goal: 'signing <= 10 µs per signature (micro-benchmark)', measured: `${ours.usPerOp} µs`, pass: ours.usPerOp <= 10 });
  const get50 = r.load.find((x) => x.scenario === 'get' && x.target === 'proxy' && x.connections === 50);
  if (get50) {
    goals.push({ goal: 'small GET, 50 connections, one core: >= 15,000 req/s', measured: `${get50.rps} req/s`, pass: get50.rps >= 15_000 });
    goals.push({ goal: '<= 0.07 vCPU per 1k req/s', measured: `${get50.vcpuPer1kRps} vCPU (${get50.cpuUsPerRequest} µs/req)`, pass: get50.vcpuPer1kRps <= 0.07 });
    goals.push({ goal: 'steering target: >= 20,000 req/s, <= 50 µs CPU per request', measured: `${get50.rps} req/s, ${get50.cpuUsPerRequest} µs`, pass: get50.rps >= 20_000 && get50.cpuUsPerRequest <= 50 });
  }
  const errs = r.load.filter((x) => x.errors.total > 0).map((x) => `${x.scenario}/${x.target}/c${x.connections}: ${x.errors.total}`);
  const frErrs = r.fixedRate.filter((x) => x.non2xx + x.socketErrors > 0).map((x) => `fixed-rate/${x.target}: ${x.non2xx + x.socketErrors}`);
  const stErrs = (r.stream?.runs ?? []).filter((x) => !x.ok).map((x) => `stream ${x.mode}: status ${x.status}, ${x.bytesTransferred}/${x.bytesExpected} bytes`);
  const allErrs = [...errs, ...frErrs, ...stErrs];
  goals.push({ goal: 'zero errors in every scenario', measured: allErrs.length === 0 ? '0' : allErrs.join('; '), pass: allErrs.length === 0 });
  const proxyRuns = r.load.filter((x) => x.target === 'proxy' && x.upstreamConnectionsOpened !== undefined);
  const opened = proxyRuns.reduce((a, x) => a + (x.upstreamConnectionsOpened ?? 0), 0);
  const requests = proxyRuns.reduce((a, x) => a + x.requests, 0);
  const maxConns = Math.max(0, ...proxyRuns.map((x) => x.connections));
  // "A handful, not one per request": about one upstream connection per concurrent client connection in every
  // run (a few more when the upstream closes an idle one and the pool replaces it), and far fewer than requests.
  const perRunOk = proxyRuns.every((x) => (x.upstreamConnectionsOpened ?? 0) <= Math.ceil(x.connections * 1.25) + 4);
  if (proxyRuns.length > 0) goals.push({ goal: 'upstream keep-alive holds (connections opened << requests)', measured: `${opened} opened for ${requests} requests (max ${maxConns} client connections)`, pass: perRunOk && opened * 100 < requests });
  const direct = r.fixedRate.find((x) => x.target === 'direct');
  const proxy = r.fixedRate.find((x) => x.target === 'proxy');
  if (direct && proxy) {
    const added = (proxy.latency_us.p99 - direct.latency_us.p99) / 1000;
    // nginx-ref runs on the same core with no GC and no JavaScript: when it too adds milliseconds, the run was
    // disturbed by the host (vCPU steal), and the proxy's figure says little about the proxy.
    const ref = r.fixedRate.find((x) => x.target === 'nginx-ref');
    const control = ref ? `; control: nginx-ref adds +${((ref.latency_us.p99 - direct.latency_us.p99) / 1000).toFixed(3)} ms` : '';
    goals.push({ goal: 'at 1,000 req/s the proxy adds <= 1 ms at p99 over direct', measured: `+${added.toFixed(3)} ms (p99 ${proxy.latency_us.p99} vs ${direct.latency_us.p99} µs${control})`, pass: added <= 1 });
  }
  goals.push({ goal: 'peak RSS <= 80 MB under load', measured: mb(Math.max(r.proxyPeakRssBytes, r.stream?.peakRssBytes ?? 0)), pass: Math.max(r.proxyPeakRssBytes, r.stream?.peakRssBytes ?? 0) <= 80 * MB });
  if (r.stream) {
    const rise = Math.max(...r.stream.runs.map((x) => x.rssRiseBytes));
    goals.push({ goal: `${r.stream.bytes / MB} MiB upload/download raises RSS by < 32 MB`, measured: r.stream.runs.map((x) => `${x.mode} +${mb(x.rssRiseBytes)}`).join(', '), pass: rise < 32 * MB });
  }
  return goals;
}

function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const w = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(cells[0]!), w.map((n) => '-'.repeat(n)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export function printReport(r: BenchReport): void {
  const out: string[] = [];
  out.push(`\nlattice-sigv4-proxy bench — ${r.date}${r.quick ? ' (quick)' : ''}`);
  out.push(`machine: ${String(r.machine['cpu'])}, ${String(r.machine['cores'])} cores, ${String(r.machine['kernel'])}, node ${String(r.machine['node'])} (proxy runs on ${String(r.setup['proxyNode'] ?? r.machine['node'])}), ${String(r.machine['nginx'])}, ${String(r.machine['wrk'])}; load average at start ${String(r.machine['loadavgAtStart'])}`);
  out.push('process under test on core 0; wrk + upstream nginx on core 1; "cores" = busy % of core0/core1 during the run\n');
  if (r.signing) {
    out.push(`Signing micro-benchmark (session token ${r.signing.sessionTokenChars} chars, ${r.signing.signedHeaders} signed headers)`);
    out.push(table(['signer / per-request step', 'µs each'], r.signing.results.map((x) => [x.name, x.usPerOp.toFixed(2)])));
    out.push('');
  }
  const ref = (scenario: string, target: string, c: number): LoadResult | undefined => r.load.find((x) => x.scenario === scenario && x.target === target && x.connections === c);
  out.push('Load (wrk, 1 thread)');
  out.push(
    table(
      ['scenario', 'target', 'conns', 'req/s', 'x direct', 'x nginx', 'p50 µs', 'p99 µs', 'p99.9 µs', 'CPU µs/req', 'vCPU/1k rps', 'upstream µs/req', 'cores %', 'up conns', 'errors'],
      r.load.map((x) => {
        const d = ref(x.scenario, 'direct', x.connections);
        const n = ref(x.scenario, 'nginx-ref', x.connections);
        return [
          x.scenario,
          x.target,
          x.connections,
          x.rps,
          d ? (x.rps / d.rps).toFixed(2) : '-',
          n ? (x.rps / n.rps).toFixed(2) : '-',
          x.latency_us.p50,
          x.latency_us.p99,
          x.latency_us.p999,
          x.cpuUsPerRequest,
          x.vcpuPer1kRps.toFixed(3),
          x.upstreamCpuUsPerRequest,
          x.coreBusyPercent.join('/'),
          x.upstreamConnectionsOpened !== undefined ? `${x.upstreamConnectionsOpened} new/${x.upstreamConnectionsEstablished}` : x.upstreamConnectionsEstablished < 0 ? '-' : String(x.upstreamConnectionsEstablished),
          x.errors.proxyNon2xx === undefined ? x.errors.total : `${x.errors.total} (${x.errors.proxyNon2xx})`,
        ];
      }),
    ),
  );
  out.push('');
  if (r.fixedRate.length > 0) {
    const d = r.fixedRate.find((x) => x.target === 'direct');
    out.push('Fixed rate 1,000 req/s (open-loop Node client; latency from hand-over to the HTTP agent, so waiting for a connection counts;');
    out.push('"sched p99" is from the intended send time, which adds the sender\'s own timer lateness)');
    out.push(
      table(
        ['target', 'requests', 'achieved/s', 'p50 µs', 'p99 µs', 'p99.9 µs', 'max µs', '+p50 µs', '+p99 µs', '+p99.9 µs', 'sched p99 µs', 'steal ms', 'errors'],
        r.fixedRate.map((x) => [
          x.target,
          x.requests,
          x.achievedRate,
          x.latency_us.p50,
          x.latency_us.p99,
          x.latency_us.p999,
          x.latency_us.max,
          d ? x.latency_us.p50 - d.latency_us.p50 : '-',
          d ? x.latency_us.p99 - d.latency_us.p99 : '-',
          d ? x.latency_us.p999 - d.latency_us.p999 : '-',
          x.latencyFromSchedule_us?.p99 ?? '-',
          x.stealMs ?? '-',
          x.non2xx + x.socketErrors,
        ]),
      ),
    );
    out.push('');
  }
  if (r.stream) {
    out.push(`Streaming ${r.stream.bytes / MB} MiB through the proxy (baseline RSS ${mb(r.stream.baselineRssBytes)} after warm-up)`);
    out.push(table(['mode', 'status', 'bytes ok', 'MB/s', 'peak RSS', 'RSS rise'], r.stream.runs.map((x) => [x.mode, x.status, x.ok ? 'yes' : 'NO', x.mbPerSecond, mb(x.peakRssBytes), mb(x.rssRiseBytes)])));
    out.push('');
  }
  out.push(`Proxy RSS: ${mb(r.proxyStartRssBytes ?? 0)} once ready, peak ${mb(r.proxyPeakRssBytes)} over the load scenarios\n`);
  out.push('Goals (issue 4)');
  out.push(table(['goal', 'measured', 'result'], r.goals.map((g) => [g.goal, g.measured, g.pass ? 'PASS' : 'FAIL'])));
  process.stdout.write(out.join('\n') + '\n');
}
