// Fixed-rate load for the latency scenario (wrk cannot hold a rate and Debian has no wrk2). Open loop: a
// request is started on its schedule whether or not earlier ones have been answered, so a stall of the
// server does not slow the sender down (no coordinated omission). Two latencies are kept per request:
// - from the moment it was handed to the HTTP agent (`latency_us`): includes waiting for a free connection
//   behind a stalled server, excludes the sender's own timer lateness. This is what the goal compares: the
//   1 ms setTimeout granularity and the sender's GC pauses are the client's noise, not the proxy's latency.
// - from its intended time on the schedule (`latencyFromSchedule_us`, wrk2's definition), for reference.
//
// Usage: node --import tsx bench/lib/fixed-rate.ts --url http://127.0.0.1:8080/ --host bench.example.com
//          --rate 1000 --seconds 30 --warmup 3 [--connections 32] [--ca ca.pem] [--slow-out slow.json]
// Prints one JSON line. --slow-out writes the slowest 1 % (latency >= p99) as [[start epoch ms, latency ms], ...]
// so the harness can line them up with the process's GC pauses and loop stalls (bench/lib/tail-trace.ts).

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    host: { type: 'string' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    ca: { type: 'string' },
    'slow-out': { type: 'string' },
  },
});
const url = new URL(values.url!);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const tls = url.protocol === 'https:';
const agentOpts = { keepAlive: true, maxSockets: Number(values.connections), scheduling: 'lifo' as const };
const agent = tls ? new HttpsAgent({ ...agentOpts, ca: values.ca ? readFileSync(values.ca) : undefined, servername: values.host }) : new HttpAgent(agentOpts);
const doRequest = tls ? httpsRequest : httpRequest;
const headers = { host: values.host ?? url.host, 'user-agent': 'bench-fixed-rate', accept: '*/*' };

const total = Math.round(rate * (warmup + seconds));
const skip = Math.round(rate * warmup);
const latencies = new Float64Array(total - skip);
const fromSchedule = new Float64Array(total - skip);
const startedAt = new Float64Array(total - skip);
let sent = 0;
let finished = 0;
let non2xx = 0;
let socketErrors = 0;
let lateStarts = 0;
const intervalMs = 1000 / rate;

function fire(index: number, intended: number): void {
  const handedOver = performance.now();
  const req = doRequest({ agent, host: url.hostname, port: url.port, path: url.pathname, method: 'GET', headers }, (res: IncomingMessage) => {
    res.on('data', () => {});
    res.on('end', () => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) non2xx++;
      done(index, intended, handedOver);
    });
  });
  req.on('error', () => {
    socketErrors++;
    done(index, intended, handedOver);
  });
  req.end();
}

let t0 = 0;
let resolveAll: () => void = () => {};
const all = new Promise<void>((r) => (resolveAll = r));

function done(index: number, intended: number, handedOver: number): void {
  if (index >= skip) {
    const now = performance.now();
    latencies[index - skip] = (now - handedOver) * 1000;
    startedAt[index - skip] = performance.timeOrigin + handedOver;
    fromSchedule[index - skip] = (now - intended) * 1000;
  }
  if (++finished === total) resolveAll();
}

function tick(): void {
  const now = performance.now();
  const due = Math.min(total, Math.floor((now - t0) / intervalMs) + 1);
  if (due - sent > 1) lateStarts += due - sent - 1;
  while (sent < due) {
    const i = sent++;
    fire(i, t0 + i * intervalMs);
  }
  if (sent < total) setTimeout(tick, Math.max(0, t0 + sent * intervalMs - performance.now()));
}

t0 = performance.now();
tick();
const guard = setTimeout(() => {
  process.stderr.write(`fixed-rate: ${total - finished} requests unanswered 30 s after the end\n`);
  process.exit(2);
}, (warmup + seconds + 30) * 1000);
await all;
clearTimeout(guard);
const elapsed = (performance.now() - t0) / 1000;
function summary(values: Float64Array): Record<string, number> {
  const sorted = Array.from(values).sort((a, b) => a - b);
  const pct = (p: number): number => Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
  return { p50: pct(50), p90: pct(90), p99: pct(99), p999: pct(99.9), max: Math.round(sorted[sorted.length - 1]!), mean: Math.round(sorted.reduce((a, b) => a + b, 0) / sorted.length) };
}
if (values['slow-out']) {
  const p99 = summary(latencies)['p99']!;
  const slow: Array<[number, number]> = [];
  for (let i = 0; i < latencies.length && slow.length < 5_000; i++) {
    if (latencies[i]! >= p99) slow.push([Math.round(startedAt[i]! * 1000) / 1000, Math.round(latencies[i]!) / 1000]);
  }
  writeFileSync(values['slow-out'], JSON.stringify(slow));
}
process.stdout.write(
  JSON.stringify({
    requests: latencies.length,
    sent: total,
    rate,
    achievedRate: Math.round((total / elapsed) * 10) / 10,
    non2xx,
    socketErrors,
    lateStarts,
    latency_us: summary(latencies),
    latencyFromSchedule_us: summary(fromSchedule),
  }) + '\n',
);
agent.destroy();
