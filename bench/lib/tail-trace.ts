// Preload for `npm run bench -- --trace-tail`: loaded into the proxy (and the floor yardstick) with
// `node --import <this, transpiled>`, it records what can stall a Node process's event loop, with wall-clock
// timestamps, so the bench can line the slowest fixed-rate requests up against them:
// - GC pauses (perf_hooks 'gc' entries: start, duration, kind),
// - event-loop delay (perf_hooks.monitorEventLoopDelay histogram) and the individual stalls, seen by a 10 ms
//   interval that fires late (start and length of each lateness above 1 ms),
// - synchronous writes (fs.writeSync, what pino's sonic-boom uses for a sync destination): count, total time,
//   and those above 0.5 ms; asynchronous fs.write / fs.writev calls are counted (they do not block the loop).
// Nothing is written while traffic runs. SIGUSR2 appends one JSON line with everything since the previous
// SIGUSR2 to $BENCH_TAIL_TRACE_FILE and starts afresh (the harness signals before and after each run).
// Only node: modules: it runs as plain JavaScript inside the process under test.

import { appendFileSync } from 'node:fs';
import fs from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver, performance, constants } from 'node:perf_hooks';

const outFile = process.env['BENCH_TAIL_TRACE_FILE'];
const CAP = 100_000;
const TICK_MS = 10;
const origin = performance.timeOrigin;
const GC_KIND: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak-callbacks',
};

if (outFile) {
  // [epoch ms start, ms]
  let gc: Array<[number, number, string]> = [];
  let stalls: Array<[number, number]> = [];
  let slowWrites: Array<[number, number]> = [];
  let syncWrites = 0;
  let syncWriteMs = 0;
  let asyncWrites = 0;
  let since = Date.now();

  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = ((e as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind ?? -1;
      if (gc.length < CAP) gc.push([origin + e.startTime, e.duration, GC_KIND[kind] ?? String(kind)]);
    }
  }).observe({ entryTypes: ['gc'] });

  const eld = monitorEventLoopDelay({ resolution: TICK_MS });
  eld.enable();
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const late = now - last - TICK_MS;
    if (late > 1 && stalls.length < CAP) stalls.push([origin + now - late, late]);
    last = now;
  }, TICK_MS).unref();

  const writeSync = fs.writeSync;
  fs.writeSync = function timedWriteSync(this: unknown, ...args: unknown[]): number {
    const t = performance.now();
    try {
      return (writeSync as (...a: unknown[]) => number).apply(this, args);
    } finally {
      const d = performance.now() - t;
      syncWrites++;
      syncWriteMs += d;
      if (d > 0.5 && slowWrites.length < CAP) slowWrites.push([origin + t, d]);
    }
  } as typeof fs.writeSync;
  const write = fs.write;
  fs.write = function countedWrite(this: unknown, ...args: unknown[]): void {
    asyncWrites++;
    (write as (...a: unknown[]) => void).apply(this, args);
  } as typeof fs.write;
  const writev = fs.writev;
  fs.writev = function countedWritev(this: unknown, ...args: unknown[]): void {
    asyncWrites++;
    (writev as (...a: unknown[]) => void).apply(this, args);
  } as typeof fs.writev;

  process.on('SIGUSR2', () => {
    const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3;
    const line = {
      from: since,
      to: Date.now(),
      gc,
      stalls,
      slowWrites,
      syncWrites,
      syncWriteMs: Math.round(syncWriteMs * 1000) / 1000,
      asyncWrites,
      eventLoopDelayMs: { mean: ms(eld.mean), p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), p999: ms(eld.percentile(99.9)), max: ms(eld.max), count: eld.count },
    };
    appendFileSync(outFile, JSON.stringify(line) + '\n');
    gc = [];
    stalls = [];
    slowWrites = [];
    syncWrites = 0;
    syncWriteMs = 0;
    asyncWrites = 0;
    since = Date.now();
    eld.reset();
  });
}
