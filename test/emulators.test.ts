// Proves the AWS emulators behave like the services they stand in for, using the real AWS SDK clients where the
// proxy uses them: Pod Identity through the SDK credential chain, ACM PCA through @aws-sdk/client-acm-pca, and
// Lattice with requests signed by @smithy/signature-v4.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request as httpsRequest, Agent as HttpsAgent, createServer as createHttpsServer } from 'node:https';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// defaultProvider is the Node default chain (credential-providers' fromNodeProviderChain wraps this very function).
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { ACMPCAClient, GetCertificateAuthorityCertificateCommand } from '@aws-sdk/client-acm-pca';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { createTestCa, createUntrustedCa, type TestCa } from './emulators/pki.js';
import { issueTemporaryCredentials, openSessionToken, resolveAccessKey, sealSessionToken } from './emulators/iam.js';
import { startPodIdentityAgent, type PodIdentityAgent } from './emulators/pod-identity.js';
import { startPcaEmulator } from './emulators/pca.js';
import { startLattice, type Lattice } from './emulators/lattice.js';
import { startEchoTarget, type EchoResponse, type TargetServer } from './emulators/demo-target.js';
import { loadDemoPackage } from './emulators/grpc-target.js';
import * as grpc from '@grpc/grpc-js';
import { allowClusterNamespacePolicy, authenticatedOnlyPolicy, SEED_CA_ARN, startSeedWorld, type SeedWorld } from './emulators/scenario.js';

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const ENV_KEYS = [
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_ENDPOINT_URL_ACM_PCA',
  'AWS_ENDPOINT_URL',
  'AWS_REGION',
];

/** Runs fn with only the given AWS variables set (the SDK reads process.env), restoring them afterwards. */
async function withAwsEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = new Map(ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of ENV_KEYS) delete process.env[k];
  // No shared config files may leak in from the machine; no IMDS probing.
  Object.assign(process.env, { AWS_CONFIG_FILE: '/nonexistent/config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials', AWS_EC2_METADATA_DISABLED: 'true' }, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

function chainCredentials(agent: PodIdentityAgent): Promise<Creds> {
  return withAwsEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: agent.url, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: agent.tokenFile }, () =>
    defaultProvider()(),
  );
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

async function signLattice(opts: {
  creds: Creds;
  hostname: string;
  method?: string;
  path?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  at?: Date;
  region?: string;
}): Promise<Record<string, string>> {
  const signer = new SignatureV4({ service: 'vpc-lattice-svcs', region: opts.region ?? 'us-west-2', credentials: opts.creds, sha256: Sha256 });
  const signed = await signer.sign(
    {
      method: opts.method ?? 'GET',
      protocol: 'https:',
      hostname: opts.hostname,
      path: opts.path ?? '/',
      query: opts.query ?? {},
      headers: { host: opts.hostname, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...(opts.headers ?? {}) },
    },
    { signingDate: opts.at ?? new Date() },
  );
  return signed.headers as Record<string, string>;
}

function send(
  lattice: { port: number },
  caPem: string,
  hostname: string,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: Readable; agent?: HttpsAgent; servername?: string },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: lattice.port,
        servername: opts.servername ?? hostname,
        ca: caPem,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: { host: hostname, ...(opts.headers ?? {}) },
        agent: opts.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body) opts.body.pipe(req);
    else req.end();
  });
}

// ---------------------------------------------------------------- PKI and IAM

describe('pki', () => {
  it('issues a server certificate Node TLS accepts for its DNS and IP SANs, and refuses a foreign root', async () => {
    const ca = await createTestCa();
    const other = await createUntrustedCa();
    const leaf = await ca.issue({ dnsNames: ['svc.example.com'], ipAddresses: ['127.0.0.1'] });
    const server = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, (_q, s) => s.end('tls-ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const get = (caPem: string, servername?: string): Promise<string> =>
      new Promise((resolve, reject) => {
        httpsRequest({ host: '127.0.0.1', port, ca: caPem, servername, agent: false }, (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d.toString()));
          res.on('end', () => resolve(b));
        })
          .on('error', reject)
          .end();
      });
    try {
      expect(await get(ca.certPem, 'svc.example.com')).toBe('tls-ok');
      expect(await get(ca.certPem)).toBe('tls-ok'); // IP SAN: no servername, checked against 127.0.0.1
      await expect(get(ca.certPem, 'other.example.com')).rejects.toThrow(/altnames|Hostname/i);
      await expect(get(other.certPem, 'svc.example.com')).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });
});

describe('iam', () => {
  const iamKey = 'test-iam-key';

  it('seals a session token only the same iamKey can open, and detects tampering', () => {
    const ctx = { accessKeyId: 'ASIAAAAAAAAAAAAAAAAA', secretAccessKey: 's', principalArn: 'arn:aws:sts::1:assumed-role/r/s', tags: { a: 'b' }, expiration: '2030-01-01T00:00:00Z' };
    const token = sealSessionToken(iamKey, ctx);
    expect(openSessionToken(iamKey, token)).toEqual(ctx);
    expect(openSessionToken('another-key', token)).toBeUndefined();
    const raw = Buffer.from(token, 'base64');
    raw[raw.length - 1] = (raw[raw.length - 1] as number) ^ 1;
    expect(openSessionToken(iamKey, raw.toString('base64'))).toBeUndefined();
    expect(openSessionToken(iamKey, 'garbage')).toBeUndefined();
  });

  it('issues STS-shaped temporary credentials and resolves them with typed failures', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const c = issueTemporaryCredentials({ iamKey, roleArn: 'arn:aws:iam::123456789012:role/app', sessionName: 'sess', tags: { team: 'a' }, ttlSeconds: 900, now });
    expect(c.AccessKeyId).toMatch(/^ASIA[A-Z0-9]{16}$/);
    expect(c.Expiration).toBe('2026-01-01T00:15:00Z');
    expect(c.principalArn).toBe('arn:aws:sts::123456789012:assumed-role/app/sess');
    const ok = resolveAccessKey({ iamKey }, c.AccessKeyId, c.Token, now);
    expect(ok).toMatchObject({ ok: true, identity: { secretAccessKey: c.SecretAccessKey, tags: { team: 'a' }, temporary: true } });
    expect(resolveAccessKey({ iamKey }, 'ASIAOTHEROTHEROTHER0', c.Token, now)).toMatchObject({ ok: false, code: 'InvalidClientTokenId' });
    expect(resolveAccessKey({ iamKey }, c.AccessKeyId, c.Token, now + 901_000)).toMatchObject({ ok: false, code: 'ExpiredToken' });
    expect(resolveAccessKey({ iamKey }, c.AccessKeyId, undefined, now)).toMatchObject({ ok: false, code: 'MissingSecurityToken' });
    expect(resolveAccessKey({ iamKey: 'other' }, c.AccessKeyId, c.Token, now)).toMatchObject({ ok: false, code: 'UnrecognizedClientException' });
    const user = { accessKeyId: 'AKIAUSER000000000001', secretAccessKey: 'x', principalArn: 'arn:aws:iam::123456789012:user/u', tags: { t: '1' } };
    expect(resolveAccessKey({ iamKey, staticUsers: [user] }, user.accessKeyId)).toMatchObject({ ok: true, identity: { temporary: false, tags: { t: '1' } } });
    expect(resolveAccessKey({ iamKey, staticUsers: [user] }, 'AKIAUNKNOWN000000000')).toMatchObject({ ok: false, code: 'UnrecognizedClientException' });
  });
});

// ---------------------------------------------------------------- Pod Identity

describe('pod identity agent', () => {
  let agent: PodIdentityAgent;
  beforeAll(async () => {
    agent = await startPodIdentityAgent({
      token: 'projected-sa-token-1',
      iamKey: 'k',
      roleArn: 'arn:aws:iam::123456789012:role/pod-role',
      tags: { 'eks-cluster-name': 'eks-cluster1', 'kubernetes-namespace': 'apps' },
      ttlSeconds: 3600,
    });
  });
  afterAll(() => agent.close());

  it('serves credentials to the real SDK default chain (AWS_CONTAINER_CREDENTIALS_FULL_URI + token file)', async () => {
    const before = agent.stats.issued;
    const creds = await chainCredentials(agent);
    expect(creds.accessKeyId).toMatch(/^ASIA/);
    expect(creds.sessionToken).toBeTruthy();
    expect(agent.stats.issued).toBe(before + 1);
    const identity = resolveAccessKey({ iamKey: 'k' }, creds.accessKeyId, creds.sessionToken);
    expect(identity).toMatchObject({ ok: true, identity: { principalArn: expect.stringMatching(/^arn:aws:sts::123456789012:assumed-role\/pod-role\//), tags: { 'eks-cluster-name': 'eks-cluster1' } } });
  });

  it('answers 400 without a token and 401 with a wrong one, like the EKS agent', async () => {
    const get = (headers: Record<string, string>): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        httpRequest(agent.url, { headers, agent: false }, (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
        })
          .on('error', reject)
          .end();
      });
    const rejected = agent.stats.rejected;
    expect((await get({})).status).toBe(400);
    expect((await get({ authorization: 'wrong' })).status).toBe(401);
    expect(agent.stats.rejected).toBe(rejected + 2);
    const ok = await get({ authorization: 'projected-sa-token-1' });
    expect(ok.status).toBe(200);
    expect(Object.keys(JSON.parse(ok.body) as object).sort()).toEqual(['AccessKeyId', 'AccountId', 'Expiration', 'SecretAccessKey', 'Token']);
  });

  it('rotates the token (file rewritten, old token refused) and can go down and come back on the same port', async () => {
    agent.setToken('projected-sa-token-2');
    expect(readFileSync(agent.tokenFile, 'utf8')).toBe('projected-sa-token-2');
    await expect(chainCredentials(agent)).resolves.toHaveProperty('accessKeyId');
    await agent.setDown(true);
    await expect(
      new Promise((resolve, reject) => httpRequest(agent.url, { agent: false }, resolve).on('error', reject).end()),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await agent.setDown(false);
    await expect(chainCredentials(agent)).resolves.toHaveProperty('accessKeyId');
  });
});

// ---------------------------------------------------------------- ACM PCA

describe('ACM PCA emulator', () => {
  const iamKey = 'pca-key';
  let ca: TestCa;
  let agent: PodIdentityAgent;
  let pca: Awaited<ReturnType<typeof startPcaEmulator>>;
  beforeAll(async () => {
    ca = await createTestCa();
    agent = await startPodIdentityAgent({ token: 't', iamKey, roleArn: 'arn:aws:iam::123456789012:role/proxy', tags: {} });
    pca = await startPcaEmulator({ caArn: SEED_CA_ARN, caCertPem: ca.certPem, iamKey });
  });
  afterAll(async () => {
    await pca.close();
    await agent.close();
  });

  const client = (creds: Creds, endpoint?: string): ACMPCAClient =>
    new ACMPCAClient({ region: 'us-west-2', credentials: creds, ...(endpoint ? { endpoint } : {}), maxAttempts: 3 });

  it('returns the root certificate to the real SDK client (explicit endpoint, Pod Identity credentials)', async () => {
    const creds = await chainCredentials(agent);
    const out = await client(creds, pca.endpoint).send(new GetCertificateAuthorityCertificateCommand({ CertificateAuthorityArn: SEED_CA_ARN }));
    expect(out.Certificate).toBe(ca.certPem);
    expect(out.CertificateChain).toBeUndefined();
  });

  it('is found through AWS_ENDPOINT_URL_ACM_PCA like the proxy configures it', async () => {
    const creds = await chainCredentials(agent);
    const out = await withAwsEnv({ AWS_ENDPOINT_URL_ACM_PCA: pca.endpoint }, () =>
      client(creds).send(new GetCertificateAuthorityCertificateCommand({ CertificateAuthorityArn: SEED_CA_ARN })),
    );
    expect(out.Certificate).toBe(ca.certPem);
  });

  it('answers ResourceNotFoundException for an unknown CA and InvalidSignatureException for a bad secret', async () => {
    const creds = await chainCredentials(agent);
    const unknown = SEED_CA_ARN.replace('11111111', '99999999');
    await expect(client(creds, pca.endpoint).send(new GetCertificateAuthorityCertificateCommand({ CertificateAuthorityArn: unknown }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(
      client({ ...creds, secretAccessKey: 'wrong' }, pca.endpoint).send(new GetCertificateAuthorityCertificateCommand({ CertificateAuthorityArn: SEED_CA_ARN })),
    ).rejects.toMatchObject({ name: 'InvalidSignatureException', $metadata: { httpStatusCode: 403 } });
  });

  it('answers an IAM denial as AccessDeniedException, as the SDK reads it', async () => {
    const creds = await chainCredentials(agent);
    const denying = await startPcaEmulator({ caArn: SEED_CA_ARN, caCertPem: ca.certPem, iamKey, authorize: (identity) => identity.principalArn.endsWith(':role/other') });
    try {
      await expect(client(creds, denying.endpoint).send(new GetCertificateAuthorityCertificateCommand({ CertificateAuthorityArn: SEED_CA_ARN }))).rejects.toMatchObject({
        name: 'AccessDeniedException',
        message: expect.stringContaining('is not authorized to perform: acm-pca:GetCertificateAuthorityCertificate on resource: ' + SEED_CA_ARN),
        $metadata: { httpStatusCode: 400 },
      });
    } finally {
      await denying.close();
    }
  });

  it('fails the next n calls with 500 InternalFailure, which the SDK retries', async () => {
    const creds = await chainCredentials(agent);
    const calls = pca.stats.calls;
    pca.failNext(2);
    const out = await client(creds, pca.endpoint).send(new GetCertificateAuthorityCertificateCommand({ CertificateAuthorityArn: SEED_CA_ARN }));
    expect(out.Certificate).toBe(ca.certPem);
    expect(pca.stats.calls).toBe(calls + 3);
  });

  it('can go down (connection refused) and come back on the same endpoint', async () => {
    const creds = await chainCredentials(agent);
    const call = () => new ACMPCAClient({ region: 'us-west-2', credentials: creds, endpoint: pca.endpoint, maxAttempts: 1 }).send(
      new GetCertificateAuthorityCertificateCommand({ CertificateAuthorityArn: SEED_CA_ARN }),
    );
    await pca.setDown(true);
    await expect(call()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await pca.setDown(false);
    await expect(call()).resolves.toHaveProperty('Certificate', ca.certPem);
  });
});

// ---------------------------------------------------------------- Lattice

describe('Lattice emulator (seed world)', () => {
  let world: SeedWorld;
  let creds1: Creds;
  let creds2: Creds;
  const h1 = 'demo-cluster1.example.com';
  const h2 = 'demo-cluster2.example.com';
  beforeAll(async () => {
    world = await startSeedWorld();
    creds1 = await chainCredentials(world.agents.cluster1);
    creds2 = await chainCredentials(world.agents.cluster2);
  });
  afterAll(() => world.close());

  it('forwards a request signed by @smithy/signature-v4 to the demo app (200)', async () => {
    const headers = await signLattice({ creds: creds1, hostname: h2 });
    const r = await send(world.lattice, world.caPem, h2, { headers });
    expect(r.status).toBe(200);
    expect(r.body).toBe('Requesting to Pod(demo-cluster2-v1-7b4d9c8f6-q3w9z): Hello from demo-cluster2-v1\n');
    const entry = world.lattice.log.at(-1);
    expect(entry).toMatchObject({ signed: true, verified: true, status: 200, principalArn: expect.stringContaining('assumed-role/eks-cluster1-lattice-client/') });
  });

  it('refuses the same request with a tampered signed header (403 InvalidSignatureException)', async () => {
    const headers = await signLattice({ creds: creds1, hostname: h2, headers: { 'x-request-id': 'a' } });
    const r = await send(world.lattice, world.caPem, h2, { headers: { ...headers, 'x-request-id': 'b' } });
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/^InvalidSignatureException: The request signature we calculated does not match/);
    expect(r.headers['x-amzn-errortype']).toBe('InvalidSignatureException');
  });

  it('refuses a caller the service policy does not allow (403 AccessDeniedException naming the principal)', async () => {
    const headers = await signLattice({ creds: creds1, hostname: h1 });
    const r = await send(world.lattice, world.caPem, h1, { headers, path: '/' });
    expect(r.status).toBe(403);
    expect(r.body).toMatch(
      /^AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role\/eks-cluster1-lattice-client\/\S+ is not authorized to perform: vpc-lattice-svcs:Invoke on resource: arn:aws:vpc-lattice:us-west-2:123456789012:service\/svc-[0-9a-f]+\/ because no service-based policy allows the vpc-lattice-svcs:Invoke action$/,
    );
    // The reverse direction is allowed.
    const ok = await send(world.lattice, world.caPem, h1, { headers: await signLattice({ creds: creds2, hostname: h1 }) });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('Hello from demo-cluster1-v1');
  });

  it('refuses an unsigned (anonymous) request at the service network', async () => {
    const r = await send(world.lattice, world.caPem, h2, {});
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/^AccessDeniedException: User: anonymous is not authorized .* because no network-based policy allows/);
    expect(world.lattice.log.at(-1)).toMatchObject({ signed: false, verified: false, status: 403 });
  });

  it('refuses a signature more than five minutes old', async () => {
    const headers = await signLattice({ creds: creds1, hostname: h2, at: new Date(Date.now() - 6 * 60_000) });
    const r = await send(world.lattice, world.caPem, h2, { headers });
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/^InvalidSignatureException: Signature expired/);
    expect(world.lattice.log.at(-1)?.code).toBe('RequestExpired');
  });

  it('refuses a payload-signed request (Lattice needs UNSIGNED-PAYLOAD)', async () => {
    const headers = await signLattice({ creds: creds1, hostname: h2, headers: { 'x-amz-content-sha256': createHash('sha256').update('').digest('hex') } });
    const r = await send(world.lattice, world.caPem, h2, { headers });
    expect(r.status).toBe(403);
    expect(world.lattice.log.at(-1)?.code).toBe('InvalidPayloadSigning');
  });

  it('answers 404 for a host no service is associated with', async () => {
    const headers = await signLattice({ creds: creds1, hostname: 'nope.example.com' });
    // TLS is for a name the certificate covers; only the Host header names the unknown service.
    const r = await send(world.lattice, world.caPem, 'nope.example.com', { headers, servername: h1 });
    expect(r.status).toBe(404);
  });

  it('reuses keep-alive TLS connections and never logs credentials', async () => {
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = world.lattice.stats.connections;
      for (let i = 0; i < 3; i++) {
        const r = await send(world.lattice, world.caPem, h2, { headers: await signLattice({ creds: creds1, hostname: h2 }), agent });
        expect(r.status).toBe(200);
      }
      expect(world.lattice.stats.connections).toBe(before + 1);
    } finally {
      agent.destroy();
    }
    const logText = JSON.stringify(world.lattice.log);
    expect(logText).not.toContain(creds1.secretAccessKey);
    expect(logText).not.toContain(creds1.sessionToken as string);
    expect(logText).not.toContain('Signature=');
  });

  it('answers 503 when the target refuses connections', async () => {
    await world.targets['demo-cluster2']?.close();
    const r = await send(world.lattice, world.caPem, h2, { headers: await signLattice({ creds: creds1, hostname: h2 }) });
    expect(r.status).toBe(503);
  });
});

describe('Lattice emulator streaming to the echo target', () => {
  const iamKey = 'stream-key';
  let echo: TargetServer;
  let lattice: Lattice;
  let agent: PodIdentityAgent;
  let caPem: string;
  const host = 'echo.example.com';
  beforeAll(async () => {
    const ca = await createTestCa();
    caPem = ca.certPem;
    const cert = await ca.issue({ dnsNames: [host] });
    echo = await startEchoTarget();
    lattice = await startLattice({
      certPem: cert.certPem,
      keyPem: cert.keyPem,
      iamKey,
      services: [{ hostname: host, target: { host: '127.0.0.1', port: echo.port } }],
      serviceNetworkPolicy: authenticatedOnlyPolicy(),
    });
    agent = await startPodIdentityAgent({ token: 't', iamKey, roleArn: 'arn:aws:iam::123456789012:role/streamer', tags: {} });
  });
  afterAll(async () => {
    await lattice?.close();
    await echo?.close();
    await agent?.close();
  });

  it('streams a 64 MiB POST through with the exact bytes and bounded memory, stripping credentials', async () => {
    const creds = await chainCredentials(agent);
    const total = 64 * 1024 * 1024;
    const chunk = randomBytes(64 * 1024);
    const hash = createHash('sha256');
    let sent = 0;
    // Bytes the client has produced that the target has not yet received: whatever the path holds in buffers.
    let maxInFlight = 0;
    const targetBefore = echo.stats.bodyBytes;
    const body = new Readable({
      read() {
        maxInFlight = Math.max(maxInFlight, sent - (echo.stats.bodyBytes - targetBefore));
        if (sent >= total) {
          this.push(null);
          return;
        }
        // Each chunk differs (counter prefix) so reordering or duplication would change the hash.
        const piece = Buffer.from(chunk);
        piece.writeUInt32BE(sent / chunk.length, 0);
        hash.update(piece);
        sent += piece.length;
        this.push(piece);
      },
    });
    const headers = await signLattice({
      creds,
      hostname: host,
      method: 'POST',
      path: '/upload',
      // The wire form keeps '+' literal; SigV4 canonicalises it as %2B on both sides.
      query: { name: 'a+b' },
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(total) },
    });
    const r = await send(lattice, caPem, host, { method: 'POST', path: '/upload?name=a+b', headers, body });
    expect(r.status, r.body).toBe(200);
    const echoed = JSON.parse(r.body) as EchoResponse;
    expect(echoed.bodyBytes).toBe(total);
    expect(echoed.bodySha256).toBe(hash.digest('hex'));
    expect(echoed.rawPath).toBe('/upload?name=a+b');
    const names = echoed.headers.map(([n]) => n.toLowerCase());
    expect(names).not.toContain('authorization');
    expect(names).not.toContain('x-amz-security-token');
    expect(names).toContain('x-amzn-lattice-identity');
    const identity = echoed.headers.find(([n]) => n.toLowerCase() === 'x-amzn-lattice-identity')?.[1];
    expect(identity).toMatch(/^Principal=arn:aws:sts::123456789012:assumed-role\/streamer\//);
    // Store-and-forward would hold all 64 MiB before the target saw a byte; streaming holds only socket buffers.
    expect(maxInFlight).toBeGreaterThan(0);
    expect(maxInFlight).toBeLessThan(24 * 1024 * 1024);
  });
});

// ---------------------------------------------------------------- CLI

interface Spawned {
  child: ChildProcess;
  ready: Record<string, unknown> & { url: string };
}

/** Starts a cli.ts emulator process and waits for its ready line. */
async function spawnEmulator(args: string[], env: Record<string, string> = {}): Promise<Spawned> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/emulators/cli.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout as Readable });
  const first = await Promise.race([
    once(lines, 'line').then(([l]) => l as string),
    once(child, 'exit').then(([code]) => {
      throw new Error(`cli ${args[0]} exited ${String(code)}: ${stderr}`);
    }),
  ]);
  return { child, ready: JSON.parse(first) as Spawned['ready'] };
}

async function stopEmulator(s: Spawned | undefined): Promise<number | null> {
  if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return s?.child.exitCode ?? null;
  const exited = once(s.child, 'exit');
  s.child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}

function getText(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { headers, agent: false }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => (b += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    })
      .on('error', reject)
      .end();
  });
}

describe('cli', () => {
  it('runs an emulator as a process: one ready JSON line, serves, exits 0 on SIGTERM', async () => {
    let target: Spawned | undefined;
    try {
      target = await spawnEmulator(['demo-target', '--app', 'demo-cluster1-v1', '--pod-name', 'p1']);
      expect(target.ready.ready).toBe(true);
      expect((await getText(target.ready.url)).body).toBe('Requesting to Pod(p1): Hello from demo-cluster1-v1\n');
      expect(await stopEmulator(target)).toBe(0);
    } finally {
      target?.child.kill('SIGKILL');
    }
  });

  it('runs pod-identity, pca and lattice as separate processes sharing only the iamKey', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emu-cli-'));
    const procs: Spawned[] = [];
    const echo = await startEchoTarget();
    try {
      const env = { EMULATOR_IAM_KEY: randomBytes(16).toString('hex') };
      const pki = await spawnEmulator(['make-pki', '--out', dir, '--dns', 'svc.example.com', '--ip', '127.0.0.1']);
      await once(pki.child, 'exit');
      const configFile = join(dir, 'lattice.json');
      writeFileSync(
        configFile,
        JSON.stringify({
          services: [{ hostname: 'svc.example.com', target: { host: '127.0.0.1', port: echo.port }, authPolicy: allowClusterNamespacePolicy('eks-cluster1') }],
          serviceNetworkPolicy: authenticatedOnlyPolicy(),
        }),
      );
      const tokenFile = join(dir, 'token');
      const [agentProc, pcaProc, latticeProc] = await Promise.all([
        spawnEmulator(['pod-identity', '--token-file', tokenFile, '--role-arn', 'arn:aws:iam::123456789012:role/c1', '--tags', 'eks-cluster-name=eks-cluster1,kubernetes-namespace=apps'], env),
        spawnEmulator(['pca', '--ca-arn', SEED_CA_ARN, '--ca-cert', join(dir, 'ca.pem')], env),
        spawnEmulator(['lattice', '--cert', join(dir, 'server.pem'), '--key', join(dir, 'server-key.pem'), '--config', configFile], env),
      ]);
      procs.push(agentProc, pcaProc, latticeProc);
      const caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
      const creds = await withAwsEnv(
        { AWS_CONTAINER_CREDENTIALS_FULL_URI: agentProc.ready.url, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile },
        () => defaultProvider()(),
      );
      const cert = await new ACMPCAClient({ region: 'us-west-2', credentials: creds, endpoint: pcaProc.ready.url }).send(
        new GetCertificateAuthorityCertificateCommand({ CertificateAuthorityArn: SEED_CA_ARN }),
      );
      expect(cert.Certificate).toBe(caPem);
      const latticePort = Number(new URL(latticeProc.ready.url).port);
      const ok = await send({ port: latticePort }, caPem, 'svc.example.com', { headers: await signLattice({ creds, hostname: 'svc.example.com' }) });
      expect(ok.status).toBe(200);
      const anonymous = await send({ port: latticePort }, caPem, 'svc.example.com', {});
      expect(anonymous.status).toBe(403);
      for (const p of procs.splice(0)) expect(await stopEmulator(p)).toBe(0);
    } finally {
      for (const p of procs) p.child.kill('SIGKILL');
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('runs grpc-target and a lattice whose config declares a GRPC target group; a signed gRPC call crosses both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emu-cli-grpc-'));
    const procs: Spawned[] = [];
    const { Demo } = loadDemoPackage();
    let client: grpc.Client | undefined;
    try {
      const iamKey = randomBytes(16).toString('hex');
      const pki = await spawnEmulator(['make-pki', '--out', dir, '--dns', 'grpc.example.com']);
      await once(pki.child, 'exit');
      const target = await spawnEmulator(['grpc-target', '--app', 'grpc-demo', '--pod-name', 'grpc-pod-1']);
      procs.push(target);
      const configFile = join(dir, 'lattice.json');
      const targetPort = Number(target.ready.port);
      writeFileSync(
        configFile,
        JSON.stringify({ services: [{ hostname: 'grpc.example.com', protocolVersion: 'GRPC', target: { host: '127.0.0.1', port: targetPort } }], serviceNetworkPolicy: authenticatedOnlyPolicy(), idleTimeoutMs: 30_000 }),
      );
      const lattice = await spawnEmulator(['lattice', '--cert', join(dir, 'server.pem'), '--key', join(dir, 'server-key.pem'), '--config', configFile], { EMULATOR_IAM_KEY: iamKey });
      procs.push(lattice);
      const sts = issueTemporaryCredentials({ iamKey, roleArn: 'arn:aws:iam::123456789012:role/grpc-cli', sessionName: 's', tags: {}, ttlSeconds: 600 });
      const creds = { accessKeyId: sts.AccessKeyId, secretAccessKey: sts.SecretAccessKey, sessionToken: sts.Token };
      const path = '/lattice.demo.v1.Demo/Hello';
      const signed = await signLattice({ creds, hostname: 'grpc.example.com', method: 'POST', path });
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(signed)) if (k !== 'host') md.set(k, v);
      client = new Demo(`127.0.0.1:${new URL(lattice.ready.url).port}`, grpc.credentials.createSsl(readFileSync(join(dir, 'ca.pem'))), {
        'grpc.ssl_target_name_override': 'grpc.example.com',
        'grpc.default_authority': 'grpc.example.com',
      });
      const reply = await new Promise<{ message: string }>((resolve, reject) =>
        (client as unknown as { Hello(r: object, m: grpc.Metadata, cb: (e: Error | null, r: { message: string }) => void): void }).Hello({ name: 'cli' }, md, (e, r) => (e ? reject(e) : resolve(r))),
      );
      expect(reply.message).toBe('Requesting to Pod(grpc-pod-1): Hello from grpc-demo, cli');
      client.close();
      for (const p of procs.splice(0).reverse()) expect(await stopEmulator(p)).toBe(0);
    } finally {
      client?.close();
      for (const p of procs) p.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
