// The request as it leaves for Lattice: the app's end-to-end headers, the Host, the SigV4 headers and the
// framing, in one head string built once and signed once. What is signed is exactly what is written: the
// values are the parser's (trimmed, repeated lines joined, Content-Length normalised), and nothing is
// added to the head after signing but the Authorization itself and unsigned lines.

import { SigningError } from './errors.js';
import type { PreparedHeaders } from './headers.js';
import type { Credentials } from './signer.js';

/** SigV4 or SigV4A: both sign a request the same way (proxy/src/signer.ts, proxy/src/sigv4a.ts). */
export interface RequestSigner {
  sign(method: string, path: string, headers: Array<[string, string]>, creds: Credentials, nowMs: number): { readonly authorization: string };
}

/** Methods whose requests carry content (RFC 9110 §9.3): sent with `content-length: 0` when empty, as clients do. */
const CONTENT_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Bytes allowed in a header value we write from credentials: visible ASCII (keys and tokens are base64-ish). */
function isHeaderSafe(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/**
 * Credentials are checked once per credentials object: an access key id or session token with a byte that
 * cannot go into a header would otherwise become a header injection, or a request Lattice cannot read.
 */
export class CredentialCheck {
  #last: Credentials | undefined;
  #ok = false;

  check(creds: Credentials): void {
    if (creds !== this.#last) {
      this.#last = creds;
      this.#ok = isHeaderSafe(creds.accessKeyId) && (creds.sessionToken === undefined || creds.sessionToken === '' || isHeaderSafe(creds.sessionToken));
    }
    if (!this.#ok) throw new SigningError(new Error('the access key id or session token holds bytes that cannot be sent in a header'));
  }
}

export const enum RequestFraming {
  None = 0,
  Length = 1,
  Chunked = 2,
}

/**
 * Sign: `prepared.signed` gets the host (and `content-length: 0` for an empty POST/PUT/PATCH) and the
 * x-amz-* headers pushed in; the signer sorts it. Returns the Authorization value.
 */
export function signRequest(
  method: string,
  path: string,
  authority: string,
  prepared: PreparedHeaders,
  addEmptyContentLength: boolean,
  signer: RequestSigner,
  creds: Credentials,
  nowMs: number,
): string {
  const signed = prepared.signed;
  signed.push(['host', authority]);
  if (addEmptyContentLength && CONTENT_METHODS.has(method)) signed.push(['content-length', '0']);
  try {
    return signer.sign(method, path, signed, creds, nowMs).authorization;
  } catch (err) {
    throw new SigningError(err);
  }
}

/** The HTTP/1.1 head for a signed request: one string, ending in the empty line. */
export function http1RequestHead(method: string, path: string, authorization: string, prepared: PreparedHeaders, framing: RequestFraming): string {
  // Authorization first: a hop that truncates a long header list then drops app headers (the signature fails
  // to verify) and never the signature itself, which would turn the request into an anonymous one.
  let head = method + ' ' + path + ' HTTP/1.1\r\nauthorization: ' + authorization + '\r\n';
  const signed = prepared.signed;
  for (let i = 0; i < signed.length; i++) head += signed[i]![0] + ': ' + signed[i]![1] + '\r\n';
  const unsigned = prepared.unsigned;
  for (let i = 0; i < unsigned.length; i++) head += unsigned[i]![0] + ': ' + unsigned[i]![1] + '\r\n';
  if (framing === RequestFraming.Chunked) head += 'transfer-encoding: chunked\r\n';
  return head + '\r\n';
}

/**
 * The HTTP/2 header block for a signed request: the signed `host` travels as `:authority` (the same value,
 * without a default port, as Lattice requires), pseudo-headers are never signed, nothing else changes.
 */
export function http2RequestHeaders(method: string, path: string, authorization: string, prepared: PreparedHeaders): Record<string, string> {
  const out: Record<string, string> = { ':method': method, ':path': path, ':scheme': 'https', ':authority': '', authorization };
  const signed = prepared.signed;
  for (let i = 0; i < signed.length; i++) {
    const [name, value] = signed[i]!;
    if (name === 'host') out[':authority'] = value;
    else out[name] = value;
  }
  const unsigned = prepared.unsigned;
  for (let i = 0; i < unsigned.length; i++) out[unsigned[i]![0]] = unsigned[i]![1];
  return out;
}
