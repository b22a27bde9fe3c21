// Where a request goes and whether this sidecar may sign for it, remembered per distinct Host value. A pod
// talks to a handful of hosts, yet parsing the Host header and the allowlist's IP-literal checks cost ~3 µs
// per request (bench/README.md): both are memoised, bounded so that a client cycling through Host values
// cannot grow them.

import type { HostAllowlist } from './hosts.js';
import { parseAuthority, parseTarget, type Target } from './hosts.js';
import { ownString } from './own-string.js';

const MEMO_LIMIT = 1024;


interface Authority {
  readonly host: string;
  readonly port: number;
  readonly authority: string;
  readonly allowed: boolean;
  /** The pool key: one keep-alive pool per dialled host and port. */
  readonly origin: string;
}

export interface ResolvedTarget extends Target {
  readonly allowed: boolean;
  readonly origin: string;
}

export class TargetCache {
  readonly #authorities = new Map<string, Authority>();
  readonly #allowlist: HostAllowlist;
  readonly #upstreamPort: number;

  constructor(allowlist: HostAllowlist, upstreamPort: number) {
    this.#allowlist = allowlist;
    this.#upstreamPort = upstreamPort;
  }

  /** Throws BadRequestError for a target or Host the proxy cannot route. */
  resolve(url: string, hostHeader: string | undefined): ResolvedTarget {
    if (url.charCodeAt(0) === 47 /* / */ && hostHeader !== undefined) {
      const a = this.#authority(hostHeader);
      return { host: a.host, port: a.port, authority: a.authority, path: url, allowed: a.allowed, origin: a.origin };
    }
    const t = parseTarget(url, hostHeader, this.#upstreamPort);
    return { ...t, allowed: this.#allowlist.allows(t.host), origin: t.host + ':' + t.port };
  }

  #authority(hostHeader: string): Authority {
    let a = this.#authorities.get(hostHeader);
    if (a === undefined) {
      // Only on a miss: what is remembered (the key, and the fields parsed from it) must own its memory.
      const key = ownString(hostHeader);
      const p = parseAuthority(key, this.#upstreamPort);
      a = { ...p, allowed: this.#allowlist.allows(p.host), origin: p.host + ':' + p.port };
      if (this.#authorities.size >= MEMO_LIMIT) this.#authorities.clear();
      this.#authorities.set(key, a);
    }
    return a;
  }
}
