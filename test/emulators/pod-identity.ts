// Emulated EKS Pod Identity agent: GET /v1/credentials with the projected service-account token in the
// Authorization header (raw, no scheme), answering the container-credentials JSON the AWS SDKs expect.
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordSecrets } from '../helpers/secret-record.js';
import { issueTemporaryCredentials } from './iam.js';
import { closeServer, listen, sendJson, urlHost } from './server-util.js';

export interface PodIdentityAgentOptions {
  host?: string;
  port?: number;
  token: string;
  tokenFile?: string;
  iamKey: string;
  roleArn: string;
  /** Session tags, as EKS Pod Identity attaches them (eks-cluster-name, kubernetes-namespace, ...). */
  tags: Record<string, string>;
  ttlSeconds?: number;
  /** Role session name; EKS uses eks-<cluster>-<pod>-<uuid>. */
  sessionName?: string;
  now?: () => number;
}

export interface PodIdentityAgent {
  url: string;
  port: number;
  tokenFile: string;
  setDown(down: boolean): Promise<void>;
  setToken(token: string): void;
  /**
   * Answer every credentials request with this status and text/plain body (as the agent's http.Error does when
   * EKS Auth refuses: 403 for an access denial, 500 when EKS Auth fails) until called with undefined.
   */
  setFailure(failure: { status: number; body?: string } | undefined): void;
  stats: { issued: number; rejected: number };
  close(): Promise<void>;
}

export const CREDENTIALS_PATH = '/v1/credentials';

export async function startPodIdentityAgent(opts: PodIdentityAgentOptions): Promise<PodIdentityAgent> {
  const host = opts.host ?? '127.0.0.1';
  const ttlSeconds = opts.ttlSeconds ?? 3600;
  const now = opts.now ?? Date.now;
  const ownedDir = opts.tokenFile ? undefined : mkdtempSync(join(tmpdir(), 'pod-identity-'));
  const tokenFile = opts.tokenFile ?? join(ownedDir as string, 'eks-pod-identity-token');
  let expectedToken = opts.token;
  let failure: { status: number; body?: string } | undefined;
  const stats = { issued: 0, rejected: 0 };
  writeFileSync(tokenFile, expectedToken, { mode: 0o600 });
  recordSecrets({ podIdentityToken: expectedToken }); // whole-suite secret scan

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    // Credentials requests have no body; drain anything sent so keep-alive stays usable.
    req.resume();
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== CREDENTIALS_PATH) {
      sendJson(res, 404, { code: 'NotFound', message: 'Not found' });
      return;
    }
    if (failure !== undefined) {
      stats.rejected++;
      const body = failure.body ?? `${failure.status} ${STATUS_CODES[failure.status] ?? ''}`.trim();
      res.writeHead(failure.status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) + 1 });
      res.end(body + '\n');
      return;
    }
    const auth = req.headers.authorization;
    if (auth === undefined || auth === '') {
      stats.rejected++;
      sendJson(res, 400, { code: 'InvalidParameter', message: 'Service account token cannot be empty' });
      return;
    }
    if (auth !== expectedToken) {
      stats.rejected++;
      sendJson(res, 401, { code: 'AccessDeniedException', message: 'Service account token is invalid' });
      return;
    }
    const creds = issueTemporaryCredentials({
      iamKey: opts.iamKey,
      roleArn: opts.roleArn,
      sessionName: opts.sessionName ?? `eks-${opts.tags['eks-cluster-name'] ?? 'cluster'}-${stats.issued + 1}`,
      tags: opts.tags,
      ttlSeconds,
      now: now(),
    });
    stats.issued++;
    sendJson(res, 200, {
      AccessKeyId: creds.AccessKeyId,
      SecretAccessKey: creds.SecretAccessKey,
      Token: creds.Token,
      AccountId: creds.AccountId,
      Expiration: creds.Expiration,
    });
  };

  let server = createServer(handler);
  const port = await listen(server, host, opts.port ?? 0);

  return {
    url: `http://${urlHost(host)}:${port}${CREDENTIALS_PATH}`,
    port,
    tokenFile,
    stats,
    async setDown(down: boolean): Promise<void> {
      if (down) {
        await closeServer(server);
      } else if (!server.listening) {
        // A closed http.Server cannot be reopened reliably; a fresh one on the same port is indistinguishable.
        server = createServer(handler);
        await listen(server, host, port);
      }
    },
    setToken(token: string): void {
      expectedToken = token;
      writeFileSync(tokenFile, token, { mode: 0o600 });
      recordSecrets({ podIdentityToken: token }); // a rotated token must not leak either
    },
    setFailure(f): void {
      failure = f;
    },
    async close(): Promise<void> {
      await closeServer(server);
      if (ownedDir) rmSync(ownedDir, { recursive: true, force: true });
    },
  };
}
