// The gRPC scenarios of issue 12, run by bench/run.ts (`--scenarios grpc`, in the default run too):
//
//   load core: h2load (unary) / grpc-bidi-client.ts (bidi) ──h2c──▶ core 0: target ──h2 over TLS──▶ grpc-server.ts
//
// Targets, each alone on core 0 while measured: `nginx-grpc-ref` (nginx, h2c in, grpc_pass grpcs:// out, no
// signing), `proxy` (the built proxy at production defaults with ALLOWED_HOSTS, CONNECT_TO and CA_FILE for the gRPC
// upstream) and `direct` (the load straight to the upstream over TLS; its CPU and RSS are the upstream's). Before
// any load, real grpc-js calls go through every target (grpc-check.ts). During every run the upstream counts the
// calls it answered and those that arrived signed, which is how a run shows that every call h2load counted as
// HTTP 200 reached a gRPC server and ended with grpc-status 0, signed through the proxy and only there.

import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_HOST, grpcReferenceConfig, startNginx, tcpOpen } from './nginx.js';
import { coreBusy, cpuMicros, cpuTimes, httpGetText, memory, resetPeakRss, runPinned, startPinned, waitFor, type Child } from './proc.js';
import { encodeHelloRequest, frameMessage, HELLO_PATH } from './grpc-wire.js';
import { latencySummary, parseH2loadLog, parseH2loadSummary, parseShellTimes } from './grpc-stats.js';
import type { GrpcCheckResult } from './grpc-check.js';
import type { GrpcBidiClientResult } from './grpc-bidi-client.js';
import type { GrpcServerStats } from './grpc-server.js';
import { GRPC_REF, type GrpcBidiResult, type GrpcReport, type GrpcUnaryResult } from './grpc-report.js';

const HERE = import.meta.dirname;
const PAYLOAD_BYTES = 64;

export interface GrpcBenchOptions {
  tmp: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  proxyCore: number;
  loadCore: number;
  /** Which of direct, nginx-grpc-ref, proxy run (from --targets: nginx-ref selects nginx-grpc-ref). */
  targets: { direct: boolean; reference: boolean; proxy: boolean };
  seconds: number;
  warmSeconds: number;
  clients: number;
  streams: number;
  bidiCalls: number;
  /** Starts the built proxy as run.ts does for the HTTP/1.1 scenarios (same flags, same log), aimed at `connectPort`. */
  startProxy: (name: string, env: Record<string, string>, connectPort: number) => Promise<{ child: Child; port: number; counters: () => Promise<{ connectionsOpened: number; non2xx: number }> }>;
  /** The proxy's environment of the HTTP/1.1 scenarios (region, CA_FILE, static credentials, --proxy-env). */
  proxyEnv: Record<string, string>;
  log: (msg: string) => void;
  freePort: () => Promise<number>;
}

interface Target {
  name: string;
  what: string;
  pid: number;
  /** h2c URL for h2load and the bidi client (https for direct). */
  url: string;
  tls: boolean;
  counters?: () => Promise<{ connectionsOpened: number; non2xx: number }>;
}

const tsx = (file: string, args: string[]): string[] => ['--import', 'tsx', join(HERE, file), ...args];

async function upstreamStats(statsPort: number): Promise<GrpcServerStats> {
  const r = await httpGetText(statsPort, '/stats');
  if (r.status !== 200) throw new Error(`gRPC upstream /stats answered ${r.status}`);
  return JSON.parse(r.body) as GrpcServerStats;
}

function minus(a: GrpcServerStats, b: GrpcServerStats): GrpcServerStats {
  const out = { ...a };
  for (const k of Object.keys(out) as Array<keyof GrpcServerStats>) out[k] = a[k] - b[k];
  return out;
}

type Problem = [count: number, what: string];

/** The problems that happened (count > 0), added up. */
function tally(problems: Problem[]): { total: number; detail: string[] } {
  const seen = problems.filter(([n]) => n > 0);
  return { total: seen.reduce((a, [n]) => a + n, 0), detail: seen.map(([n, what]) => `${n} ${what}`) };
}

/** What the upstream's counts say went wrong: calls it never answered, refused, or saw signed where they must not be. */
function upstreamProblems(t: Target, answered: number, clientOk: number, signed: number, rejected: number): Problem[] {
  return [
    [clientOk - answered, 'calls the client counted as answered never reached the upstream'],
    [rejected, 'calls the upstream refused as malformed'],
    t.name === 'proxy' ? [answered - signed, 'calls reached the upstream unsigned'] : [signed, 'calls arrived signed without the proxy'],
  ];
}

/** Measure around one load run: CPU, peak RSS and core busy of the process under test, the upstream's counts. */
async function measured<T>(t: Target, upstream: Child, statsPort: number, run: () => Promise<T>): Promise<{ out: T; cpuUs: number; upstreamCpuUs: number; cores: number[]; mem: { rss: number; hwm: number }; delta: GrpcServerStats; opened?: number; proxyNon2xx?: number }> {
  const counters0 = await t.counters?.();
  const stats0 = await upstreamStats(statsPort);
  resetPeakRss(t.pid);
  const cpu0 = cpuMicros(t.pid);
  const up0 = cpuMicros(upstream.pid);
  const cores0 = cpuTimes();
  const out = await run();
  const cores1 = cpuTimes();
  const cpuUs = cpuMicros(t.pid) - cpu0;
  const upstreamCpuUs = cpuMicros(upstream.pid) - up0;
  const mem = memory(t.pid);
  const delta = minus(await upstreamStats(statsPort), stats0);
  const counters1 = await t.counters?.();
  return {
    out,
    cpuUs,
    upstreamCpuUs,
    cores: coreBusy(cores0, cores1),
    mem,
    delta,
    ...(counters0 && counters1 ? { opened: counters1.connectionsOpened - counters0.connectionsOpened, proxyNon2xx: counters1.non2xx - counters0.non2xx } : {}),
  };
}

const round1 = (v: number): number => Math.round(v * 10) / 10;

type Measured = Awaited<ReturnType<typeof measured>>;

/**
 * The figures every gRPC run reports, from what `measured` saw over `units` calls or messages in `seconds` of
 * load, with `clientCpuUs` of the load generator (the upstream's CPU is in `m`; for direct the upstream is the target).
 */
function runFigures(m: Measured, units: number, seconds: number, clientCpuUs: number): { cpuPerUnit: number } & Pick<GrpcUnaryResult, 'targetCpuPercent' | 'loadCpuPercent' | 'coreBusyPercent' | 'peakRssBytes' | 'rssAfterBytes' | 'upstream' | 'upstreamCpuUsPerCall' | 'upstreamConnections'> {
  const loadCoreUs = clientCpuUs + m.upstreamCpuUs;
  return {
    cpuPerUnit: round1(m.cpuUs / Math.max(1, units)),
    targetCpuPercent: round1((100 * m.cpuUs) / 1e6 / seconds),
    loadCpuPercent: round1((100 * loadCoreUs) / 1e6 / seconds),
    coreBusyPercent: m.cores,
    peakRssBytes: m.mem.hwm,
    rssAfterBytes: m.mem.rss,
    upstream: m.delta,
    upstreamCpuUsPerCall: round1(m.upstreamCpuUs / Math.max(1, units)),
    upstreamConnections: m.opened ?? m.delta.sessions,
  };
}

export async function runGrpcScenarios(o: GrpcBenchOptions): Promise<GrpcReport> {
  const report: GrpcReport = {
    setup: {
      upstream: 'bench/lib/grpc-server.ts (node:http2, h2 over TLS, ALPN h2; Hello and Chat of test/emulators/proto/demo.proto)',
      clients: o.clients,
      streams: o.streams,
      bidiCalls: o.bidiCalls,
      seconds: o.seconds,
      warmSeconds: o.warmSeconds,
      payloadBytes: PAYLOAD_BYTES,
      loadGenerator: 'h2load (nghttp2-client), 1 thread, h2c prior knowledge; bench/lib/grpc-bidi-client.ts (node:http2) for bidi',
    },
    targets: [],
    checks: [],
    unary: [],
    bidi: [],
  };
  const port = await o.freePort();
  const statsPort = await o.freePort();
  const upstream = startPinned('grpc-upstream', o.loadCore, process.execPath, tsx('grpc-server.ts', ['--port', String(port), '--stats-port', String(statsPort), '--cert', o.certFile, '--key', o.keyFile]), { stdio: ['ignore', 'ignore', 'inherit'] });
  const started: Child[] = [upstream];
  try {
    await waitFor('gRPC upstream', async () => (await tcpOpen(port)) && (await tcpOpen(statsPort)), 20_000, upstream.exited);
    const targets: Target[] = [];
    if (o.targets.direct) targets.push({ name: 'direct', what: "nothing (the load straight to the gRPC upstream over TLS; CPU and RSS are the upstream's, on the load core)", pid: upstream.pid, url: `https://${BENCH_HOST}:${port}`, tls: true });
    if (o.targets.reference) {
      const refPort = await o.freePort();
      const prefix = join(o.tmp, 'grpc-reference');
      const ref = await startNginx(GRPC_REF, prefix, grpcReferenceConfig(prefix, refPort, port, o.caFile), refPort, o.proxyCore);
      started.push(ref);
      targets.push({ name: GRPC_REF, what: 'nginx, h2c in, grpc_pass grpcs:// out (TLS verified, keep-alive), no signing, 1 worker', pid: ref.pid, url: `http://${BENCH_HOST}:${refPort}`, tls: false });
    }
    if (o.targets.proxy) {
      // ALLOWED_HOSTS names the upstream, as a pod's config would; --proxy-env ALLOWED_HOSTS=... still overrides it.
      const p = await o.startProxy('proxy-grpc', { ALLOWED_HOSTS: BENCH_HOST, ...o.proxyEnv }, port);
      started.push(p.child);
      targets.push({ name: 'proxy', what: `proxy/dist/main.js, access log on, ALLOWED_HOSTS=${o.proxyEnv['ALLOWED_HOSTS'] ?? BENCH_HOST}, CONNECT_TO the gRPC upstream`, pid: p.child.pid, url: `http://${BENCH_HOST}:${p.port}`, tls: false, counters: p.counters });
    }
    o.log(`gRPC upstream :${port} (load core ${o.loadCore}); on core ${o.proxyCore}: ${targets.filter((t) => t.name !== 'direct').map((t) => `${t.name} ${new URL(t.url).port}`).join(', ')}`);

    for (const t of targets) {
      const out = await runPinned(`grpc-check ${t.name}`, o.loadCore, process.execPath, tsx('grpc-check.ts', ['--address', `127.0.0.1:${new URL(t.url).port}`, '--authority', BENCH_HOST, ...(t.tls ? ['--ca', o.caFile] : [])]), { timeoutMs: 60_000 });
      const c = JSON.parse(out.trim().split('\n').pop()!) as GrpcCheckResult;
      report.checks.push({ target: t.name, ...c });
      report.targets.push({ name: t.name, what: t.what, pid: t.pid, readyRssBytes: memory(t.pid).rss });
      o.log(`grpc-js check via ${t.name}: Hello ${c.unary.ok}/${c.unary.calls}, Chat ${c.chat.received}/${c.chat.sent} status ${c.chat.status}${c.failures.length > 0 ? `; FAILED: ${c.failures.join('; ')}` : ''}`);
    }

    const body = join(o.tmp, 'grpc-hello.bin');
    writeFileSync(body, frameMessage(encodeHelloRequest({ name: 'h2load', payload: Buffer.alloc(PAYLOAD_BYTES, 0x61) })));
    const h2load = async (t: Target, seconds: number, logFile?: string): Promise<string> => {
      const u = new URL(t.url);
      // Through `sh -c '...; times'`, which prints the CPU time h2load used: its share of the load core.
      return runPinned(
        `h2load ${t.name}`,
        o.loadCore,
        'sh',
        ['-c', 'h2load "$@"; rc=$?; times; exit $rc', 'h2load', '-t1', `-c${o.clients}`, `-m${o.streams}`, `-D${seconds}`, '-d', body, '-H', 'content-type: application/grpc', '-H', 'te: trailers', '--connect-to', `127.0.0.1:${u.port}`, ...(logFile ? ['--log-file', logFile] : []), `${u.protocol}//${BENCH_HOST}${t.tls ? `:${u.port}` : ''}${HELLO_PATH}`],
        { timeoutMs: (seconds + 30) * 1000 },
      );
    };

    for (const t of targets) {
      await h2load(t, o.warmSeconds);
      const logFile = join(o.tmp, `h2load-${t.name}.log`);
      const m = await measured(t, upstream, statsPort, () => h2load(t, o.seconds, logFile));
      const h = parseH2loadSummary(m.out);
      const log = parseH2loadLog(readFileSync(logFile, 'latin1'));
      const errors = tally([
        [h.failed, 'failed (h2load)'],
        [h.errored, 'errored (h2load)'],
        [h.timeout, 'timed out (h2load)'],
        [log.non2xx, 'logged by h2load without a 2xx status'],
        [m.proxyNon2xx ?? 0, "non-2xx in the proxy's metrics"],
        ...upstreamProblems(t, m.delta.helloOk, h.succeeded, m.delta.helloSigned, m.delta.rejected),
      ]);
      const { cpuPerUnit, ...figures } = runFigures(m, h.succeeded, h.seconds, parseShellTimes(m.out) ?? 0);
      const r: GrpcUnaryResult = {
        scenario: 'grpc-unary',
        target: t.name,
        clients: o.clients,
        streams: o.streams,
        seconds: Math.round(h.seconds * 100) / 100,
        calls: h.succeeded,
        callsPerSecond: Math.round(h.succeeded / h.seconds),
        latency_us: latencySummary(log.latencies),
        cpuUsPerCall: cpuPerUnit,
        ...figures,
        errors,
        h2load: h,
      };
      report.unary.push(r);
      o.log(`gRPC unary ${t.name}: ${r.callsPerSecond} calls/s, p99 ${r.latency_us.p99} µs, ${r.cpuUsPerCall} µs CPU/call (${r.targetCpuPercent} % of a core), peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(1)} MB, errors ${r.errors.total}, cores ${r.coreBusyPercent.join('/')}%`);
    }

    for (const t of targets) {
      const warm = Math.min(1, o.warmSeconds);
      const m = await measured(t, upstream, statsPort, async () => {
        const out = await runPinned(`grpc-bidi ${t.name}`, o.loadCore, process.execPath, tsx('grpc-bidi-client.ts', ['--url', `${t.tls ? 'https' : 'http'}://127.0.0.1:${new URL(t.url).port}`, '--authority', BENCH_HOST, ...(t.tls ? ['--ca', o.caFile] : []), '--calls', String(o.bidiCalls), '--seconds', String(o.seconds), '--warmup', String(warm), '--payload-bytes', String(PAYLOAD_BYTES)]), {
          timeoutMs: (o.seconds + warm + 60) * 1000,
        });
        return JSON.parse(out.trim().split('\n').pop()!) as GrpcBidiClientResult;
      });
      const c = m.out;
      const errors = tally([
        [c.calls - c.callsOk, `calls that did not end with grpc-status 0 (${JSON.stringify(c.statuses)})`],
        [c.badReplies, 'replies that did not decode to what the upstream sends'],
        ...c.errors.map((e): Problem => [1, `client error: ${e}`]),
        [m.proxyNon2xx ?? 0, "non-2xx in the proxy's metrics"],
        ...upstreamProblems(t, m.delta.chatOk, c.callsOk, m.delta.chatSigned, m.delta.rejected),
        [c.messagesTotal - m.delta.chatMessages, 'replies the upstream never sent'],
      ]);
      // CPU share over the client's load window (warm-up included), not its start-up under tsx, when the target idles.
      const { cpuPerUnit, ...figures } = runFigures(m, c.messagesTotal, c.seconds + warm, c.clientCpuUs);
      const r: GrpcBidiResult = {
        scenario: 'grpc-bidi',
        target: t.name,
        calls: c.calls,
        seconds: c.seconds,
        messages: c.messages,
        messagesPerSecond: c.messagesPerSecond,
        messagesTotal: c.messagesTotal,
        latency_us: c.latency_us,
        cpuUsPerMessage: cpuPerUnit,
        ...figures,
        errors,
      };
      report.bidi.push(r);
      o.log(`gRPC bidi ${t.name}: ${r.messagesPerSecond} msgs/s, p99 ${r.latency_us.p99} µs, ${r.cpuUsPerMessage} µs CPU/msg (${r.targetCpuPercent} % of a core), peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(1)} MB, errors ${r.errors.total}`);
    }
  } finally {
    for (const c of started.reverse()) await c.stop();
  }
  return report;
}
