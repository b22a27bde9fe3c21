// Tail diagnosis for the fixed-rate runs (`--trace-tail`): the slowest 1 % of requests (from the fixed-rate
// client's --slow-out) lined up against what the process under test recorded over the same wall-clock window
// (bench/lib/tail-trace.ts). For each slow request the time covered by GC pauses, by synchronous writes above
// 0.5 ms and by event-loop stalls above 1 ms (JavaScript work, timers, or the process being descheduled; a
// stall includes any GC inside it) is summed; the request is charged to the first of these that covers at
// least half of its latency, else to "unexplained" (queueing on a busy core, the kernel, the client, the host).
// Overlap alone would charge a 300 ms request to the 2 ms scavenge that happened during it.

export interface TailTrace {
  from: number;
  to: number;
  /** [start epoch ms, duration ms, kind] */
  gc: Array<[number, number, string]>;
  /** [start epoch ms, lateness ms] of the 10 ms tick */
  stalls: Array<[number, number]>;
  /** [start epoch ms, duration ms] of fs.writeSync calls above 0.5 ms */
  slowWrites: Array<[number, number]>;
  syncWrites: number;
  syncWriteMs: number;
  asyncWrites: number;
  /** monitorEventLoopDelay, in ms; includes the 10 ms tick itself */
  eventLoopDelayMs: { mean: number; p50: number; p99: number; p999: number; max: number; count: number };
}

export const TRACE_TICK_MS = 10;

export interface TailDiagnosis {
  slowRequests: number;
  /** Latency of the fastest request counted as slow (the run's p99), ms. */
  thresholdMs: number;
  /** How many slow requests each cause covers at least half of (first match in this order). */
  causes: { gc: number; syncWrite: number; loopStall: number; unexplained: number };
  /** Share of all slow-request time each cause covers (0..1). */
  coveredShare: { gc: number; syncWrite: number; loopStall: number };
  gc: { count: number; totalMs: number; maxMs: number; byKind: Record<string, { count: number; totalMs: number; maxMs: number }> };
  stalls: { over1ms: number; over5ms: number; maxMs: number };
  writes: { sync: number; syncMs: number; syncOver05ms: number; async: number };
  /** Event-loop delay beyond the 10 ms tick (monitorEventLoopDelay), ms. */
  loopDelayMs: { p50: number; p99: number; p999: number; max: number };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Milliseconds of [start, end] covered by the (mutually disjoint) intervals [t, t + d] of `list`. */
export function covered(list: ReadonlyArray<readonly [number, number, ...unknown[]]>, start: number, end: number): number {
  let sum = 0;
  for (const e of list) {
    const a = Math.max(start, e[0]);
    const b = Math.min(end, e[0] + e[1]);
    if (b > a) sum += b - a;
  }
  return sum;
}

export function diagnoseTail(slow: ReadonlyArray<readonly [number, number]>, trace: TailTrace): TailDiagnosis {
  const causes = { gc: 0, syncWrite: 0, loopStall: 0, unexplained: 0 };
  const cov = { gc: 0, syncWrite: 0, loopStall: 0 };
  let slowMs = 0;
  for (const [start, ms] of slow) {
    const end = start + ms;
    const gc = covered(trace.gc, start, end);
    const wr = covered(trace.slowWrites, start, end);
    const st = covered(trace.stalls, start, end);
    cov.gc += gc;
    cov.syncWrite += wr;
    cov.loopStall += st;
    slowMs += ms;
    if (gc >= ms / 2) causes.gc++;
    else if (wr >= ms / 2) causes.syncWrite++;
    else if (st >= ms / 2) causes.loopStall++;
    else causes.unexplained++;
  }
  const share = (x: number): number => (slowMs > 0 ? Math.round((1000 * x) / slowMs) / 1000 : 0);
  const byKind: TailDiagnosis['gc']['byKind'] = {};
  let totalMs = 0;
  let maxMs = 0;
  for (const [, d, kind] of trace.gc) {
    const k = (byKind[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
    k.count++;
    k.totalMs = round3(k.totalMs + d);
    k.maxMs = round3(Math.max(k.maxMs, d));
    totalMs += d;
    maxMs = Math.max(maxMs, d);
  }
  const beyondTick = (v: number): number => round3(Math.max(0, v - TRACE_TICK_MS));
  return {
    slowRequests: slow.length,
    thresholdMs: slow.length > 0 ? Math.min(...slow.map((s) => s[1])) : 0,
    causes,
    coveredShare: { gc: share(cov.gc), syncWrite: share(cov.syncWrite), loopStall: share(cov.loopStall) },
    gc: { count: trace.gc.length, totalMs: round3(totalMs), maxMs: round3(maxMs), byKind },
    stalls: { over1ms: trace.stalls.length, over5ms: trace.stalls.filter((s) => s[1] > 5).length, maxMs: round3(Math.max(0, ...trace.stalls.map((s) => s[1]))) },
    writes: { sync: trace.syncWrites, syncMs: trace.syncWriteMs, syncOver05ms: trace.slowWrites.length, async: trace.asyncWrites },
    loopDelayMs: { p50: beyondTick(trace.eventLoopDelayMs.p50), p99: beyondTick(trace.eventLoopDelayMs.p99), p999: beyondTick(trace.eventLoopDelayMs.p999), max: beyondTick(trace.eventLoopDelayMs.max) },
  };
}

/** Several runs' diagnoses of one target added up (counts and totals summed, maxima kept). */
export function mergeDiagnoses(ds: readonly TailDiagnosis[]): TailDiagnosis | undefined {
  if (ds.length === 0) return undefined;
  const out: TailDiagnosis = {
    slowRequests: 0,
    thresholdMs: Math.min(...ds.map((d) => d.thresholdMs)),
    causes: { gc: 0, syncWrite: 0, loopStall: 0, unexplained: 0 },
    coveredShare: { gc: 0, syncWrite: 0, loopStall: 0 },
    gc: { count: 0, totalMs: 0, maxMs: 0, byKind: {} },
    stalls: { over1ms: 0, over5ms: 0, maxMs: 0 },
    writes: { sync: 0, syncMs: 0, syncOver05ms: 0, async: 0 },
    loopDelayMs: { p50: 0, p99: 0, p999: 0, max: 0 },
  };
  const total = ds.reduce((a, d) => a + d.slowRequests, 0);
  for (const d of ds) {
    out.slowRequests += d.slowRequests;
    // Weighted by slow-request count (runs of one target have similar lengths and thresholds).
    for (const k of Object.keys(out.coveredShare) as Array<keyof TailDiagnosis['coveredShare']>) out.coveredShare[k] = round3(out.coveredShare[k] + (d.coveredShare[k] * d.slowRequests) / Math.max(1, total));
    for (const k of Object.keys(out.causes) as Array<keyof TailDiagnosis['causes']>) out.causes[k] += d.causes[k];
    out.gc.count += d.gc.count;
    out.gc.totalMs = round3(out.gc.totalMs + d.gc.totalMs);
    out.gc.maxMs = Math.max(out.gc.maxMs, d.gc.maxMs);
    for (const [kind, v] of Object.entries(d.gc.byKind)) {
      const k = (out.gc.byKind[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
      k.count += v.count;
      k.totalMs = round3(k.totalMs + v.totalMs);
      k.maxMs = Math.max(k.maxMs, v.maxMs);
    }
    out.stalls.over1ms += d.stalls.over1ms;
    out.stalls.over5ms += d.stalls.over5ms;
    out.stalls.maxMs = Math.max(out.stalls.maxMs, d.stalls.maxMs);
    out.writes.sync += d.writes.sync;
    out.writes.syncMs = round3(out.writes.syncMs + d.writes.syncMs);
    out.writes.syncOver05ms += d.writes.syncOver05ms;
    out.writes.async += d.writes.async;
    // Percentiles do not add up: keep the worst run's.
    for (const k of Object.keys(out.loopDelayMs) as Array<keyof TailDiagnosis['loopDelayMs']>) out.loopDelayMs[k] = Math.max(out.loopDelayMs[k], d.loopDelayMs[k]);
  }
  return out;
}
