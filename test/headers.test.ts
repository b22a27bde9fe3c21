// Which headers are signed, forwarded unsigned, or dropped; and the error-to-status mapping.

import { describe, expect, it } from 'vitest';
import { compileHeaderPolicy, isResponseHopByHop, prepareHeaders as prepare, type HeaderPolicy } from '../proxy/src/headers.js';
import { listMembers } from '../proxy/src/http1-syntax.js';
import {
  BadRequestError,
  errorResponse,
  MethodNotAllowedError,
  NoCredentialsError,
  TargetNotAllowedError,
  upstreamErrorFrom,
} from '../proxy/src/errors.js';

const policy = compileHeaderPolicy(['x-forwarded-*', 'x-amzn-trace-id', 'x-debug'], 'x-original-authorization');

function raw(...pairs: Array<[string, string]>): Array<[string, string]> {
  return pairs;
}

/** What the parser hands over: lower-case names, trimmed values, the Connection options. */
function prepareHeaders(pairs: Array<[string, string]>, policy: HeaderPolicy): ReturnType<typeof prepare> {
  const names = pairs.map(([n]) => n.toLowerCase());
  const values = pairs.map(([, v]) => v.trim());
  const connection: string[] = [];
  pairs.forEach(([n, v]) => n.toLowerCase() === 'connection' && listMembers(v, connection));
  return prepare(names, values, connection, policy);
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
  it('signs Content-Length as the parser normalised it, and never forwards the app\'s Transfer-Encoding', () => {
    expect(prepareHeaders(raw(['Content-Length', '10']), policy).signed).toEqual([['content-length', '10']]);
    expect(prepareHeaders(raw(['Transfer-Encoding', 'chunked']), policy).signed).toEqual([]);
  });
  it('applies Connection options before the Authorization rename: neither travels', () => {
    const p = prepareHeaders(raw(['Connection', 'authorization, x-foo'], ['Authorization', 'Bearer a'], ['X-Foo', '1'], ['Accept', '*/*']), policy);
    expect(p.signed).toEqual([['accept', '*/*']]);
  });
  it('drops an app-sent copy of the forward header instead of merging it', () => {
    const p = prepareHeaders(raw(['Authorization', 'Bearer a'], ['X-Original-Authorization', 'forged']), policy);
    expect(p.signed).toEqual([['x-original-authorization', 'Bearer a']]);
    expect(prepareHeaders(raw(['X-Original-Authorization', 'forged']), policy).signed).toEqual([]);
  });
  it('refuses a duplicated Host', () => {
    expect(() => prepareHeaders(raw(['Host', 'a.example.com'], ['Host', 'b.example.com']), policy)).toThrow(BadRequestError);
  });
});

describe('isResponseHopByHop', () => {
  it('passes end-to-end response headers and drops connection-level ones and those Connection names', () => {
    const names = ['content-type', 'connection', 'transfer-encoding', 'set-cookie', 'keep-alive', 'x-conn-scoped', 'content-length'];
    expect(names.filter((n) => !isResponseHopByHop(n, ['keep-alive', 'x-conn-scoped', 'content-length']))).toEqual(['content-type', 'set-cookie', 'content-length']);
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
    [new Error('surprise'), 500, 'ERR_INTERNAL'],
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
