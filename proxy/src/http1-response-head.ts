// The response head parser for what Lattice answers. Less hostile than the app's side, but a proxy that
// misreads a response's framing splices one answer into another, so the same strictness applies: anything
// outside the subset below is a protocol error (502 ERR_UPSTREAM_PROTOCOL), never a guess. Proven against
// undici's llhttp by test/fuzz/differential, like the request parser.

import { COLON, CR, HTAB, latin1, LF, listMembers, REASON_CHAR, RESPONSE_VALUE_CHAR, SP, tabAfterMember, TCHAR, UPPER } from './http1-syntax.js';

export const enum ResponseBody {
  /** HEAD, 1xx, 204, 304: nothing follows the head. */
  None = 0,
  Length = 1,
  Chunked = 2,
  /** No length: the body runs until the upstream closes (RFC 9112 §6.3 rule 8). */
  UntilClose = 3,
}

export class ResponseProtocolError extends Error {
  readonly code = 'ERR_UPSTREAM_RESPONSE_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ResponseProtocolError';
  }
}

/** The upstream closed before its response was complete: a reset, as far as the app is concerned. */
export class UpstreamClosedError extends Error {
  readonly code = 'ERR_UPSTREAM_CLOSED';
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamClosedError';
  }
}

export class ResponseHead {
  status = 0;
  reason = '';
  minor = 1;
  /** Field names as received (case kept for the app) and lower-cased, and values, in order. */
  readonly rawNames: string[] = [];
  readonly names: string[] = [];
  readonly values: string[] = [];
  headBytes = 0;
  body: ResponseBody = ResponseBody.None;
  contentLength = 0;
  /** Connection options of the response, lower-case. */
  readonly connection: string[] = [];
  /** Seconds from `Keep-Alive: timeout=N`, or -1. */
  keepAliveTimeout = -1;

  reset(): void {
    this.rawNames.length = 0;
    this.names.length = 0;
    this.values.length = 0;
    this.connection.length = 0;
    this.contentLength = 0;
    this.keepAliveTimeout = -1;
    this.body = ResponseBody.None;
  }

  /** The upstream connection may carry another request after this response. */
  get reusable(): boolean {
    if (this.body === ResponseBody.UntilClose) return false;
    if (this.minor === 0) return this.connection.includes('keep-alive');
    return !this.connection.includes('close');
  }
}

function bad(message: string): never {
  throw new ResponseProtocolError(message);
}

/**
 * Parse `buf[start, end)`, exactly one response head ending in CRLF CRLF, into `head`. `headRequest`: the
 * request was HEAD (no body follows whatever the headers say).
 */
export function parseResponseHead(buf: Buffer, start: number, end: number, head: ResponseHead, headRequest: boolean, maxHeaders: number): void {
  head.reset();
  head.headBytes = end - start;
  // One native decode of the whole head; fields are slices of it (see http1-request-head.ts).
  const text = latin1(buf, start, end);
  let p = start;
  // status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF
  if (
    end - p < 14 ||
    buf[p] !== 0x48 || buf[p + 1] !== 0x54 || buf[p + 2] !== 0x54 || buf[p + 3] !== 0x50 || buf[p + 4] !== 0x2f ||
    buf[p + 5] !== 0x31 || buf[p + 6] !== 0x2e || (buf[p + 7] !== 0x31 && buf[p + 7] !== 0x30) || buf[p + 8] !== SP
  ) {
    bad('the status line does not start with HTTP/1.1 or HTTP/1.0');
  }
  head.minor = buf[p + 7] === 0x31 ? 1 : 0;
  p += 9;
  const d0 = buf[p]! - 0x30;
  const d1 = buf[p + 1]! - 0x30;
  const d2 = buf[p + 2]! - 0x30;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) bad('invalid status code');
  head.status = d0 * 100 + d1 * 10 + d2;
  p += 3;
  if (buf[p] === SP) {
    p++;
    const reasonStart = p;
    while (REASON_CHAR[buf[p]!] === 1) p++;
    head.reason = text.slice(reasonStart - start, p - start);
  } else {
    head.reason = '';
  }
  if (buf[p] !== CR || buf[p + 1] !== LF) bad('invalid byte in the status line');
  p += 2;

  let transferEncoding: string[] | undefined;
  let contentLength = -1;
  for (;;) {
    const c0 = buf[p]!;
    if (c0 === CR) {
      if (buf[p + 1] !== LF) bad('bare CR in the header block');
      p += 2;
      break;
    }
    if (c0 === SP || c0 === HTAB) bad('obsolete line folding in the response');
    const nameStart = p;
    let upper = false;
    while (p < end) {
      const c = buf[p]!;
      if (TCHAR[c] !== 1) break;
      if (UPPER[c] === 1) upper = true;
      p++;
    }
    if (p === nameStart || buf[p] !== COLON) bad('invalid header name in the response');
    const rawName = text.slice(nameStart - start, p - start);
    const name = upper ? rawName.toLowerCase() : rawName;
    p++;
    while (buf[p] === SP || buf[p] === HTAB) p++;
    const valueStart = p;
    let valueEnd = p;
    for (;;) {
      const c = buf[p]!;
      if (RESPONSE_VALUE_CHAR[c] === 1) {
        p++;
        if (c !== SP && c !== HTAB) valueEnd = p;
        continue;
      }
      if (c === CR && buf[p + 1] === LF) break;
      bad('invalid byte in a response header value');
    }
    const value = text.slice(valueStart - start, valueEnd - start);
    p += 2;
    if (head.names.length >= maxHeaders) bad(`more than ${maxHeaders} response header lines`);
    head.rawNames.push(rawName);
    head.names.push(name);
    head.values.push(value);
    switch (name) {
      case 'content-length': {
        if (contentLength >= 0) bad('more than one Content-Length in the response');
        if (tabAfterMember(buf, valueStart, p - 2)) bad('invalid Content-Length in the response (a tab after the number)');
        if (value.length === 0 || value.length > 15) bad('invalid Content-Length in the response');
        let n = 0;
        for (let i = 0; i < value.length; i++) {
          const d = value.charCodeAt(i) - 0x30;
          if (d < 0 || d > 9) bad('invalid Content-Length in the response');
          n = n * 10 + d;
        }
        contentLength = n;
        break;
      }
      case 'transfer-encoding':
        listMembers(value, (transferEncoding ??= []));
        if (tabAfterMember(buf, valueStart, p - 2) || value.endsWith(',')) bad('response Transfer-Encoding has a tab after a member or ends in an empty member, which llhttp does not read as chunked');
        break;
      case 'connection':
        if (tabAfterMember(buf, valueStart, p - 2)) bad('a tab after a Connection option in the response, which llhttp does not read as that option');
        listMembers(value, head.connection);
        break;
      case 'keep-alive': {
        const m = /(?:^|[\s,;])timeout\s*=\s*(\d{1,6})/i.exec(value);
        if (m) head.keepAliveTimeout = Number(m[1]);
        break;
      }
    }
  }
  if (p !== end) bad('bytes after the end of the response header block');

  // RFC 9112 §6.3, in its order.
  const s = head.status;
  // Refused even where no body follows (HEAD, 1xx, 204, 304), as llhttp does: the pair is never a valid message.
  if (transferEncoding !== undefined && contentLength >= 0) bad('both Content-Length and Transfer-Encoding in the response');
  if (headRequest || s < 200 || s === 204 || s === 304) {
    head.body = ResponseBody.None;
    return;
  }
  if (transferEncoding !== undefined) {
    if (contentLength >= 0) bad('both Content-Length and Transfer-Encoding in the response');
    const chunkedCount = transferEncoding.filter((t) => t === 'chunked').length;
    if (transferEncoding[transferEncoding.length - 1] === 'chunked' && chunkedCount === 1 && transferEncoding.length === 1) {
      head.body = ResponseBody.Chunked;
    } else {
      // Other codings would reach the app de-chunked yet still labelled: this proxy relays identity or
      // chunked framing only.
      bad(`unsupported response Transfer-Encoding "${transferEncoding.join(', ')}"`);
    }
    return;
  }
  if (contentLength >= 0) {
    head.contentLength = contentLength;
    head.body = contentLength === 0 ? ResponseBody.None : ResponseBody.Length;
    return;
  }
  head.body = ResponseBody.UntilClose;
}
