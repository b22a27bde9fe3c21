// Which request headers are forwarded, which are signed, and how repeated lines are joined. Pure: the
// proxy passes `req.rawHeaders` in and gets the two lists out.

import { BadRequestError } from './errors.js';

// Hop-by-hop headers (RFC 9110 section 7.6.1) and the proxy-* family are for this hop only: never signed,
// never forwarded. `expect` is answered by Node's server itself (100-continue) and not re-sent.
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
  readonly host: string | undefined;
  /** End-to-end headers to sign and forward: lower-case name, repeated lines joined with ",". */
  readonly signed: Array<[string, string]>;
  /** End-to-end headers forwarded without signing (the configured exclusions). */
  readonly unsigned: Array<[string, string]>;
  /** Whether the request carries a body (Content-Length > 0 or Transfer-Encoding). */
  readonly hasBody: boolean;
}

function addOrJoin(list: Array<[string, string]>, name: string, value: string): void {
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    if (e[0] === name) {
      // SigV4 signs repeated headers as one comma-joined value; sending them joined the same way keeps
      // what is on the wire identical to what was signed.
      e[1] = e[1] + ',' + value.trim();
      return;
    }
  }
  list.push([name, value.trim()]);
}

export function prepareHeaders(rawHeaders: readonly string[], policy: HeaderPolicy): PreparedHeaders {
  let host: string | undefined;
  let hasBody = false;
  let connectionTokens: string[] | undefined;
  const signed: Array<[string, string]> = [];
  const unsigned: Array<[string, string]> = [];

  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (name === 'host') {
      if (host !== undefined) throw new BadRequestError('the request has more than one Host header');
      host = value.trim();
      continue;
    }
    if (name === 'content-length') {
      // Without a body, framing is undici's: it drops `content-length: 0` for GET/HEAD/OPTIONS/DELETE
      // (RFC 9110 8.6) and adds it for POST/PUT. Signed, it would be a signed header that never arrives.
      if (Number(value) === 0) continue; // Node has already refused anything but digits ("00" is zero too)
      hasBody = true;
    } else if (name === 'transfer-encoding') {
      hasBody = true;
      continue;
    } else if (name === 'connection') {
      for (const t of value.split(',')) {
        const tok = t.trim().toLowerCase();
        if (tok !== '' && tok !== 'close' && tok !== 'keep-alive') (connectionTokens ??= []).push(tok);
      }
      continue;
    } else if (HOP_BY_HOP.has(name) || name.startsWith('proxy-') || SIGNER_OWNED.has(name)) {
      continue;
    }

    let outName = name;
    if (name === 'authorization') {
      // Lattice consumes Authorization itself; the app's own credential travels under another name.
      if (policy.authorizationForwardHeader === undefined) continue;
      outName = policy.authorizationForwardHeader;
    }
    addOrJoin(policy.isUnsigned(outName) ? unsigned : signed, outName, value);
  }

  if (connectionTokens !== undefined) {
    // Headers named in Connection are hop-by-hop for this message (RFC 9110 section 7.6.1).
    for (const tok of connectionTokens) {
      if (tok === 'host' || tok === 'content-length') continue;
      removeName(signed, tok);
      removeName(unsigned, tok);
    }
  }
  return { host, signed, unsigned, hasBody };
}

function removeName(list: Array<[string, string]>, name: string): void {
  for (let i = list.length - 1; i >= 0; i--) if (list[i]![0] === name) list.splice(i, 1);
}

// Response headers that describe the upstream connection, not the message.
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** Turn undici's raw response headers into the flat [name, value, ...] list Node's writeHead takes. */
export function responseHeaders(raw: readonly Buffer[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    if (RESPONSE_HOP_BY_HOP.has(name.toLowerCase())) continue;
    out.push(name, raw[i + 1]!.toString('latin1'));
  }
  return out;
}
