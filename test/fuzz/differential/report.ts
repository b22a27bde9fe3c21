// Counting and printing a differential run: the counts by category and origin, our refusals by reason (what the
// strictness costs), and every failure with what replays it.

import type { Category } from './compare.js';

export type Origin = 'sweep' | 'generated' | 'mutated';

export interface Failure {
  readonly side: 'request' | 'response';
  readonly seed: number;
  readonly index: number;
  readonly family: string;
  readonly problems: readonly string[];
  /** The stream (responses: each exchange's bytes, HEAD or not). */
  readonly streams: readonly { readonly head?: boolean; readonly bytes: Buffer }[];
  readonly eof?: boolean;
}

export class Tally {
  readonly side: 'request' | 'response';
  planned = 0;
  ran = 0;
  /** Cuttings of streams fed to our reader besides the whole stream. */
  splitRuns = 0;
  bytes = 0;
  readonly origins = new Map<Origin, number>();
  readonly categories = new Map<Category, number>();
  readonly refusedByUs = new Map<string, number>();
  readonly refusedByBoth = new Map<string, number>();
  readonly llhttpOnly = new Map<string, number>();
  readonly notes = new Map<string, number>();
  /** Our error message named a different first fault for another cutting (same status and code). */
  messageVariance = 0;
  readonly failures: Failure[] = [];
  failureCount = 0;
  elapsedMs = 0;
  /** CPU time of this process over the run (the machine is shared: wall time alone says little). */
  cpuMs = 0;

  constructor(side: 'request' | 'response') {
    this.side = side;
  }

  add<K>(map: Map<K, number>, key: K): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  /** Disagreements by what differs (first problem, case-specific parts removed), with the first case index. */
  readonly failureKinds = new Map<string, { count: number; first: number }>();

  fail(f: Failure): void {
    this.failureCount++;
    if (this.failures.length < 25) this.failures.push(f);
    const key = `${f.family.replace(/^(sweep: |mutated )/, '')}: ${(f.problems[0] ?? '').split('\n')[0]!.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N').slice(0, 160)}`;
    const k = this.failureKinds.get(key);
    if (k === undefined) this.failureKinds.set(key, { count: 1, first: f.index });
    else k.count++;
  }
}

function top(map: Map<string, number>, n: number): [string, number][] {
  return [...map.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n);
}

/** Classic `offset  hex  |ascii|` lines. */
export function hexDump(b: Buffer, max = 4096): string {
  const lines: string[] = [];
  const end = Math.min(b.length, max);
  for (let off = 0; off < end; off += 16) {
    const row = b.subarray(off, Math.min(off + 16, end));
    const hex = [...row].map((c) => c.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.')).join('');
    lines.push(`${off.toString(16).padStart(6, '0')}  ${hex.padEnd(47)}  |${ascii}|`);
  }
  if (b.length > max) lines.push(`... ${b.length - max} more bytes`);
  return lines.join('\n');
}

export function describeFailure(f: Failure): string {
  const out = [`FAIL ${f.side} case ${f.index} (seed ${f.seed}, ${f.family})`, ...f.problems.map((p) => `  - ${p}`)];
  f.streams.forEach((s, i) => {
    out.push(f.side === 'response' ? `  exchange ${i + 1}${s.head ? ' (HEAD)' : ''}, ${s.bytes.length} bytes${f.eof && i === f.streams.length - 1 ? ', then EOF' : ''}:` : `  stream, ${s.bytes.length} bytes:`);
    out.push(hexDump(s.bytes).replace(/^/gm, '    '));
  });
  out.push(`  replay: FUZZ_SEED=${f.seed} npm run fuzz -- --replay ${f.side}:${f.index}`);
  return out.join('\n');
}

export function formatTally(t: Tally, seed: number): string {
  const rate = t.elapsedMs > 0 ? Math.round((t.ran * 1000) / t.elapsedMs) : 0;
  const cpuRate = t.cpuMs > 0 ? Math.round((t.ran * 1000) / t.cpuMs) : 0;
  const origins = [...t.origins.entries()].map(([k, v]) => `${k} ${v}`).join(', ');
  const lines = [
    `${t.side} streams: ${t.ran} of ${t.planned} planned (seed ${seed}; ${origins}); ${t.splitRuns} more cuttings of them; ${(t.bytes / 1048576).toFixed(1)} MiB`,
    `  ${(t.elapsedMs / 1000).toFixed(1)} s, ${rate} streams/s; ${(t.cpuMs / 1000).toFixed(1)} CPU s, ${cpuRate} streams per CPU second`,
  ];
  for (const [k, v] of [...t.categories.entries()].sort((a, b) => b[1] - a[1])) lines.push(`  ${k}: ${v}`);
  if (t.refusedByUs.size > 0) {
    lines.push('  refused by us only, top reasons:');
    for (const [k, v] of top(t.refusedByUs, 20)) lines.push(`    ${String(v).padStart(7)}  ${k}`);
  }
  if (t.refusedByBoth.size > 0) {
    lines.push('  refused by both, top llhttp codes:');
    for (const [k, v] of top(t.refusedByBoth, 8)) lines.push(`    ${String(v).padStart(7)}  ${k}`);
  }
  if (t.notes.size > 0) {
    lines.push('  oracle policy differences (not failures):');
    for (const [k, v] of top(t.notes, 8)) lines.push(`    ${String(v).padStart(7)}  ${k}`);
  }
  if (t.messageVariance > 0) lines.push(`  cuttings where our refusal named another first fault (same status and code): ${t.messageVariance}`);
  lines.push(`  disagreements: ${t.failureCount}`);
  for (const [k, v] of [...t.failureKinds.entries()].sort((a, b) => b[1].count - a[1].count).slice(0, 20)) {
    lines.push(`    ${String(v.count).padStart(7)}  ${k} (first: case ${v.first})`);
  }
  return lines.join('\n');
}
