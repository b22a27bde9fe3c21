// Seeded randomness for the differential fuzzer. Every case draws from its own generator, derived from the run's
// seed and the case's index, so one case replays alone from (seed, index) without generating the ones before.

import { prng } from '../mutate.js';

export type Rand = () => number;

/** The generator of case `index` of a run seeded with `seed`. */
export function caseRandom(seed: number, index: number): Rand {
  // Mix the index in (a murmur3-style finaliser), so neighbouring cases do not start from neighbouring states.
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return prng((h ^ (h >>> 16)) >>> 0);
}

export function int(r: Rand, n: number): number {
  return Math.floor(r() * n);
}

export function between(r: Rand, lo: number, hi: number): number {
  return lo + int(r, hi - lo + 1);
}

export function pick<T>(r: Rand, items: readonly T[]): T {
  return items[int(r, items.length)]!;
}

export function chance(r: Rand, p: number): boolean {
  return r() < p;
}

/** Weighted choice: `[weight, value]` pairs. */
export function weighted<T>(r: Rand, items: readonly (readonly [number, T])[]): T {
  let total = 0;
  for (const [w] of items) total += w;
  let x = r() * total;
  for (const [w, v] of items) {
    x -= w;
    if (x < 0) return v;
  }
  return items[items.length - 1]![1];
}

/**
 * `bytes` cut at random boundaries into 1..maxPieces pieces (as a socket might deliver them). Sometimes one
 * byte at a time, the cut that finds state carried wrongly across reads.
 */
export function split(r: Rand, bytes: Buffer, maxPieces: number): Buffer[] {
  if (bytes.length <= 1) return [bytes];
  if (bytes.length <= 512 && chance(r, 0.1)) {
    const out: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
    return out;
  }
  const pieces = between(r, 1, Math.min(maxPieces, bytes.length));
  const cuts = new Set<number>();
  while (cuts.size < pieces - 1) cuts.add(between(r, 1, bytes.length - 1));
  const points = [...cuts].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
}

/** A fresh seed for a run that was not given one. */
export function freshSeed(): number {
  return (Date.now() ^ Math.floor(Math.random() * 0x100000000)) >>> 0;
}
