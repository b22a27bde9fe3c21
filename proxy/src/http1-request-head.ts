// The request head parser: the app's bytes are untrusted, so this accepts a strict subset of RFC 9112 and
// refuses everything else with a named error. The subset is proven, not assumed: test/fuzz/differential
// feeds hundreds of thousands of generated and mutated requests to this parser and to node:http's llhttp,
// and fails when this one accepts something llhttp does not, or reads it differently (method, target,
// header list, body bytes).
//
// What is refused, and why it matters for a signing proxy (each is a known request-smuggling or
// mis-signing shape): bare CR or LF, obs-fold, white space before the colon, control bytes and C1 bytes in
// values, more than one Content-Length, Content-Length with Transfer-Encoding, Transfer-Encoding on HTTP/1.0,
// any transfer coding but a single final `chunked`, a fragment in the target, raw bytes >= 0x80 in the target.

import { METHODS } from 'node:http';
import { BadRequestError, HeadersTooLargeError, UnsupportedTransferCodingError } from './errors.js';
import { COLON, CR, HTAB, latin1, LF, listMembers, REQUEST_VALUE_CHAR, SP, tabAfterMember, TARGET_CHAR, TCHAR, UPPER } from './http1-syntax.js';

/** llhttp's method list (node:http's METHODS): a method llhttp does not know is never accepted here. */
const KNOWN_METHODS = new Set(METHODS);

export const enum BodyKind {
  None = 0,
  Length = 1,
  Chunked = 2,
}


/**
 * One parsed request head. An app connection owns one and the parser refills it for each request, so the
 * header arrays are reused rather than allocated per request.
 */
export class RequestHead {
  method = '';
  target = '';
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor = 1;
  /** Field names, lower-case, in arrival order. */
  readonly names: string[] = [];
  /** Field values, leading and trailing white space removed, in arrival order. */
  readonly values: string[] = [];
  /** Bytes of the head, request line to the empty line inclusive. */
  headBytes = 0;
  bodyKind: BodyKind = BodyKind.None;
  /** Body length for BodyKind.Length (the normalised Content-Length). */
  contentLength = 0;
  /** Index into names/values of the Content-Length field, or -1. */
  contentLengthIndex = -1;
  /** Connection options (lower-case), `close`/`keep-alive` included. */
  readonly connection: string[] = [];
  /** Expect: 100-continue was sent. */
  expectContinue = false;
  /** An Upgrade field was sent. */
  upgrade = false;

  reset(): void {
    this.names.length = 0;
    this.values.length = 0;
    this.connection.length = 0;
    this.contentLengthIndex = -1;
    this.contentLength = 0;
    this.bodyKind = BodyKind.None;
    this.expectContinue = false;
    this.upgrade = false;
  }

  /** The connection is to close after this exchange (RFC 9112 §9.3). */
  get wantsClose(): boolean {
    if (this.minor === 0) return !this.connection.includes('keep-alive');
    return this.connection.includes('close');
  }
}

const CONTENT_LENGTH_MAX_DIGITS = 15; // < 2^53: the length stays an exact JS number

function bad(message: string): never {
  throw new BadRequestError('malformed HTTP request: ' + message);
}

function describeByte(c: number): string {
  return '0x' + c.toString(16).padStart(2, '0');
}

/** Bytes of an authority in absolute-form that llhttp's URL parser takes: alnum and !$%&'()*+,-.:;=@[]_~. */
const AUTHORITY_CHAR = (() => {
  const t = new Uint8Array(256);
  for (const c of "!$%&'()*+,-.:;=@[]_~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") t[c.charCodeAt(0)] = 1;
  return t;
})();

/**
 * origin-form (`/...`), asterisk-form (`*`) or absolute-form (`scheme://authority[/...|?...]`, an alphabetic
 * scheme): RFC 9112 §3.2 within llhttp's grammar, which refuses `a`, `?x`, `http:/a` and `http://{/`.
 * authority-form is CONNECT's, refused by the app connection.
 */
function targetForm(buf: Buffer, start: number, end: number): boolean {
  const c0 = buf[start]!;
  if (c0 === 0x2f /* / */) return true;
  if (c0 === 0x2a /* * */) return end - start === 1;
  let p = start;
  while (p < end && (buf[p]! | 0x20) >= 0x61 && (buf[p]! | 0x20) <= 0x7a) p++;
  if (p === start || end - p < 3 || buf[p] !== COLON || buf[p + 1] !== 0x2f || buf[p + 2] !== 0x2f) return false;
  p += 3;
  while (p < end && AUTHORITY_CHAR[buf[p]!] === 1) p++;
  return p === end || buf[p] === 0x2f || buf[p] === 0x3f /* ? */;
}

/**
 * Parse `buf[start, end)`, which holds exactly one head ending in CRLF CRLF (the caller found it), into
 * `head`. Throws BadRequestError, HeadersTooLargeError or UnsupportedTransferCodingError.
 */
export function parseRequestHead(buf: Buffer, start: number, end: number, head: RequestHead, maxHeaders: number): void {
  head.reset();
  head.headBytes = end - start;
  // One native decode of the whole head; names and values are then slices of it (pure JS, no call into
  // C++ per field: a per-field latin1Slice was a third of the parser's time, measured).
  const text = latin1(buf, start, end);
  let p = start;

  // --- request-line = method SP request-target SP HTTP-version CRLF
  while (p < end && TCHAR[buf[p]!] === 1) p++;
  if (p === start || buf[p] !== SP) bad(p === start ? 'the request line does not start with a method' : `invalid byte ${describeByte(buf[p]!)} in the method`);
  const method = text.slice(0, p - start);
  if (!KNOWN_METHODS.has(method)) bad(`unknown method "${method.length > 32 ? method.slice(0, 32) + '...' : method}"`);
  head.method = method;
  const targetStart = ++p;
  let fragment = false;
  while (p < end) {
    const c = buf[p]!;
    if (TARGET_CHAR[c] !== 1) break;
    if (c === 0x23 /* # */) fragment = true;
    p++;
  }
  if (p === targetStart) bad('the request line has no target');
  if (buf[p] !== SP) bad(`invalid byte ${describeByte(buf[p]!)} in the request target`);
  // A request-target has no fragment (RFC 9112 §3.2); forwarding it would sign `%23...` as part of the path.
  if (fragment) bad('the request target has a fragment (#...); a request-target never carries one');
  if (method !== 'CONNECT' && !targetForm(buf, targetStart, p)) bad('the request target is not in origin-form (/...), absolute-form (scheme://...) or asterisk-form (*)');
  head.target = text.slice(targetStart - start, p - start);
  p++;
  // "HTTP/1.1" or "HTTP/1.0", exactly, then CRLF.
  if (
    end - p < 10 ||
    buf[p] !== 0x48 || buf[p + 1] !== 0x54 || buf[p + 2] !== 0x54 || buf[p + 3] !== 0x50 || buf[p + 4] !== 0x2f ||
    buf[p + 5] !== 0x31 || buf[p + 6] !== 0x2e || (buf[p + 7] !== 0x31 && buf[p + 7] !== 0x30) || buf[p + 8] !== CR || buf[p + 9] !== LF
  ) {
    bad('the request line does not end in HTTP/1.1 or HTTP/1.0');
  }
  head.minor = buf[p + 7] === 0x31 ? 1 : 0;
  p += 10;

  // --- *( field-line CRLF ) CRLF
  const names = head.names;
  const values = head.values;
  let transferEncoding: string[] | undefined;
  let contentLengthSeen = false;
  for (;;) {
    const c0 = buf[p]!;
    if (c0 === CR) {
      if (buf[p + 1] !== LF) bad('bare CR in the header block');
      p += 2;
      break;
    }
    if (c0 === SP || c0 === HTAB) bad('obsolete line folding (a header line starting with white space) is not accepted');
    const nameStart = p;
    let upper = false;
    while (p < end) {
      const c = buf[p]!;
      if (TCHAR[c] !== 1) break;
      if (UPPER[c] === 1) upper = true;
      p++;
    }
    if (buf[p] !== COLON) {
      const c = buf[p]!;
      if (p === nameStart) bad(`invalid byte ${describeByte(c)} at the start of a header line`);
      bad(c === SP || c === HTAB ? 'white space between a header name and its colon' : `invalid byte ${describeByte(c)} in a header name`);
    }
    if (p === nameStart) bad('a header line has an empty name');
    let name = text.slice(nameStart - start, p - start);
    if (upper) name = name.toLowerCase();
    p++;
    while (buf[p] === SP || buf[p] === HTAB) p++;
    const valueStart = p;
    let valueEnd = p;
    for (;;) {
      const c = buf[p]!;
      if (REQUEST_VALUE_CHAR[c] === 1) {
        p++;
        if (c !== SP && c !== HTAB) valueEnd = p;
        continue;
      }
      if (c === CR && buf[p + 1] === LF) break;
      if (c === CR) bad('bare CR in a header value');
      if (c === LF) bad('bare LF in a header line (lines end in CRLF)');
      bad(`invalid byte ${describeByte(c)} in the value of header "${name}"`);
    }
    const value = text.slice(valueStart - start, valueEnd - start);
    p += 2;
    if (names.length >= maxHeaders) throw new HeadersTooLargeError(`more than ${maxHeaders} header lines`);
    names.push(name);
    values.push(value);

    // Framing and connection semantics, decided here once (RFC 9112 §6).
    switch (name) {
      case 'content-length': {
        if (contentLengthSeen) bad('more than one Content-Length');
        if (tabAfterMember(buf, valueStart, p - 2)) bad(`invalid Content-Length "${value}" (a tab after the number)`);
        contentLengthSeen = true;
        if (value.length === 0 || value.length > CONTENT_LENGTH_MAX_DIGITS + 8) bad(`invalid Content-Length "${value}"`);
        let n = 0;
        let digits = 0;
        for (let i = 0; i < value.length; i++) {
          const d = value.charCodeAt(i) - 0x30;
          if (d < 0 || d > 9) bad(`invalid Content-Length "${value}"`);
          if (n !== 0 || d !== 0) digits++;
          n = n * 10 + d;
        }
        if (digits > CONTENT_LENGTH_MAX_DIGITS) bad(`Content-Length ${value} is too large`);
        head.contentLength = n;
        head.contentLengthIndex = names.length - 1;
        // Leading zeros are legal but would be signed as written and sent as the number: normalise once, so
        // the value signed is the value on the wire.
        if (value.length > 1 && value.charCodeAt(0) === 0x30) values[names.length - 1] = String(n);
        break;
      }
      case 'transfer-encoding':
        listMembers(value, (transferEncoding ??= []));
        if (value === '') bad('empty Transfer-Encoding');
        if (tabAfterMember(buf, valueStart, p - 2) || value.endsWith(',')) bad('Transfer-Encoding has a tab after a member or ends in an empty member, which llhttp does not read as chunked');
        break;
      case 'connection':
        if (tabAfterMember(buf, valueStart, p - 2)) bad('a tab after a Connection option, which llhttp does not read as that option');
        listMembers(value, head.connection);
        break;
      case 'expect':
        if (value.toLowerCase() === '100-continue') head.expectContinue = true;
        break;
      case 'upgrade':
        head.upgrade = true;
        break;
    }
  }
  if (p !== end) bad('bytes after the end of the header block');

  if (transferEncoding !== undefined) {
    // RFC 9112 §6.1: Transfer-Encoding on HTTP/1.0 means faulty framing; with Content-Length it is the classic
    // smuggling shape. Both refused, never "fixed".
    if (head.minor === 0) bad('Transfer-Encoding on an HTTP/1.0 request');
    if (contentLengthSeen) bad('both Content-Length and Transfer-Encoding');
    const last = transferEncoding[transferEncoding.length - 1];
    let chunked = 0;
    for (const t of transferEncoding) if (t === 'chunked') chunked++;
    if (last !== 'chunked' || chunked > 1) {
      bad(last !== 'chunked' ? 'Transfer-Encoding does not end in chunked, so the body length is unknown' : 'chunked applied more than once');
    }
    // A coding before chunked (gzip, chunked): de-chunking would forward the body without its coding.
    if (transferEncoding.length > 1) throw new UnsupportedTransferCodingError(transferEncoding.join(', '));
    head.bodyKind = BodyKind.Chunked;
  } else if (contentLengthSeen && head.contentLength > 0) {
    head.bodyKind = BodyKind.Length;
  }
}
