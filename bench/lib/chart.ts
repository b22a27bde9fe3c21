// The bench's chart: plain hand-written SVG (no dependency), written beside the JSON report. Three panels of
// grouped bars, one bar per target (direct, nginx-ref, floor, proxy): req/s per load scenario, p99 per load
// scenario, and the fixed-rate medians of p99 and p99.9. Pure: report in, SVG text out.

import type { LoadResult } from './wrk.js';
import type { FixedSummary } from './summary.js';

export const CHART_TARGETS = ['direct', 'nginx-ref', 'floor', 'proxy'] as const;
// nginx-grpc-ref (the gRPC panels) shares nginx-ref's colour: the same role, and the panel titles name it.
const COLOURS: Record<string, string> = { direct: '#8c8c8c', 'nginx-ref': '#2b7bb9', 'nginx-grpc-ref': '#2b7bb9', floor: '#e69f00', proxy: '#d62728' };
const LABELS: Record<string, string> = { direct: 'direct (load generator → upstream)', 'nginx-ref': 'nginx-ref (no signing)', 'nginx-grpc-ref': 'nginx-grpc-ref (no signing)', floor: 'floor yardstick (net/tls, signed)', proxy: 'proxy (access log on)' };

export interface ChartInput {
  title: string;
  subtitle: string;
  load: readonly LoadResult[];
  fixed: readonly FixedSummary[];
  fixedLabel: string;
  /** Further panels after the fixed-rate one (the gRPC scenarios: bench/lib/grpc-report.ts grpcChartPanels). */
  extraPanels?: readonly ChartPanel[];
}

export interface ChartPanel {
  title: string;
  groups: readonly ChartGroup[];
  unit: 'count' | 'ms';
}

export interface ChartGroup {
  label: string;
  /** A second line under the label (the ratios of the req/s panel). */
  note?: string;
  values: Array<{ target: string; value: number | undefined }>;
}

const W = 980;
const PANEL_H = 250;
const LEFT = 70;
const RIGHT = 20;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A "nice" axis maximum (1, 2, 2.5 or 5 × a power of ten) at or above `v`. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function panel(y0: number, title: string, groups: readonly ChartGroup[], fmt: (v: number) => string): string {
  const top = y0 + 30;
  const bottom = y0 + PANEL_H - 30;
  const h = bottom - top;
  const max = niceMax(Math.max(0, ...groups.flatMap((g) => g.values.map((v) => v.value ?? 0))));
  const out: string[] = [`<text x="${LEFT}" y="${y0 + 18}" class="h">${esc(title)}</text>`];
  for (let i = 0; i <= 4; i++) {
    const y = bottom - (h * i) / 4;
    out.push(`<line x1="${LEFT}" y1="${y}" x2="${W - RIGHT}" y2="${y}" class="grid"/>`, `<text x="${LEFT - 6}" y="${y + 4}" class="ax">${esc(fmt((max * i) / 4))}</text>`);
  }
  const gw = (W - LEFT - RIGHT) / Math.max(1, groups.length);
  groups.forEach((g, gi) => {
    const n = Math.max(1, g.values.length);
    const bw = Math.min(46, (gw - 24) / n);
    const x0 = LEFT + gi * gw + (gw - bw * n) / 2;
    g.values.forEach((v, i) => {
      const x = x0 + i * bw;
      if (v.value === undefined) {
        out.push(`<text x="${x + bw / 2}" y="${bottom - 4}" class="v">n/a</text>`);
        return;
      }
      const bh = (h * v.value) / max;
      out.push(
        `<rect x="${x.toFixed(1)}" y="${(bottom - bh).toFixed(1)}" width="${(bw - 3).toFixed(1)}" height="${bh.toFixed(1)}" fill="${COLOURS[v.target] ?? '#555'}"><title>${esc(`${v.target}: ${fmt(v.value)}`)}</title></rect>`,
        `<text x="${(x + (bw - 3) / 2).toFixed(1)}" y="${(bottom - bh - 3).toFixed(1)}" class="v">${esc(fmt(v.value))}</text>`,
      );
    });
    out.push(`<text x="${(LEFT + gi * gw + gw / 2).toFixed(1)}" y="${bottom + 16}" class="g">${esc(g.label)}</text>`);
    if (g.note) out.push(`<text x="${(LEFT + gi * gw + gw / 2).toFixed(1)}" y="${bottom + 28}" class="n">${esc(g.note)}</text>`);
  });
  return out.join('\n');
}

const kilo = (v: number): string => (v === 0 ? '0' : v >= 10_000 ? `${(v / 1000).toFixed(0)}k` : v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(0));
const ms = (v: number): string => (v === 0 ? '0' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

function scenarioLabel(x: LoadResult): string {
  return x.scenario === 'post64k' ? `POST 64 KiB, ${x.connections} conns` : `${x.scenario === 'get' ? 'GET' : x.scenario}, ${x.connections} conns`;
}

export function renderChart(c: ChartInput): string {
  const targets: string[] = CHART_TARGETS.filter((t) => c.load.some((x) => x.target === t) || c.fixed.some((x) => x.target === t));
  const keys = [...new Set(c.load.filter((x) => (CHART_TARGETS as readonly string[]).includes(x.target)).map((x) => `${x.scenario}/${x.connections}`))];
  const loadGroups = (pick: (x: LoadResult) => number, withRatios: boolean): ChartGroup[] =>
    keys.map((k) => {
      const row = (t: string): LoadResult | undefined => c.load.find((x) => x.target === t && `${x.scenario}/${x.connections}` === k);
      const [p, n, f] = [row('proxy'), row('nginx-ref'), row('floor')];
      const parts = [n && p ? `proxy ÷ nginx-ref ${(p.rps / n.rps).toFixed(2)}` : '', f && p ? `÷ floor ${(p.rps / f.rps).toFixed(2)}` : ''].filter(Boolean);
      return {
        label: scenarioLabel(row(targets.find((t) => row(t)) ?? 'proxy') ?? c.load.find((x) => `${x.scenario}/${x.connections}` === k)!),
        ...(withRatios && parts.length > 0 ? { note: parts.join(', ') } : {}),
        values: targets.map((t) => ({ target: t, value: ((x) => (x ? pick(x) : undefined))(row(t)) })),
      };
    });
  const fixedGroups: ChartGroup[] = (['p50', 'p99', 'p999'] as const).map((k) => ({
    label: k === 'p999' ? 'p99.9' : k,
    values: targets.map((t) => ({ target: t, value: ((f) => (f ? f[k] / 1000 : undefined))(c.fixed.find((x) => x.target === t)) })),
  }));
  // A run without HTTP/1.1 load (e.g. --scenarios grpc) has no req/s or p99 panel.
  const panels = c.load.length === 0 ? [] : [panel(70, 'Requests per second (closed loop, wrk 1 thread) — higher is better', loadGroups((x) => x.rps, true), kilo), panel(70 + PANEL_H, 'p99 latency under that load, ms — lower is better', loadGroups((x) => x.latency_us.p99 / 1000, false), ms)];
  if (c.fixed.length > 0) panels.push(panel(70 + panels.length * PANEL_H, c.fixedLabel, fixedGroups, ms));
  for (const p of c.extraPanels ?? []) panels.push(panel(70 + panels.length * PANEL_H, p.title, p.groups, p.unit === 'ms' ? ms : kilo));
  const height = 70 + panels.length * PANEL_H + 20;
  // A target of the extra panels joins the legend unless its colour is there already.
  const extra = [...new Set((c.extraPanels ?? []).flatMap((p) => p.groups.flatMap((g) => g.values.map((v) => v.target))))];
  for (const t of extra) if (!targets.some((x) => COLOURS[x] === COLOURS[t])) targets.push(t);
  const legend = targets.map((t, i) => `<rect x="${LEFT + i * 225}" y="44" width="12" height="12" fill="${COLOURS[t]}"/><text x="${LEFT + i * 225 + 17}" y="54" class="l">${esc(LABELS[t] ?? t)}</text>`).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif">
<style>
.t{font-size:16px;font-weight:bold}.s{font-size:11px;fill:#444}.h{font-size:13px;font-weight:bold}.ax{font-size:10px;text-anchor:end;fill:#555}
.grid{stroke:#ddd;stroke-width:1}.v{font-size:9.5px;text-anchor:middle;fill:#222}.g{font-size:11px;text-anchor:middle}.n{font-size:10px;text-anchor:middle;fill:#a01010}.l{font-size:11px}
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="${LEFT}" y="20" class="t">${esc(c.title)}</text>
<text x="${LEFT}" y="36" class="s">${esc(c.subtitle)}</text>
${legend}
${panels.join('\n')}
</svg>
`;
}
