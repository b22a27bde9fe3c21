// Pure figures of the gRPC scenarios: latency percentiles from raw samples, and what h2load prints (its summary
// and its --log-file, one line per request: start µs since the epoch, HTTP status or -1, µs to the end of
// the response). h2load prints only min/max/mean/sd, so the percentiles come from the log file.

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  samples: number;
}

/** Nearest-rank percentiles of `samples` (µs), rounded to 1 µs; all zero when there is none. */
export function latencySummary(samples: ArrayLike<number>): LatencySummary {
  const n = samples.length;
  if (n === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0, samples: 0 };
  const sorted = Float64Array.from(samples).sort();
  const pct = (p: number): number => Math.round(sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return { p50: pct(50), p90: pct(90), p99: pct(99), p999: pct(99.9), max: Math.round(sorted[n - 1]!), mean: Math.round(sum / n), samples: n };
}

export interface H2loadSummary {
  seconds: number;
  reqPerSecond: number;
  total: number;
  started: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  status: { '2xx': number; '3xx': number; '4xx': number; '5xx': number };
}

/** h2load's text summary (nghttp2 1.52's wording); throws naming the line it could not find. */
export function parseH2loadSummary(text: string): H2loadSummary {
  const need = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(text);
    if (!m) throw new Error(`h2load: no "${what}" line in its output:\n${text}`);
    return m;
  };
  const fin = need(/finished in ([\d.]+)(m?s), ([\d.]+) req\/s/, 'finished in');
  const req = need(/requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/, 'requests:');
  const st = need(/status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/, 'status codes:');
  const n = (m: RegExpExecArray, i: number): number => Number(m[i]);
  return {
    seconds: Number(fin[1]) / (fin[2] === 'ms' ? 1000 : 1),
    reqPerSecond: Number(fin[3]),
    total: n(req, 1),
    started: n(req, 2),
    done: n(req, 3),
    succeeded: n(req, 4),
    failed: n(req, 5),
    errored: n(req, 6),
    timeout: n(req, 7),
    status: { '2xx': n(st, 1), '3xx': n(st, 2), '4xx': n(st, 3), '5xx': n(st, 4) },
  };
}

/** Latency (µs) of every request h2load logged with an HTTP 2xx status; the others are counted. */
export function parseH2loadLog(text: string): { latencies: Float64Array; non2xx: number } {
  const latencies: number[] = [];
  let non2xx = 0;
  for (let at = 0; at < text.length; ) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const line = text.slice(at, end);
    at = end + 1;
    if (line.length === 0) continue;
    const [, status, us] = line.split('\t');
    const code = Number(status);
    if (code >= 200 && code < 300) latencies.push(Number(us));
    else non2xx++;
  }
  return { latencies: Float64Array.from(latencies), non2xx };
}

/**
 * CPU time of the children of `sh -c '...; times'` (the load generator), in µs, from the second line `times`
 * prints ("0m1.230000s 0m0.450000s": user, system); undefined when the output has no such line.
 */
export function parseShellTimes(text: string): number | undefined {
  const lines = text.trimEnd().split('\n');
  const m = /^(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s$/.exec(lines[lines.length - 1] ?? '');
  if (!m || !/^\d+m[\d.]+s\s+\d+m[\d.]+s$/.test(lines[lines.length - 2] ?? '')) return undefined;
  return Math.round((Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1e6);
}
