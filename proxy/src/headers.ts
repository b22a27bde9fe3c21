// Which request headers are forwarded, which are signed, and how repeated lines are joined; which response
// headers reach the app. Pure: the exchange passes the parsed names and values in and gets the lists out.

import { BadRequestError } from './errors.js';

// Hop-by-hop headers (RFC 9110 §7.6.1) and the proxy-* family are for this hop only: never signed, never
// forwarded. `expect` is answered by the sidecar itself (100-continue) and not re-sent; framing
// (content-length, transfer-encoding) is the engine's, written for the body it forwards.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings', 'expect']);
// Set by the signer; an app-provided copy would contradict the signature.
const SIGNER_OWNED = new Set(['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256']);

export interface HeaderPolicy {
  isUnsigned(name: string): boolean;
  readonly authorizationForwardHeader: string | undefined;
}

export function compileHeaderPolicy(unsignedHeaders: readonly string[], authorizationForwardHeader: string | undefined): HeaderPolicy {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const h of unsignedHeaders) {
    if (h.endsWith('*')) prefixes.push(h.slice(0, -1));
    else exact.add(h);
  }
  return {
    authorizationForwardHeader,
    isUnsigned(name: string): boolean {
      if (exact.has(name)) return true;
      for (let i = 0; i < prefixes.length; i++) if (name.startsWith(prefixes[i]!)) return true;
      return false;
    },
  };
}

export interface PreparedHeaders {
  /** The Host header as received (undefined when absent). */
  host: string | undefined;
  /** End-to-end headers to sign and forward: lower-case name, repeated lines joined with ",". */
  readonly signed: Array<[string, string]>;
  /** End-to-end headers forwarded without signing (the configured exclusions). */
  readonly unsigned: Array<[string, string]>;
}

function addOrJoin(list: Array<[string, string]>, name: string, value: string): void {
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    if (e[0] === name) {
      // SigV4 signs repeated headers as one comma-joined value; sending them joined the same way keeps what
      // is on the wire identical to what was signed.
      e[1] = e[1] + ',' + value;
      return;
    }
  }
  list.push([name, value]);
}

/**
 * Sort the app's headers into signed and unsigned lists. `names` are lower-case, `values` trimmed (the
 * parser's output); `connection` holds the Connection options, which are applied FIRST: a header the app
 * named hop-by-hop is gone before anything is renamed, so `Connection: authorization` cannot smuggle the
 * app's credential through under the forward name.
 */
export function prepareHeaders(names: readonly string[], values: readonly string[], connection: readonly string[], policy: HeaderPolicy): PreparedHeaders {
  let host: string | undefined;
  const signed: Array<[string, string]> = [];
  const unsigned: Array<[string, string]> = [];
  const forward = policy.authorizationForwardHeader;

  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (name === 'host') {
      if (host !== undefined) throw new BadRequestError('the request has more than one Host header');
      host = values[i]!;
      continue;
    }
    if (HOP_BY_HOP.has(name) || SIGNER_OWNED.has(name) || name.startsWith('proxy-')) continue;
    // A Connection option never removes what framing or routing depends on.
    if (connection.length > 0 && name !== 'content-length' && connection.includes(name)) continue;
    let outName = name;
    if (name === 'authorization') {
      // Lattice consumes Authorization itself; the app's own credential travels under another name.
      if (forward === undefined) continue;
      outName = forward;
    } else if (name === forward) {
      // Only the sidecar writes the forward header: an app-sent copy would be merged into (or stand in for)
      // the app's real Authorization.
      continue;
    }
    addOrJoin(policy.isUnsigned(outName) ? unsigned : signed, outName, values[i]!);
  }
  return { host, signed, unsigned };
}

// Response headers that describe the upstream connection, not the message, plus the framing the engine
// writes itself for the app.
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** A response header that does not travel on to the app (`connection` holds the response's Connection options). */
export function isResponseHopByHop(name: string, connection: readonly string[]): boolean {
  return RESPONSE_HOP_BY_HOP.has(name) || (connection.length > 0 && name !== 'content-length' && connection.includes(name));
}
