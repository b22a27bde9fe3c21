// SigV4A (AWS4-ECDSA-P256-SHA256) computed exactly as AWS computes it, by two implementations written apart:
// the proxy's signer (proxy/src/sigv4a.ts: node:crypto ECDH/JWK key, signer.ts canonicalisation) and the
// emulators' verifier (test/emulators/sigv4a-verify.ts: BigInt key derivation and P-256 arithmetic, its own
// canonicalisation). Against every applicable vector of ../shared/sigv4-test-suite/v4a: canonical request and
// string to sign exact, derived public key equal to public-key.json, the suite's (randomised) signatures and
// ours verifying with that key; then the two implementations against each other.
import { createHash, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCanonicalRequest, compareNames, UNSIGNED_PAYLOAD } from '../proxy/src/signer.js';
import { buildStringToSignV4A, deriveSigV4AKeyPair, SIGV4A_ALGORITHM, SigV4ASigner } from '../proxy/src/sigv4a.js';
import {
  deriveSigV4APrivateScalar,
  deriveSigV4APublicKey,
  onCurve,
  publicKeyFromHex,
  regionSetCovers,
  scalarMultG,
  verifySigV4A,
  verifyStringToSign,
  type SigV4AVerifyOptions,
} from './emulators/sigv4a-verify.js';

const SUITE = resolve(import.meta.dirname, '..', '..', 'shared', 'sigv4-test-suite', 'v4a');

interface Context {
  credentials: { access_key_id: string; secret_access_key: string; token?: string };
  normalize: boolean;
  region: string;
  service: string;
  timestamp: string;
  omit_session_token?: boolean;
  sign_body?: boolean;
}

interface RawRequest {
  method: string;
  path: string;
  /** wire order, names as written, obs-fold continuation lines joined with one space */
  headers: Array<[string, string]>;
  body: string;
}

/** The suite's request files are not always valid HTTP (spaces and UTF-8 in the target, obs-fold): parse tolerantly. */
function parseRequest(text: string): RawRequest {
  const blank = text.indexOf('\n\n');
  const head = blank < 0 ? text : text.slice(0, blank);
  const [requestLine, ...lines] = head.split('\n');
  const first = (requestLine as string).indexOf(' ');
  const headers: Array<[string, string]> = [];
  for (const line of lines) {
    if (line === '') continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = headers[headers.length - 1] as [string, string];
      last[1] = `${last[1]} ${line.trim()}`;
    } else {
      const colon = line.indexOf(':');
      headers.push([line.slice(0, colon), line.slice(colon + 1)]);
    }
  }
  return {
    method: (requestLine as string).slice(0, first),
    path: (requestLine as string).slice(first + 1, (requestLine as string).lastIndexOf(' HTTP/1.1')),
    headers,
    body: blank < 0 ? '' : text.slice(blank + 2),
  };
}

/** Lower-case unique names, repeated headers joined with ',' as the proxy prepares them. */
function signerHeaders(raw: Array<[string, string]>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of raw) {
    const lower = name.toLowerCase();
    const existing = out.find((h) => h[0] === lower);
    if (existing) existing[1] = `${existing[1].trim()},${value.trim()}`;
    else out.push([lower, value]);
  }
  return out;
}

const read = (name: string, file: string): string => readFileSync(join(SUITE, name, file), 'utf8');
const cases = existsSync(SUITE) ? readdirSync(SUITE).sort() : [];
// Two folders (get-vanilla-query-order-key/-value) ship a request and context but no expected outputs.
const noExpectations = (name: string): boolean => !existsSync(join(SUITE, name, 'header-canonical-request.txt'));
const withExpectations = cases.filter((n) => !noExpectations(n));
const load = (name: string): Context => JSON.parse(read(name, 'context.json')) as Context;
const amzDateOf = (ctx: Context): string => ctx.timestamp.replace(/[-:]/g, '').replace(/\.\d+/, '');
const bodySha = (body: string): string => createHash('sha256').update(body).digest('hex');

function suiteOptions(ctx: Context, body: string): SigV4AVerifyOptions<string> {
  return {
    resolveSecret: (id) =>
      id === ctx.credentials.access_key_id
        ? { ok: true, secretAccessKey: ctx.credentials.secret_access_key, identity: 'suite-user' }
        : { ok: false, code: 'InvalidClientTokenId', message: 'unknown key' },
    service: ctx.service,
    region: ctx.region,
    now: Date.parse(ctx.timestamp),
    normalizePath: ctx.normalize,
    bodySha256: bodySha(body),
  };
}

function replaceSignature(req: RawRequest, signature: string): RawRequest {
  return {
    ...req,
    path: req.path.replace(/X-Amz-Signature=[0-9a-f]+/, `X-Amz-Signature=${signature}`),
    headers: req.headers.map(([n, v]) => [n, n.toLowerCase() === 'authorization' ? v.replace(/Signature=[0-9a-f]+/, `Signature=${signature}`) : v]),
  };
}

const verifyRaw = (req: RawRequest, ctx: Context): ReturnType<typeof verifySigV4A<string>> =>
  verifySigV4A({ method: req.method, rawPath: req.path, headers: req.headers }, suiteOptions(ctx, req.body));

describe('AWS SigV4A test suite: the proxy signer (proxy/src/sigv4a.ts)', () => {
  it('is present beside the project', () => {
    expect(cases.length).toBeGreaterThan(30);
  });

  for (const name of cases) {
    const ctx = load(name);
    // The same two exclusions as the SigV4 signer test: S3-style unnormalised paths (Lattice is not S3) and
    // obs-fold, which Node's HTTP parser rejects before the proxy could sign it.
    const skip = noExpectations(name)
      ? 'no expected outputs in the suite'
      : !ctx.normalize
        ? 'unnormalized (S3-only) variant'
        : name === 'get-header-value-multiline'
          ? 'obs-fold header'
          : undefined;
    it.skipIf(skip !== undefined)(`${name}${skip ? ` (skipped: ${skip})` : ''}`, () => {
      const req = parseRequest(read(name, 'request.txt'));
      const amzDate = amzDateOf(ctx);
      const token = ctx.omit_session_token ? undefined : ctx.credentials.token;
      const payloadHash = bodySha(req.body);
      const headers = signerHeaders(req.headers);
      headers.push(['x-amz-date', amzDate], ['x-amz-region-set', ctx.region]);
      if (token) headers.push(['x-amz-security-token', token]);
      if (ctx.sign_body) headers.push(['x-amz-content-sha256', payloadHash]);
      headers.sort(compareNames);
      const { canonicalRequest } = buildCanonicalRequest(req.method, req.path, headers, payloadHash);
      expect(canonicalRequest).toBe(read(name, 'header-canonical-request.txt'));
      const sts = buildStringToSignV4A(amzDate, `${amzDate.slice(0, 8)}/${ctx.service}/aws4_request`, canonicalRequest);
      expect(sts).toBe(read(name, 'header-string-to-sign.txt'));

      const pair = deriveSigV4AKeyPair(ctx.credentials.access_key_id, ctx.credentials.secret_access_key);
      const expected = JSON.parse(read(name, 'public-key.json')) as { X: string; Y: string };
      expect(pair.publicX.toString('hex')).toBe(expected.X.toLowerCase());
      expect(pair.publicY.toString('hex')).toBe(expected.Y.toLowerCase());
      const suiteKey = publicKeyFromHex(expected.X, expected.Y);

      // The suite's signatures (ECDSA is randomised: the .txt and the one in the signed request differ) verify.
      expect(verifyStringToSign(sts, read(name, 'header-signature.txt').trim(), suiteKey)).toBe(true);
      const inSignedRequest = /Signature=([0-9a-f]+)/.exec(read(name, 'header-signed-request.txt'))?.[1] as string;
      expect(verifyStringToSign(sts, inSignedRequest, suiteKey)).toBe(true);

      // sign() itself: the Authorization it returns verifies with the suite's key, over the request it describes.
      const signer = new SigV4ASigner(ctx.service, ctx.region);
      const creds = { accessKeyId: ctx.credentials.access_key_id, secretAccessKey: ctx.credentials.secret_access_key, sessionToken: token };
      const signed = signerHeaders(req.headers);
      const out = signer.sign(req.method, req.path, signed, creds, Date.parse(ctx.timestamp), payloadHash);
      expect(out.amzDate).toBe(amzDate);
      expect(out.authorization.startsWith(`${SIGV4A_ALGORITHM} Credential=AKIDEXAMPLE/${amzDate.slice(0, 8)}/${ctx.service}/aws4_request, SignedHeaders=`)).toBe(true);
      if (ctx.sign_body) {
        // With the body hash signed, the vector's canonical request is exactly what sign() signs.
        expect(buildCanonicalRequest(req.method, req.path, signed, payloadHash).canonicalRequest).toBe(read(name, 'header-canonical-request.txt'));
      }
      const result = verifySigV4A(
        { method: req.method, rawPath: req.path, headers: [...signed, ['authorization', out.authorization]] },
        suiteOptions(ctx, req.body),
        () => suiteKey,
      );
      expect(result.ok, result.ok ? '' : result.message).toBe(true);
      // ...and so does our key's signature over the vector's own string to sign, and not over another string.
      const ours = cryptoSign('sha256', Buffer.from(sts), pair.privateKey).toString('hex');
      expect(verifyStringToSign(sts, ours, suiteKey)).toBe(true);
      expect(verifyStringToSign(sts + '\n', ours, suiteKey)).toBe(false);
    });
  }
});

describe('AWS SigV4A test suite: the emulators verifier (test/emulators/sigv4a-verify.ts)', () => {
  let applied = 0;
  for (const name of cases) {
    const ctx = load(name);
    it.skipIf(noExpectations(name))(`${name} (header and presigned-query forms)${noExpectations(name) ? ' (skipped: no expected outputs in the suite)' : ''}`, () => {
      const expected = JSON.parse(read(name, 'public-key.json')) as { X: string; Y: string };
      const key = deriveSigV4APublicKey(ctx.credentials.access_key_id, ctx.credentials.secret_access_key);
      expect(key.x).toBe(expected.X.toLowerCase());
      expect(key.y).toBe(expected.Y.toLowerCase());

      for (const form of ['header', 'query'] as const) {
        const req = parseRequest(read(name, `${form}-signed-request.txt`));
        const result = verifyRaw(req, ctx);
        if (name === 'post-sts-header-after' && form === 'query') {
          // The token is appended to the URL after signing: the canonical query no longer matches, as AWS finds.
          expect(result).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
          continue;
        }
        expect(result.ok, result.ok ? '' : result.message).toBe(true);
        if (!result.ok) continue;
        expect(result.details.canonicalRequest).toBe(read(name, `${form}-canonical-request.txt`));
        expect(result.details.stringToSign).toBe(read(name, `${form}-string-to-sign.txt`));
        // The other signature the suite gives for the same string to sign verifies too; a flipped one does not.
        const other = read(name, `${form}-signature.txt`).trim();
        expect(verifyRaw(replaceSignature(req, other), ctx).ok).toBe(true);
        const flipped = other.slice(0, 20) + (other[20] === '0' ? '1' : '0') + other.slice(21);
        expect(verifyRaw(replaceSignature(req, flipped), ctx)).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
      }
      applied++;
    });
  }
  it('applied every vector with expected outputs', () => {
    expect(withExpectations.length).toBeGreaterThanOrEqual(38);
    expect(applied).toBe(withExpectations.length);
  });
});

describe('SigV4A key derivation', () => {
  it('agrees between the node:crypto (signer) and BigInt (verifier) implementations for many random credentials', () => {
    for (let i = 0; i < 40; i++) {
      const id = `ASIA${i.toString(16).padStart(16, '0').toUpperCase()}`;
      const secret = createHash('sha256').update(String(i)).digest('base64').slice(0, 40);
      const pair = deriveSigV4AKeyPair(id, secret);
      const pub = deriveSigV4APublicKey(id, secret);
      expect(pair.publicX.toString('hex')).toBe(pub.x);
      expect(pair.publicY.toString('hex')).toBe(pub.y);
    }
  });

  it('computes the P-256 public point OpenSSL computes for a random scalar (the BigInt arithmetic is right)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const d = BigInt('0x' + Buffer.from(privateKey.export({ format: 'jwk' }).d as string, 'base64url').toString('hex'));
    const q = scalarMultG(d);
    const jwk = publicKey.export({ format: 'jwk' });
    expect(q && onCurve(q)).toBe(true);
    expect(q?.x.toString(16).padStart(64, '0')).toBe(Buffer.from(jwk.x as string, 'base64url').toString('hex'));
    expect(q?.y.toString(16).padStart(64, '0')).toBe(Buffer.from(jwk.y as string, 'base64url').toString('hex'));
  });

  it('the scalar is the first HMAC candidate below n - 1 plus one, in [1, n - 1]', () => {
    const d = deriveSigV4APrivateScalar('AKIDEXAMPLE', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY');
    expect(d > 0n && d < 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n).toBe(true);
  });

  it('is derived once per credentials and again when they change', () => {
    const signer = new SigV4ASigner('vpc-lattice-svcs');
    const a = { accessKeyId: 'ASIAAAAAAAAAAAAAAAAA', secretAccessKey: 'secret-one' };
    const first = signer.keyPair(a);
    expect(signer.keyPair({ ...a, sessionToken: 'another token' })).toBe(first);
    const rotated = signer.keyPair({ ...a, secretAccessKey: 'secret-two' });
    expect(rotated).not.toBe(first);
    expect(rotated.publicX.equals(first.publicX)).toBe(false);
  });
});

describe('SigV4ASigner against the independent verifier', () => {
  const creds = { accessKeyId: 'ASIAEXAMPLEEXAMPLE01', secretAccessKey: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0', sessionToken: 'FwoGZXIvYXdzE'.repeat(60) };
  const resolveSecret: SigV4AVerifyOptions<string>['resolveSecret'] = (id, token) =>
    id === creds.accessKeyId && token === creds.sessionToken ? { ok: true, secretAccessKey: creds.secretAccessKey, identity: 'caller' } : { ok: false, code: 'InvalidClientTokenId', message: 'no' };
  const now = Date.parse('2026-03-01T10:00:00Z');

  function signRequest(regionSet: string, path: string, extra: Array<[string, string]> = []): Array<[string, string]> {
    const signer = new SigV4ASigner('vpc-lattice-svcs', regionSet);
    const headers: Array<[string, string]> = [['host', 'svc.example.com'], ['content-type', 'application/grpc'], ['te', 'trailers'], ...extra];
    const { authorization } = signer.sign('POST', path, headers, creds, now);
    return [...headers, ['authorization', authorization]];
  }
  const verify = (headers: Array<[string, string]>, path: string, region = 'us-west-2'): ReturnType<typeof verifySigV4A<string>> =>
    verifySigV4A({ method: 'POST', rawPath: path, headers }, { resolveSecret, service: 'vpc-lattice-svcs', region, now, requireUnsignedPayload: true });

  it('signs a gRPC call (POST /pkg.Service/Method, UNSIGNED-PAYLOAD, token and region set signed) that verifies', () => {
    const headers = signRequest('*', '/lattice.demo.v1.Demo/Unary');
    const r = verify(headers, '/lattice.demo.v1.Demo/Unary');
    expect(r.ok, r.ok ? '' : r.message).toBe(true);
    expect(r.ok && r.signedHeaders).toEqual(['content-type', 'host', 'te', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-region-set', 'x-amz-security-token']);
    expect(headers).toContainEqual(['x-amz-content-sha256', UNSIGNED_PAYLOAD]);
    expect(headers).toContainEqual(['x-amz-region-set', '*']);
  });

  it('refuses a tampered path, a region outside the signed set, and a changed region set', () => {
    const headers = signRequest('us-west-2,eu-*', '/a/b?x=1');
    expect(verify(headers, '/a/b?x=1').ok).toBe(true);
    expect(verify(headers, '/a/b?x=1', 'eu-central-1').ok).toBe(true);
    expect(verify(headers, '/a/c?x=1')).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
    expect(verify(headers, '/a/b?x=1', 'us-east-1')).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
    const widened = headers.map(([n, v]): [string, string] => [n, n === 'x-amz-region-set' ? '*' : v]);
    expect(verify(widened, '/a/b?x=1')).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
  });

  it('refuses a SigV4A request whose region set header is missing', () => {
    const headers = signRequest('*', '/').filter(([n]) => n !== 'x-amz-region-set');
    expect(verify(headers, '/')).toMatchObject({ ok: false, code: 'InvalidSignatureException', message: expect.stringContaining('x-amz-region-set') });
  });

  it('validates the region set it is given', () => {
    expect(() => new SigV4ASigner('vpc-lattice-svcs', 'us-west-2, eu-west-1')).toThrow(/invalid SigV4A region set/);
    expect(() => new SigV4ASigner('vpc-lattice-svcs', '')).toThrow(/invalid SigV4A region set/);
    expect(new SigV4ASigner('vpc-lattice-svcs', 'us-*,eu-west-1').regionSet).toBe('us-*,eu-west-1');
  });

  it('region set patterns cover regions as AWS documents (`*`, prefix wildcards, lists)', () => {
    expect(regionSetCovers('*', 'ap-south-1')).toBe(true);
    expect(regionSetCovers('us-*', 'us-west-2')).toBe(true);
    expect(regionSetCovers('us-*', 'eu-west-1')).toBe(false);
    expect(regionSetCovers('eu-west-1,us-west-2', 'us-west-2')).toBe(true);
    expect(regionSetCovers('us-west-2', 'us-west-20')).toBe(false);
  });
});
