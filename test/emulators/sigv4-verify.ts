// Independent AWS Signature Version 4 verifier (node:crypto only, no AWS code), written from the SigV4
// specification and checked against the AWS SigV4 test suite. It must stay independent of the proxy's signer
// (@smithy/signature-v4): agreement between two implementations is what the tests prove.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** node IncomingMessage.rawHeaders (flat name,value,...) or explicit pairs, in wire order. */
export type RawHeaders = readonly string[] | ReadonlyArray<readonly [string, string]>;

export interface SigV4Request {
  method: string;
  /** path + query exactly as on the wire (req.url) */
  rawPath: string;
  headers: RawHeaders;
}

export type VerifyFailureCode =
  | 'MissingAuthenticationToken'
  | 'IncompleteSignature'
  | 'InvalidSignatureException'
  | 'SignatureDoesNotMatch'
  | 'RequestExpired'
  | 'UnrecognizedClientException'
  | 'InvalidClientTokenId'
  | 'MissingSecurityToken'
  | 'ExpiredToken'
  | 'InvalidPayloadSigning'
  | 'XAmzContentSHA256Mismatch';

export type ResolveSecretResult<I> =
  | { ok: true; secretAccessKey: string; identity: I }
  | { ok: false; code: VerifyFailureCode; message: string };

export interface VerifyOptions<I> {
  resolveSecret(accessKeyId: string, sessionToken: string | undefined): ResolveSecretResult<I>;
  /** Expected signing service (credential scope). */
  service: string;
  /** Expected region; any region is accepted when absent. */
  region?: string;
  /** epoch ms */
  now: number;
  maxSkewSeconds?: number;
  /** Lattice refuses payload signing: x-amz-content-sha256 must be present, signed, and UNSIGNED-PAYLOAD. */
  requireUnsignedPayload?: boolean;
  /** Hex sha256 of the real body when the caller has it (buffered JSON APIs); checked against x-amz-content-sha256. */
  bodySha256?: string;
  /** false only for S3-style signing (no dot-segment/empty-segment normalisation). Default true. */
  normalizePath?: boolean;
}

export interface SigV4Details {
  canonicalRequest: string;
  stringToSign: string;
  expectedSignature: string;
}

export type VerifyResult<I> =
  | { ok: true; accessKeyId: string; identity: I; signedHeaders: string[]; presigned: boolean; details: SigV4Details }
  | { ok: false; code: VerifyFailureCode; message: string; accessKeyId?: string; details?: SigV4Details };

export interface ParsedAuthorization {
  algorithm: string;
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  terminator: string;
  credentialScope: string;
  signedHeaders: string[];
  signature: string;
}

// ---------------------------------------------------------------- encoding

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e // - . _ ~
  );
}

/** RFC 3986 percent-encoding of raw bytes, upper-case hex, only A-Za-z0-9-_.~ kept. */
export function uriEncodeBytes(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    out += isUnreserved(b) ? String.fromCharCode(b) : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

export function uriEncode(text: string): string {
  return uriEncodeBytes(Buffer.from(text, 'utf8'));
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/**
 * Percent-decodes to bytes. '+' stays a literal plus (RFC 3986, not form encoding); a '%' not followed by two
 * hex digits is kept literally, so malformed input canonicalises deterministically instead of throwing.
 */
export function percentDecodeBytes(text: string): Buffer {
  const src = Buffer.from(text, 'utf8');
  const out = Buffer.alloc(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i] as number;
    if (c === 0x25 && i + 2 < src.length) {
      const hi = hexValue(src[i + 1] as number);
      const lo = hexValue(src[i + 2] as number);
      if (hi >= 0 && lo >= 0) {
        out[n++] = hi * 16 + lo;
        i += 2;
        continue;
      }
    }
    out[n++] = c;
  }
  return out.subarray(0, n);
}

// ---------------------------------------------------------------- canonical parts

export function splitRawPath(rawPath: string): { path: string; query: string } {
  const q = rawPath.indexOf('?');
  return q < 0 ? { path: rawPath, query: '' } : { path: rawPath.slice(0, q), query: rawPath.slice(q + 1) };
}

/**
 * Canonical URI for non-S3 services: dot segments resolved, empty segments dropped (a trailing slash kept), and
 * every segment URI-encoded as it appears on the wire — so a wire `%20` becomes `%2520` (double encoding).
 */
export function canonicalUri(path: string, normalize = true): string {
  if (path === '') return '/';
  const segments = path.split('/');
  let kept: string[];
  if (normalize) {
    kept = [];
    for (const seg of segments) {
      if (seg === '' || seg === '.') continue;
      if (seg === '..') kept.pop();
      else kept.push(seg);
    }
    const lead = path.startsWith('/') ? '/' : '';
    const trail = kept.length > 0 && path.endsWith('/') ? '/' : '';
    return lead + kept.map(uriEncode).join('/') + trail;
  }
  kept = segments;
  return kept.map(uriEncode).join('/');
}

/** Canonical query string; `exclude` drops parameters by decoded name (X-Amz-Signature of a presigned URL). */
export function canonicalQuery(query: string, exclude: readonly string[] = []): string {
  if (query === '') return '';
  const pairs: Array<[string, string]> = [];
  for (const piece of query.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const rawKey = eq < 0 ? piece : piece.slice(0, eq);
    const rawValue = eq < 0 ? '' : piece.slice(eq + 1);
    const keyBytes = percentDecodeBytes(rawKey);
    if (exclude.includes(keyBytes.toString('utf8'))) continue;
    pairs.push([uriEncodeBytes(keyBytes), uriEncodeBytes(percentDecodeBytes(rawValue))]);
  }
  // Encoded forms are pure ASCII, so code-unit order is byte order, which is what AWS sorts by.
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/** Lower-cased header name → values in wire order. */
export function headerMap(headers: RawHeaders): Map<string, string[]> {
  const map = new Map<string, string[]>();
  const add = (name: string, value: string): void => {
    const key = name.toLowerCase();
    const list = map.get(key);
    if (list) list.push(value);
    else map.set(key, [value]);
  };
  if (headers.length > 0 && typeof headers[0] === 'string') {
    const flat = headers as readonly string[];
    for (let i = 0; i + 1 < flat.length; i += 2) add(flat[i] as string, flat[i + 1] as string);
  } else {
    for (const pair of headers as ReadonlyArray<readonly [string, string]>) add(pair[0], pair[1]);
  }
  return map;
}

export function canonicalHeaderValue(values: readonly string[]): string {
  return values.map((v) => v.trim().replace(/\s+/g, ' ')).join(',');
}

export interface CanonicalRequestInput {
  method: string;
  path: string;
  query: string;
  headers: Map<string, string[]>;
  signedHeaders: readonly string[];
  payloadHash: string;
  normalizePath?: boolean;
  excludeQuery?: readonly string[];
}

export function canonicalRequest(input: CanonicalRequestInput): string {
  const headerLines = input.signedHeaders.map(
    (name) => `${name}:${canonicalHeaderValue(input.headers.get(name) ?? [])}\n`,
  );
  return [
    input.method.toUpperCase(),
    canonicalUri(input.path, input.normalizePath ?? true),
    canonicalQuery(input.query, input.excludeQuery),
    headerLines.join(''),
    input.signedHeaders.join(';'),
    input.payloadHash,
  ].join('\n');
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function stringToSign(amzDate: string, credentialScope: string, canonicalRequestText: string): string {
  return [ALGORITHM, amzDate, credentialScope, sha256Hex(canonicalRequestText)].join('\n');
}

export function deriveSigningKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  const kDate = createHmac('sha256', 'AWS4' + secretAccessKey).update(date).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  return createHmac('sha256', kService).update('aws4_request').digest();
}

export function signature(signingKey: Buffer, stringToSignText: string): string {
  return createHmac('sha256', signingKey).update(stringToSignText).digest('hex');
}

// ---------------------------------------------------------------- parsing

export function parseCredential(credential: string): Omit<ParsedAuthorization, 'algorithm' | 'signedHeaders' | 'signature'> | undefined {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts.some((p) => p === '')) return undefined;
  const [accessKeyId, date, region, service, terminator] = parts as [string, string, string, string, string];
  return { accessKeyId, date, region, service, terminator, credentialScope: `${date}/${region}/${service}/${terminator}` };
}

export function parseAuthorization(header: string): ParsedAuthorization | { error: string } {
  const trimmed = header.trim();
  const sp = trimmed.indexOf(' ');
  if (sp < 0) return { error: 'Authorization header requires Credential, SignedHeaders and Signature parameters.' };
  const algorithm = trimmed.slice(0, sp);
  const fields = new Map<string, string>();
  for (const part of trimmed.slice(sp + 1).split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq < 0) return { error: `Authorization header parameter '${p}' is malformed.` };
    const name = p.slice(0, eq).trim();
    if (fields.has(name)) return { error: `Authorization header parameter '${name}' is repeated.` };
    fields.set(name, p.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const sig = fields.get('Signature');
  const missing = [
    credential === undefined ? 'Credential' : undefined,
    signedHeaders === undefined ? 'SignedHeaders' : undefined,
    sig === undefined ? 'Signature' : undefined,
  ].filter((x): x is string => x !== undefined);
  if (missing.length > 0) {
    return { error: `Authorization header requires '${missing.join("', '")}' parameter(s). Authorization=${algorithm}` };
  }
  const cred = parseCredential(credential as string);
  if (!cred) return { error: `Credential '${credential}' is malformed: expected <key>/<date>/<region>/<service>/aws4_request.` };
  return { algorithm, ...cred, signedHeaders: (signedHeaders as string).split(';'), signature: sig as string };
}

/** 20150830T123600Z → epoch ms, undefined when malformed. */
export function parseAmzDate(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return Number.isNaN(ms) ? undefined : ms;
}

export function formatAmzDate(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function queryParams(query: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const piece of query.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const k = percentDecodeBytes(eq < 0 ? piece : piece.slice(0, eq)).toString('utf8');
    const v = percentDecodeBytes(eq < 0 ? '' : piece.slice(eq + 1)).toString('utf8');
    if (!map.has(k)) map.set(k, v);
  }
  return map;
}

function signaturesEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

// ---------------------------------------------------------------- verification

type Fail = { ok: false; code: VerifyFailureCode; message: string; accessKeyId?: string; details?: SigV4Details };

function fail(code: VerifyFailureCode, message: string, extra: Partial<Fail> = {}): Fail {
  return { ok: false, code, message, ...extra };
}

export function verifySigV4<I>(req: SigV4Request, opts: VerifyOptions<I>): VerifyResult<I> {
  const headers = headerMap(req.headers);
  const { path, query } = splitRawPath(req.rawPath);
  const authValues = headers.get('authorization');
  const params = query.includes('X-Amz-') ? queryParams(query) : new Map<string, string>();
  const presigned = authValues === undefined && params.has('X-Amz-Algorithm');

  let auth: ParsedAuthorization;
  let amzDateText: string | undefined;
  let token: string | undefined;
  let expiresSeconds: number | undefined;
  if (authValues !== undefined) {
    if (authValues.length !== 1) return fail('IncompleteSignature', 'Multiple Authorization headers.');
    const parsed = parseAuthorization(authValues[0] as string);
    if ('error' in parsed) return fail('IncompleteSignature', parsed.error);
    auth = parsed;
    amzDateText = headers.get('x-amz-date')?.[0];
    token = headers.get('x-amz-security-token')?.[0];
  } else if (presigned) {
    const cred = parseCredential(params.get('X-Amz-Credential') ?? '');
    const sh = params.get('X-Amz-SignedHeaders');
    const sig = params.get('X-Amz-Signature');
    if (!cred || sh === undefined || sig === undefined) {
      return fail('IncompleteSignature', 'Presigned URL requires X-Amz-Credential, X-Amz-SignedHeaders and X-Amz-Signature.');
    }
    auth = { algorithm: params.get('X-Amz-Algorithm') as string, ...cred, signedHeaders: sh.split(';'), signature: sig };
    amzDateText = params.get('X-Amz-Date');
    token = params.get('X-Amz-Security-Token');
    const exp = params.get('X-Amz-Expires');
    expiresSeconds = exp !== undefined && /^\d+$/.test(exp) ? Number(exp) : undefined;
    if (expiresSeconds === undefined) return fail('IncompleteSignature', 'X-Amz-Expires must be a non-negative integer.');
  } else {
    return fail('MissingAuthenticationToken', 'Missing Authentication Token');
  }

  const accessKeyId = auth.accessKeyId;
  if (auth.algorithm !== ALGORITHM) {
    return fail('IncompleteSignature', `Unsupported AWS 'algorithm': '${auth.algorithm}'`, { accessKeyId });
  }
  if (amzDateText === undefined) {
    return fail('IncompleteSignature', 'Authorization requires the X-Amz-Date header.', { accessKeyId });
  }
  const amzDate = parseAmzDate(amzDateText);
  if (amzDate === undefined) {
    return fail('IncompleteSignature', `Invalid X-Amz-Date '${amzDateText}': expected yyyyMMddTHHmmssZ.`, { accessKeyId });
  }

  // Signed-header rules: the list must be lower-case and sorted, name host, and cover x-amz-date when it is a header.
  const sh = auth.signedHeaders;
  const sorted = [...sh].sort();
  if (sh.some((h, i) => h !== h.toLowerCase() || h !== sorted[i] || h === '')) {
    return fail('InvalidSignatureException', 'SignedHeaders must be lower-case, sorted and non-empty.', { accessKeyId });
  }
  if (!sh.includes('host')) {
    return fail('InvalidSignatureException', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", { accessKeyId });
  }
  if (!presigned && !sh.includes('x-amz-date')) {
    return fail('InvalidSignatureException', "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.", { accessKeyId });
  }
  const missingSigned = sh.filter((h) => !headers.has(h));
  if (missingSigned.length > 0) {
    return fail('InvalidSignatureException', `Signed header(s) absent from the request: ${missingSigned.join(', ')}.`, { accessKeyId });
  }

  // Credential scope.
  if (auth.terminator !== 'aws4_request') {
    return fail('IncompleteSignature', "Credential should be scoped with a valid terminator: 'aws4_request'.", { accessKeyId });
  }
  if (auth.date !== amzDateText.slice(0, 8)) {
    return fail('InvalidSignatureException', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${amzDateText.slice(0, 8)}'.`, { accessKeyId });
  }
  if (auth.service !== opts.service) {
    return fail('InvalidSignatureException', `Credential should be scoped to correct service: '${opts.service}'.`, { accessKeyId });
  }
  if (opts.region !== undefined && auth.region !== opts.region) {
    return fail('InvalidSignatureException', `Credential should be scoped to a valid region, not '${auth.region}'.`, { accessKeyId });
  }

  // Time.
  const maxSkewMs = (opts.maxSkewSeconds ?? 300) * 1000;
  if (presigned) {
    if (amzDate - opts.now > maxSkewMs) {
      return fail('RequestExpired', `Request is not yet valid: X-Amz-Date ${amzDateText} is in the future.`, { accessKeyId });
    }
    if (opts.now > amzDate + (expiresSeconds as number) * 1000) {
      return fail('RequestExpired', `Request has expired: X-Amz-Date ${amzDateText} + X-Amz-Expires ${expiresSeconds}s.`, { accessKeyId });
    }
  } else if (Math.abs(opts.now - amzDate) > maxSkewMs) {
    const limit = formatAmzDate(opts.now + (amzDate < opts.now ? -maxSkewMs : maxSkewMs));
    const relation = amzDate < opts.now ? 'earlier' : 'later';
    return fail('RequestExpired', `Signature expired: ${amzDateText} is now ${relation} than ${limit} (${formatAmzDate(opts.now)} ${amzDate < opts.now ? '-' : '+'} ${opts.maxSkewSeconds ?? 300} sec.)`, { accessKeyId });
  }

  // Payload.
  const contentSha = headers.get('x-amz-content-sha256')?.[0];
  if (opts.requireUnsignedPayload) {
    if (contentSha !== UNSIGNED_PAYLOAD) {
      return fail('InvalidPayloadSigning', `x-amz-content-sha256 must be '${UNSIGNED_PAYLOAD}' (payload signing is not supported).`, { accessKeyId });
    }
    if (!presigned && !sh.includes('x-amz-content-sha256')) {
      return fail('InvalidPayloadSigning', "'x-amz-content-sha256' must be a 'SignedHeader'.", { accessKeyId });
    }
  }
  if (contentSha !== undefined && opts.bodySha256 !== undefined && contentSha !== UNSIGNED_PAYLOAD && contentSha !== opts.bodySha256) {
    return fail('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", { accessKeyId });
  }
  const payloadHash = contentSha ?? opts.bodySha256 ?? EMPTY_SHA256;

  // Identity. A temporary key without its session token is refused before any secret lookup.
  if (accessKeyId.startsWith('ASIA') && (token === undefined || token === '')) {
    return fail('MissingSecurityToken', 'Temporary credentials (ASIA...) require the X-Amz-Security-Token.', { accessKeyId });
  }
  const resolved = opts.resolveSecret(accessKeyId, token);
  if (!resolved.ok) return fail(resolved.code, resolved.message, { accessKeyId });

  const canonical = canonicalRequest({
    method: req.method,
    path,
    query,
    headers,
    signedHeaders: sh,
    payloadHash,
    normalizePath: opts.normalizePath ?? true,
    excludeQuery: presigned ? ['X-Amz-Signature'] : [],
  });
  const sts = stringToSign(amzDateText, auth.credentialScope, canonical);
  const expected = signature(deriveSigningKey(resolved.secretAccessKey, auth.date, auth.region, auth.service), sts);
  const details: SigV4Details = { canonicalRequest: canonical, stringToSign: sts, expectedSignature: expected };
  if (!signaturesEqual(expected, auth.signature)) {
    return fail(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n' +
        `The Canonical String for this request should have been\n'${canonical}'\n\nThe String-to-Sign should have been\n'${sts}'\n`,
      { accessKeyId, details },
    );
  }
  return { ok: true, accessKeyId, identity: resolved.identity, signedHeaders: [...sh], presigned, details };
}
