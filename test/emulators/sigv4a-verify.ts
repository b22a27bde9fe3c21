// Independent AWS Signature Version 4A verifier (AWS4-ECDSA-P256-SHA256), checked against the v4a vectors of the
// AWS signing test suite. It must stay independent of the proxy's signer (proxy/src/sigv4a.ts): the key pair is
// derived here with BigInt arithmetic (KDF candidate compared with n - 2 as an integer, public point computed by
// P-256 scalar multiplication written out below) and only the final ECDSA check is OpenSSL's (crypto.verify).
// The canonical request is the emulators' own SigV4 one (sigv4-verify.ts), which SigV4A shares.
import { createHmac, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import {
  canonicalRequest,
  EMPTY_SHA256,
  formatAmzDate,
  headerMap,
  parseAmzDate,
  percentDecodeBytes,
  sha256Hex,
  splitRawPath,
  UNSIGNED_PAYLOAD,
  type ResolveSecretResult,
  type SigV4Request,
  type VerifyFailureCode,
} from './sigv4-verify.js';

export const SIGV4A_ALGORITHM = 'AWS4-ECDSA-P256-SHA256';

// ---------------------------------------------------------------- P-256 (SEC 2 / FIPS 186-4 domain parameters)

const P = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
const G = {
  x: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  y: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
};

type Affine = { x: bigint; y: bigint } | null; // null: the point at infinity
/** Jacobian coordinates (x = X/Z², y = Y/Z³): no inversion per step, one at the end. Z = 0 is infinity. */
type Jacobian = { X: bigint; Y: bigint; Z: bigint };

const mod = (a: bigint): bigint => ((a % P) + P) % P;

function modPow(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

/** Point doubling for a = -3 (dbl-2001-b). */
function double(p: Jacobian): Jacobian {
  if (p.Z === 0n || p.Y === 0n) return { X: 1n, Y: 1n, Z: 0n };
  const delta = mod(p.Z * p.Z);
  const gamma = mod(p.Y * p.Y);
  const beta = mod(p.X * gamma);
  const alpha = mod(3n * (p.X - delta) * (p.X + delta));
  const X = mod(alpha * alpha - 8n * beta);
  const Z = mod((p.Y + p.Z) ** 2n - gamma - delta);
  const Y = mod(alpha * (4n * beta - X) - 8n * gamma * gamma);
  return { X, Y, Z };
}

/** General addition (add-2007-bl). */
function add(p: Jacobian, q: Jacobian): Jacobian {
  if (p.Z === 0n) return q;
  if (q.Z === 0n) return p;
  const z1z1 = mod(p.Z * p.Z);
  const z2z2 = mod(q.Z * q.Z);
  const u1 = mod(p.X * z2z2);
  const u2 = mod(q.X * z1z1);
  const s1 = mod(p.Y * q.Z * z2z2);
  const s2 = mod(q.Y * p.Z * z1z1);
  const h = mod(u2 - u1);
  const r = mod(s2 - s1);
  if (h === 0n) return r === 0n ? double(p) : { X: 1n, Y: 1n, Z: 0n };
  const hh = mod(h * h);
  const hhh = mod(h * hh);
  const v = mod(u1 * hh);
  const X = mod(r * r - hhh - 2n * v);
  return { X, Y: mod(r * (v - X) - s1 * hhh), Z: mod(p.Z * q.Z * h) };
}

/** k·G by double-and-add (verification side only, once per credentials: constant time is not needed). */
export function scalarMultG(k: bigint): Affine {
  let result: Jacobian = { X: 1n, Y: 1n, Z: 0n };
  let addend: Jacobian = { X: G.x, Y: G.y, Z: 1n };
  for (let e = k; e > 0n; e >>= 1n) {
    if (e & 1n) result = add(result, addend);
    addend = double(addend);
  }
  if (result.Z === 0n) return null;
  const zInv = modPow(result.Z, P - 2n); // Fermat: p is prime
  const zInv2 = mod(zInv * zInv);
  return { x: mod(result.X * zInv2), y: mod(result.Y * zInv2 * zInv) };
}

export function onCurve(pt: { x: bigint; y: bigint }): boolean {
  return mod(pt.y * pt.y) === mod(pt.x * pt.x * pt.x - 3n * pt.x + B);
}

const toHex32 = (v: bigint): string => v.toString(16).padStart(64, '0');

// ---------------------------------------------------------------- key derivation (aws-c-auth)

/** The private scalar d for the credentials: the first HMAC candidate c <= n - 2, plus one. */
export function deriveSigV4APrivateScalar(accessKeyId: string, secretAccessKey: string): bigint {
  const key = Buffer.concat([Buffer.from('AWS4A', 'latin1'), Buffer.from(secretAccessKey, 'utf8')]);
  for (let counter = 1; counter <= 254; counter++) {
    const input = Buffer.concat([
      Buffer.from('00000001', 'hex'),
      Buffer.from(SIGV4A_ALGORITHM, 'latin1'),
      Buffer.from([0x00]),
      Buffer.from(accessKeyId, 'utf8'),
      Buffer.from([counter]),
      Buffer.from('00000100', 'hex'),
    ]);
    const candidate = BigInt('0x' + createHmac('sha256', key).update(input).digest('hex'));
    if (candidate <= N - 2n) return candidate + 1n;
  }
  throw new Error('no SigV4A key candidate below n - 2');
}

export interface SigV4APublicKey {
  /** hex, 64 digits each, as public-key.json writes them */
  x: string;
  y: string;
  keyObject: KeyObject;
}

export function deriveSigV4APublicKey(accessKeyId: string, secretAccessKey: string): SigV4APublicKey {
  const q = scalarMultG(deriveSigV4APrivateScalar(accessKeyId, secretAccessKey));
  if (q === null || !onCurve(q)) throw new Error('derived SigV4A public point is not on P-256');
  return publicKeyFromHex(toHex32(q.x), toHex32(q.y));
}

export function publicKeyFromHex(x: string, y: string): SigV4APublicKey {
  const keyObject = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: Buffer.from(x, 'hex').toString('base64url'), y: Buffer.from(y, 'hex').toString('base64url') },
    format: 'jwk',
  });
  return { x: x.toLowerCase(), y: y.toLowerCase(), keyObject };
}

/** ECDSA P-256 / SHA-256 over the string to sign; `signatureHex` is DER, hex-encoded as in the Authorization header. */
export function verifyStringToSign(stringToSign: string, signatureHex: string, key: SigV4APublicKey): boolean {
  if (!/^(?:[0-9a-f]{2})+$/i.test(signatureHex)) return false;
  try {
    return cryptoVerify('sha256', Buffer.from(stringToSign, 'utf8'), key.keyObject, Buffer.from(signatureHex, 'hex'));
  } catch {
    return false; // malformed DER
  }
}

// ---------------------------------------------------------------- canonical parts

export function stringToSignV4A(amzDate: string, credentialScope: string, canonicalRequestText: string): string {
  return `${SIGV4A_ALGORITHM}\n${amzDate}\n${credentialScope}\n${sha256Hex(canonicalRequestText)}`;
}

/** Does a region set (`*`, `us-*`, `us-west-2,eu-west-1`) cover the region? */
export function regionSetCovers(regionSet: string, region: string): boolean {
  return regionSet.split(',').some((raw) => {
    const pattern = raw.trim().toLowerCase();
    if (pattern === '') return false;
    const re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
    return re.test(region.toLowerCase());
  });
}

export interface ParsedSigV4AAuthorization {
  accessKeyId: string;
  date: string;
  service: string;
  credentialScope: string;
  signedHeaders: string[];
  signature: string;
}

/** `AWS4-ECDSA-P256-SHA256 Credential=<key>/<date>/<service>/aws4_request, SignedHeaders=a;b, Signature=<hex DER>` */
export function parseSigV4AAuthorization(header: string): ParsedSigV4AAuthorization | { error: string } {
  const m = /^AWS4-ECDSA-P256-SHA256 +(.*)$/.exec(header.trim());
  if (!m) return { error: `Authorization header does not use ${SIGV4A_ALGORITHM}.` };
  const fields: Record<string, string> = {};
  for (const part of (m[1] as string).split(',')) {
    const [name, ...rest] = part.trim().split('=');
    if (!name || rest.length === 0) return { error: `Authorization header parameter '${part.trim()}' is malformed.` };
    if (name in fields) return { error: `Authorization header parameter '${name}' is repeated.` };
    fields[name] = rest.join('=');
  }
  const { Credential: credential, SignedHeaders: signedHeaders, Signature: signature } = fields;
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    return { error: 'Authorization header requires Credential, SignedHeaders and Signature parameters.' };
  }
  const scope = parseScope(credential);
  if ('error' in scope) return scope;
  return { ...scope, signedHeaders: signedHeaders.split(';'), signature };
}

function parseScope(credential: string): Omit<ParsedSigV4AAuthorization, 'signedHeaders' | 'signature'> | { error: string } {
  const parts = credential.split('/');
  if (parts.length !== 4 || parts.some((p) => p === '') || parts[3] !== 'aws4_request') {
    return { error: `Credential '${credential}' is malformed: expected <key>/<date>/<service>/aws4_request (SigV4A scopes have no region).` };
  }
  const [accessKeyId, date, service] = parts as [string, string, string];
  return { accessKeyId, date, service, credentialScope: `${date}/${service}/aws4_request` };
}

// ---------------------------------------------------------------- verification

export interface SigV4AVerifyOptions<I> {
  resolveSecret(accessKeyId: string, sessionToken: string | undefined): ResolveSecretResult<I>;
  service: string;
  /** The region of the endpoint: the signed region set must cover it. Any when absent. */
  region?: string;
  now: number;
  maxSkewSeconds?: number;
  /** Lattice: x-amz-content-sha256 present, signed, and UNSIGNED-PAYLOAD. */
  requireUnsignedPayload?: boolean;
  /** Hex SHA-256 of the body when the caller has it; the payload hash when x-amz-content-sha256 is absent. */
  bodySha256?: string;
  /** false only for S3-style paths (no normalisation). Default true. */
  normalizePath?: boolean;
}

export interface SigV4ADetails {
  canonicalRequest: string;
  stringToSign: string;
  publicKey: { x: string; y: string };
}

export type SigV4AVerifyResult<I> =
  | { ok: true; accessKeyId: string; identity: I; signedHeaders: string[]; regionSet: string; presigned: boolean; details: SigV4ADetails }
  | { ok: false; code: VerifyFailureCode; message: string; accessKeyId?: string; details?: SigV4ADetails };

interface Claim {
  auth: ParsedSigV4AAuthorization;
  amzDate: string | undefined;
  regionSet: string | undefined;
  token: string | undefined;
  expires?: number;
}

/** The signature's claims from the Authorization header or, for a presigned URL, from the X-Amz-* query. */
function readClaim(headers: Map<string, string[]>, query: string): Claim | { code: VerifyFailureCode; message: string } {
  const authValues = headers.get('authorization');
  if (authValues !== undefined) {
    if (authValues.length !== 1) return { code: 'IncompleteSignature', message: 'Multiple Authorization headers.' };
    const auth = parseSigV4AAuthorization(authValues[0] as string);
    if ('error' in auth) return { code: 'IncompleteSignature', message: auth.error };
    return {
      auth,
      amzDate: headers.get('x-amz-date')?.[0],
      regionSet: headers.get('x-amz-region-set')?.join(','),
      token: headers.get('x-amz-security-token')?.[0],
    };
  }
  const params = new Map<string, string>();
  for (const piece of query.split('&')) {
    const eq = piece.indexOf('=');
    const k = percentDecodeBytes(eq < 0 ? piece : piece.slice(0, eq)).toString('utf8');
    if (k !== '' && !params.has(k)) params.set(k, percentDecodeBytes(eq < 0 ? '' : piece.slice(eq + 1)).toString('utf8'));
  }
  if (params.get('X-Amz-Algorithm') !== SIGV4A_ALGORITHM) return { code: 'MissingAuthenticationToken', message: 'Missing Authentication Token' };
  const scope = parseScope(params.get('X-Amz-Credential') ?? '');
  const signedHeaders = params.get('X-Amz-SignedHeaders');
  const signature = params.get('X-Amz-Signature');
  const expires = params.get('X-Amz-Expires');
  if ('error' in scope) return { code: 'IncompleteSignature', message: scope.error };
  if (signedHeaders === undefined || signature === undefined || expires === undefined || !/^\d+$/.test(expires)) {
    return { code: 'IncompleteSignature', message: 'Presigned URL requires X-Amz-SignedHeaders, X-Amz-Signature and a numeric X-Amz-Expires.' };
  }
  return {
    auth: { ...scope, signedHeaders: signedHeaders.split(';'), signature },
    amzDate: params.get('X-Amz-Date'),
    regionSet: params.get('X-Amz-Region-Set'),
    token: params.get('X-Amz-Security-Token'),
    expires: Number(expires),
  };
}

/** Why a claim cannot be accepted before any key is looked at, or undefined. */
function claimProblem(claim: Claim, headers: Map<string, string[]>, presigned: boolean, opts: SigV4AVerifyOptions<unknown>): { code: VerifyFailureCode; message: string } | undefined {
  const { auth } = claim;
  const sh = auth.signedHeaders;
  const invalid = (message: string): { code: VerifyFailureCode; message: string } => ({ code: 'InvalidSignatureException', message });
  if (claim.amzDate === undefined) return { code: 'IncompleteSignature', message: 'Authorization requires the X-Amz-Date header.' };
  const amzDate = parseAmzDate(claim.amzDate);
  if (amzDate === undefined) return { code: 'IncompleteSignature', message: `Invalid X-Amz-Date '${claim.amzDate}': expected yyyyMMddTHHmmssZ.` };
  if (sh.some((h, i) => h === '' || h !== h.toLowerCase() || (i > 0 && h <= (sh[i - 1] as string)))) return invalid('SignedHeaders must be lower-case, sorted, unique and non-empty.');
  if (!sh.includes('host')) return invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  const unsent = sh.filter((h) => !headers.has(h));
  if (unsent.length > 0) return invalid(`Signed header(s) absent from the request: ${unsent.join(', ')}.`);
  if (!presigned && !sh.includes('x-amz-date')) return invalid("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
  if (claim.regionSet === undefined || claim.regionSet === '') return { code: 'IncompleteSignature', message: 'SigV4A requires the X-Amz-Region-Set header.' };
  if (!presigned && !sh.includes('x-amz-region-set')) return invalid("'X-Amz-Region-Set' must be a 'SignedHeader' in the AWS Authorization.");
  if (auth.date !== claim.amzDate.slice(0, 8)) return invalid(`Date in Credential scope does not match YYYYMMDD from X-Amz-Date: '${auth.date}' != '${claim.amzDate.slice(0, 8)}'.`);
  if (auth.service !== opts.service) return invalid(`Credential should be scoped to correct service: '${opts.service}'.`);
  if (opts.region !== undefined && !regionSetCovers(claim.regionSet, opts.region)) {
    return invalid(`The region set '${claim.regionSet}' in X-Amz-Region-Set does not include the region '${opts.region}'.`);
  }
  const skewMs = (opts.maxSkewSeconds ?? 300) * 1000;
  if (presigned ? amzDate - opts.now > skewMs || opts.now > amzDate + (claim.expires as number) * 1000 : Math.abs(opts.now - amzDate) > skewMs) {
    return { code: 'RequestExpired', message: `Signature expired: ${claim.amzDate} is outside ${formatAmzDate(opts.now)} ± ${opts.maxSkewSeconds ?? 300} sec.` };
  }
  const contentSha = headers.get('x-amz-content-sha256')?.[0];
  if (opts.requireUnsignedPayload && (contentSha !== UNSIGNED_PAYLOAD || (!presigned && !sh.includes('x-amz-content-sha256')))) {
    return { code: 'InvalidPayloadSigning', message: `x-amz-content-sha256 must be '${UNSIGNED_PAYLOAD}' and signed (payload signing is not supported).` };
  }
  if (auth.accessKeyId.startsWith('ASIA') && !claim.token) {
    return { code: 'MissingSecurityToken', message: 'Temporary credentials (ASIA...) require the X-Amz-Security-Token.' };
  }
  return undefined;
}

/**
 * Verifies a SigV4A request (Authorization header or presigned query). `publicKeyFor` may cache key
 * derivation per credentials; by default it derives the key each time.
 */
export function verifySigV4A<I>(
  req: SigV4Request,
  opts: SigV4AVerifyOptions<I>,
  publicKeyFor: (accessKeyId: string, secretAccessKey: string) => SigV4APublicKey = deriveSigV4APublicKey,
): SigV4AVerifyResult<I> {
  const headers = headerMap(req.headers);
  const { path, query } = splitRawPath(req.rawPath);
  const claim = readClaim(headers, query);
  if ('code' in claim) return { ok: false, ...claim };
  const presigned = claim.expires !== undefined;
  const accessKeyId = claim.auth.accessKeyId;
  const problem = claimProblem(claim, headers, presigned, opts as SigV4AVerifyOptions<unknown>);
  if (problem) return { ok: false, ...problem, accessKeyId };
  const resolved = opts.resolveSecret(accessKeyId, claim.token);
  if (!resolved.ok) return { ok: false, code: resolved.code, message: resolved.message, accessKeyId };

  const canonical = canonicalRequest({
    method: req.method,
    path,
    query,
    headers,
    signedHeaders: claim.auth.signedHeaders,
    payloadHash: headers.get('x-amz-content-sha256')?.[0] ?? opts.bodySha256 ?? EMPTY_SHA256,
    normalizePath: opts.normalizePath ?? true,
    excludeQuery: presigned ? ['X-Amz-Signature'] : [],
  });
  const sts = stringToSignV4A(claim.amzDate as string, claim.auth.credentialScope, canonical);
  const key = publicKeyFor(accessKeyId, resolved.secretAccessKey);
  const details: SigV4ADetails = { canonicalRequest: canonical, stringToSign: sts, publicKey: { x: key.x, y: key.y } };
  if (!verifyStringToSign(sts, claim.auth.signature, key)) {
    return {
      ok: false,
      code: 'SignatureDoesNotMatch',
      message:
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n' +
        `The Canonical String for this request should have been\n'${canonical}'\n\nThe String-to-Sign should have been\n'${sts}'\n`,
      accessKeyId,
      details,
    };
  }
  return { ok: true, accessKeyId, identity: resolved.identity, signedHeaders: [...claim.auth.signedHeaders], regionSet: claim.regionSet as string, presigned, details };
}
