// The bench report: JSON shape, the acceptance figures of issue 11 checked against it, and the terminal tables.

import type { LoadResult } from './wrk.js';
import { findLoad, type FixedRateResult, type FixedSummary, type RatioRow } from './summary.js';
import type { TailDiagnosis } from './tail.js';
import type { SigningReference } from './reference.js';
import { grpcGoals, grpcLines, type GrpcReport } from './grpc-report.js';

export type { FixedRateResult } from './summary.js';

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
  /** Required to resolve the issue (the exit code follows these); false for a stretch goal. */
  required: boolean;
}

export interface TargetInfo {
  name: string;
  /** What runs on core 0 for this target. */
  what: string;
  pid: number;
  /** RSS once ready (after start and one request through it). */
  readyRssBytes: number;
}

export interface BenchReport {
  date: string;
  quick: boolean;
  elapsedSeconds?: number;
  machine: Record<string, unknown>;
  setup: Record<string, unknown>;
  signing: { sessionTokenChars: number; signedHeaders: number; results: Array<{ name: string; usPerOp: number; ops: number; runs?: number[] }>; pairRatios?: number[] } | undefined;
  /** The committed reference the signing figure is compared with. */
  signingReference?: SigningReference;
  targets: TargetInfo[];
  load: LoadResult[];
  fixedRate: FixedRateResult[];
  fixedRateSummary: FixedSummary[];
  ratios: RatioRow[];
  /** --trace-tail: per Node target, every fixed-rate round's diagnosis added up. */
  tail?: Record<string, TailDiagnosis>;
  stream: StreamResult | undefined;
  /** The same streams through the floor yardstick: the RSS a minimal Node net/tls pass-through gains. */
  streamFloor?: StreamResult;
  /** RSS of the proxy once ready, before any load. */
  proxyStartRssBytes?: number;
  /** The highest per-scenario peak (VmHWM) of the proxy over the load and fixed-rate scenarios. */
  proxyPeakRssBytes: number;
  goals: Goal[];
  /** Issue 12's gRPC scenarios (bench/lib/grpc-bench.ts), when they ran. */
  grpc?: GrpcReport;
  /** Goals this run could not evaluate (scenario or target not run). */
  goalsNotMeasured?: string[];
  chart?: string;
}

const MB = 1024 * 1024;
const mb = (b: number): string => (b / MB).toFixed(1) + ' MB';
const ms = (us: number | undefined): string => (us === undefined || Number.isNaN(us) ? '-' : `${us >= 0 ? '+' : ''}${(us / 1000).toFixed(2)} ms`);
const x2 = (v: number): string => v.toFixed(2);

/** Tolerance of "signing unchanged or better": the micro-benchmark moves by ~10 % between runs on an idle host. */
export const SIGNING_TOLERANCE = 1.1;
/**
 * Keep-alive holds when a run opens at most about one upstream connection per client connection (a few more
 * when the pool replaces one the upstream closed) and far fewer than it sends requests.
 */
const keepAliveOk = (opened: number, clientConnections: number, requests: number): boolean => opened <= Math.ceil(clientConnections * 1.25) + 4 && opened * 10 < requests;
const FIXED_CLIENT_CONNECTIONS = 32;

export function evaluateGoals(r: BenchReport): { goals: Goal[]; notMeasured: string[] } {
  const goals: Goal[] = [];
  const notMeasured: string[] = [];
  const need = <T>(what: string, v: T | undefined): v is T => {
    if (v === undefined) notMeasured.push(what);
    return v !== undefined;
  };

  const get = (t: string): LoadResult | undefined => findLoad(r.load, 'get', t, 50);
  const [pg, ng, fg] = [get('proxy'), get('nginx-ref'), get('floor')];
  if (need('small GET at 50 connections: proxy and nginx-ref', pg && ng ? [pg, ng] : undefined)) {
    const q = pg!.rps / ng!.rps;
    goals.push({ goal: 'small GET, 50 conns: proxy >= 0.40 x nginx-ref req/s', measured: `${x2(q)} (${pg!.rps} vs ${ng!.rps} req/s)`, pass: q >= 0.4, required: true });
    goals.push({ goal: 'small GET, 50 conns: proxy >= 0.45 x nginx-ref req/s (goal)', measured: x2(q), pass: q >= 0.45, required: false });
    const c = pg!.cpuUsPerRequest / ng!.cpuUsPerRequest;
    goals.push({ goal: 'small GET, 50 conns: proxy CPU µs/req <= 2.5 x nginx-ref', measured: `${x2(c)} (${pg!.cpuUsPerRequest} vs ${ng!.cpuUsPerRequest} µs)`, pass: c <= 2.5, required: true });
  }
  if (need('small GET at 50 connections: proxy and floor', pg && fg ? [pg, fg] : undefined)) {
    const q = pg!.rps / fg!.rps;
    goals.push({ goal: 'small GET, 50 conns: proxy >= 0.80 x floor req/s', measured: `${x2(q)} (${pg!.rps} vs ${fg!.rps} req/s)`, pass: q >= 0.8, required: true });
  }
  const [pp, np] = [findLoad(r.load, 'post64k', 'proxy', 16), findLoad(r.load, 'post64k', 'nginx-ref', 16)];
  if (need('POST 64 KiB at 16 connections: proxy and nginx-ref', pp && np ? [pp, np] : undefined)) {
    const q = pp!.rps / np!.rps;
    goals.push({ goal: 'POST 64 KiB, 16 conns: proxy >= 0.60 x nginx-ref req/s', measured: `${x2(q)} (${pp!.rps} vs ${np!.rps} req/s)`, pass: q >= 0.6, required: true });
  }

  const fp = r.fixedRateSummary.find((x) => x.target === 'proxy');
  const fn = r.fixedRateSummary.find((x) => x.target === 'nginx-ref');
  if (need('fixed rate: proxy, nginx-ref and direct', fp?.addedP99 !== undefined && fn?.addedP99 !== undefined ? [fp, fn] : undefined)) {
    const rounds = `median of ${Math.min(fp!.rounds, fn!.rounds)} interleaved rounds`;
    goals.push({ goal: "fixed rate: proxy's added p99 <= nginx-ref's + 0.5 ms", measured: `${ms(fp!.addedP99)} vs ${ms(fn!.addedP99)} (${rounds})`, pass: fp!.addedP99! <= fn!.addedP99! + 500, required: true });
    goals.push({ goal: "fixed rate: proxy's added p99.9 <= nginx-ref's + 2 ms", measured: `${ms(fp!.addedP999)} vs ${ms(fn!.addedP999)} (${rounds})`, pass: fp!.addedP999! <= fn!.addedP999! + 2000, required: true });
  }

  const loadPeaks = [...r.load.filter((x) => x.target === 'proxy').map((x) => x.peakRssBytes), ...r.fixedRate.filter((x) => x.target === 'proxy').map((x) => x.peakRssBytes ?? 0)];
  if (need('proxy peak RSS (no proxy load scenario ran)', loadPeaks.length > 0 ? loadPeaks : undefined)) {
    const peak = Math.max(...loadPeaks, r.stream?.peakRssBytes ?? 0);
    const where = r.stream ? `; load ${mb(Math.max(...loadPeaks))}, stream ${mb(r.stream.peakRssBytes)}` : '';
    goals.push({ goal: 'proxy peak RSS <= 80 MB over the load scenarios', measured: `${mb(peak)}${where}`, pass: peak <= 80 * MB, required: true });
  }
  if (need('proxy RSS once ready', r.proxyStartRssBytes)) {
    goals.push({ goal: 'proxy RSS <= 60 MB once ready', measured: mb(r.proxyStartRssBytes!), pass: r.proxyStartRssBytes! <= 60 * MB, required: true });
  }
  if (need('stream scenario', r.stream)) {
    const rise = Math.max(...r.stream!.runs.map((x) => x.rssRiseBytes));
    const floor = r.streamFloor ? `; floor yardstick, same run: ${r.streamFloor.runs.map((x) => `${x.mode} +${mb(x.rssRiseBytes)}`).join(', ')}` : '';
    goals.push({ goal: `${r.stream!.bytes / MB} MiB upload/download raises proxy RSS by < 16 MB`, measured: r.stream!.runs.map((x) => `${x.mode} +${mb(x.rssRiseBytes)}`).join(', ') + floor, pass: rise < 16 * MB, required: true });
  }

  const errs = r.load.filter((x) => x.errors.total > 0).map((x) => `${x.scenario}/${x.target}/c${x.connections}: ${x.errors.total}`);
  const frErrs = r.fixedRate.filter((x) => x.non2xx + x.socketErrors > 0).map((x) => `fixed-rate/${x.target}/round ${x.round + 1}: ${x.non2xx + x.socketErrors}`);
  const stErrs = [...(r.stream?.runs ?? []).map((x) => ({ ...x, who: 'proxy' })), ...(r.streamFloor?.runs ?? []).map((x) => ({ ...x, who: 'floor' }))]
    .filter((x) => !x.ok)
    .map((x) => `stream ${x.mode} (${x.who}): status ${x.status}, ${x.bytesTransferred}/${x.bytesExpected} bytes`);
  const allErrs = [...errs, ...frErrs, ...stErrs];
  goals.push({ goal: 'zero errors (every target, every scenario)', measured: allErrs.length === 0 ? '0' : allErrs.join('; '), pass: allErrs.length === 0, required: true });

  // Keep-alive: the proxy's own count (its metric) where it has one, else what the upstream saw.
  const opened = (x: { upstreamConnectionsOpened?: number; upstreamAccepted?: number }): number => x.upstreamConnectionsOpened ?? x.upstreamAccepted ?? -1;
  const proxyRuns = [
    ...r.load.filter((x) => x.target === 'proxy').map((x) => ({ label: `${x.scenario}/c${x.connections}`, opened: opened(x), conns: x.connections, requests: x.requests })),
    ...r.fixedRate.filter((x) => x.target === 'proxy').map((x) => ({ label: `fixed/round ${x.round + 1}`, opened: x.upstreamAccepted ?? -1, conns: FIXED_CLIENT_CONNECTIONS, requests: x.requests })),
  ].filter((x) => x.opened >= 0);
  if (need('upstream connection counts for the proxy', proxyRuns.length > 0 ? proxyRuns : undefined)) {
    const total = proxyRuns.reduce((a, x) => a + x.opened, 0);
    const requests = proxyRuns.reduce((a, x) => a + x.requests, 0);
    const bad = proxyRuns.filter((x) => !keepAliveOk(x.opened, x.conns, x.requests)).map((x) => `${x.label}: ${x.opened} for ${x.conns} client conns, ${x.requests} requests`);
    goals.push({ goal: 'upstream keep-alive holds (per run: <= ~1 upstream connection per client connection)', measured: `${total} opened for ${requests} requests${bad.length > 0 ? '; ' + bad.join(', ') : ''}`, pass: bad.length === 0, required: true });
  }

  if (need('gRPC scenarios', r.grpc)) {
    const g = grpcGoals(r.grpc!);
    goals.push(...g.goals);
    notMeasured.push(...g.notMeasured);
  }

  const ours = r.signing?.results.find((x) => x.name.startsWith('ours (SigV4Signer'));
  const sameRunOurs = r.signing?.results.find((x) => x.name.startsWith('ours (SigV4Signer.sign), median of'));
  const sameRunBase = r.signing?.results.find((x) => x.name.startsWith('baseline (SigV4Signer.sign'));
  const pairs = r.signing?.pairRatios;
  if (sameRunOurs && sameRunBase && pairs && pairs.length > 0) {
    // Preferred: the reference's signer timed in this run, in adjacent pairs of fresh processes with ours.
    const at = /at ([0-9a-f]+)\)/.exec(sameRunBase.name)?.[1] ?? '?';
    const ratio = [...pairs].sort((x, y) => x - y)[Math.floor(pairs.length / 2)]!;
    goals.push({
      goal: `signing unchanged or better (median of paired ours/baseline ratios <= ${SIGNING_TOLERANCE}; baseline = signer.ts of the reference's commit, same run)`,
      measured: `${ratio.toFixed(3)} (ours ${sameRunOurs.usPerOp} µs, signer.ts at ${at} ${sameRunBase.usPerOp} µs, medians of ${pairs.length}; committed figure from its day: ${r.signingReference?.usPerOp ?? '?'} µs)`,
      pass: ratio <= SIGNING_TOLERANCE,
      required: true,
    });
  } else if (need('signing micro-benchmark', ours)) {
    const ref = r.signingReference;
    if (need('committed signing reference (bench/results/reference-*.json)', ref)) {
      goals.push({
        goal: `signing unchanged or better (<= ${SIGNING_TOLERANCE} x the newest committed reference; a figure from another day, the baseline signer could not be run)`,
        measured: `${ours!.usPerOp} µs vs ${ref!.usPerOp} µs (${ref!.file.replace('bench/results/', '')}, ${ref!.node})`,
        pass: ours!.usPerOp <= ref!.usPerOp * SIGNING_TOLERANCE,
        required: true,
      });
    }
  }
  return { goals, notMeasured };
}

function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const w = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(cells[0]!), w.map((n) => '-'.repeat(n)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

const ratioCell = (a: number | undefined, b: number | undefined): string => (a !== undefined && b !== undefined && b > 0 ? x2(a / b) : '-');
const opt = (v: number | undefined): string => (v === undefined ? '-' : x2(v));
const mbCell = (b: number | undefined): string => (b === undefined || b <= 0 ? '-' : (b / MB).toFixed(1));

export function printReport(r: BenchReport): void {
  const out: string[] = [];
  out.push(`\nlattice-sigv4-proxy bench — ${r.date}${r.quick ? ' (quick)' : ''}`);
  out.push(`machine: ${String(r.machine['cpu'])}, ${String(r.machine['cores'])} cores, ${String(r.machine['kernel'])}, node ${String(r.machine['node'])} (proxy runs on ${String(r.setup['proxyNode'] ?? r.machine['node'])}), ${String(r.machine['nginx'])}, ${String(r.machine['wrk'])}; load average at start ${String(r.machine['loadavgAtStart'])}, at end ${String(r.machine['loadavgAtEnd'] ?? '-')}`);
  out.push('process under test on core 0 (one at a time); wrk, upstream nginx, the clients and this harness on core 1; "cores" = busy % of core0/core1 during the run');
  out.push('floor = bench/alt/floor-proxy.ts, a YARDSTICK (minimal node:net + node:tls pass-through, signed, content-length only; not a product)\n');
  if (r.targets.length > 0) {
    out.push(table(['target', 'what runs on core 0', 'RSS once ready MB'], r.targets.map((t) => [t.name, t.what, mbCell(t.readyRssBytes)])));
    out.push('');
  }
  if (r.signing) {
    out.push(`Signing micro-benchmark (session token ${r.signing.sessionTokenChars} chars, ${r.signing.signedHeaders} signed headers)`);
    out.push(table(['signer / per-request step', 'µs each'], r.signing.results.map((x) => [x.name, x.usPerOp.toFixed(2)])));
    out.push('');
  }
  if (r.load.length > 0) {
    out.push('Load (wrk, 1 thread, closed loop)');
    out.push(
      table(
        ['scenario', 'target', 'conns', 'req/s', 'x nginx', 'x floor', 'p50 µs', 'p99 µs', 'p99.9 µs', 'CPU µs/req', 'CPU x nginx', 'peak RSS MB', 'up conns new/est', 'errors', 'cores %'],
        r.load.map((x) => {
          const n = findLoad(r.load, x.scenario, 'nginx-ref', x.connections);
          const f = findLoad(r.load, x.scenario, 'floor', x.connections);
          const opened = x.upstreamConnectionsOpened ?? x.upstreamAccepted;
          return [
            x.scenario,
            x.target,
            x.connections,
            x.rps,
            ratioCell(x.rps, n?.rps),
            ratioCell(x.rps, f?.rps),
            x.latency_us.p50,
            x.latency_us.p99,
            x.latency_us.p999,
            x.cpuUsPerRequest,
            ratioCell(x.cpuUsPerRequest, n?.cpuUsPerRequest),
            mbCell(x.peakRssBytes),
            `${opened !== undefined && opened >= 0 ? opened : '-'}/${x.upstreamConnectionsEstablished < 0 ? '-' : x.upstreamConnectionsEstablished}`,
            x.errors.proxyNon2xx === undefined ? x.errors.total : `${x.errors.total} (${x.errors.proxyNon2xx})`,
            x.coreBusyPercent.join('/'),
          ];
        }),
      ),
    );
    out.push('(errors: what wrk saw; in brackets the proxy\'s own non-2xx count, which includes 499s for requests wrk abandons when it stops)\n');
  }
  if (r.ratios.length > 0) {
    out.push('Ratios in this run');
    out.push(
      table(
        ['scenario', 'conns', 'proxy/nginx-ref req/s', 'proxy/floor req/s', 'floor/nginx-ref req/s', 'CPU proxy/nginx-ref', 'CPU proxy/floor'],
        r.ratios.map((x) => [x.scenario, x.connections, opt(x.rpsProxyToNginx), opt(x.rpsProxyToFloor), opt(x.rpsFloorToNginx), opt(x.cpuProxyToNginx), opt(x.cpuProxyToFloor)]),
      ),
    );
    out.push('');
  }
  if (r.fixedRate.length > 0) {
    const rate = r.fixedRate[0]!.rate;
    const direct = new Map(r.fixedRate.filter((x) => x.target === 'direct').map((x) => [x.round, x]));
    out.push(`Fixed rate ${rate} req/s, every run (open-loop Node client, 32 keep-alive connections; latency from hand-over to the HTTP agent; +p99 = minus the same round's direct)`);
    out.push(
      table(
        ['round', 'target', 'requests', 'p50 µs', 'p99 µs', 'p99.9 µs', 'max µs', '+p99 µs', '+p99.9 µs', 'CPU µs/req', 'peak RSS MB', 'up conns', 'sched p99 µs', 'steal ms', 'errors'],
        r.fixedRate.map((x) => {
          const d = direct.get(x.round);
          return [
            x.round + 1,
            x.target,
            x.requests,
            x.latency_us.p50,
            x.latency_us.p99,
            x.latency_us.p999,
            x.latency_us.max,
            d && x.target !== 'direct' ? x.latency_us.p99 - d.latency_us.p99 : '-',
            d && x.target !== 'direct' ? x.latency_us.p999 - d.latency_us.p999 : '-',
            x.cpuUsPerRequest ?? '-',
            mbCell(x.peakRssBytes),
            x.upstreamAccepted === undefined || x.upstreamAccepted < 0 ? '-' : x.upstreamAccepted,
            x.latencyFromSchedule_us?.p99 ?? '-',
            x.stealMs ?? '-',
            x.non2xx + x.socketErrors,
          ];
        }),
      ),
    );
    out.push('');
    out.push('Fixed rate, medians over the interleaved rounds');
    out.push(
      table(
        ['target', 'rounds', 'p50 µs', 'p99 µs', 'p99.9 µs', 'added p50', 'added p99', 'added p99.9', 'CPU µs/req', 'vCPU at this rate', 'peak RSS MB', 'errors'],
        r.fixedRateSummary.map((x) => [
          x.target,
          x.rounds,
          x.p50,
          x.p99,
          x.p999,
          ms(x.addedP50),
          ms(x.addedP99),
          ms(x.addedP999),
          x.cpuUsPerRequest ?? '-',
          x.cpuUsPerRequest === undefined ? '-' : ((x.cpuUsPerRequest * rate) / 1e6).toFixed(3),
          mbCell(x.peakRssBytes),
          x.errors,
        ]),
      ),
    );
    out.push('');
  }
  if (r.tail && Object.keys(r.tail).length > 0) {
    out.push('Tail diagnosis (--trace-tail): the slowest 1 % of fixed-rate requests of every round, each charged to the first cause covering >= half its latency');
    out.push('("time in": share of all slow-request time covered by GC pauses / sync writes > 0.5 ms / loop stalls > 1 ms, which include the GC inside them)');
    out.push(
      table(
        ['target', 'slow reqs', '>= ms', 'GC', 'sync write', 'other loop stall', 'unexplained', 'time in GC/write/stall', 'GC pauses', 'GC ms', 'GC max ms', 'stalls >5 ms', 'stall max ms', 'loop delay p99/max ms', 'sync writes (ms)', 'async writes'],
        Object.entries(r.tail).map(([t, d]) => {
          const pct = (n: number): string => (d.slowRequests > 0 ? `${Math.round((100 * n) / d.slowRequests)} %` : '-');
          return [
            t,
            d.slowRequests,
            d.thresholdMs.toFixed(2),
            pct(d.causes.gc),
            pct(d.causes.syncWrite),
            pct(d.causes.loopStall),
            pct(d.causes.unexplained),
            `${Math.round(100 * d.coveredShare.gc)}/${Math.round(100 * d.coveredShare.syncWrite)}/${Math.round(100 * d.coveredShare.loopStall)} %`,
            d.gc.count,
            d.gc.totalMs.toFixed(1),
            d.gc.maxMs.toFixed(2),
            d.stalls.over5ms,
            d.stalls.maxMs.toFixed(1),
            `${d.loopDelayMs.p99.toFixed(2)}/${d.loopDelayMs.max.toFixed(1)}`,
            `${d.writes.sync} (${d.writes.syncMs.toFixed(1)})`,
            d.writes.async,
          ];
        }),
      ),
    );
    const kinds = Object.entries(r.tail).map(([t, d]) => `${t}: ${Object.entries(d.gc.byKind).map(([k, v]) => `${k} ${v.count}× (max ${v.maxMs.toFixed(2)} ms)`).join(', ') || 'no GC'}`);
    out.push(`GC by kind — ${kinds.join('; ')}\n`);
  }
  for (const [name, st] of [['the proxy', r.stream], ['the floor yardstick', r.streamFloor]] as const) {
    if (!st) continue;
    out.push(`Streaming ${st.bytes / MB} MiB through ${name} (baseline RSS ${mb(st.baselineRssBytes)} after warm-up)`);
    out.push(table(['mode', 'status', 'bytes ok', 'MB/s', 'peak RSS', 'RSS rise'], st.runs.map((x) => [x.mode, x.status, x.ok ? 'yes' : 'NO', x.mbPerSecond, mb(x.peakRssBytes), mb(x.rssRiseBytes)])));
    out.push('');
  }
  if (r.grpc) out.push(...grpcLines(r.grpc));
  if (r.proxyStartRssBytes !== undefined) out.push(`Proxy RSS: ${mb(r.proxyStartRssBytes)} once ready, highest per-scenario peak ${mb(r.proxyPeakRssBytes)} over the load and fixed-rate scenarios\n`);
  out.push(`Goals (issue 11${r.grpc ? ', gRPC: issue 12' : ''}; ratios within this run)`);
  out.push(table(['goal', 'measured', 'result'], r.goals.map((g) => [g.goal, g.measured, g.pass ? 'PASS' : g.required ? 'FAIL' : 'short (goal, not required)'])));
  if (r.goalsNotMeasured && r.goalsNotMeasured.length > 0) out.push(`not evaluated in this run (not measured): ${r.goalsNotMeasured.join('; ')}`);
  process.stdout.write(out.join('\n') + '\n');
}
