// AWS Signature Version 4A (AWS4-ECDSA-P256-SHA256) for the request path.
//
// SigV4A signs the same canonical request as SigV4 (signer.ts's canonicalisation, reused here) with three
// differences: the credential scope has no region (`date/service/aws4_request`), the regions the signature is
// good for travel in the signed `x-amz-region-set` header, and the signature is ECDSA P-256 over SHA-256 of the
// string to sign with a key pair derived from the credentials, not an HMAC chain.
//
// The key derivation is aws-c-auth's (aws_ecc_key_pair_new_ecdsa_p256_key_from_aws_credentials): an
// HMAC-SHA256 counter-mode KDF (NIST SP 800-108) keyed with "AWS4A" + secret over the fixed input
//   0x00000001 || "AWS4-ECDSA-P256-SHA256" || 0x00 || access key id || counter (1 byte) || 0x00000100
// where the candidate c is accepted when c <= n - 2 (n: the P-256 group order; otherwise the counter is
// incremented) and the private scalar is c + 1, so it lies in [1, n - 1]. It depends only on the credentials
// (no date, no region), so it is derived once per credentials and cached; node:crypto (OpenSSL) signs.

import { createECDH, createHmac, createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { buildCanonicalRequest, sha256Hex, sortByName, UNSIGNED_PAYLOAD, type Credentials, type SignedHeaders } from './signer.js';

export const SIGV4A_ALGORITHM = 'AWS4-ECDSA-P256-SHA256';

/** What the request path needs from a signer: SigV4Signer and SigV4ASigner both have this shape. */
export interface RequestSigner {
  sign(method: string, path: string, headers: Array<[string, string]>, creds: Credentials, nowMs: number, payloadHash?: string): SignedHeaders;
}

/** n - 2 for P-256, big-endian: the largest KDF output accepted as a candidate. */
const N_MINUS_2 = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc63254f', 'hex');
/** aws-c-auth gives up after this counter value; reaching it has probability ~2^(-32*254). */
const MAX_COUNTER = 254;

export interface SigV4AKeyPair {
  readonly privateKey: KeyObject;
  /** Affine coordinates of the public point, 32 bytes each, big-endian (public-key.json's X and Y). */
  readonly publicX: Buffer;
  readonly publicY: Buffer;
}

/** The SigV4A key pair of a set of credentials, exactly as aws-c-auth derives it. */
export function deriveSigV4AKeyPair(accessKeyId: string, secretAccessKey: string): SigV4AKeyPair {
  const hmacKey = Buffer.from('AWS4A' + secretAccessKey, 'utf8');
  const id = Buffer.from(accessKeyId, 'utf8');
  const fixedInput = Buffer.concat([
    Buffer.from([0, 0, 0, 1]),
    Buffer.from(SIGV4A_ALGORITHM, 'latin1'),
    Buffer.from([0]),
    id,
    Buffer.from([0]), // the counter byte
    Buffer.from([0, 0, 1, 0]), // output length in bits: 256
  ]);
  const counterAt = 4 + SIGV4A_ALGORITHM.length + 1 + id.length;
  for (let counter = 1; counter <= MAX_COUNTER; counter++) {
    fixedInput[counterAt] = counter;
    const candidate = createHmac('sha256', hmacKey).update(fixedInput).digest();
    if (candidate.compare(N_MINUS_2) > 0) continue;
    return keyPairFromScalar(plusOne(candidate));
  }
  throw new Error('SigV4A key derivation found no candidate below n - 2');
}

/** Big-endian + 1 (the input is at most n - 2, so there is no carry out of the top byte). */
function plusOne(value: Buffer): Buffer {
  const out = Buffer.from(value);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== 0xff) {
      out[i] = out[i]! + 1;
      return out;
    }
    out[i] = 0;
  }
  return out;
}

function keyPairFromScalar(d: Buffer): SigV4AKeyPair {
  // Node imports an EC private key from JWK only with its public point, which ECDH computes from the scalar.
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const point = ecdh.getPublicKey(); // 0x04 || X || Y
  const publicX = point.subarray(1, 33);
  const publicY = point.subarray(33, 65);
  const privateKey = createPrivateKey({
    key: { kty: 'EC', crv: 'P-256', d: d.toString('base64url'), x: publicX.toString('base64url'), y: publicY.toString('base64url') },
    format: 'jwk',
  });
  return { privateKey, publicX, publicY };
}

export function buildStringToSignV4A(amzDate: string, scope: string, canonicalRequest: string): string {
  return SIGV4A_ALGORITHM + '\n' + amzDate + '\n' + scope + '\n' + sha256Hex(canonicalRequest);
}

/** `*`, a region, a region pattern (`us-*`), or a comma list of those; lower case, no spaces. */
const REGION_SET = /^[a-z0-9*-]+(,[a-z0-9*-]+)*$/;

/**
 * One signer per process and service. It keeps the key pair of the credentials it last signed with (derived
 * again only when the access key or secret changes) and the formatted timestamp of the current second.
 */
export class SigV4ASigner implements RequestSigner {
  readonly service: string;
  readonly regionSet: string;
  #scopeSuffix: string;
  #keyId = '';
  #keySecret = '';
  #key: SigV4AKeyPair | undefined;
  #second = -1;
  #amzDate = '';

  constructor(service: string, regionSet = '*') {
    if (!REGION_SET.test(regionSet)) throw new Error(`invalid SigV4A region set '${regionSet}': expected '*' or a comma list of regions`);
    this.service = service;
    this.regionSet = regionSet;
    this.#scopeSuffix = `/${service}/aws4_request`;
  }

  /** The key pair for these credentials, from the cache when they are the ones last used. */
  keyPair(creds: Credentials): SigV4AKeyPair {
    if (this.#key === undefined || creds.accessKeyId !== this.#keyId || creds.secretAccessKey !== this.#keySecret) {
      this.#key = deriveSigV4AKeyPair(creds.accessKeyId, creds.secretAccessKey);
      this.#keyId = creds.accessKeyId;
      this.#keySecret = creds.secretAccessKey;
    }
    return this.#key;
  }

  /**
   * Same contract as SigV4Signer.sign: `headers` (lower-case unique names, without the x-amz-* the signer
   * owns) gets x-amz-content-sha256, x-amz-date, x-amz-region-set and the session token pushed, sorted, exactly
   * as signed; all of them must be sent. `path` is path and query as sent.
   */
  sign(method: string, path: string, headers: Array<[string, string]>, creds: Credentials, nowMs: number, payloadHash = UNSIGNED_PAYLOAD): SignedHeaders {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.#second) {
      this.#amzDate = new Date(second * 1000).toISOString().replace(/[-:]|\.\d{3}/g, '');
      this.#second = second;
    }
    const amzDate = this.#amzDate;
    headers.push(['x-amz-content-sha256', payloadHash], ['x-amz-date', amzDate], ['x-amz-region-set', this.regionSet]);
    if (creds.sessionToken) headers.push(['x-amz-security-token', creds.sessionToken]);
    sortByName(headers);

    const { canonicalRequest, signedNames } = buildCanonicalRequest(method, path, headers, payloadHash);
    const scope = amzDate.slice(0, 8) + this.#scopeSuffix;
    const stringToSign = buildStringToSignV4A(amzDate, scope, canonicalRequest);
    const signature = cryptoSign('sha256', Buffer.from(stringToSign, 'latin1'), this.keyPair(creds).privateKey).toString('hex');
    return {
      authorization: SIGV4A_ALGORITHM + ' Credential=' + creds.accessKeyId + '/' + scope + ', SignedHeaders=' + signedNames + ', Signature=' + signature,
      amzDate,
    };
  }
}
