// Summarise a V8 .cpuprofile (from `npm run bench -- --cpu-prof DIR`, written by the proxy and by the floor
// yardstick): the shares of GC, idle and V8's own "(program)" time first, then self time by function and by
// package/file, so the dominant cost on the request path is visible without opening DevTools.
//
// Usage: npx tsx bench/profile-summary.ts proxy-123.cpuprofile [--top 40]

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '40' } } });
if (positionals.length !== 1) {
  process.stderr.write('usage: npx tsx bench/profile-summary.ts <file.cpuprofile> [--top N]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const self = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
const total = [...self.values()].reduce((a, b) => a + b, 0);

function where(url: string): string {
  if (url === '') return '(native/V8)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  if (/floor-proxy\.(mjs|ts)$/.test(url)) return 'floor-proxy';
  return url.replace(/^file:\/\/.*\/proxy\/(dist|src)\//, 'proxy/');
}

const byFn = new Map<string, number>();
const byPkg = new Map<string, number>();
for (const n of profile.nodes) {
  const t = self.get(n.id) ?? 0;
  if (t === 0 || n.callFrame.functionName === '(idle)') continue;
  const w = where(n.callFrame.url);
  const key = `${n.callFrame.functionName || '(anonymous)'}  ${w}:${n.callFrame.lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) ?? 0) + t);
  byPkg.set(w, (byPkg.get(w) ?? 0) + t);
}
// Inclusive time of the proxy's own functions (self + everything they call), counted once per stack.
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const inclusive = new Map<string, number>();
for (const [id, t] of self) {
  if (byId.get(id)?.callFrame.functionName === '(idle)') continue;
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const n = byId.get(cur)!;
    const w = where(n.callFrame.url);
    if (!w.startsWith('proxy/') && w !== 'floor-proxy') continue;
    const key = `${n.callFrame.functionName || '(anonymous)'}  ${w}:${n.callFrame.lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + t);
  }
}
const top = Number(values.top);
// V8's pseudo-frames: GC pauses on the main thread, the idle loop, and "(program)" (native code V8 cannot
// attribute, mostly libuv and the kernel calls beneath the event loop).
const special = (name: string): number => profile.nodes.filter((n) => n.callFrame.functionName === name).reduce((a, n) => a + (self.get(n.id) ?? 0), 0);
const idle = special('(idle)');
// Shares are of the busy time: a profile covers the process's whole life, idle periods between scenarios included.
const busy = total - idle;
const pct = (t: number): string => ((100 * t) / Math.max(1, busy)).toFixed(1).padStart(5) + '%';
process.stdout.write(`total sampled: ${(total / 1e6).toFixed(2)} s, of which idle ${(idle / 1e6).toFixed(2)} s; shares below are of the busy ${(busy / 1e6).toFixed(2)} s\n`);
process.stdout.write(`GC ${pct(special('(garbage collector)'))}, (program) ${pct(special('(program)'))}\n\nself time by package / file\n`);
for (const [k, t] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`${pct(t)}  ${k}\n`);
process.stdout.write(`\nself time by function (top ${top})\n`);
for (const [k, t] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(t)}  ${k}\n`);
process.stdout.write('\ninclusive time of proxy (or floor) functions\n');
for (const [k, t] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`${pct(t)}  ${k}\n`);
