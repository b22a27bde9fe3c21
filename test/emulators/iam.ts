// Emulated IAM/STS identity store.
// Like real STS, a temporary credential's session token is an opaque sealed blob that carries the session context
// (secret key, principal, tags, expiry). Sealing it with a shared `iamKey` lets any emulator process — in any network
// namespace — resolve an access key without shared memory or a directory service.
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomInt } from 'node:crypto';
import { recordSecrets } from '../helpers/secret-record.js';

export interface SessionContext {
  accessKeyId: string;
  secretAccessKey: string;
  principalArn: string;
  tags: Record<string, string>;
  /** ISO 8601 */
  expiration: string;
}

export interface StaticUser {
  accessKeyId: string;
  secretAccessKey: string;
  principalArn: string;
  tags?: Record<string, string>;
}

export interface Identity {
  accessKeyId: string;
  secretAccessKey: string;
  principalArn: string;
  tags: Record<string, string>;
  temporary: boolean;
  expiration?: string;
}

export type ResolveFailureCode =
  | 'UnrecognizedClientException' // unknown access key, or a token that does not decrypt
  | 'InvalidClientTokenId' // the token belongs to another access key
  | 'ExpiredToken'
  | 'MissingSecurityToken'; // temporary (ASIA) key presented without its token

export type ResolveResult = { ok: true; identity: Identity } | { ok: false; code: ResolveFailureCode; message: string };

export interface IamConfig {
  iamKey: string;
  staticUsers?: StaticUser[];
}

export interface TemporaryCredentials {
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string;
  AccountId: string;
  principalArn: string;
}

const VERSION = 1;

function keyFrom(iamKey: string): Buffer {
  return createHash('sha256').update(iamKey, 'utf8').digest();
}

/** Token layout: version(1) | iv(12) | tag(16) | ciphertext, base64. */
export function sealSessionToken(iamKey: string, ctx: SessionContext): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFrom(iamKey), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(ctx), 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]).toString('base64');
}

/** Returns undefined for anything that is not a token sealed with this iamKey (tampered, foreign, garbage). */
export function openSessionToken(iamKey: string, token: string): SessionContext | undefined {
  const raw = Buffer.from(token, 'base64');
  if (raw.length < 1 + 12 + 16 + 2 || raw[0] !== VERSION) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyFrom(iamKey), raw.subarray(1, 13));
    decipher.setAuthTag(raw.subarray(13, 29));
    const plain = Buffer.concat([decipher.update(raw.subarray(29)), decipher.final()]).toString('utf8');
    const parsed = JSON.parse(plain) as SessionContext;
    if (typeof parsed.accessKeyId !== 'string' || typeof parsed.secretAccessKey !== 'string') return undefined;
    return parsed;
  } catch {
    return undefined;
  }
}

const ALNUM_UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomString(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

export function newAccessKeyId(prefix: 'ASIA' | 'AKIA'): string {
  return prefix + randomString(ALNUM_UPPER, 16);
}

export function newSecretAccessKey(): string {
  return randomBytes(30).toString('base64').slice(0, 40);
}

/** arn:aws:iam::<acct>:role/<path/>name → { accountId, roleName } */
export function parseRoleArn(roleArn: string): { accountId: string; roleName: string } {
  const m = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(roleArn);
  if (!m || !m[1] || !m[2]) throw new Error(`not an IAM role ARN: ${roleArn}`);
  return { accountId: m[1], roleName: m[2] };
}

export interface IssueTemporaryCredentialsOptions {
  iamKey: string;
  roleArn: string;
  sessionName: string;
  tags: Record<string, string>;
  ttlSeconds: number;
  /** epoch ms */
  now?: number;
}

export function issueTemporaryCredentials(opts: IssueTemporaryCredentialsOptions): TemporaryCredentials {
  const { accountId, roleName } = parseRoleArn(opts.roleArn);
  const now = opts.now ?? Date.now();
  // Real STS truncates to whole seconds; so do we, so the SDK's ISO parsing sees the familiar shape.
  const expiration = new Date(Math.floor(now / 1000) * 1000 + opts.ttlSeconds * 1000).toISOString().replace('.000Z', 'Z');
  const principalArn = `arn:aws:sts::${accountId}:assumed-role/${roleName}/${opts.sessionName}`;
  const ctx: SessionContext = {
    accessKeyId: newAccessKeyId('ASIA'),
    secretAccessKey: newSecretAccessKey(),
    principalArn,
    tags: { ...opts.tags },
    expiration,
  };
  const token = sealSessionToken(opts.iamKey, ctx);
  // For the whole-suite log scan (no-op unless the test run set LSP_TEST_LOG_DIR).
  recordSecrets({ secretAccessKey: ctx.secretAccessKey, sessionToken: token });
  return {
    AccessKeyId: ctx.accessKeyId,
    SecretAccessKey: ctx.secretAccessKey,
    Token: token,
    Expiration: expiration,
    AccountId: accountId,
    principalArn,
  };
}

export function resolveAccessKey(
  config: IamConfig,
  accessKeyId: string,
  sessionToken?: string,
  now: number = Date.now(),
): ResolveResult {
  if (sessionToken !== undefined && sessionToken !== '') {
    const ctx = openSessionToken(config.iamKey, sessionToken);
    if (!ctx) {
      return { ok: false, code: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
    }
    if (ctx.accessKeyId !== accessKeyId) {
      return { ok: false, code: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.' };
    }
    if (Date.parse(ctx.expiration) <= now) {
      return { ok: false, code: 'ExpiredToken', message: 'The security token included in the request is expired' };
    }
    return {
      ok: true,
      identity: {
        accessKeyId,
        secretAccessKey: ctx.secretAccessKey,
        principalArn: ctx.principalArn,
        tags: ctx.tags,
        temporary: true,
        expiration: ctx.expiration,
      },
    };
  }
  if (accessKeyId.startsWith('ASIA')) {
    return { ok: false, code: 'MissingSecurityToken', message: 'Request is missing the security token for temporary credentials.' };
  }
  const user = (config.staticUsers ?? []).find((u) => u.accessKeyId === accessKeyId);
  if (!user) {
    return { ok: false, code: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
  }
  return {
    ok: true,
    identity: {
      accessKeyId,
      secretAccessKey: user.secretAccessKey,
      principalArn: user.principalArn,
      tags: { ...(user.tags ?? {}) },
      temporary: false,
    },
  };
}
