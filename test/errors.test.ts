// The one mapping (proxy/src/errors.ts): every error class to its status, stable code and body prefix; an
// error that is not a ProxyError is a bug of the sidecar, answered 500 ERR_INTERNAL (never a made-up 502).

import { describe, expect, it } from 'vitest';
import {
  BadRequestError,
  errorResponse,
  HeadersTooLargeError,
  InternalError,
  MethodNotAllowedError,
  NoCredentialsError,
  NotReadyError,
  RequestTimeoutError,
  ShuttingDownError,
  SigningError,
  TargetNotAllowedError,
  UnsupportedTransferCodingError,
  UpgradeNotSupportedError,
  upstreamErrorFrom,
} from '../proxy/src/errors.js';

describe('errorResponse', () => {
  const cases: Array<[unknown, number, string]> = [
    [new BadRequestError('x'), 400, 'ERR_BAD_REQUEST'],
    [new TargetNotAllowedError('evil.example.org'), 403, 'ERR_TARGET_NOT_ALLOWED'],
    [new MethodNotAllowedError('CONNECT'), 405, 'ERR_METHOD_NOT_ALLOWED'],
    [new RequestTimeoutError('head', 1000), 408, 'ERR_REQUEST_TIMEOUT'],
    [new RequestTimeoutError('body', 1000), 408, 'ERR_REQUEST_TIMEOUT'],
    [new HeadersTooLargeError(), 431, 'ERR_HEADERS_TOO_LARGE'],
    [new SigningError(new Error('bad byte')), 500, 'ERR_SIGNING_FAILED'],
    [new InternalError(new Error('bug')), 500, 'ERR_INTERNAL'],
    [new UpgradeNotSupportedError(), 501, 'ERR_UPGRADE_NOT_SUPPORTED'],
    [new UnsupportedTransferCodingError('gzip, chunked'), 501, 'ERR_UNSUPPORTED_TRANSFER_CODING'],
    [upstreamErrorFrom(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'h'), 502, 'ERR_UPSTREAM_CONNECT'],
    [upstreamErrorFrom(Object.assign(new Error('x'), { code: 'CERT_HAS_EXPIRED' }), 'h'), 502, 'ERR_UPSTREAM_TLS'],
    [upstreamErrorFrom(Object.assign(new Error('x'), { code: 'ECONNRESET' }), 'h'), 502, 'ERR_UPSTREAM_RESET'],
    [upstreamErrorFrom(Object.assign(new Error('x'), { code: 'HPE_INVALID_CONSTANT' }), 'h'), 502, 'ERR_UPSTREAM_PROTOCOL'],
    [new NoCredentialsError('none yet'), 503, 'ERR_NO_CREDENTIALS'],
    [new NotReadyError('CA not loaded'), 503, 'ERR_NOT_READY'],
    [new ShuttingDownError(), 503, 'ERR_SHUTTING_DOWN'],
    [upstreamErrorFrom(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 'h'), 504, 'ERR_UPSTREAM_TIMEOUT'],
    [new Error('surprise'), 500, 'ERR_INTERNAL'],
    ['not even an Error', 500, 'ERR_INTERNAL'],
  ];
  for (const [err, status, code] of cases) {
    it(`${(err as Error)?.constructor?.name ?? typeof err} → ${status} ${code}`, () => {
      const r = errorResponse(err);
      expect({ status: r.status, code: r.code }).toEqual({ status, code });
      expect(r.body.startsWith('lattice-sigv4-proxy: ')).toBe(true);
      expect(r.body.endsWith('\n')).toBe(true);
    });
  }

  it('an unexpected error never shows its message to the app', () => {
    expect(errorResponse(new Error('secret internals /etc/x')).body).not.toContain('secret internals');
  });

  it('a codeless error with "tls" inside a host name is not a TLS failure', () => {
    // Only an error with no code at all is judged by its message, and then by whole words.
    expect(upstreamErrorFrom(new Error('socket closed by mtls-api.example.com'), 'mtls-api.example.com').kind).toBe('reset');
    expect(upstreamErrorFrom(Object.assign(new Error('getaddrinfo ENOTFOUND mtls-api.example.com'), { code: 'ENOTFOUND' }), 'mtls-api.example.com').kind).toBe('connect');
  });

  it('undici wrapping: the code of the cause counts; an AggregateError (several addresses) takes its first error', () => {
    const wrapped = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET', cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) });
    expect(upstreamErrorFrom(wrapped, 'h').kind).toBe('connect');
    const aggregate = new AggregateError([Object.assign(new Error('a'), { code: 'ECONNREFUSED' }), Object.assign(new Error('b'), { code: 'ENETUNREACH' })], 'all failed');
    expect(upstreamErrorFrom(aggregate, 'h').code).toBe('ERR_UPSTREAM_CONNECT');
  });
});
