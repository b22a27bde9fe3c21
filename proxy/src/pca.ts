// ACM Private CA GetCertificateAuthorityCertificate, the one AWS API call the proxy makes itself: AWS JSON 1.1
// over HTTPS, signed with SigV4 for `acm-pca`.
//
// Why not @aws-sdk/client-acm-pca: the newest release the registry serves (3.523.0) brings a second, older copy
// of the AWS SDK (fast-xml-parser 4.2.5 with critical/high advisories among it) and ~10 MiB of resident memory
// for a call made once an hour. What the call needs is small and fixed: endpoint rules, one signed POST, and
// the JSON 1.1 error shape. The tests hold this module to the SDK (same endpoints, a request the SDK's own
// emulator conformance tests accept, the same signature as @smithy/signature-v4).

import { createHash } from 'node:crypto';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { errorCode, PcaError, type PcaErrorCode } from './errors.js';
import { SigV4Signer, type Credentials } from './signer.js';

export const PCA_SIGNING_SERVICE = 'acm-pca';
export const PCA_TARGET = 'ACMPrivateCA.GetCertificateAuthorityCertificate';
export const PCA_CONTENT_TYPE = 'application/x-amz-json-1.1';
const OPERATION = 'GetCertificateAuthorityCertificate';

/** No answer in this time is a failure; trust.ts retries with backoff (the SDK had no timeout at all). */
export const DEFAULT_PCA_TIMEOUT_MS = 10_000;
// A certificate is a few KB, but ImportCertificateAuthorityCertificate accepts a chain of up to 2 MiB, and
// JSON escapes every newline of it: room for that, and nothing a broken or hostile endpoint can grow.
export const DEFAULT_PCA_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

// ---------------------------------------------------------------- endpoint resolution

interface Partition {
  readonly id: string;
  readonly regionRegex: RegExp;
  readonly dnsSuffix: string;
  readonly dualStackDnsSuffix: string;
  readonly supportsFIPS: boolean;
  readonly supportsDualStack: boolean;
}

// The partitions of the AWS SDK (@aws-sdk/util-endpoints partitions.json as bundled in @aws-sdk/core
// 3.981.0), in its order. The SDK first looks the region up in each partition's list of region names, then
// tries the regexes; every listed real region matches its own partition's regex and no earlier one, so the
// regexes alone give the same answer for any region name config.ts accepts. Unknown regions fall back to aws.
const PARTITIONS: readonly Partition[] = [
  { id: 'aws', regionRegex: /^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$/, dnsSuffix: 'amazonaws.com', dualStackDnsSuffix: 'api.aws', supportsFIPS: true, supportsDualStack: true },
  { id: 'aws-cn', regionRegex: /^cn-\w+-\d+$/, dnsSuffix: 'amazonaws.com.cn', dualStackDnsSuffix: 'api.amazonwebservices.com.cn', supportsFIPS: true, supportsDualStack: true },
  { id: 'aws-eusc', regionRegex: /^eusc-(de)-\w+-\d+$/, dnsSuffix: 'amazonaws.eu', dualStackDnsSuffix: 'api.amazonwebservices.eu', supportsFIPS: true, supportsDualStack: true },
  { id: 'aws-iso', regionRegex: /^us-iso-\w+-\d+$/, dnsSuffix: 'c2s.ic.gov', dualStackDnsSuffix: 'api.aws.ic.gov', supportsFIPS: true, supportsDualStack: true },
  { id: 'aws-iso-b', regionRegex: /^us-isob-\w+-\d+$/, dnsSuffix: 'sc2s.sgov.gov', dualStackDnsSuffix: 'api.aws.scloud', supportsFIPS: true, supportsDualStack: true },
  { id: 'aws-iso-e', regionRegex: /^eu-isoe-\w+-\d+$/, dnsSuffix: 'cloud.adc-e.uk', dualStackDnsSuffix: 'api.cloud-aws.adc-e.uk', supportsFIPS: true, supportsDualStack: true },
  { id: 'aws-iso-f', regionRegex: /^us-isof-\w+-\d+$/, dnsSuffix: 'csp.hci.ic.gov', dualStackDnsSuffix: 'api.aws.hci.ic.gov', supportsFIPS: true, supportsDualStack: true },
  { id: 'aws-us-gov', regionRegex: /^us-gov-\w+-\d+$/, dnsSuffix: 'amazonaws.com', dualStackDnsSuffix: 'api.aws', supportsFIPS: true, supportsDualStack: true },
];

export function partitionOf(region: string): { id: string; dnsSuffix: string; dualStackDnsSuffix: string; supportsFIPS: boolean; supportsDualStack: boolean } {
  const p = PARTITIONS.find((x) => x.regionRegex.test(region)) ?? PARTITIONS[0]!;
  return { id: p.id, dnsSuffix: p.dnsSuffix, dualStackDnsSuffix: p.dualStackDnsSuffix, supportsFIPS: p.supportsFIPS, supportsDualStack: p.supportsDualStack };
}

export interface PcaEndpointOptions {
  /** The CA's region (from its ARN). */
  readonly region: string;
  readonly useFips?: boolean;
  readonly useDualStack?: boolean;
  /** PCA_ENDPOINT / AWS_ENDPOINT_URL_ACM_PCA / AWS_ENDPOINT_URL, already validated as an http(s) URL. */
  readonly endpoint?: string | undefined;
}

/**
 * The acm-pca endpoint rule set of the AWS SDK, with the SDK's error texts: an override wins and cannot be
 * combined with FIPS or dual-stack; GovCloud's FIPS endpoint is the regular name (GovCloud is FIPS already).
 */
export function resolvePcaEndpoint(o: PcaEndpointOptions): URL {
  const fips = o.useFips === true;
  const dual = o.useDualStack === true;
  if (o.endpoint !== undefined) {
    if (fips) throw new Error('Invalid Configuration: FIPS and custom endpoint are not supported');
    if (dual) throw new Error('Invalid Configuration: Dualstack and custom endpoint are not supported');
    return new URL(o.endpoint);
  }
  const p = partitionOf(o.region);
  if (fips && dual) {
    if (!(p.supportsFIPS && p.supportsDualStack)) throw new Error('FIPS and DualStack are enabled, but this partition does not support one or both');
    return new URL(`https://acm-pca-fips.${o.region}.${p.dualStackDnsSuffix}`);
  }
  if (fips) {
    if (!p.supportsFIPS) throw new Error('FIPS is enabled but this partition does not support FIPS');
    return new URL(p.id === 'aws-us-gov' ? `https://acm-pca.${o.region}.amazonaws.com` : `https://acm-pca-fips.${o.region}.${p.dnsSuffix}`);
  }
  if (dual) {
    if (!p.supportsDualStack) throw new Error('DualStack is enabled but this partition does not support DualStack');
    return new URL(`https://acm-pca.${o.region}.${p.dualStackDnsSuffix}`);
  }
  return new URL(`https://acm-pca.${o.region}.${p.dnsSuffix}`);
}

// ---------------------------------------------------------------- the signed request

export interface PcaHttpRequest {
  readonly url: URL;
  readonly path: string;
  /** Lower-case names, sorted; every one of them is signed except user-agent. */
  readonly headers: Record<string, string>;
  readonly body: string;
}


/**
 * The request, signed. Unlike the request path (which Lattice requires to be UNSIGNED-PAYLOAD), the SDK
 * signs JSON-protocol bodies: x-amz-content-sha256 carries the body's real SHA-256 and the signature covers
 * it. `signer` is the proxy's SigV4Signer for this region and `acm-pca`.
 */
export function buildGetCaCertificateRequest(endpoint: URL, arn: string, creds: Credentials, nowMs: number, signer: SigV4Signer): PcaHttpRequest {
  const body = JSON.stringify({ CertificateAuthorityArn: arn });
  // A custom endpoint may carry a base path; the operation path "/" is appended to it, as the SDK does.
  const base = endpoint.pathname.endsWith('/') ? endpoint.pathname.slice(0, -1) : endpoint.pathname;
  const path = base + '/';

  const signed: Array<[string, string]> = [
    ['content-length', String(Buffer.byteLength(body))],
    ['content-type', PCA_CONTENT_TYPE],
    ['host', endpoint.host],
    ['x-amz-target', PCA_TARGET],
  ];
  // sign() adds x-amz-content-sha256, x-amz-date and the session token to `signed`, exactly as signed.
  const { authorization } = signer.sign('POST', path, signed, creds, nowMs, createHash('sha256').update(body, 'utf8').digest('hex'));

  const headers: Record<string, string> = Object.fromEntries(signed);
  headers['authorization'] = authorization;
  headers['user-agent'] = 'lattice-sigv4-proxy';
  return { url: endpoint, path, headers, body };
}

// ---------------------------------------------------------------- the answer

export interface CaCertificate {
  /** The CA's own certificate (PEM). */
  readonly certificate: string;
  /** For a subordinate CA, the chain up to the root (PEM); a root CA has none. */
  readonly certificateChain: string | undefined;
}

const THROTTLING = new Set([
  'ThrottlingException', 'Throttling', 'ThrottledException', 'RequestThrottledException', 'TooManyRequestsException',
  'ProvisionedThroughputExceededException', 'TransactionInProgressException', 'RequestLimitExceeded',
  'BandwidthLimitExceeded', 'LimitExceededException', 'RequestThrottled', 'SlowDown', 'PriorRequestNotComplete',
  'EC2ThrottledException',
]);
// Codes that mean the credentials or the signature were refused, before any authorisation of the call.
const CREDENTIALS_REJECTED = new Set([
  'UnrecognizedClientException', 'InvalidClientTokenId', 'InvalidSignatureException', 'SignatureDoesNotMatch',
  'IncompleteSignature', 'MissingAuthenticationToken', 'MissingAuthenticationTokenException', 'ExpiredToken',
  'ExpiredTokenException', 'RequestExpired', 'InvalidAccessKeyId', 'MissingSecurityToken', 'AuthFailure',
  'InvalidPayloadSigning', 'XAmzContentSHA256Mismatch',
]);

/** The AWS error code as the SDK reads it: `Ns#Code:uri` → `Code`. */
export function sanitizeErrorCode(raw: string): string {
  let v = raw;
  if (v.includes(',')) v = v.split(',')[0]!;
  if (v.includes(':')) v = v.split(':')[0]!;
  if (v.includes('#')) v = v.split('#')[1]!;
  return v.trim();
}

/**
 * The service's message, fit for a log line and /readyz: first line only (a signature mismatch explains
 * itself with the canonical request below it, session token included), bounded, and with the credentials
 * in use blanked should the service echo them anyway.
 */
export function safeServiceMessage(raw: unknown, secrets: ReadonlyArray<string | undefined>): string | undefined {
  if (typeof raw !== 'string') return undefined;
  let m = raw.split(/\r?\n/, 1)[0]!.trim();
  for (const s of secrets) if (s) m = m.split(s).join('[redacted]');
  if (m.length > 300) m = m.slice(0, 300) + '...';
  return m === '' ? undefined : m;
}

export interface PcaHttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

function header(headers: PcaHttpResponse['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Turn the HTTP answer into the certificate, or into an error that says what to fix. */
export function parseGetCaCertificateResponse(res: PcaHttpResponse, arn: string, secrets: ReadonlyArray<string | undefined> = []): CaCertificate {
  const prefix = `${OPERATION} ${arn}`;
  const requestId = header(res.headers, 'x-amzn-requestid');
  let json: unknown;
  try {
    json = res.body.length === 0 ? undefined : JSON.parse(res.body.toString('utf8'));
  } catch {
    json = undefined;
  }
  const obj = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;

  if (res.status >= 200 && res.status < 300) {
    if (obj === undefined) {
      throw new PcaError('ERR_PCA_BAD_RESPONSE', `${prefix}: HTTP ${res.status} with a body that is not a JSON object`, { httpStatus: res.status });
    }
    const cert = obj['Certificate'];
    const chain = obj['CertificateChain'];
    if (typeof cert !== 'string' || cert === '') {
      throw new PcaError('ERR_PCA_BAD_RESPONSE', `${prefix}: the answer holds no certificate`, { httpStatus: res.status });
    }
    if (chain !== undefined && chain !== null && typeof chain !== 'string') {
      throw new PcaError('ERR_PCA_BAD_RESPONSE', `${prefix}: CertificateChain is not a string`, { httpStatus: res.status });
    }
    return { certificate: cert, certificateChain: typeof chain === 'string' ? chain : undefined };
  }

  // AWS JSON 1.1 errors: the code in x-amzn-errortype, else `code`, else `__type`; the text in `message`
  // or `Message` (the SDK reads them in this order).
  const rawCode = header(res.headers, 'x-amzn-errortype') ?? (typeof obj?.['code'] === 'string' ? obj['code'] : undefined) ?? (typeof obj?.['__type'] === 'string' ? obj['__type'] : undefined);
  const awsCode = rawCode === undefined ? undefined : sanitizeErrorCode(rawCode);
  const message = safeServiceMessage(obj?.['message'] ?? obj?.['Message'], secrets);
  const answered = `; ${awsCode ?? 'no AWS error code'} (HTTP ${res.status}${requestId ? `, request id ${requestId}` : ''})${message ? `: ${message}` : ''}`;
  const fail = (code: PcaErrorCode, what: string): PcaError => new PcaError(code, `${prefix}: ${what}${answered}`, { awsCode, httpStatus: res.status });

  if (awsCode === undefined) {
    if (res.status >= 500) throw fail('ERR_PCA_SERVICE', 'the endpoint failed');
    throw fail('ERR_PCA_BAD_RESPONSE', 'the endpoint answered with something that is not an AWS JSON error, is the endpoint override right?');
  }
  if (awsCode === 'AccessDeniedException' || awsCode === 'AccessDenied') {
    throw fail('ERR_PCA_ACCESS_DENIED', "access denied: the proxy's role needs acm-pca:GetCertificateAuthorityCertificate on this CA (and, for a CA shared from another account, the CA's resource policy must allow it)");
  }
  if (awsCode === 'ResourceNotFoundException') throw fail('ERR_PCA_NOT_FOUND', 'no such certificate authority, check CA_ARN (account, region, id)');
  if (awsCode === 'InvalidArnException') throw fail('ERR_PCA_INVALID_ARN', 'ACM PCA rejects the ARN, check CA_ARN');
  if (awsCode === 'InvalidStateException') throw fail('ERR_PCA_INVALID_STATE', 'the CA is in a state without a certificate to give (pending certificate, failed or deleted)');
  if (awsCode === 'RequestInProgressException') throw fail('ERR_PCA_BUSY', 'a request on this CA is still in progress');
  if (THROTTLING.has(awsCode)) throw fail('ERR_PCA_THROTTLED', 'throttled by ACM PCA');
  if (CREDENTIALS_REJECTED.has(awsCode)) throw fail('ERR_PCA_CREDENTIALS_REJECTED', 'ACM PCA rejected the credentials or the signature');
  if (res.status >= 500) throw fail('ERR_PCA_SERVICE', 'ACM PCA failed');
  throw fail('ERR_PCA_SERVICE', 'ACM PCA refused the request');
}

// ---------------------------------------------------------------- the client

export interface PcaClientOptions {
  /** The CA's region: signing region and endpoint. */
  readonly region: string;
  readonly endpoint: URL;
  /** Current credentials, never waiting (the proxy's credential cache). */
  readonly credentials: () => Credentials | undefined;
  readonly timeoutMs?: number;
  readonly maxResponseBytes?: number;
  readonly now?: () => number;
}

/**
 * node:http(s), not undici: the data path no longer loads undici, and for one call an hour it would cost
 * ~20 MB of RSS (measured: bare Node 40 MB, + undici 61 MB). The endpoint is a public AWS endpoint: the
 * default CA store (plus NODE_EXTRA_CA_CERTS) is trusted, not CA_FILE or the Private CA, exactly as with the
 * SDK.
 */
export class PcaClient {
  readonly endpoint: URL;
  readonly #o: PcaClientOptions;
  readonly #signer: SigV4Signer;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #inFlight = new Set<ClientRequest>();

  constructor(options: PcaClientOptions) {
    this.#o = options;
    this.endpoint = options.endpoint;
    this.#signer = new SigV4Signer(options.region, PCA_SIGNING_SERVICE);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_PCA_TIMEOUT_MS;
    this.#maxBytes = options.maxResponseBytes ?? DEFAULT_PCA_MAX_RESPONSE_BYTES;
  }

  async getCertificateAuthorityCertificate(arn: string): Promise<CaCertificate> {
    const creds = this.#o.credentials();
    if (!creds) throw new PcaError('ERR_PCA_NO_CREDENTIALS', `${OPERATION} ${arn}: no valid AWS credentials to sign with yet`);
    const req = buildGetCaCertificateRequest(this.endpoint, arn, creds, (this.#o.now ?? Date.now)(), this.#signer);
    const res = await this.#send(req, arn);
    return parseGetCaCertificateResponse(res, arn, [creds.secretAccessKey, creds.sessionToken]);
  }

  /** Abort what is in flight. */
  close(): void {
    for (const r of this.#inFlight) r.destroy(new Error('the PCA client was closed'));
    this.#inFlight.clear();
  }

  #send(req: PcaHttpRequest, arn: string): Promise<PcaHttpResponse> {
    const target = this.endpoint.host;
    const url = new URL(req.path, req.url.origin);
    return new Promise<PcaHttpResponse>((resolve, reject) => {
      let timedOut = false;
      let settled = false;
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        if (err instanceof PcaError) return reject(err);
        const code = errorCode(err);
        if (timedOut || code === 'ETIMEDOUT') {
          return reject(new PcaError('ERR_PCA_TIMEOUT', `${OPERATION} ${arn}: no answer from ${target} within ${this.#timeoutMs} ms`, { cause: err }));
        }
        const detail = err instanceof Error ? err.message : String(err);
        reject(new PcaError('ERR_PCA_NETWORK', `${OPERATION} ${arn}: could not reach ACM PCA at ${target} (${code || 'error'}: ${detail})`, { cause: err }));
      };
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const r = send(
        url,
        // Once an hour: no point keeping the connection.
        { method: 'POST', headers: req.headers, agent: false },
        (res) => {
          const declared = Number(res.headers['content-length']);
          if (Number.isFinite(declared) && declared > this.#maxBytes) {
            res.destroy();
            return fail(new PcaError('ERR_PCA_BAD_RESPONSE', `${OPERATION} ${arn}: the answer from ${target} is larger than ${this.#maxBytes} bytes (content-length ${declared})`, { httpStatus: res.statusCode }));
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > this.#maxBytes) {
              res.destroy();
              fail(new PcaError('ERR_PCA_BAD_RESPONSE', `${OPERATION} ${arn}: the answer from ${target} is larger than ${this.#maxBytes} bytes`, { httpStatus: res.statusCode }));
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', fail);
          res.on('end', () => {
            if (settled) return;
            settled = true;
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
          });
        },
      );
      this.#inFlight.add(r);
      // One deadline for connect, headers and body together: a trickling answer must not hold the fetch for hours.
      const timer = setTimeout(() => {
        timedOut = true;
        r.destroy(new Error('timeout'));
      }, this.#timeoutMs);
      timer.unref();
      r.on('close', () => {
        clearTimeout(timer);
        this.#inFlight.delete(r);
      });
      r.on('error', fail);
      r.end(req.body);
    });
  }
}
