// Which upstream a request is for, and whether this sidecar may sign for it. Pure functions: the proxy
// calls them per request, the tests call them directly.

import { isIP } from 'node:net';
import { BadRequestError } from './errors.js';

export interface HostAllowlist {
  readonly patterns: readonly string[];
  allows(host: string): boolean;
}

const PATTERN = /^(\*|(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*)$/;

/**
 * `name` matches exactly; `*.suffix` matches any name under suffix, at any depth (Lattice-generated names
 * such as `svc-0123.7d67968.vpc-lattice-svcs.us-west-2.on.aws` have several labels under `on.aws`); `*`
 * matches everything. IP literals only match when listed exactly.
 */
export function compileAllowlist(patterns: readonly string[]): HostAllowlist {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  let any = false;
  for (const raw of patterns) {
    const p = raw.trim().toLowerCase().replace(/\.$/, '');
    if (p === '*') {
      any = true;
    } else if (isIP(p.replace(/^\[|\]$/g, '')) !== 0) {
      exact.add(p.replace(/^\[|\]$/g, ''));
    } else if (PATTERN.test(p)) {
      if (p.startsWith('*.')) suffixes.push(p.slice(1));
      else exact.add(p);
    } else {
      throw new Error(`"${raw}" is not a host pattern (use name, *.domain or *)`);
    }
  }
  return {
    patterns,
    allows(host: string): boolean {
      if (any || exact.has(host)) return true;
      if (isIP(host) !== 0) return false;
      for (let i = 0; i < suffixes.length; i++) {
        const s = suffixes[i]!;
        if (host.length > s.length && host.endsWith(s)) return true;
      }
      return false;
    },
  };
}

export interface Target {
  /** Lower-case host name (or IP literal, without brackets), without a trailing dot or port. */
  readonly host: string;
  /** Port dialled over TLS. */
  readonly port: number;
  /** Value of the Host header sent upstream (and signed): host, plus the port when it is not 443. */
  readonly authority: string;
  /** Origin-form path and query, exactly as received. */
  readonly path: string;
}

const HOSTNAME = /^[a-z0-9_]([a-z0-9_-]{0,62})?(\.[a-z0-9_]([a-z0-9_-]{0,62})?)*$/;

/** Parse `host[:port]` as received in a Host header or an absolute-form authority. */
export function parseAuthority(raw: string, upstreamPort: number): { host: string; port: number; authority: string } {
  if (raw === '') throw new BadRequestError('the Host header is empty');
  if (raw.includes('@')) throw new BadRequestError('the Host must not carry user information');
  let host: string;
  let portText: string | undefined;
  if (raw.charCodeAt(0) === 91 /* [ */) {
    const end = raw.indexOf(']');
    if (end < 0) throw new BadRequestError(`invalid Host "${raw}"`);
    host = raw.slice(1, end).toLowerCase();
    const rest = raw.slice(end + 1);
    if (rest !== '' && rest[0] !== ':') throw new BadRequestError(`invalid Host "${raw}"`);
    portText = rest === '' ? undefined : rest.slice(1);
    if (isIP(host) !== 6) throw new BadRequestError(`invalid IPv6 literal in Host "${raw}"`);
  } else {
    const colon = raw.indexOf(':');
    host = (colon < 0 ? raw : raw.slice(0, colon)).toLowerCase();
    portText = colon < 0 ? undefined : raw.slice(colon + 1);
    if (host.endsWith('.')) host = host.slice(0, -1);
    if (host.length > 253 || !HOSTNAME.test(host)) throw new BadRequestError(`invalid Host "${raw}"`);
  }
  let port = upstreamPort;
  // The app believes it is talking plain HTTP on port 80: that maps to the TLS port of the service, not to
  // port 80 over TLS. Any other explicit port is dialled as given.
  if (portText !== undefined && portText !== '' && portText !== '80') {
    if (!/^\d{1,5}$/.test(portText)) throw new BadRequestError(`invalid port in Host "${raw}"`);
    port = Number(portText);
    if (port < 1 || port > 65535) throw new BadRequestError(`invalid port in Host "${raw}"`);
  } else if (portText === '') {
    throw new BadRequestError(`invalid port in Host "${raw}"`);
  }
  const hostForHeader = isIP(host) === 6 ? `[${host}]` : host;
  return { host, port, authority: port === 443 ? hostForHeader : `${hostForHeader}:${port}` };
}

/**
 * The target of a request: origin-form (`GET /p` + Host, what the iptables capture delivers) or
 * absolute-form (`GET http://host/p`, when the sidecar is used as an explicit http_proxy; the Host header
 * is then ignored, RFC 9112 section 3.2.2).
 */
export function parseTarget(url: string, hostHeader: string | undefined, upstreamPort: number): Target {
  if (url.charCodeAt(0) === 47 /* / */) {
    if (hostHeader === undefined) throw new BadRequestError('the request has no Host header, so the target service is unknown');
    return { ...parseAuthority(hostHeader, upstreamPort), path: url };
  }
  const lower = url.slice(0, 8).toLowerCase();
  if (lower.startsWith('http://')) {
    const rest = url.slice(7);
    let end = rest.length;
    for (let i = 0; i < rest.length; i++) {
      const c = rest.charCodeAt(i);
      if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) {
        end = i;
        break;
      }
    }
    const authority = rest.slice(0, end);
    let path = rest.slice(end);
    if (path === '' || path.charCodeAt(0) === 35) path = '/';
    else if (path.charCodeAt(0) === 63) path = '/' + path;
    return { ...parseAuthority(authority, upstreamPort), path };
  }
  if (lower.startsWith('https://')) {
    throw new BadRequestError('send plain http:// requests: the sidecar adds TLS and the signature itself');
  }
  throw new BadRequestError(`unsupported request target "${url.length > 64 ? url.slice(0, 64) + '...' : url}"`);
}
