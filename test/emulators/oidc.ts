// Emulated Kubernetes service-account issuer, as an EKS Anywhere cluster publishes it for IRSA: an issuer URL
// serving the OIDC discovery document and the JWKS of the API server's signing key, and tokens shaped like the
// kubelet's projected service-account tokens (RS256, iss, aud, sub system:serviceaccount:<ns>:<sa>, iat, nbf,
// exp, and the kubernetes.io claim). STS (test/emulators/sts.ts) fetches the keys from here over HTTP, as real
// STS fetches them from the issuer's public URL.
//
// The signing key can be written to a file (PEM) so another process (the e2e runner) mints tokens that this
// issuer's JWKS verifies, without any shared memory.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { recordSecrets } from '../helpers/secret-record.js';
import { closeServer, listen, sendJson, urlHost } from './server-util.js';

/** The audience the pod identity webhook puts on the projected token (its --token-audience default). */
export const STS_AUDIENCE = 'sts.amazonaws.com';
export const DISCOVERY_PATH = '/.well-known/openid-configuration';
/** EKS serves its JWKS at <issuer>/keys; so does this emulator. */
export const JWKS_PATH = '/keys';

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  /** PKCS#8 PEM of the private key (for --key-file). */
  readonly privateKeyPem: string;
}

export interface Jwk {
  kty: string;
  kid: string;
  use: string;
  alg: string;
  n: string;
  e: string;
}

/** kid as the API server derives it: base64url(SHA-256(DER of the public key)). */
function keyId(privateKey: KeyObject): string {
  const der = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return createHash('sha256').update(der).digest('base64url');
}

export function createSigningKey(): SigningKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return signingKeyFromPem(privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
}

export function signingKeyFromPem(pem: string): SigningKey {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'rsa') throw new Error('the service-account signing key must be RSA (RS256)');
  return { kid: keyId(privateKey), privateKey, privateKeyPem: pem };
}

export function publicJwk(key: SigningKey): Jwk {
  const jwk = createPublicKey(key.privateKey).export({ format: 'jwk' }) as { kty: string; n: string; e: string };
  return { kty: jwk.kty, kid: key.kid, use: 'sig', alg: 'RS256', n: jwk.n, e: jwk.e };
}

export interface ServiceAccountTokenClaims {
  issuer: string;
  namespace: string;
  serviceAccount: string;
  /** the projected volume's audience; the kubelet writes it as a one-element array */
  audience?: string | string[];
  /** the projected volume's expirationSeconds (webhook default 86400) */
  ttlSeconds?: number;
  /** epoch ms */
  now?: number;
  podName?: string;
  podUid?: string;
  serviceAccountUid?: string;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** A projected service-account token, signed RS256 with `key` (any key: a foreign one makes a forged token). */
export function mintServiceAccountToken(key: SigningKey, c: ServiceAccountTokenClaims): string {
  const iat = Math.floor((c.now ?? Date.now()) / 1000);
  const payload = {
    aud: Array.isArray(c.audience) ? c.audience : [c.audience ?? STS_AUDIENCE],
    exp: iat + (c.ttlSeconds ?? 86_400),
    iat,
    iss: c.issuer,
    nbf: iat,
    sub: `system:serviceaccount:${c.namespace}:${c.serviceAccount}`,
    'kubernetes.io': {
      namespace: c.namespace,
      pod: { name: c.podName ?? `${c.serviceAccount}-pod`, uid: c.podUid ?? randomUUID() },
      serviceaccount: { name: c.serviceAccount, uid: c.serviceAccountUid ?? randomUUID() },
    },
  };
  const signingInput = `${b64url({ alg: 'RS256', kid: key.kid })}.${b64url(payload)}`;
  const signature = sign('RSA-SHA256', Buffer.from(signingInput, 'ascii'), key.privateKey).toString('base64url');
  const token = `${signingInput}.${signature}`;
  // For the whole-suite log scan: a web identity token is a bearer credential.
  recordSecrets({ webIdentityToken: token });
  return token;
}

export interface OidcIssuerOptions {
  host?: string;
  port?: number;
  /** path of the issuer under the listener, EKS style (/id/<hex>); default a random one */
  issuerPath?: string;
  /** the URL written into iss and the discovery document; default http://<host>:<port><issuerPath> */
  publicUrl?: string;
  key?: SigningKey;
}

export interface OidcIssuer {
  /** the issuer URL (iss claim, discovery `issuer`) */
  url: string;
  port: number;
  jwksUri: string;
  /** the key tokens are signed with now */
  key(): SigningKey;
  /**
   * A new signing key. The old one stays in the JWKS when `keepOld` (the API server publishes every key of
   * --service-account-key-file, so tokens signed before a planned rotation still verify).
   */
  rotateKey(keepOld?: boolean): SigningKey;
  mint(claims: Omit<ServiceAccountTokenClaims, 'issuer'>): string;
  setDown(down: boolean): Promise<void>;
  stats: { discovery: number; jwks: number };
  close(): Promise<void>;
}

export async function startOidcIssuer(opts: OidcIssuerOptions = {}): Promise<OidcIssuer> {
  const host = opts.host ?? '127.0.0.1';
  const issuerPath = (opts.issuerPath ?? `/id/${randomUUID().replace(/-/g, '').toUpperCase()}`).replace(/\/$/, '');
  let current = opts.key ?? createSigningKey();
  let published: SigningKey[] = [current];
  const stats = { discovery: 0, jwks: 0 };
  let url = '';

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'method not allowed' });
    } else if (path === issuerPath + DISCOVERY_PATH) {
      stats.discovery++;
      // The fields the API server's --service-account-issuer discovery serves.
      sendJson(res, 200, {
        issuer: url,
        jwks_uri: url + JWKS_PATH,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    } else if (path === issuerPath + JWKS_PATH) {
      stats.jwks++;
      sendJson(res, 200, { keys: published.map(publicJwk) });
    } else {
      sendJson(res, 404, { error: 'not found' });
    }
  };

  let server = createServer(handler);
  const port = await listen(server, host, opts.port ?? 0);
  url = (opts.publicUrl ?? `http://${urlHost(host)}:${port}${issuerPath}`).replace(/\/$/, '');

  return {
    url,
    port,
    jwksUri: url + JWKS_PATH,
    key: () => current,
    rotateKey(keepOld = true) {
      current = createSigningKey();
      published = keepOld ? [current, ...published] : [current];
      return current;
    },
    mint: (claims) => mintServiceAccountToken(current, { ...claims, issuer: url }),
    stats,
    async setDown(down: boolean) {
      if (down) await closeServer(server);
      else if (!server.listening) {
        server = createServer(handler);
        await listen(server, host, port);
      }
    },
    close: () => closeServer(server),
  };
}
