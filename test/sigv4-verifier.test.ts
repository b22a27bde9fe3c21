// Proves the emulators' SigV4 verifier computes SigV4 exactly like AWS (every vector of the AWS SigV4 test suite,
// header and presigned-query forms) and refuses tampered, stale or mis-scoped requests.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import aws4 from 'aws4';
import {
  canonicalQuery,
  canonicalUri,
  deriveSigningKey,
  parseAuthorization,
  sha256Hex,
  verifySigV4,
  type RawHeaders,
  type VerifyOptions,
} from './emulators/sigv4-verify.js';

const SUITE = join(import.meta.dirname, '..', '..', 'shared', 'sigv4-test-suite', 'v4');

interface Context {
  credentials: { access_key_id: string; secret_access_key: string; token?: string };
  normalize: boolean;
  region: string;
  service: string;
  timestamp: string;
  omit_session_token?: boolean;
}

interface RawRequest {
  method: string;
  rawPath: string;
  headers: Array<[string, string]>;
  body: string;
}

/**
 * Parses the suite's raw request text. The files are not always valid HTTP (a literal space or UTF-8 in the
 * request target, obs-fold continuation lines), so this is a tolerant parser: the target is everything between
 * the method and the HTTP version, and a continuation line is joined to the previous value with one space
 * (RFC 9112 §5.2 obs-fold replacement), as a server that accepts obs-fold would present it.
 */
function parseRawRequest(text: string): RawRequest {
  const normalized = text.replace(/\r\n/g, '\n');
  const blank = normalized.indexOf('\n\n');
  const head = blank < 0 ? normalized : normalized.slice(0, blank);
  const body = blank < 0 ? '' : normalized.slice(blank + 2);
  const lines = head.split('\n');
  const requestLine = lines.shift() as string;
  const firstSpace = requestLine.indexOf(' ');
  const lastSpace = requestLine.lastIndexOf(' ');
  const headers: Array<[string, string]> = [];
  for (const line of lines) {
    if (line === '') continue;
    if (/^[ \t]/.test(line)) {
      const last = headers[headers.length - 1] as [string, string];
      last[1] = `${last[1]} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    headers.push([line.slice(0, colon), line.slice(colon + 1)]);
  }
  return {
    method: requestLine.slice(0, firstSpace),
    rawPath: requestLine.slice(firstSpace + 1, lastSpace),
    headers,
    body,
  };
}

function suiteOptions(ctx: Context, body: string): VerifyOptions<string> {
  return {
    resolveSecret: (accessKeyId) =>
      accessKeyId === ctx.credentials.access_key_id
        ? { ok: true, secretAccessKey: ctx.credentials.secret_access_key, identity: 'suite-user' }
        : { ok: false, code: 'UnrecognizedClientException', message: 'unknown key' },
    service: ctx.service,
    region: ctx.region,
    now: Date.parse(ctx.timestamp),
    bodySha256: sha256Hex(body),
    // Vectors with normalize=false are the S3-style (unnormalised path) variants; the option reproduces them too,
    // while non-S3 services such as Lattice and ACM PCA always use the normalised form (the default).
    normalizePath: ctx.normalize,
  };
}

const vectors = readdirSync(SUITE).filter((d) => existsSync(join(SUITE, d, 'context.json'))).sort();

describe('AWS SigV4 test suite', () => {
  it('has all vectors present (the suite ships 38)', () => {
    expect(vectors.length).toBe(38);
  });

  for (const name of vectors) {
    const dir = join(SUITE, name);
    const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
    const ctx = JSON.parse(read('context.json')) as Context;

    for (const form of ['header', 'query'] as const) {
      // post-sts-header-after in query form appends X-Amz-Security-Token to the URL after signing
      // (omit_session_token). That is a signer-side vector: a verifier cannot know which query parameters were
      // added later and must canonicalise every parameter but X-Amz-Signature, so it is checked to be REFUSED.
      if (form === 'query' && ctx.omit_session_token) {
        it(`${name} (query): a token added to the URL after signing is refused`, () => {
          const req = parseRawRequest(read('query-signed-request.txt'));
          expect(verifySigV4(req, suiteOptions(ctx, req.body))).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
        });
        continue;
      }
      it(`${name} (${form}): canonical request, string to sign and signature match`, () => {
        const req = parseRawRequest(read(`${form}-signed-request.txt`));
        const result = verifySigV4(req, suiteOptions(ctx, req.body));
        const details = result.ok ? result.details : result.details;
        expect(details, result.ok ? '' : `${result.code}: ${result.message}`).toBeDefined();
        expect(details?.canonicalRequest).toBe(read(`${form}-canonical-request.txt`));
        expect(details?.stringToSign).toBe(read(`${form}-string-to-sign.txt`));
        expect(details?.expectedSignature).toBe(read(`${form}-signature.txt`).trim());
        expect(result.ok).toBe(true);
        if (result.ok) expect(result.presigned).toBe(form === 'query');
      });
    }
  }
});

describe('canonicalisation rules', () => {
  it('double-encodes the wire path and resolves dot and empty segments', () => {
    expect(canonicalUri('/a%20b/./c//../d/')).toBe('/a%2520b/d/');
    expect(canonicalUri('/')).toBe('/');
    expect(canonicalUri('')).toBe('/');
    expect(canonicalUri('/x/..')).toBe('/');
  });

  it('treats + in the query as a literal plus, sorts by key then value, and gives a bare key "="', () => {
    expect(canonicalQuery('b=2&a=x+y&flag&a=%41&c=%7e')).toBe('a=A&a=x%2By&b=2&c=~&flag=');
  });

  it('keeps a malformed percent escape literal instead of throwing', () => {
    expect(canonicalQuery('q=100%&r=%zz')).toBe('q=100%25&r=%25zz');
  });

  it('parses an Authorization header and reports missing parts', () => {
    const parsed = parseAuthorization(
      'AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/svc/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc',
    );
    expect(parsed).toMatchObject({ accessKeyId: 'AKID', region: 'us-east-1', service: 'svc', signedHeaders: ['host', 'x-amz-date'] });
    expect(parseAuthorization('AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/svc/aws4_request')).toHaveProperty('error');
  });

  it('derives the documented signing key (AWS SigV4 documentation example)', () => {
    // From the AWS General Reference "Examples of how to derive a signing key for Signature Version 4".
    const key = deriveSigningKey('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20120215', 'us-east-1', 'iam');
    expect(key.toString('hex')).toBe('f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d');
  });
});

// ---------------------------------------------------------------- tampering, with an independent signer

const CREDS = { accessKeyId: 'AKIAEXAMPLEUSER00001', secretAccessKey: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXM=' };
const NOW = Date.parse('2026-05-01T10:00:00Z');

async function smithySigned(opts: { path: string; query?: Record<string, string>; headers?: Record<string, string>; at?: number }) {
  const signer = new SignatureV4({
    service: 'vpc-lattice-svcs',
    region: 'us-west-2',
    credentials: CREDS,
    sha256: Sha256,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname: 'svc.example.com',
      path: opts.path,
      query: opts.query ?? {},
      headers: { host: 'svc.example.com', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...(opts.headers ?? {}) },
    },
    { signingDate: new Date(opts.at ?? NOW) },
  );
  const qs = Object.entries(signed.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return {
    method: signed.method,
    rawPath: signed.path + (qs ? `?${qs}` : ''),
    headers: Object.entries(signed.headers).map(([k, v]) => [k, v] as [string, string]),
  };
}

function latticeOptions(extra: Partial<VerifyOptions<string>> = {}): VerifyOptions<string> {
  return {
    resolveSecret: (id) =>
      id === CREDS.accessKeyId
        ? { ok: true, secretAccessKey: CREDS.secretAccessKey, identity: 'user' }
        : { ok: false, code: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' },
    service: 'vpc-lattice-svcs',
    region: 'us-west-2',
    now: NOW,
    requireUnsignedPayload: true,
    ...extra,
  };
}

function withHeader(headers: RawHeaders, name: string, value: string | undefined): Array<[string, string]> {
  const pairs = (headers as ReadonlyArray<readonly [string, string]>).filter(([k]) => k.toLowerCase() !== name);
  return value === undefined ? pairs.map(([k, v]) => [k, v]) : [...pairs.map(([k, v]) => [k, v] as [string, string]), [name, value]];
}

describe('verification against @smithy/signature-v4 signed requests', () => {
  it('accepts an untouched request, with a query and an encoded path', async () => {
    const req = await smithySigned({ path: '/api/a%20b/item', query: { z: '1', a: 'x y+z' } });
    const result = verifySigV4(req, latticeOptions());
    expect(result.ok, result.ok ? '' : result.message).toBe(true);
  });

  it('agrees with aws4 as a third opinion on the same request', () => {
    const signed = aws4.sign(
      {
        host: 'svc.example.com',
        method: 'GET',
        path: '/items/42?b=2&a=1',
        service: 'vpc-lattice-svcs',
        region: 'us-west-2',
        headers: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD', 'X-Amz-Date': '20260501T100000Z' },
      },
      CREDS,
    );
    const headers = Object.entries(signed.headers ?? {}).map(([k, v]) => [k, String(v)] as [string, string]);
    const result = verifySigV4({ method: 'GET', rawPath: signed.path as string, headers }, latticeOptions());
    expect(result.ok, result.ok ? '' : result.message).toBe(true);
  });

  it('rejects a tampered path', async () => {
    const req = await smithySigned({ path: '/api/items' });
    const result = verifySigV4({ ...req, rawPath: '/api/admin' }, latticeOptions());
    expect(result).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
  });

  it('rejects a tampered query', async () => {
    const req = await smithySigned({ path: '/api', query: { id: '1' } });
    expect(verifySigV4({ ...req, rawPath: '/api?id=2' }, latticeOptions())).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
    expect(verifySigV4({ ...req, rawPath: '/api?id=1&extra=1' }, latticeOptions())).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
  });

  it('rejects a tampered signed header', async () => {
    const req = await smithySigned({ path: '/', headers: { 'x-custom': 'a' } });
    const result = verifySigV4({ ...req, headers: withHeader(req.headers, 'x-custom', 'b') }, latticeOptions());
    expect(result).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
  });

  it('rejects a changed x-amz-date even within the allowed skew', async () => {
    const req = await smithySigned({ path: '/' });
    const result = verifySigV4({ ...req, headers: withHeader(req.headers, 'x-amz-date', '20260501T100100Z') }, latticeOptions());
    expect(result).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
  });

  it('rejects a modified signature', async () => {
    const req = await smithySigned({ path: '/' });
    const auth = (req.headers.find(([k]) => k === 'authorization') as [string, string])[1];
    const last = auth.slice(-1) === '0' ? '1' : '0';
    const result = verifySigV4({ ...req, headers: withHeader(req.headers, 'authorization', auth.slice(0, -1) + last) }, latticeOptions());
    expect(result).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
  });

  it('rejects a clock skew over five minutes, both directions, and accepts one just under', async () => {
    const req = await smithySigned({ path: '/' });
    expect(verifySigV4(req, latticeOptions({ now: NOW + 301_000 }))).toMatchObject({ ok: false, code: 'RequestExpired' });
    expect(verifySigV4(req, latticeOptions({ now: NOW - 301_000 }))).toMatchObject({ ok: false, code: 'RequestExpired' });
    expect(verifySigV4(req, latticeOptions({ now: NOW + 299_000 })).ok).toBe(true);
  });

  it('rejects a missing Authorization as MissingAuthenticationToken', () => {
    const result = verifySigV4({ method: 'GET', rawPath: '/', headers: [['host', 'svc.example.com']] }, latticeOptions());
    expect(result).toMatchObject({ ok: false, code: 'MissingAuthenticationToken' });
  });

  it('rejects a signed payload hash when UNSIGNED-PAYLOAD is required', async () => {
    const req = await smithySigned({ path: '/', headers: { 'x-amz-content-sha256': sha256Hex('') } });
    expect(verifySigV4(req, latticeOptions())).toMatchObject({ ok: false, code: 'InvalidPayloadSigning' });
    expect(verifySigV4(req, latticeOptions({ requireUnsignedPayload: false })).ok).toBe(true);
  });

  it('rejects UNSIGNED-PAYLOAD that was not itself signed', async () => {
    const req = await smithySigned({ path: '/' });
    const auth = (req.headers.find(([k]) => k === 'authorization') as [string, string])[1];
    const unsignedList = auth.replace(';x-amz-content-sha256', '');
    const result = verifySigV4({ ...req, headers: withHeader(req.headers, 'authorization', unsignedList) }, latticeOptions());
    expect(result).toMatchObject({ ok: false, code: 'InvalidPayloadSigning' });
  });

  it('rejects a wrong service or region in the credential scope', async () => {
    const req = await smithySigned({ path: '/' });
    expect(verifySigV4(req, latticeOptions({ service: 'execute-api' }))).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
    expect(verifySigV4(req, latticeOptions({ region: 'eu-west-1' }))).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
  });

  it('rejects an unknown access key with the resolver code', async () => {
    const req = await smithySigned({ path: '/' });
    const result = verifySigV4(req, latticeOptions({ resolveSecret: () => ({ ok: false, code: 'UnrecognizedClientException', message: 'no' }) }));
    expect(result).toMatchObject({ ok: false, code: 'UnrecognizedClientException' });
  });

  it('requires the security token for a temporary (ASIA) key', () => {
    const result = verifySigV4(
      {
        method: 'GET',
        rawPath: '/',
        headers: [
          ['host', 'svc.example.com'],
          ['x-amz-date', '20260501T100000Z'],
          ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD'],
          ['authorization', 'AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20260501/us-west-2/vpc-lattice-svcs/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=00'],
        ],
      },
      latticeOptions(),
    );
    expect(result).toMatchObject({ ok: false, code: 'MissingSecurityToken' });
  });

  it('rejects a body whose hash differs from a signed x-amz-content-sha256', async () => {
    const req = await smithySigned({ path: '/', headers: { 'x-amz-content-sha256': sha256Hex('{"a":1}') } });
    const opts = latticeOptions({ requireUnsignedPayload: false });
    expect(verifySigV4(req, { ...opts, bodySha256: sha256Hex('{"a":1}') }).ok).toBe(true);
    expect(verifySigV4(req, { ...opts, bodySha256: sha256Hex('{"a":2}') })).toMatchObject({ ok: false, code: 'XAmzContentSHA256Mismatch' });
  });
});
