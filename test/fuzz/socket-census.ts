// What the proxy process holds open, by role: its listeners, the app's connections to it, its pooled
// connections to the upstream, and anything else. A leak judge needs roles, not a total: the upstream pool
// keeps connections for UPSTREAM_KEEPALIVE_TIMEOUT_MS (50 s), so a burst of overlapping requests raises the
// total for a minute without leaking anything, while a socket the proxy forgot stays past every bound.
// Linux /proc only: the fd table gives the socket inodes, /proc/<pid>/net/tcp{,6} what each one is.

import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export interface SocketCensus {
  readonly total: number;
  /** Open fds that are not sockets (files, pipes, epoll, eventfd): flat once the process is warm. */
  readonly nonSocket: number;
  readonly listening: number;
  /** Connections accepted on the proxy's own port (the app's side). */
  readonly app: number;
  /** Connections to the upstream's port. */
  readonly upstream: number;
  /** Sockets whose peer has closed and the proxy has not: a missed 'end' leaves them here for good. */
  readonly closeWait: number;
  /** Everything else (admin scrapes, credential and CA fetches, sockets not in the TCP tables). */
  readonly other: number;
}

const LISTEN = '0A';
const CLOSE_WAIT = '08';

interface TcpEntry {
  readonly localPort: number;
  readonly remotePort: number;
  readonly state: string;
}

/** Parse /proc/net/tcp or tcp6 text into inode → entry. */
export function parseProcNetTcp(text: string, into: Map<string, TcpEntry> = new Map()): Map<string, TcpEntry> {
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/);
    if (f.length < 10) continue;
    const inode = f[9]!;
    if (inode === '0') continue;
    into.set(inode, {
      localPort: parseInt(f[1]!.slice(f[1]!.lastIndexOf(':') + 1), 16),
      remotePort: parseInt(f[2]!.slice(f[2]!.lastIndexOf(':') + 1), 16),
      state: f[3]!,
    });
  }
  return into;
}

/** What each open fd of a process points at (`socket:[inode]`, `pipe:[…]`, a path), from /proc/<pid>/fd. */
export function fdTargets(pid: number): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed between readdir and readlink
    }
  }
  return out;
}

export function socketCensus(pid: number, ports: { app: number; upstream: number }): SocketCensus {
  const targets = fdTargets(pid);
  const total = targets.length;
  const inodes: string[] = [];
  for (const target of targets) {
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.push(m[1]!);
  }
  const tcp = new Map<string, TcpEntry>();
  for (const table of ['tcp', 'tcp6']) {
    try {
      parseProcNetTcp(readFileSync(`/proc/${pid}/net/${table}`, 'utf8'), tcp);
    } catch {
      // no IPv6 in this namespace
    }
  }
  let listening = 0;
  let app = 0;
  let upstream = 0;
  let closeWait = 0;
  let other = 0;
  for (const inode of inodes) {
    const e = tcp.get(inode);
    if (e === undefined) other++;
    else if (e.state === LISTEN) listening++;
    else {
      if (e.state === CLOSE_WAIT) closeWait++;
      if (e.localPort === ports.app) app++;
      else if (e.remotePort === ports.upstream) upstream++;
      else other++;
    }
  }
  return { total, nonSocket: total - inodes.length, listening, app, upstream, closeWait, other };
}

export interface CensusBounds {
  /** Keep-alive connections the app holds to the proxy. */
  readonly appConnections: number;
  /** Distinct upstream origins the load reaches: the pool holds at most appConnections idle sockets for each. */
  readonly upstreamOrigins: number;
}

/**
 * Leak verdicts over a run's censuses (taken once a second, in order). The bounds are structural, not fitted:
 * the app cannot hold more than its connections, and the pool never opens a connection while one to the same
 * origin is idle, so it holds at most one per concurrent request per origin. A leak of one socket in a thousand
 * requests crosses them within seconds at soak rates, and non-socket fds must not climb at all once warm.
 */
export function judgeCensus(samples: readonly SocketCensus[], bounds: CensusBounds): string[] {
  const reasons: string[] = [];
  if (samples.length < 4) return [`only ${samples.length} socket censuses taken`];
  // Transient slack: a closing socket can still be in the fd table for one sample.
  const appMax = bounds.appConnections + 2;
  const upstreamMax = bounds.appConnections * bounds.upstreamOrigins + 2;
  const otherMax = 6;
  const worst = (k: keyof SocketCensus): number => Math.max(...samples.map((s) => s[k]));
  if (worst('app') > appMax) reasons.push(`app-side sockets reached ${worst('app')}, past the ${bounds.appConnections} connections the app holds (+2)`);
  if (worst('upstream') > upstreamMax)
    reasons.push(`upstream sockets reached ${worst('upstream')}, past the pool's bound ${bounds.appConnections} x ${bounds.upstreamOrigins} origins (+2)`);
  if (worst('other') > otherMax) reasons.push(`other sockets reached ${worst('other')} (limit ${otherMax})`);
  const half = Math.floor(samples.length / 2);
  const firstHalfMax = Math.max(...samples.slice(0, half).map((s) => s.nonSocket));
  const last = samples[samples.length - 1]!;
  if (last.nonSocket > firstHalfMax) reasons.push(`non-socket fds rose to ${last.nonSocket}, past the first half's maximum ${firstHalfMax}`);
  // A socket in CLOSE_WAIT in three consecutive censuses is one the proxy is not going to close.
  for (let i = 2; i < samples.length; i++) {
    if (samples[i]!.closeWait > 0 && samples[i - 1]!.closeWait > 0 && samples[i - 2]!.closeWait > 0) {
      reasons.push(`${samples[i]!.closeWait} sockets stayed in CLOSE_WAIT for three censuses (peer closed, proxy did not)`);
      break;
    }
  }
  return reasons;
}
