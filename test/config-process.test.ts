// Issue 15, configuration at the process level: the BUILT proxy is spawned once per bad variable (every
// variable proxy/src/config.ts reads has a case; a new variable without one fails the completeness test),
// and must exit 78 (EX_CONFIG) with the line `lattice-sigv4-proxy: invalid configuration: VAR: ...`; several
// bad variables are all reported in one start. A port already in use exits 98 naming LISTEN_PORT or
// ADMIN_PORT (docs/errors.md).

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isolatedEnv, PROXY_MAIN, REPO_ROOT } from './helpers/proxy-process.js';
import { recordProxyOutput } from './helpers/secret-record.js';

const EX_CONFIG = 78;
const EXIT_LISTEN_FAILED = 98;
const base = { AWS_REGION: 'us-west-2' };

/** Run the built proxy until it exits (it must: every case here is fatal at start). */
function runUntilExit(env: Record<string, string | undefined>, timeoutMs = 15_000): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [PROXY_MAIN], { env: isolatedEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      recordProxyOutput(child.pid ?? 0, c);
    });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      recordProxyOutput(child.pid ?? 0, c);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the proxy did not exit within ${timeoutMs} ms (it should refuse to start); output:\n${stdout}${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stderr, stdout });
    });
  });
}

/** [variable named in the error, environment]: one bad value each, everything else valid. */
const BAD: Array<[string, Record<string, string>]> = [
  ['LISTEN_PORT', { ...base, LISTEN_PORT: '80a' }],
  ['LISTEN_ADDRESS', { ...base, LISTEN_ADDRESS: 'localhost' }],
  ['ADMIN_PORT', { ...base, ADMIN_PORT: '99999' }],
  ['ADMIN_PORT', { ...base, LISTEN_PORT: '18080', ADMIN_PORT: '18080' }],
  ['ADMIN_ADDRESS', { ...base, ADMIN_ADDRESS: 'any' }],
  ['AWS_REGION', {}],
  ['AWS_REGION', { AWS_REGION: 'mars' }],
  ['AWS_DEFAULT_REGION', { AWS_DEFAULT_REGION: 'mars' }],
  ['SIGNING_SERVICE', { ...base, SIGNING_SERVICE: 'Bad Service' }],
  ['CA_ARN', { ...base, CA_ARN: 'arn:aws:acm:us-west-2:123456789012:certificate/x' }],
  ['PCA_ENDPOINT', { ...base, PCA_ENDPOINT: 'ftp://pca.example' }],
  ['AWS_ENDPOINT_URL_ACM_PCA', { ...base, AWS_ENDPOINT_URL_ACM_PCA: 'not a url' }],
  ['AWS_ENDPOINT_URL', { ...base, AWS_ENDPOINT_URL: 'nope' }],
  ['AWS_USE_FIPS_ENDPOINT', { ...base, AWS_USE_FIPS_ENDPOINT: 'sometimes' }],
  ['AWS_USE_DUALSTACK_ENDPOINT', { ...base, AWS_USE_DUALSTACK_ENDPOINT: 'maybe' }],
  ['APP_DOMAIN', { ...base, APP_DOMAIN: 'not a domain' }],
  ['ALLOWED_HOSTS', { ...base, ALLOWED_HOSTS: 'good.example,b@d' }],
  ['LOG_LEVEL', { ...base, LOG_LEVEL: 'verbose' }],
  ['UNSIGNED_HEADERS', { ...base, UNSIGNED_HEADERS: 'x-amz-date' }],
  ['AUTHORIZATION_FORWARD_HEADER', { ...base, AUTHORIZATION_FORWARD_HEADER: 'content-length' }],
  ['AUTHORIZATION_FORWARD_HEADER', { ...base, AUTHORIZATION_FORWARD_HEADER: 'connection' }],
  ['AUTHORIZATION_FORWARD_HEADER', { ...base, AUTHORIZATION_FORWARD_HEADER: 'host' }],
  ['AUTHORIZATION_FORWARD_HEADER', { ...base, AUTHORIZATION_FORWARD_HEADER: ':authority' }],
  ['UPSTREAM_PORT', { ...base, UPSTREAM_PORT: '0' }],
  ['CONNECT_TO', { ...base, CONNECT_TO: '127.0.0.1' }],
  ['ACCESS_LOG', { ...base, ACCESS_LOG: 'maybe' }],
  ['CONNECT_TIMEOUT_MS', { ...base, CONNECT_TIMEOUT_MS: '5' }],
  ['UPSTREAM_TIMEOUT_MS', { ...base, UPSTREAM_TIMEOUT_MS: '5' }],
  ['UPSTREAM_MAX_CONNECTIONS', { ...base, UPSTREAM_MAX_CONNECTIONS: '0' }],
  ['UPSTREAM_KEEPALIVE_TIMEOUT_MS', { ...base, UPSTREAM_KEEPALIVE_TIMEOUT_MS: 'x' }],
  ['DRAIN_TIMEOUT_MS', { ...base, DRAIN_TIMEOUT_MS: '-1' }],
  ['MAX_HEADER_SIZE', { ...base, MAX_HEADER_SIZE: '100' }],
  ['REQUEST_TIMEOUT_MS', { ...base, REQUEST_TIMEOUT_MS: '1.5' }],
  ['CREDENTIALS_REFRESH_MARGIN_S', { ...base, CREDENTIALS_REFRESH_MARGIN_S: '0' }],
  ['CA_REFRESH_INTERVAL_S', { ...base, CA_REFRESH_INTERVAL_S: '1' }],
  ['HTTP2_HOSTS', { ...base, HTTP2_HOSTS: 'grpc.example.com,*bad' }],
  ['SIGNING_ALGORITHM', { ...base, SIGNING_ALGORITHM: 'sigv5' }],
  ['SIGV4A_REGION_SET', { ...base, SIGV4A_REGION_SET: 'us-west-2, us-east-1' }],
  ['H2_MAX_SESSION_AGE_MS', { ...base, H2_MAX_SESSION_AGE_MS: '10' }],
];
/** Read by config.ts but with no value it refuses at start (a missing CA_FILE is a readiness matter, /readyz says so). */
const ANY_VALUE = ['CA_FILE'];

const configLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('lattice-sigv4-proxy: invalid configuration: '));

describe('a bad variable stops the built proxy: exit 78 and the line naming it', () => {
  it('every variable config.ts reads has a case here', () => {
    const source = readFileSync(resolve(REPO_ROOT, 'proxy/src/config.ts'), 'utf8');
    const read = new Set([...source.matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)'/g)].map((m) => m[1]!));
    const covered = new Set([...BAD.map(([v]) => v), ...ANY_VALUE]);
    expect([...read].filter((v) => !covered.has(v)).sort()).toEqual([]);
  });

  for (const [variable, env] of BAD) {
    it(`${variable} ← ${JSON.stringify(env)}`, async () => {
      const r = await runUntilExit(env);
      expect(r.code, r.stderr).toBe(EX_CONFIG);
      const lines = configLines(r.stderr);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]!.startsWith(`lattice-sigv4-proxy: invalid configuration: ${variable}: `), lines[0]).toBe(true);
      expect(r.stdout).not.toContain('"event":"listening"');
    });
  }

  it('several bad variables: all reported in one start, one line each', async () => {
    const r = await runUntilExit({ AWS_REGION: 'mars', LISTEN_PORT: 'eighty', LOG_LEVEL: 'loud', CONNECT_TO: 'nowhere', AUTHORIZATION_FORWARD_HEADER: 'transfer-encoding' });
    expect(r.code).toBe(EX_CONFIG);
    const named = configLines(r.stderr).map((l) => /^lattice-sigv4-proxy: invalid configuration: ([A-Z_]+): /.exec(l)?.[1]);
    expect(named.sort()).toEqual(['AUTHORIZATION_FORWARD_HEADER', 'AWS_REGION', 'CONNECT_TO', 'LISTEN_PORT', 'LOG_LEVEL']);
  });
});

describe('a port already in use', () => {
  const held: Server[] = [];
  afterAll(async () => {
    await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
  });
  const occupy = (): Promise<number> =>
    new Promise((resolvePromise) => {
      const s = createServer();
      held.push(s);
      s.listen(0, '127.0.0.1', () => resolvePromise((s.address() as { port: number }).port));
    });

  for (const variable of ['LISTEN_PORT', 'ADMIN_PORT'] as const) {
    it(`${variable} taken → exit ${EXIT_LISTEN_FAILED}, naming ${variable}`, async () => {
      const port = await occupy();
      const r = await runUntilExit({ ...base, AWS_ACCESS_KEY_ID: 'AKIAPORTINUSE0000001', AWS_SECRET_ACCESS_KEY: 'port-in-use-secret-not-a-real-one-0000', [variable]: String(port) });
      expect(r.code, r.stderr + r.stdout).toBe(EXIT_LISTEN_FAILED);
      expect(r.stderr).toMatch(new RegExp(`^lattice-sigv4-proxy: cannot listen: ${variable}: port ${port} on 127\\.0\\.0\\.1 is already in use \\(EADDRINUSE\\)$`, 'm'));
    });
  }
});
