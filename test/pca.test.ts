// proxy/src/pca.ts fetches the Private CA root the way @aws-sdk/client-acm-pca did: the SDK's endpoints, a
// request signed over the real body hash that an independent SigV4 verifier (the PCA emulator's) accepts and
// that signs exactly as @smithy/signature-v4 does, the SDK's reading of AWS JSON 1.1 errors, and clear,
// secret-free messages that name the CA for every way the call can fail.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ACMPCAClient, GetCertificateAuthorityCertificateCommand } from '@aws-sdk/client-acm-pca';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PcaError } from '../proxy/src/errors.js';
import {
  buildGetCaCertificateRequest,
  parseGetCaCertificateResponse,
  partitionOf,
  PcaClient,
  PCA_CONTENT_TYPE,
  PCA_TARGET,
  resolvePcaEndpoint,
  safeServiceMessage,
  sanitizeErrorCode,
  type PcaHttpResponse,
} from '../proxy/src/pca.js';
import { SigV4Signer, UNSIGNED_PAYLOAD, type Credentials } from '../proxy/src/signer.js';
import { parseConfig } from '../proxy/src/config.js';
import { createTestCa, type TestCa } from './emulators/pki.js';
import { startPcaEmulator, type PcaEmulator } from './emulators/pca.js';
import { startPodIdentityAgent, type PodIdentityAgent } from './emulators/pod-identity.js';
import { SEED_CA_ARN } from './emulators/scenario.js';
import { verifySigV4 } from './emulators/sigv4-verify.js';

const ARN = SEED_CA_ARN; // us-west-2
const STATIC: Credentials = { accessKeyId: 'AKIAPCATESTEXAMPLE01', secretAccessKey: 'pca-test-secret-key-0123456789abcdefghij' };
const TEMP: Credentials = { ...STATIC, accessKeyId: 'ASIAPCATESTEXAMPLE01', sessionToken: 'FwoGZXIvYXdzEXAMPLE-session-token-0123456789' };
const NOW = Date.UTC(2026, 10, 24, 12, 34, 56, 789);

// ---------------------------------------------------------------- endpoints

describe('endpoint resolution', () => {
  it.each([
    ['us-west-2', false, false, 'https://acm-pca.us-west-2.amazonaws.com/'],
    ['eu-west-1', true, false, 'https://acm-pca-fips.eu-west-1.amazonaws.com/'],
    ['eu-west-1', false, true, 'https://acm-pca.eu-west-1.api.aws/'],
    ['eu-west-1', true, true, 'https://acm-pca-fips.eu-west-1.api.aws/'],
    ['mx-central-1', false, false, 'https://acm-pca.mx-central-1.amazonaws.com/'],
    ['cn-north-1', false, false, 'https://acm-pca.cn-north-1.amazonaws.com.cn/'],
    ['cn-northwest-1', false, true, 'https://acm-pca.cn-northwest-1.api.amazonwebservices.com.cn/'],
    ['cn-north-1', true, false, 'https://acm-pca-fips.cn-north-1.amazonaws.com.cn/'],
    ['us-gov-west-1', false, false, 'https://acm-pca.us-gov-west-1.amazonaws.com/'],
    // GovCloud is FIPS already: the FIPS endpoint is the regular name, except with dual-stack.
    ['us-gov-west-1', true, false, 'https://acm-pca.us-gov-west-1.amazonaws.com/'],
    ['us-gov-east-1', true, true, 'https://acm-pca-fips.us-gov-east-1.api.aws/'],
    ['us-gov-east-1', false, true, 'https://acm-pca.us-gov-east-1.api.aws/'],
    ['us-iso-east-1', false, false, 'https://acm-pca.us-iso-east-1.c2s.ic.gov/'],
    ['us-iso-east-1', true, false, 'https://acm-pca-fips.us-iso-east-1.c2s.ic.gov/'],
    ['us-isob-east-1', false, false, 'https://acm-pca.us-isob-east-1.sc2s.sgov.gov/'],
    ['eu-isoe-west-1', false, false, 'https://acm-pca.eu-isoe-west-1.cloud.adc-e.uk/'],
    ['us-isof-south-1', false, false, 'https://acm-pca.us-isof-south-1.csp.hci.ic.gov/'],
    ['eusc-de-east-1', false, false, 'https://acm-pca.eusc-de-east-1.amazonaws.eu/'],
    // A region no partition claims is resolved in aws, like the SDK.
    ['xx-nowhere-1', false, false, 'https://acm-pca.xx-nowhere-1.amazonaws.com/'],
  ])('%s fips=%s dualstack=%s → %s', (region, useFips, useDualStack, url) => {
    expect(resolvePcaEndpoint({ region, useFips, useDualStack }).href).toBe(url);
  });

  it('puts each region in the partition the SDK puts it in', () => {
    expect(['us-east-1', 'il-central-1', 'us-gov-west-1', 'us-iso-west-1', 'us-isob-east-1', 'us-isof-east-1', 'eu-isoe-west-1', 'cn-north-1', 'eusc-de-east-1'].map((r) => partitionOf(r).id)).toEqual([
      'aws', 'aws', 'aws-us-gov', 'aws-iso', 'aws-iso-b', 'aws-iso-f', 'aws-iso-e', 'aws-cn', 'aws-eusc',
    ]);
  });

  it('uses an endpoint override as given, and refuses it with FIPS or dual-stack as the SDK does', () => {
    expect(resolvePcaEndpoint({ region: 'us-west-2', endpoint: 'http://127.0.0.1:4566' }).href).toBe('http://127.0.0.1:4566/');
    expect(resolvePcaEndpoint({ region: 'us-west-2', endpoint: 'https://vpce-1.acm-pca.us-west-2.vpce.amazonaws.com/' }).host).toBe('vpce-1.acm-pca.us-west-2.vpce.amazonaws.com');
    expect(() => resolvePcaEndpoint({ region: 'us-west-2', useFips: true, endpoint: 'https://x.example' })).toThrow('FIPS and custom endpoint are not supported');
    expect(() => resolvePcaEndpoint({ region: 'us-west-2', useDualStack: true, endpoint: 'https://x.example' })).toThrow('Dualstack and custom endpoint are not supported');
  });

  // The SDK in devDependencies (3.523.0) carries an older partition table: it agrees on every partition
  // and option except dual-stack in the iso partitions, which AWS has added since (api.aws.ic.gov, ...).
  it('agrees with @aws-sdk/client-acm-pca on aws, aws-cn, aws-us-gov and iso FIPS', () => {
    const sdk = new ACMPCAClient({ region: 'us-west-2' });
    const regions = ['us-east-1', 'us-west-2', 'eu-central-1', 'ap-southeast-2', 'sa-east-1', 'ca-central-1', 'me-south-1', 'af-south-1', 'il-central-1', 'cn-north-1', 'cn-northwest-1', 'us-gov-west-1', 'us-gov-east-1'];
    let compared = 0;
    for (const region of regions) {
      for (const useFips of [false, true]) {
        for (const useDualStack of [false, true]) {
          const theirs = sdk.config.endpointProvider({ Region: region, UseFIPS: useFips, UseDualStack: useDualStack }).url.href;
          expect(resolvePcaEndpoint({ region, useFips, useDualStack }).href, `${region} fips=${useFips} dualstack=${useDualStack}`).toBe(theirs);
          compared++;
        }
      }
    }
    for (const region of ['us-iso-east-1', 'us-isob-east-1']) {
      for (const useFips of [false, true]) {
        expect(resolvePcaEndpoint({ region, useFips }).href).toBe(sdk.config.endpointProvider({ Region: region, UseFIPS: useFips, UseDualStack: false }).url.href);
        compared++;
      }
    }
    expect(compared).toBe(56);
    sdk.destroy();
  });

  it('config: AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT are read, and refused at start with an override', () => {
    const base = { AWS_REGION: 'us-west-2', CA_ARN: ARN };
    const c = parseConfig({ ...base, AWS_USE_FIPS_ENDPOINT: 'true', AWS_USE_DUALSTACK_ENDPOINT: 'true' });
    expect([c.pcaUseFips, c.pcaUseDualStack]).toEqual([true, true]);
    expect(parseConfig(base).pcaUseFips).toBe(false);
    expect(() => parseConfig({ ...base, AWS_USE_FIPS_ENDPOINT: 'true', AWS_ENDPOINT_URL_ACM_PCA: 'http://127.0.0.1:1' })).toThrow(/^AWS_USE_FIPS_ENDPOINT: .*FIPS and custom endpoint/);
    expect(() => parseConfig({ ...base, AWS_USE_DUALSTACK_ENDPOINT: 'true', PCA_ENDPOINT: 'http://127.0.0.1:1' })).toThrow(/^AWS_USE_DUALSTACK_ENDPOINT: /);
    expect(() => parseConfig({ ...base, AWS_USE_FIPS_ENDPOINT: 'maybe' })).toThrow(/^AWS_USE_FIPS_ENDPOINT: /);
    // Without CA_ARN there is no PCA call, so a global AWS_ENDPOINT_URL cannot conflict with anything.
    expect(parseConfig({ AWS_REGION: 'us-west-2', AWS_USE_FIPS_ENDPOINT: 'true', AWS_ENDPOINT_URL: 'http://127.0.0.1:1' }).pcaUseFips).toBe(true);
  });
});

// ---------------------------------------------------------------- the signed request

function verify(req: ReturnType<typeof buildGetCaCertificateRequest>, creds: Credentials, now = NOW) {
  return verifySigV4(
    { method: 'POST', rawPath: req.path, headers: Object.entries(req.headers) },
    {
      service: 'acm-pca',
      region: 'us-west-2',
      now,
      bodySha256: createHash('sha256').update(req.body).digest('hex'),
      resolveSecret: (accessKeyId, token) =>
        accessKeyId === creds.accessKeyId && token === creds.sessionToken
          ? { ok: true, secretAccessKey: creds.secretAccessKey, identity: accessKeyId }
          : { ok: false, code: 'UnrecognizedClientException', message: 'unknown key' },
    },
  );
}

describe('request', () => {
  const endpoint = new URL('https://acm-pca.us-west-2.amazonaws.com');

  it('is the JSON 1.1 POST the SDK sends, signed over the SHA-256 of its body (not UNSIGNED-PAYLOAD)', () => {
    const req = buildGetCaCertificateRequest(endpoint, ARN, TEMP, NOW, new SigV4Signer('us-west-2', 'acm-pca'));
    expect(req.path).toBe('/');
    expect(req.body).toBe(`{"CertificateAuthorityArn":"${ARN}"}`);
    const bodyHash = createHash('sha256').update(req.body).digest('hex');
    expect(req.headers).toMatchObject({
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'ACMPrivateCA.GetCertificateAuthorityCertificate',
      'content-length': String(Buffer.byteLength(req.body)),
      host: 'acm-pca.us-west-2.amazonaws.com',
      'x-amz-date': '20261124T123456Z',
      'x-amz-content-sha256': bodyHash,
      'x-amz-security-token': TEMP.sessionToken,
    });
    expect(req.headers['x-amz-content-sha256']).not.toBe(UNSIGNED_PAYLOAD);
    expect(req.headers['authorization']).toMatch(
      /^AWS4-HMAC-SHA256 Credential=ASIAPCATESTEXAMPLE01\/20261124\/us-west-2\/acm-pca\/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-target, Signature=[0-9a-f]{64}$/,
    );
    const v = verify(req, TEMP);
    expect(v.ok, JSON.stringify(v)).toBe(true);
    if (v.ok) expect(v.details.canonicalRequest.endsWith('\n' + bodyHash)).toBe(true);
  });

  it('is refused by the independent verifier when the body or a signed header changes after signing', () => {
    const req = buildGetCaCertificateRequest(endpoint, ARN, STATIC, NOW, new SigV4Signer('us-west-2', 'acm-pca'));
    expect(verify(req, STATIC).ok).toBe(true);
    expect(verify({ ...req, body: req.body.replace('1111', '2222') }, STATIC)).toMatchObject({ ok: false, code: 'XAmzContentSHA256Mismatch' });
    expect(verify({ ...req, headers: { ...req.headers, 'x-amz-target': 'ACMPrivateCA.DeleteCertificateAuthority' } }, STATIC)).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
    expect(verify(req, { ...STATIC, secretAccessKey: 'wrong' })).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
  });

  it('signs byte for byte as @smithy/signature-v4 does (with and without a session token, with a base path)', async () => {
    for (const [creds, url] of [[STATIC, 'https://acm-pca.us-west-2.amazonaws.com'], [TEMP, 'http://127.0.0.1:4566/base']] as const) {
      const ours = buildGetCaCertificateRequest(new URL(url), ARN, creds, NOW, new SigV4Signer('us-west-2', 'acm-pca'));
      const smithy = new SignatureV4({ service: 'acm-pca', region: 'us-west-2', credentials: creds, sha256: Sha256, uriEscapePath: true });
      const { authorization: _a, 'user-agent': _ua, 'x-amz-date': _d, 'x-amz-security-token': _t, 'x-amz-content-sha256': _c, ...unsigned } = ours.headers;
      const signed = await smithy.sign(
        { method: 'POST', protocol: new URL(url).protocol, hostname: new URL(url).hostname, port: Number(new URL(url).port) || undefined, path: ours.path, query: {}, headers: unsigned, body: ours.body },
        { signingDate: new Date(NOW) },
      );
      expect(ours.path).toBe(url.endsWith('/base') ? '/base/' : '/');
      expect(ours.headers['x-amz-content-sha256']).toBe(signed.headers['x-amz-content-sha256']);
      expect(ours.headers['authorization']).toBe(signed.headers['authorization']);
    }
  });
});

// ---------------------------------------------------------------- the answer

function answer(status: number, body: unknown, headers: Record<string, string> = {}): PcaHttpResponse {
  return { status, headers: { 'x-amzn-requestid': 'req-1', ...headers }, body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) };
}

function failure(res: PcaHttpResponse, secrets: string[] = []): PcaError {
  try {
    parseGetCaCertificateResponse(res, ARN, secrets);
  } catch (e) {
    if (e instanceof PcaError) return e;
    throw e;
  }
  throw new Error('expected a PcaError');
}

describe('response', () => {
  it('returns Certificate and CertificateChain as served', () => {
    expect(parseGetCaCertificateResponse(answer(200, { Certificate: 'C', CertificateChain: 'CHAIN' }), ARN)).toEqual({ certificate: 'C', certificateChain: 'CHAIN' });
    expect(parseGetCaCertificateResponse(answer(200, { Certificate: 'C' }), ARN)).toEqual({ certificate: 'C', certificateChain: undefined });
  });

  it.each([
    ['no certificate', answer(200, {}), 'ERR_PCA_BAD_RESPONSE', /the answer holds no certificate/],
    ['an empty certificate', answer(200, { Certificate: '' }), 'ERR_PCA_BAD_RESPONSE', /no certificate/],
    ['a chain that is not a string', answer(200, { Certificate: 'C', CertificateChain: 1 }), 'ERR_PCA_BAD_RESPONSE', /CertificateChain is not a string/],
    ['a 200 that is not JSON', answer(200, '<html>'), 'ERR_PCA_BAD_RESPONSE', /not a JSON object/],
  ])('refuses a success with %s', (_what, res, code, text) => {
    const e = failure(res);
    expect(e.code).toBe(code);
    expect(e.message).toMatch(text);
    expect(e.message).toContain(`GetCertificateAuthorityCertificate ${ARN}: `);
  });

  it.each([
    ['AccessDeniedException', 400, 'ERR_PCA_ACCESS_DENIED', /access denied: the proxy's role needs acm-pca:GetCertificateAuthorityCertificate on this CA/],
    ['ResourceNotFoundException', 400, 'ERR_PCA_NOT_FOUND', /no such certificate authority, check CA_ARN/],
    ['InvalidArnException', 400, 'ERR_PCA_INVALID_ARN', /rejects the ARN, check CA_ARN/],
    ['InvalidStateException', 400, 'ERR_PCA_INVALID_STATE', /state without a certificate/],
    ['RequestInProgressException', 400, 'ERR_PCA_BUSY', /still in progress/],
    ['ThrottlingException', 400, 'ERR_PCA_THROTTLED', /throttled/],
    ['TooManyRequestsException', 429, 'ERR_PCA_THROTTLED', /throttled/],
    ['UnrecognizedClientException', 400, 'ERR_PCA_CREDENTIALS_REJECTED', /rejected the credentials or the signature/],
    ['InvalidSignatureException', 403, 'ERR_PCA_CREDENTIALS_REJECTED', /rejected the credentials/],
    ['ExpiredTokenException', 400, 'ERR_PCA_CREDENTIALS_REJECTED', /rejected the credentials/],
    ['InternalFailure', 500, 'ERR_PCA_SERVICE', /ACM PCA failed/],
    ['ServiceUnavailable', 503, 'ERR_PCA_SERVICE', /ACM PCA failed/],
    ['ValidationException', 400, 'ERR_PCA_SERVICE', /ACM PCA refused the request/],
  ])('maps %s (HTTP %i) to %s, naming the CA, the AWS code and the request id', (type, status, code, text) => {
    const e = failure(answer(status, { __type: type, message: 'what the service said' }));
    expect(e.code).toBe(code);
    expect(e.awsCode).toBe(type);
    expect(e.httpStatus).toBe(status);
    expect(e.message).toMatch(text);
    expect(e.message).toContain(`GetCertificateAuthorityCertificate ${ARN}: `);
    expect(e.message).toContain(`${type} (HTTP ${status}, request id req-1): what the service said`);
  });

  it('reads the code as the SDK does: x-amzn-errortype first, then code, then __type; namespace and URI stripped', () => {
    expect(failure(answer(400, { __type: 'ResourceNotFoundException' }, { 'x-amzn-errortype': 'AccessDeniedException:http://internal.amazon.com/' })).code).toBe('ERR_PCA_ACCESS_DENIED');
    expect(failure(answer(400, { code: 'InvalidArnException', __type: 'ResourceNotFoundException' })).code).toBe('ERR_PCA_INVALID_ARN');
    const coral = failure(answer(400, { __type: 'com.amazon.coral.service#AccessDeniedException', Message: 'User: arn:aws:sts::1:assumed-role/r/s is not authorized' }));
    expect([coral.code, coral.awsCode]).toEqual(['ERR_PCA_ACCESS_DENIED', 'AccessDeniedException']);
    expect(coral.message).toContain(': User: arn:aws:sts::1:assumed-role/r/s is not authorized');
    expect(['com.amazonaws.acmpca#InvalidStateException', 'Throttling:http://x', 'A,B'].map(sanitizeErrorCode)).toEqual(['InvalidStateException', 'Throttling', 'A']);
  });

  it('says what it got when the answer is not an AWS error at all', () => {
    const gateway = failure(answer(502, '<html>Bad Gateway</html>', { 'content-type': 'text/html' }));
    expect(gateway.code).toBe('ERR_PCA_SERVICE');
    expect(gateway.message).toContain('the endpoint failed; no AWS error code (HTTP 502, request id req-1)');
    const notFound = failure(answer(404, 'Not Found'));
    expect(notFound.code).toBe('ERR_PCA_BAD_RESPONSE');
    expect(notFound.message).toMatch(/not an AWS JSON error, is the endpoint override right\?/);
  });

  it('never repeats a secret the service echoes, nor more than the first line, nor an unbounded message', () => {
    // A signature mismatch explains itself with the canonical request, session token included.
    const echo = `The request signature we calculated does not match.\n\nThe Canonical String for this request should have been\n'POST\n/\nx-amz-security-token:${TEMP.sessionToken}'`;
    const e = failure(answer(403, { __type: 'InvalidSignatureException', message: echo }), [TEMP.secretAccessKey, TEMP.sessionToken!]);
    expect(e.message).toContain('The request signature we calculated does not match.');
    expect(e.message).not.toContain(TEMP.sessionToken);
    expect(e.message).not.toContain('Canonical String');
    const inline = failure(answer(400, { __type: 'ValidationException', message: `bad token ${TEMP.sessionToken} and key ${TEMP.secretAccessKey}` }), [TEMP.secretAccessKey, TEMP.sessionToken!]);
    expect(inline.message).toContain('bad token [redacted] and key [redacted]');
    expect(safeServiceMessage('x'.repeat(1000), [])!.length).toBe(303);
    expect(safeServiceMessage(42, [])).toBeUndefined();
  });
});

// ---------------------------------------------------------------- the client, over the wire

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: URL }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}`) };
}
function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}
async function pcaFailure(p: Promise<unknown>): Promise<PcaError> {
  const e = await p.then(
    () => new Error('expected a failure'),
    (err: unknown) => err,
  );
  if (!(e instanceof PcaError)) throw e;
  return e;
}

describe('client transport', () => {
  it('gives up after the timeout when the endpoint never answers', async () => {
    const { server, url } = await serve(() => undefined);
    try {
      const client = new PcaClient({ region: 'us-west-2', endpoint: url, credentials: () => STATIC, timeoutMs: 300 });
      const e = await pcaFailure(client.getCertificateAuthorityCertificate(ARN));
      expect(e.code).toBe('ERR_PCA_TIMEOUT');
      expect(e.message).toBe(`GetCertificateAuthorityCertificate ${ARN}: no answer from ${url.host} within 300 ms`);
      client.close();
    } finally {
      await close(server);
    }
  });

  it('also when the endpoint trickles an answer that never ends', async () => {
    const { server, url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': PCA_CONTENT_TYPE });
      const t = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(t));
    });
    try {
      const client = new PcaClient({ region: 'us-west-2', endpoint: url, credentials: () => STATIC, timeoutMs: 400 });
      expect((await pcaFailure(client.getCertificateAuthorityCertificate(ARN))).code).toBe('ERR_PCA_TIMEOUT');
      client.close();
    } finally {
      await close(server);
    }
  });

  it('refuses an answer over the size bound, declared or streamed', async () => {
    const big = Buffer.alloc(64 * 1024, 0x20);
    const { server, url } = await serve((req, res) => {
      if (req.headers['x-test-chunked'] === undefined) res.writeHead(200, { 'content-type': PCA_CONTENT_TYPE, 'content-length': big.length });
      res.end(big);
    });
    try {
      const client = new PcaClient({ region: 'us-west-2', endpoint: url, credentials: () => STATIC, maxResponseBytes: 16 * 1024 });
      const declared = await pcaFailure(client.getCertificateAuthorityCertificate(ARN));
      expect(declared.code).toBe('ERR_PCA_BAD_RESPONSE');
      expect(declared.message).toContain('larger than 16384 bytes (content-length 65536)');
      client.close();
    } finally {
      await close(server);
    }
    const streamed = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': PCA_CONTENT_TYPE }); // chunked: no length to check up front
      res.end(big);
    });
    try {
      const client = new PcaClient({ region: 'us-west-2', endpoint: streamed.url, credentials: () => STATIC, maxResponseBytes: 16 * 1024 });
      const e = await pcaFailure(client.getCertificateAuthorityCertificate(ARN));
      expect(e.code).toBe('ERR_PCA_BAD_RESPONSE');
      expect(e.message).toContain('larger than 16384 bytes');
      client.close();
    } finally {
      await close(streamed.server);
    }
  });

  it('says it could not reach the endpoint when nothing listens, and needs credentials to sign', async () => {
    const { server, url } = await serve(() => undefined);
    await close(server);
    const client = new PcaClient({ region: 'us-west-2', endpoint: url, credentials: () => STATIC });
    const e = await pcaFailure(client.getCertificateAuthorityCertificate(ARN));
    expect(e.code).toBe('ERR_PCA_NETWORK');
    expect(e.message).toContain(`GetCertificateAuthorityCertificate ${ARN}: could not reach ACM PCA at ${url.host} (ECONNREFUSED`);
    const none = new PcaClient({ region: 'us-west-2', endpoint: url, credentials: () => undefined });
    expect((await pcaFailure(none.getCertificateAuthorityCertificate(ARN))).code).toBe('ERR_PCA_NO_CREDENTIALS');
  });

  it('close() aborts a call in flight', async () => {
    const { server, url } = await serve(() => undefined);
    try {
      const client = new PcaClient({ region: 'us-west-2', endpoint: url, credentials: () => STATIC, timeoutMs: 30_000 });
      const pending = pcaFailure(client.getCertificateAuthorityCertificate(ARN));
      await new Promise((r) => setTimeout(r, 100));
      client.close();
      expect((await pending).code).toBe('ERR_PCA_NETWORK');
    } finally {
      await close(server);
    }
  });

  it('sends what the real SDK sends for the same call (method, path, body, content type, target, body hash)', async () => {
    const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];
    const { server, url } = await serve((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        res.writeHead(200, { 'content-type': PCA_CONTENT_TYPE });
        res.end(JSON.stringify({ Certificate: 'C' }));
      });
    });
    try {
      const endpoint = new URL('/base', url);
      const sdk = new ACMPCAClient({ region: 'us-west-2', endpoint: endpoint.href, credentials: TEMP, maxAttempts: 1 });
      await sdk.send(new GetCertificateAuthorityCertificateCommand({ CertificateAuthorityArn: ARN }));
      sdk.destroy();
      const ours = new PcaClient({ region: 'us-west-2', endpoint, credentials: () => TEMP });
      await ours.getCertificateAuthorityCertificate(ARN);
      ours.close();
      const [theirs, mine] = seen as [(typeof seen)[0], (typeof seen)[0]];
      for (const r of [theirs, mine]) {
        expect(r.headers['authorization']).toMatch(/Credential=ASIAPCATESTEXAMPLE01\/\d{8}\/us-west-2\/acm-pca\/aws4_request/);
      }
      expect([mine.method, mine.url, mine.body]).toEqual([theirs.method, theirs.url, theirs.body]);
      for (const h of ['content-type', 'x-amz-target', 'content-length', 'host', 'x-amz-content-sha256', 'x-amz-security-token']) {
        expect(mine.headers[h], h).toBe(theirs.headers[h]);
      }
      expect([mine.headers['content-type'], mine.headers['x-amz-target']]).toEqual([PCA_CONTENT_TYPE, PCA_TARGET]);
    } finally {
      await close(server);
    }
  });
});

// ---------------------------------------------------------------- against the ACM PCA emulator

describe('against the ACM PCA emulator (independent SigV4 verifier)', () => {
  const iamKey = 'pca-module-test-key';
  const user = { ...STATIC, principalArn: 'arn:aws:iam::123456789012:user/proxy' };
  let ca: TestCa;
  let chain: string;
  let pca: PcaEmulator;
  let denying: PcaEmulator;
  let agent: PodIdentityAgent;
  beforeAll(async () => {
    ca = await createTestCa('PCA module root');
    chain = (await createTestCa('PCA module parent')).certPem;
    pca = await startPcaEmulator({ caArn: ARN, caCertPem: ca.certPem, chainPem: chain, iamKey, staticUsers: [user] });
    denying = await startPcaEmulator({ caArn: ARN, caCertPem: ca.certPem, iamKey, staticUsers: [user], authorize: () => false });
    agent = await startPodIdentityAgent({ token: 'pca-module-token', iamKey, roleArn: 'arn:aws:iam::123456789012:role/proxy', tags: {} });
  });
  afterAll(async () => {
    await Promise.all([pca?.close(), denying?.close(), agent?.close()]);
  });
  const client = (endpoint: string, creds: Credentials) => new PcaClient({ region: 'us-west-2', endpoint: new URL(endpoint), credentials: () => creds });

  it('is accepted and served, with static credentials', async () => {
    const served = pca.stats.served;
    const out = await client(pca.endpoint, STATIC).getCertificateAuthorityCertificate(ARN);
    expect(out).toEqual({ certificate: ca.certPem, certificateChain: chain });
    expect(pca.stats.served).toBe(served + 1);
  });

  it('is accepted and served, with temporary credentials from the Pod Identity agent (session token signed)', async () => {
    const res = await fetch(`${agent.url}`, { headers: { authorization: 'pca-module-token' } });
    const body = (await res.json()) as { AccessKeyId: string; SecretAccessKey: string; Token: string };
    const creds = { accessKeyId: body.AccessKeyId, secretAccessKey: body.SecretAccessKey, sessionToken: body.Token };
    expect(creds.accessKeyId).toMatch(/^ASIA/);
    const out = await client(pca.endpoint, creds).getCertificateAuthorityCertificate(ARN);
    expect(out.certificate).toBe(ca.certPem);
  });

  it('wrong secret: credentials rejected, the CA named, the secret not', async () => {
    const wrong = { ...STATIC, secretAccessKey: 'not-the-secret-0123456789' };
    const e = await pcaFailure(client(pca.endpoint, wrong).getCertificateAuthorityCertificate(ARN));
    expect(e.code).toBe('ERR_PCA_CREDENTIALS_REJECTED');
    expect(e.awsCode).toBe('InvalidSignatureException');
    expect(e.message).toContain(`GetCertificateAuthorityCertificate ${ARN}: ACM PCA rejected the credentials or the signature`);
    expect(e.message).not.toContain(wrong.secretAccessKey);
    expect(e.message).not.toContain(STATIC.secretAccessKey);
  });

  it('unknown access key: credentials rejected', async () => {
    const e = await pcaFailure(client(pca.endpoint, { accessKeyId: 'AKIAUNKNOWNEXAMPLE00', secretAccessKey: 'x' }).getCertificateAuthorityCertificate(ARN));
    expect([e.code, e.awsCode]).toEqual(['ERR_PCA_CREDENTIALS_REJECTED', 'UnrecognizedClientException']);
  });

  it('IAM denies: access denied, with the principal and what the role needs', async () => {
    const e = await pcaFailure(client(denying.endpoint, STATIC).getCertificateAuthorityCertificate(ARN));
    expect(e.code).toBe('ERR_PCA_ACCESS_DENIED');
    expect(e.httpStatus).toBe(400);
    expect(e.message).toContain(`GetCertificateAuthorityCertificate ${ARN}: access denied: the proxy's role needs acm-pca:GetCertificateAuthorityCertificate on this CA`);
    expect(e.message).toContain('User: arn:aws:iam::123456789012:user/proxy is not authorized to perform: acm-pca:GetCertificateAuthorityCertificate');
  });

  it('unknown CA: not found; 500: service failure (no retry here, trust.ts retries)', async () => {
    const unknown = ARN.replace('11111111', '99999999');
    const e = await pcaFailure(client(pca.endpoint, STATIC).getCertificateAuthorityCertificate(unknown));
    expect(e.code).toBe('ERR_PCA_NOT_FOUND');
    expect(e.message).toContain(`GetCertificateAuthorityCertificate ${unknown}: no such certificate authority`);
    const calls = pca.stats.calls;
    pca.failNext(1);
    expect((await pcaFailure(client(pca.endpoint, STATIC).getCertificateAuthorityCertificate(ARN))).code).toBe('ERR_PCA_SERVICE');
    expect(pca.stats.calls).toBe(calls + 1);
  });
});
