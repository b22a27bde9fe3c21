// Which headers are signed, forwarded unsigned, or dropped; and the error-to-status mapping.

import { describe, expect, it } from 'vitest';
import { compileHeaderPolicy, prepareHeaders, responseHeaders } from '../proxy/src/headers.js';
import {
  BadRequestError,
  errorResponse,
  MethodNotAllowedError,
  NoCredentialsError,
  TargetNotAllowedError,
  upstreamErrorFrom,
} from '../proxy/src/errors.js';

const policy = compileHeaderPolicy(['x-forwarded-*', 'x-amzn-trace-id', 'x-debug'], 'x-original-authorization');

function raw(...pairs: Array<[string, string]>): string[] {
  return pairs.flat();
}

describe('prepareHeaders', () => {
  it('drops hop-by-hop headers, proxy-* and what Connection lists', () => {
    const p = prepareHeaders(
      raw(['Host', 'demo.example.com'], ['Connection', 'keep-alive, X-Hop'], ['Keep-Alive', 'timeout=5'], ['TE', 'trailers'], ['Upgrade', 'h2c'], ['Proxy-Authorization', 'Basic x'], ['X-Hop', '1'], ['Accept', '*/*'], ['Expect', '100-continue']),
      policy,
    );
    expect(p.host).toBe('demo.example.com');
    expect(p.signed).toEqual([['accept', '*/*']]);
    expect(p.unsigned).toEqual([]);
  });
  it('joins repeated lines with a comma, in order, trimmed', () => {
    const p = prepareHeaders(raw(['X-Multi', ' a '], ['x-multi', 'b'], ['X-MULTI', 'c, d']), policy);
    expect(p.signed).toEqual([['x-multi', 'a,b,c, d']]);
  });
  it('forwards the excluded headers unsigned', () => {
    const p = prepareHeaders(raw(['X-Forwarded-For', '10.0.0.1'], ['X-Amzn-Trace-Id', 'Root=1'], ['X-Debug', '1'], ['X-Other', '2']), policy);
    expect(p.unsigned).toEqual([
      ['x-forwarded-for', '10.0.0.1'],
      ['x-amzn-trace-id', 'Root=1'],
      ['x-debug', '1'],
    ]);
    expect(p.signed).toEqual([['x-other', '2']]);
  });
  it('moves the app Authorization to x-original-authorization, or drops it when configured so', () => {
    expect(prepareHeaders(raw(['Authorization', 'Bearer app-token']), policy).signed).toEqual([['x-original-authorization', 'Bearer app-token']]);
    const dropping = compileHeaderPolicy([], undefined);
    expect(prepareHeaders(raw(['Authorization', 'Bearer app-token']), dropping).signed).toEqual([]);
  });
  it('never forwards app-supplied SigV4 headers', () => {
    const p = prepareHeaders(raw(['X-Amz-Date', '20000101T000000Z'], ['X-Amz-Security-Token', 'stolen'], ['X-Amz-Content-Sha256', 'abc'], ['X-Amz-Target', 'Svc.Op']), policy);
    expect(p.signed).toEqual([['x-amz-target', 'Svc.Op']]);
  });
  it('detects a body from Content-Length or Transfer-Encoding', () => {
    expect(prepareHeaders(raw(['Content-Length', '0']), policy).hasBody).toBe(false);
    expect(prepareHeaders(raw(['Content-Length', '10']), policy).hasBody).toBe(true);
    const chunked = prepareHeaders(raw(['Transfer-Encoding', 'chunked']), policy);
    expect(chunked.hasBody).toBe(true);
    expect(chunked.signed).toEqual([]);
  });
  it('refuses a duplicated Host', () => {
    expect(() => prepareHeaders(raw(['Host', 'a.example.com'], ['Host', 'b.example.com']), policy)).toThrow(BadRequestError);
  });
});

describe('responseHeaders', () => {
  it('passes end-to-end response headers unchanged and drops connection-level ones', () => {
    const out = responseHeaders(['Content-Type', 'text/plain', 'Connection', 'keep-alive', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'].map((s) => Buffer.from(s)));
    expect(out).toEqual(['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
  });
});

describe('errorResponse maps each error to one status and a clear body', () => {
  it.each([
    [new BadRequestError('bad'), 400, 'ERR_BAD_REQUEST'],
    [new TargetNotAllowedError('evil.example.org'), 403, 'ERR_TARGET_NOT_ALLOWED'],
    [new MethodNotAllowedError('CONNECT'), 405, 'ERR_METHOD_NOT_ALLOWED'],
    [new NoCredentialsError('none yet'), 503, 'ERR_NO_CREDENTIALS'],
    [upstreamErrorFrom(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'h'), 502, 'ERR_UPSTREAM_CONNECT'],
    [upstreamErrorFrom(Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 'h'), 504, 'ERR_UPSTREAM_TIMEOUT'],
    [upstreamErrorFrom(Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), 'h'), 502, 'ERR_UPSTREAM_TLS'],
    [upstreamErrorFrom(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET', cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) }), 'h'), 502, 'ERR_UPSTREAM_RESET'],
    [new Error('surprise'), 502, 'ERR_INTERNAL'],
  ] as const)('%s → %i', (err, status, code) => {
    const r = errorResponse(err);
    expect(r.status).toBe(status);
    expect(r.code).toBe(code);
    expect(r.body.startsWith('lattice-sigv4-proxy: ')).toBe(true);
  });
  it('names the refused host in the 403 body', () => {
    expect(errorResponse(new TargetNotAllowedError('evil.example.org')).body).toContain('"evil.example.org"');
  });
});
