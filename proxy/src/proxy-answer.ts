// The bytes of every answer the sidecar makes itself (as opposed to relaying Lattice's): one function, fed
// by the one mapping in errors.ts, so status, code header and body never drift apart between call sites.

import { STATUS_CODES } from 'node:http';
import { errorResponse, ProxyError, type ErrorResponse } from './errors.js';
import type { RejectReason } from './metrics.js';

/** Rejection reasons for the metric, by error code. */
const REJECT_REASON: Partial<Record<string, RejectReason>> = {
  ERR_TARGET_NOT_ALLOWED: 'not_allowed',
  ERR_BAD_REQUEST: 'bad_request',
  ERR_HEADERS_TOO_LARGE: 'bad_request',
  ERR_REQUEST_TIMEOUT: 'bad_request',
  ERR_UNSUPPORTED_TRANSFER_CODING: 'bad_request',
  ERR_METHOD_NOT_ALLOWED: 'method',
  ERR_UPGRADE_NOT_SUPPORTED: 'method',
  ERR_SHUTTING_DOWN: 'shutting_down',
};

export function rejectReason(code: string): RejectReason | undefined {
  return REJECT_REASON[code];
}

/**
 * Answers after which the connection's framing cannot be trusted, or whose request was not read to its end:
 * nothing more is read from the connection (RFC 9112 §9.6 for the 400s).
 */
export function closesConnection(err: unknown): boolean {
  if (!(err instanceof ProxyError)) return true;
  switch (err.code) {
    case 'ERR_BAD_REQUEST':
    case 'ERR_HEADERS_TOO_LARGE':
    case 'ERR_REQUEST_TIMEOUT':
    case 'ERR_UNSUPPORTED_TRANSFER_CODING':
    case 'ERR_METHOD_NOT_ALLOWED':
    case 'ERR_UPGRADE_NOT_SUPPORTED':
    case 'ERR_SHUTTING_DOWN':
      return true;
    default:
      return false;
  }
}

export interface Answer extends ErrorResponse {
  /** Status line, headers and body, ready for the socket. */
  readonly bytes: string;
}

export function answerFor(err: unknown, close: boolean, headRequest: boolean): Answer {
  const r = errorResponse(err);
  const length = Buffer.byteLength(r.body);
  const head =
    'HTTP/1.1 ' + r.status + ' ' + (STATUS_CODES[r.status] ?? 'Error') + '\r\n' +
    'content-type: text/plain; charset=utf-8\r\n' +
    'content-length: ' + length + '\r\n' +
    'x-lattice-proxy-error: ' + r.code + '\r\n' +
    (close ? 'connection: close\r\n' : '') +
    '\r\n';
  return { ...r, bytes: headRequest ? head : head + r.body };
}
