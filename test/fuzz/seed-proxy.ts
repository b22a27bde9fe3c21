// The built proxy wired to the seed world the way the Kyverno policy wires it in a pod (CA_ARN, APP_DOMAIN,
// Pod Identity), with every upstream dialled to the Lattice emulator. Shared by the adversarial, fault,
// secret-scan and soak runs so they all attack the same configuration.

import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { SeedWorld } from '../emulators/scenario.js';
import { seedProxyEnv, startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { fdTargets } from './socket-census.js';

export type Caller = 'cluster1' | 'cluster2';

/**
 * For the runs that judge memory (adversarial, soak). The pod's memory limit (charts/platform: 256 Mi) caps
 * V8's heap in the container; on this unconstrained host V8 would instead let the old generation grow for
 * minutes before its first major collection, which looks exactly like a leak in a short run. Half the pod
 * limit for the old generation, as Node sizes it in a cgroup.
 */
export const DEFAULT_NODE_OPTIONS = '--max-old-space-size=128';

export { seedProxyEnv };

export function startSeedProxy(
  world: SeedWorld,
  caller: Caller = 'cluster1',
  extra: Record<string, string | undefined> = {},
  opts: { waitReady?: boolean; readyTimeoutMs?: number } = {},
): Promise<ProxyProcess> {
  return startProxy(seedProxyEnv(world, caller, extra), opts);
}

/** Resident set size of a process, in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Open file descriptors of a process: all of them, and how many are sockets. */
export function fdCounts(pid: number): { total: number; sockets: number } {
  const targets = fdTargets(pid);
  let sockets = 0;
  for (const t of targets) if (t.startsWith('socket:')) sockets++;
  return { total: targets.length, sockets };
}

/** Value of one Prometheus sample (`name{labels}` exactly as exposed), or undefined when absent. */
export function metricValue(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(sample + ' ')) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `check` until it returns a value (not undefined) or the time is up. */
export async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms${lastErr ? ` (${(lastErr as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

export interface AppResponse {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  /** The response ended early (connection cut after the status line). */
  truncated: boolean;
}

/** What the app does after the iptables capture: plain HTTP to the proxy with the service's Host. */
export function appRequest(port: number, host: string, path = '/', opts: { method?: string; body?: string | Buffer } = {}): Promise<AppResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: { host }, agent: false }, (res) => {
      let body = '';
      let ended = false;
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        ended = true;
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers, truncated: false });
      });
      res.on('error', () => undefined); // "aborted": reported through `truncated` below
      res.on('close', () => {
        if (!ended) resolve({ status: res.statusCode ?? 0, body, headers: res.headers, truncated: true });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
