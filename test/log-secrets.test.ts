// Issue 7, security: no secret in any log line. Two layers:
// - the whole suite: every proxy any test starts writes its output to the run directory, and the global
//   teardown (test/global-setup.ts) scans all of it for every credential handed out during the run;
// - this file: a scenario built to provoke every log line the proxy has (LOG_LEVEL=trace, access log,
//   refused and failed requests, credential and CA fetch failures, shutdown) with known app secrets in
//   headers and queries, scanned on its own; plus a control proving the scanner finds a planted secret.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSeedWorld, type SeedWorld } from './emulators/scenario.js';
import { issueTemporaryCredentials } from './emulators/iam.js';
import { LOG_DIR_ENV, readSecrets, scanForSecrets } from './helpers/secret-record.js';
import type { ProxyProcess } from './helpers/proxy-process.js';
import { rawExchange } from './fuzz/raw-client.js';
import { startSeedProxy } from './fuzz/seed-proxy.js';

const APP_SECRETS = [
  { kind: 'app-authorization', value: 'Bearer app-secret-eyJhbGciOiJIUzI1NiJ9.payload.sig-0001' },
  { kind: 'app-cookie', value: 'session=app-secret-cookie-7f3a9c1e5b2d4f60' },
  { kind: 'app-query-token', value: 'app-secret-query-token-c0ffee15bad' },
  { kind: 'forged-security-token', value: 'IQoJb3JpZ2luX2VjEFORGEDFORGEDFORGED000000' },
];

describe('no secret reaches a log line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lsp-log-secrets-'));
  const previous = process.env[LOG_DIR_ENV];
  let world: SeedWorld;
  const proxies: ProxyProcess[] = [];

  beforeAll(async () => {
    // This file's own run directory: its scan is complete and independent of what else runs in parallel.
    process.env[LOG_DIR_ENV] = dir;
    world = await startSeedWorld();
  });
  afterAll(async () => {
    for (const p of proxies) await p.stop('SIGKILL');
    await world?.close();
    if (previous === undefined) delete process.env[LOG_DIR_ENV];
    else process.env[LOG_DIR_ENV] = previous;
  });

  it('the scanner finds a planted secret, whole or cut short (the check can fail)', () => {
    const control = mkdtempSync(join(tmpdir(), 'lsp-log-secrets-control-'));
    const creds = issueTemporaryCredentials({ iamKey: 'k', roleArn: 'arn:aws:iam::123456789012:role/r', sessionName: 's', tags: {}, ttlSeconds: 60 });
    writeFileSync(join(control, 'secrets-1.txt'), `secretAccessKey\t${creds.SecretAccessKey}\nsessionToken\t${creds.Token}\n`);
    writeFileSync(join(control, 'proxy-1.log'), `{"msg":"oops","detail":"${creds.Token.slice(0, 40)}..."}\n`);
    writeFileSync(join(control, 'proxy-2.log'), `{"msg":"fine"}\n`);
    writeFileSync(join(control, 'proxy-3.log'), `{"error":"key ${creds.SecretAccessKey}"}\n`);
    const r = scanForSecrets(control);
    expect(r.logFiles).toBe(3);
    expect(r.hits.sort()).toEqual(['proxy-1.log: sessionToken', 'proxy-3.log: secretAccessKey']);
  });

  it('a scenario provoking every log line of the proxy at trace level leaks none of the credentials or app secrets', async () => {
    const host = world.scenario.callers.cluster1.allowedHostname;
    const traced = { LOG_LEVEL: 'trace' };

    // 1. Normal traffic with app secrets in headers and the query; refused and failed requests.
    const p1 = await startSeedProxy(world, 'cluster1', traced);
    proxies.push(p1);
    const [auth, cookie, queryToken, forged] = APP_SECRETS.map((s) => s.value);
    const requests = [
      `GET /?token=${queryToken} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nCookie: ${cookie}\r\nX-Amz-Security-Token: ${forged}\r\n\r\n`,
      `POST /upload?token=${queryToken} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nContent-Length: 5\r\n\r\nhello`,
      `GET /denied HTTP/1.1\r\nHost: ${world.scenario.callers.cluster1.deniedHostname}\r\nAuthorization: ${auth}\r\n\r\n`,
      `GET /?token=${queryToken} HTTP/1.1\r\nHost: evil.com\r\nAuthorization: ${auth}\r\n\r\n`,
      `GET /tls HTTP/1.1\r\nHost: not-in-the-certificate.${world.scenario.domain}\r\nAuthorization: ${auth}\r\n\r\n`,
      `GET /?token=${queryToken} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nBad Header: ${cookie}\r\n\r\n`,
      `CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\nProxy-Authorization: ${auth}\r\n\r\n`,
      `GET / HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: upgrade\r\nAuthorization: ${auth}\r\n\r\n`,
    ];
    const statuses: number[] = [];
    for (const r of requests) statuses.push((await rawExchange(r, { port: p1.port, idleMs: 3_000 })).responses[0]?.status ?? 0);
    expect(statuses).toEqual([200, 200, 403, 403, 502, 400, 405, 501]);

    // 2. Credential fetch failing at start, then recovering.
    await world.agents.cluster2.setDown(true);
    const p2 = await startSeedProxy(world, 'cluster2', traced, { waitReady: false });
    proxies.push(p2);
    await p2.waitForLog((l) => l['event'] === 'credentials_refresh_failed', 30_000);
    await world.agents.cluster2.setDown(false);
    await p2.waitReady(45_000);

    // 3. Private CA fetch failing at start (signed with the credentials: the SDK's errors are logged).
    world.pca.failNext(3);
    const p3 = await startSeedProxy(world, 'cluster1', traced, { waitReady: false });
    proxies.push(p3);
    await p3.waitForLog((l) => l['event'] === 'ca_fetch_failed', 30_000);
    await p3.waitReady(45_000);

    // 4. Shutdown of all three (drain, stopped lines).
    for (const p of proxies.splice(0)) expect(await p.stop('SIGTERM')).toBe(0);

    const r = scanForSecrets(dir, APP_SECRETS);
    const kinds = new Set(readSecrets(dir).map((s) => s.kind));
    console.log(`log-secrets (scenario): scanned ${r.logFiles} proxy logs (${(r.logBytes / 1024).toFixed(0)} KiB) for ${r.secrets} secrets: ${r.hits.length} hits`);
    // The scan really had credentials to look for: issued ones and the Pod Identity tokens.
    expect([...kinds].sort()).toEqual(['podIdentityToken', 'secretAccessKey', 'sessionToken']);
    expect(r.logFiles).toBe(3);
    expect(r.hits).toEqual([]);
  }, 120_000);
});

/** Local addresses (hex, as in /proc/net/tcp*) of the sockets listening on `port` in the process's namespace. */
function listeningAddresses(pid: number, port: number): string[] {
  const out: string[] = [];
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${f}`, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // st 0A = LISTEN
      if (cols[3] === '0A' && cols[1]?.endsWith(':' + hexPort)) out.push(cols[1].slice(0, -5));
    }
  }
  return out;
}

describe('the data-path listener binds loopback only by default', () => {
  it('with no LISTEN_ADDRESS the proxy listens on 127.0.0.1 alone, never on all interfaces', async () => {
    const world = await startSeedWorld();
    try {
      // seedProxyEnv sets no LISTEN_ADDRESS: the default applies.
      const p = await startSeedProxy(world, 'cluster1');
      try {
        // Another pod on the node network must not be able to borrow this pod's identity (Envoy in the seed
        // listened on 0.0.0.0): the only listener of the data path is 127.0.0.1 (0100007F in /proc).
        expect(listeningAddresses(p.pid, p.port)).toEqual(['0100007F']);
      } finally {
        await p.stop();
      }
    } finally {
      await world.close();
    }
  }, 60_000);
});
