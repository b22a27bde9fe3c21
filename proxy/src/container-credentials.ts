// The two credential sources a sidecar meets most, fetched without the AWS SDK: static keys in the environment,
// and container credentials (the EKS Pod Identity agent, or any AWS_CONTAINER_CREDENTIALS_* endpoint). Each SDK
// provider (@aws-sdk/credential-provider-env, -http) pulls in @smithy/core and costs 11-12 MB of RSS in every
// pod for what is one environment read or one GET; the protocol is the SDK's, and the errors keep the shapes
// credential-source.ts explains ("Server responded with status: N" with the agent's Code and Message, Node's
// network and file error codes).

import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Credentials } from './signer.js';

type Env = Readonly<Record<string, string | undefined>>;

/** The body of the container credentials endpoint (the Pod Identity agent's, ECS's). */
interface ContainerCredentialsBody {
  AccessKeyId?: unknown;
  SecretAccessKey?: unknown;
  Token?: unknown;
  Expiration?: unknown;
}

const MAX_BODY = 64 * 1024;

function nonEmpty(v: unknown): v is string {
  return typeof v === 'string' && v !== '';
}

/** Static keys from the environment, read at each call (as the SDK's fromEnv): a rotated value is picked up. */
export function fromEnvironment(env: Env): () => Promise<Credentials> {
  return async () => {
    const accessKeyId = env['AWS_ACCESS_KEY_ID']?.trim();
    const secretAccessKey = env['AWS_SECRET_ACCESS_KEY']?.trim();
    if (!accessKeyId || !secretAccessKey) throw new Error('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set');
    const sessionToken = env['AWS_SESSION_TOKEN']?.trim() || undefined;
    const exp = env['AWS_CREDENTIAL_EXPIRATION']?.trim();
    let expiration: Date | undefined;
    if (exp) {
      expiration = new Date(exp);
      if (Number.isNaN(expiration.getTime())) throw new Error(`AWS_CREDENTIAL_EXPIRATION is not a date: "${exp}"`);
    }
    return { accessKeyId, secretAccessKey, sessionToken, expiration };
  };
}

export interface ContainerEndpoint {
  readonly url: string;
  /** AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: read at every fetch, the kubelet rotates it. */
  readonly tokenFile: string | undefined;
  /** AWS_CONTAINER_AUTHORIZATION_TOKEN, used when there is no file (the SDK's order). */
  readonly token: string | undefined;
  readonly timeoutMs: number;
}

/** An agent answer other than 200, shaped like the SDK's CredentialsProviderError for the diagnosis. */
class ContainerResponseError extends Error {
  constructor(
    readonly statusCode: number,
    readonly Code: string | undefined,
    readonly Message: string | undefined,
  ) {
    super(`Server responded with status: ${statusCode}`);
    this.name = 'CredentialsProviderError';
  }
}

/** Parses the endpoint's 200 body; a body without the four fields is an error, never half a credential. */
export function parseContainerCredentials(text: string): Credentials {
  let body: ContainerCredentialsBody;
  try {
    body = JSON.parse(text) as ContainerCredentialsBody;
  } catch {
    throw new Error('the container credentials endpoint answered 200 with a body that is not JSON');
  }
  if (typeof body !== 'object' || body === null || !nonEmpty(body.AccessKeyId) || !nonEmpty(body.SecretAccessKey) || !nonEmpty(body.Token) || !nonEmpty(body.Expiration)) {
    throw new Error('HTTP credential provider response not of the required format (AccessKeyId, SecretAccessKey, Token, Expiration)');
  }
  const expiration = new Date(body.Expiration);
  if (Number.isNaN(expiration.getTime())) throw new Error(`the container credentials' Expiration is not a date: "${body.Expiration}"`);
  return { accessKeyId: body.AccessKeyId, secretAccessKey: body.SecretAccessKey, sessionToken: body.Token, expiration };
}

/**
 * One GET per call, no retry (the CredentialCache retries with backoff and reports each failure at once), no
 * keep-alive (one request per refresh, minutes apart).
 */
export function fromContainerEndpoint(e: ContainerEndpoint): () => Promise<Credentials> {
  const u = new URL(e.url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return async () => {
    const authorization = e.tokenFile !== undefined ? (await readFile(e.tokenFile, 'utf8')).trim() : e.token;
    return new Promise<Credentials>((resolve, reject) => {
      const req = request(u, { method: 'GET', agent: false, timeout: e.timeoutMs, headers: authorization !== undefined ? { authorization } : {} }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) req.destroy(new Error(`the container credentials endpoint sent more than ${MAX_BODY} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status !== 200) {
            let parsed: { Code?: unknown; Message?: unknown } = {};
            try {
              parsed = JSON.parse(text) as typeof parsed;
            } catch {
              // not JSON: the status alone
            }
            reject(new ContainerResponseError(status, typeof parsed.Code === 'string' ? parsed.Code : undefined, typeof parsed.Message === 'string' ? parsed.Message : undefined));
            return;
          }
          try {
            resolve(parseContainerCredentials(text));
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer from ${u.origin} within ${e.timeoutMs} ms (ETIMEDOUT)`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end();
    });
  };
}
