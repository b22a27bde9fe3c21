// test/emulators/sts.ts and oidc.ts: AssumeRoleWithWebIdentity as STS answers it — the Query protocol (POST and
// GET), the XML shape the AWS SDK parses, a JWT really verified against the issuer's JWKS, the trust policy's sub
// and aud conditions, STS's error codes and messages, credentials Lattice resolves to an assumed-role session
// without tags, and a call log that holds token hashes, never tokens.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fromTokenFile } from '@aws-sdk/credential-provider-web-identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAccessKey } from './emulators/iam.js';
import { createSigningKey, mintServiceAccountToken, startOidcIssuer, type OidcIssuer } from './emulators/oidc.js';
import { evaluateLattice, evaluatePolicy, webIdentityTrustContext, type PolicyDocument } from './emulators/policy.js';
import { allowClusterNamespacePolicy, allowRoleStatement, authenticatedOnlyPolicy } from './emulators/scenario.js';
import { irsaTrustPolicy, startStsEmulator, tokenSha256, type StsEmulator } from './emulators/sts.js';

const ACCOUNT = '123456789012';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/eksa-cluster3-lattice-client`;
const SUBJECT = 'system:serviceaccount:apps:demo-eksa-v1';
const IAM_KEY = 'sts-emulator-test-key';

let issuer: OidcIssuer;
let sts: StsEmulator;
let dir: string;
const good = (extra: Partial<Parameters<OidcIssuer['mint']>[0]> = {}) => issuer.mint({ namespace: 'apps', serviceAccount: 'demo-eksa-v1', ...extra });

beforeAll(async () => {
  issuer = await startOidcIssuer();
  sts = await startStsEmulator({
    iamKey: IAM_KEY,
    roles: [
      { roleArn: ROLE, trustPolicy: irsaTrustPolicy(ACCOUNT, issuer.url, [SUBJECT]), maxSessionDurationSeconds: 7200 },
      // Same provider and subject, but the aud condition pins another audience: the condition must be evaluated.
      { roleArn: `arn:aws:iam::${ACCOUNT}:role/other-audience`, trustPolicy: irsaTrustPolicy(ACCOUNT, issuer.url, [SUBJECT], 'other.example') },
    ],
    oidcProviders: [{ url: issuer.url, clientIds: ['sts.amazonaws.com'] }],
  });
  dir = mkdtempSync(join(tmpdir(), 'sts-emulator-'));
});
afterAll(async () => {
  await sts?.close();
  await issuer?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(params: Record<string, string>, method: 'POST' | 'GET' = 'POST'): Promise<{ status: number; body: string }> {
  const q = new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', ...params }).toString();
  const r =
    method === 'POST'
      ? await fetch(sts.url + '/', { method, headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: q })
      : await fetch(`${sts.url}/?${q}`);
  return { status: r.status, body: await r.text() };
}

const assume = (token: string, extra: Record<string, string> = {}) => call({ RoleArn: ROLE, RoleSessionName: 'test-session', WebIdentityToken: token, ...extra });
const xml = (body: string, tag: string) => new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(body)?.[1];

describe('AssumeRoleWithWebIdentity', () => {
  it('answers STS\'s XML with credentials for the assumed-role session (POST form and GET)', async () => {
    for (const method of ['POST', 'GET'] as const) {
      const before = Date.now();
      const r = await call({ RoleArn: ROLE, RoleSessionName: `s-${method}`, WebIdentityToken: good() }, method);
      expect(r.status, r.body).toBe(200);
      expect(r.body).toMatch(/^<AssumeRoleWithWebIdentityResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">/);
      expect(xml(r.body, 'SubjectFromWebIdentityToken')).toBe(SUBJECT);
      expect(xml(r.body, 'Audience')).toBe('sts.amazonaws.com');
      expect(xml(r.body, 'Provider')).toBe(issuer.url);
      expect(xml(r.body, 'Arn')).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/eksa-cluster3-lattice-client/s-${method}`);
      expect(xml(r.body, 'AssumedRoleId')).toMatch(new RegExp(`^AROA[A-Z0-9]{17}:s-${method}$`));
      expect(xml(r.body, 'RequestId')).toMatch(/^[0-9a-f-]{36}$/);
      // STS truncates the expiry to whole seconds.
      const expiration = Date.parse(xml(r.body, 'Expiration')!);
      expect(expiration).toBeGreaterThan(before + 3600_000 - 1000);
      expect(expiration).toBeLessThanOrEqual(Date.now() + 3600_000);
      // Lattice and PCA resolve the key from the sealed token alone: the principal, and no Pod Identity tags.
      const resolved = resolveAccessKey({ iamKey: IAM_KEY }, xml(r.body, 'AccessKeyId')!, xml(r.body, 'SessionToken')!);
      expect(resolved).toMatchObject({ ok: true, identity: { principalArn: xml(r.body, 'Arn'), tags: {}, temporary: true } });
    }
  });

  it('works with the AWS SDK\'s web identity provider, which re-reads the token file on every call', async () => {
    const file = join(dir, 'token');
    const tokens = [good(), good()];
    for (const token of tokens) {
      writeFileSync(file, token);
      const creds = await fromTokenFile({ webIdentityTokenFile: file, roleArn: ROLE, clientConfig: { region: 'us-west-2', endpoint: sts.url } })();
      expect(creds.accessKeyId).toMatch(/^ASIA/);
      expect(creds.sessionToken).toBeDefined();
      expect(creds.expiration!.getTime()).toBeGreaterThan(Date.now() + 3500_000);
      const last = sts.calls[sts.calls.length - 1]!;
      expect(last).toMatchObject({ outcome: 'issued', tokenSha256: tokenSha256(token), accessKeyId: creds.accessKeyId, subject: SUBJECT });
    }
  });

  it('honours DurationSeconds, within 900 s and the role\'s MaxSessionDuration', async () => {
    const r = await assume(good(), { DurationSeconds: '900' });
    expect(r.status).toBe(200);
    expect(Date.parse(xml(r.body, 'Expiration')!) - Date.now()).toBeLessThanOrEqual(900_000);
    expect(sts.calls[sts.calls.length - 1]!.durationSeconds).toBe(900);
    expect((await assume(good(), { DurationSeconds: '7200' })).status).toBe(200);
    const low = await assume(good(), { DurationSeconds: '899' });
    expect([low.status, xml(low.body, 'Code')]).toEqual([400, 'ValidationError']);
    expect(xml(low.body, 'Message')).toMatch(/durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900/);
    const high = await assume(good(), { DurationSeconds: '7201' });
    expect([high.status, xml(high.body, 'Message')]).toEqual([400, 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.']);
  });

  const errors: Array<[string, number, string, () => string, RegExp]> = [
    ['wrong audience', 400, 'InvalidIdentityToken', () => good({ audience: 'vault' }), /^Incorrect token audience$/],
    ['expired token', 400, 'ExpiredTokenException', () => good({ now: Date.now() - 7200_000, ttlSeconds: 3600 }), /^Token expired: current date\/time \d+ must be before the expiration date\/time \d+$/],
    ['untrusted subject', 403, 'AccessDenied', () => good({ serviceAccount: 'default' }), /^Not authorized to perform sts:AssumeRoleWithWebIdentity$/],
    ['signed by another key', 400, 'InvalidIdentityToken', () => mintServiceAccountToken(createSigningKey(), { issuer: issuer.url, namespace: 'apps', serviceAccount: 'demo-eksa-v1' }), /^The web identity token that was passed could not be validated by AWS/],
    ['a claim changed after signing', 400, 'InvalidIdentityToken', () => {
      const [h, , s] = good().split('.');
      const payload = JSON.parse(Buffer.from(good().split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
      payload.sub = 'system:serviceaccount:apps:demo-eksa-v1';
      payload.exp = Math.floor(Date.now() / 1000) + 10 * 86400;
      return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    }, /could not be validated/],
    ['an issuer that is not a registered provider', 400, 'InvalidIdentityToken', () => mintServiceAccountToken(issuer.key(), { issuer: 'https://oidc.other.example/id/1', namespace: 'apps', serviceAccount: 'demo-eksa-v1' }), /^No OpenIDConnect provider found in your account for https:\/\/oidc\.other\.example\/id\/1$/],
    ['not a JWT', 400, 'InvalidIdentityToken', () => 'not-a-jwt', /is not a valid JWT/],
  ];
  it.each(errors)('%s: %i %s', async (_what, status, code, token, message) => {
    const t = token();
    const r = await assume(t);
    expect(r.status).toBe(status);
    expect(r.body.startsWith('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n  <Error>\n    <Type>Sender</Type>\n')).toBe(true);
    expect(xml(r.body, 'Code')).toBe(code);
    expect(xml(r.body, 'Message')?.replace(/&apos;|&#39;/g, "'")).toMatch(message);
    expect(sts.calls[sts.calls.length - 1]).toMatchObject({ outcome: code, status, tokenSha256: tokenSha256(t) });
  });

  it('evaluates the trust policy\'s aud condition too (a role pinned to another audience refuses the token)', async () => {
    const r = await call({ RoleArn: `arn:aws:iam::${ACCOUNT}:role/other-audience`, RoleSessionName: 'x1', WebIdentityToken: good() });
    expect([r.status, xml(r.body, 'Code')]).toEqual([403, 'AccessDenied']);
    const unknown = await call({ RoleArn: `arn:aws:iam::${ACCOUNT}:role/nope`, RoleSessionName: 'x1', WebIdentityToken: good() });
    expect([unknown.status, xml(unknown.body, 'Code')]).toEqual([403, 'AccessDenied']);
  });

  it('verifies tokens of a rotated signing key (fetches the JWKS again for an unknown kid)', async () => {
    const old = good();
    issuer.rotateKey(true);
    expect((await assume(good())).status).toBe(200);
    expect((await assume(old)).status).toBe(200);
    // Like STS, the emulator caches the JWKS: a key dropped from it stops verifying only when the cache expires.
    issuer.rotateKey(false);
    expect((await assume(good())).status).toBe(200);
  });

  it('cannot fetch the issuer\'s keys: InvalidIdentityToken "Couldn\'t retrieve verification key"', async () => {
    const other = await startOidcIssuer();
    const lonely = await startStsEmulator({
      iamKey: IAM_KEY,
      roles: [{ roleArn: ROLE, trustPolicy: irsaTrustPolicy(ACCOUNT, other.url, [SUBJECT]) }],
      oidcProviders: [{ url: other.url, clientIds: ['sts.amazonaws.com'] }],
    });
    try {
      const token = other.mint({ namespace: 'apps', serviceAccount: 'demo-eksa-v1' });
      await other.setDown(true);
      const r = await fetch(lonely.url + '/', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: ROLE, RoleSessionName: 'x1', WebIdentityToken: token }),
      });
      const body = await r.text();
      expect(r.status).toBe(400);
      expect(xml(body, 'Code')).toBe('InvalidIdentityToken');
      expect(xml(body, 'Message')?.replace(/&apos;|&#39;/g, "'")).toBe("Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements");
    } finally {
      await lonely.close();
      await other.close();
    }
  });

  it('refuses other actions and missing parameters as STS does', async () => {
    const r = await call({ Action: 'GetSessionToken' });
    expect([r.status, xml(r.body, 'Code'), xml(r.body, 'Message')]).toEqual([400, 'InvalidAction', 'Could not find operation GetSessionToken for version 2011-06-15']);
    const m = await call({ RoleArn: ROLE, RoleSessionName: 's1' });
    expect([m.status, xml(m.body, 'Code')]).toEqual([400, 'ValidationError']);
    expect(xml(m.body, 'Message')).toMatch(/webIdentityToken/);
  });

  it('answers 500 InternalFailure on demand, and refuses connections when down', async () => {
    sts.failNext(1);
    const r = await assume(good());
    expect([r.status, xml(r.body, 'Code'), r.body.includes('<Type>Receiver</Type>')]).toEqual([500, 'InternalFailure', true]);
    expect((await assume(good())).status).toBe(200);
    await sts.setDown(true);
    await expect(assume(good())).rejects.toThrow();
    await sts.setDown(false);
    expect((await assume(good())).status).toBe(200);
  });

  it('records token hashes only: no token, secret key or session token is in the call log', async () => {
    const token = good();
    const r = await assume(token);
    const log = JSON.stringify(sts.calls);
    expect(log).toContain(tokenSha256(token));
    expect(log).not.toContain(token.split('.')[2]);
    expect(log).not.toContain(token.split('.')[1]);
    expect(log).not.toContain(xml(r.body, 'SecretAccessKey'));
    expect(log).not.toContain(xml(r.body, 'SessionToken'));
  });
});

describe('policies', () => {
  it('a web identity caller is named by Principal.Federated only, never by an AWS principal', () => {
    const ctx = webIdentityTrustContext({ roleArn: ROLE, providerArn: `arn:aws:iam::${ACCOUNT}:oidc-provider/x.example/id/1`, issuerUrl: 'https://x.example/id/1', sub: SUBJECT, aud: 'sts.amazonaws.com' });
    const byAccount: PolicyDocument = { Statement: { Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: 'sts:AssumeRoleWithWebIdentity' } };
    expect(evaluatePolicy(byAccount, ctx).decision).toBe('ImplicitDeny');
    expect(evaluatePolicy(irsaTrustPolicy(ACCOUNT, 'https://x.example/id/1', [SUBJECT]), ctx).decision).toBe('Allow');
    expect(evaluatePolicy(irsaTrustPolicy(ACCOUNT, 'https://x.example/id/1', ['system:serviceaccount:apps:other']), ctx).decision).toBe('ImplicitDeny');
  });

  it('Lattice allows the IRSA session by role ARN (no session tags), and only where a policy names it', () => {
    const facts = {
      principalArn: `arn:aws:sts::${ACCOUNT}:assumed-role/eksa-cluster3-lattice-client/aws-sdk-js-session-1`,
      principalTags: {},
      method: 'GET',
      path: '/',
      serviceArn: 'arn:aws:vpc-lattice:us-west-2:123456789012:service/svc-1',
      serviceNetworkArn: 'arn:aws:vpc-lattice:us-west-2:123456789012:servicenetwork/sn-1',
    };
    const tagsOnly = allowClusterNamespacePolicy('eks-cluster2');
    const withRole: PolicyDocument = { ...tagsOnly, Statement: [...(tagsOnly.Statement as []), allowRoleStatement(ROLE)] };
    expect(evaluateLattice({ serviceNetworkPolicy: authenticatedOnlyPolicy(), servicePolicy: withRole }, facts)).toEqual({ allowed: true });
    const denied = evaluateLattice({ serviceNetworkPolicy: authenticatedOnlyPolicy(), servicePolicy: tagsOnly }, facts);
    expect(denied).toMatchObject({ allowed: false, layer: 'service' });
  });
});

describe('as processes (test/emulators/cli.ts)', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) c.kill('SIGTERM');
  });
  const cli = (args: string[]): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/emulators/cli.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EMULATOR_IAM_KEY: IAM_KEY } });
      children.push(child);
      let err = '';
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      const timer = setTimeout(() => reject(new Error(`no ready line: ${err}`)), 30_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const j = JSON.parse(line) as Record<string, unknown>;
        if (j.ready === true) {
          clearTimeout(timer);
          resolve({ child, ready: j });
        }
      });
      child.once('exit', (code) => code !== 0 && reject(new Error(`exited ${code}: ${err}`)));
    });

  it('oidc, mint-sa-token and sts work together across processes', async () => {
    const keyFile = join(dir, 'signer.pem');
    const oidc = await cli(['oidc', '--port', '0', '--key-file', keyFile, '--issuer-path', '/id/CLITEST']);
    const issuerUrl = String(oidc.ready.url);
    expect(issuerUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/id\/CLITEST$/);
    const stsProc = await cli(['sts', '--port', '0', '--role-arn', ROLE, '--issuer', issuerUrl, '--subjects', SUBJECT, '--duration', '1200']);
    const out = join(dir, 'cli-token');
    const minted = await cli(['mint-sa-token', '--key-file', keyFile, '--issuer', issuerUrl, '--namespace', 'apps', '--service-account', 'demo-eksa-v1', '--out', out]);
    const token = readFileSync(out, 'utf8');
    expect(minted.ready.tokenSha256).toBe(tokenSha256(token));
    const r = await fetch(String(stsProc.ready.url) + '/', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: ROLE, RoleSessionName: 'cli', WebIdentityToken: token }),
    });
    const body = await r.text();
    expect(r.status, body).toBe(200);
    expect(Date.parse(xml(body, 'Expiration')!) - Date.now()).toBeGreaterThan(1190_000);
    // SIGUSR2: the call log, with the token's hash.
    const lines: string[] = [];
    createInterface({ input: stsProc.child.stdout! }).on('line', (l) => lines.push(l));
    stsProc.child.kill('SIGUSR2');
    await expect.poll(() => lines.find((l) => l.startsWith('{"calls"')), { timeout: 5000 }).toBeDefined();
    const log = JSON.parse(lines.find((l) => l.startsWith('{"calls"'))!) as { calls: Array<{ tokenSha256: string; outcome: string }> };
    expect(log.calls).toEqual([expect.objectContaining({ outcome: 'issued', tokenSha256: tokenSha256(token) })]);
  }, 60_000);
});
