// Our own env and container credential providers (proxy/src/container-credentials.ts): the SDK's protocol and
// error shapes, against a real HTTP server on loopback.

import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromContainerEndpoint, fromEnvironment, parseContainerCredentials } from '../proxy/src/container-credentials.js';
import { explainContainerError } from '../proxy/src/credential-source.js';

const GOOD = { AccessKeyId: 'ASIAEXAMPLEKEY', SecretAccessKey: 'secret/with+chars', Token: 'tok', AccountId: '123456789012', Expiration: '2030-01-01T00:00:00Z' };

describe('fromEnvironment', () => {
  it('reads the keys, the token and the expiration at each call', async () => {
    const env: Record<string, string | undefined> = { AWS_ACCESS_KEY_ID: 'AKIA1', AWS_SECRET_ACCESS_KEY: 's1' };
    const p = fromEnvironment(env);
    expect(await p()).toEqual({ accessKeyId: 'AKIA1', secretAccessKey: 's1', sessionToken: undefined, expiration: undefined });
    env['AWS_SESSION_TOKEN'] = 't2';
    env['AWS_CREDENTIAL_EXPIRATION'] = '2030-01-01T00:00:00Z';
    expect(await p()).toEqual({ accessKeyId: 'AKIA1', secretAccessKey: 's1', sessionToken: 't2', expiration: new Date('2030-01-01T00:00:00Z') });
  });
  it('fails without both keys, and on an expiration that is not a date', async () => {
    await expect(fromEnvironment({ AWS_ACCESS_KEY_ID: 'AKIA1' })()).rejects.toThrow(/AWS_SECRET_ACCESS_KEY/);
    await expect(fromEnvironment({ AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 's', AWS_CREDENTIAL_EXPIRATION: 'soon' })()).rejects.toThrow(/not a date/);
  });
});

describe('parseContainerCredentials', () => {
  it('takes the four fields', () => {
    expect(parseContainerCredentials(JSON.stringify(GOOD))).toEqual({ accessKeyId: GOOD.AccessKeyId, secretAccessKey: GOOD.SecretAccessKey, sessionToken: 'tok', expiration: new Date(GOOD.Expiration) });
  });
  it.each([
    ['not JSON', 'not json'],
    ['JSON null', 'null'],
    ['no Token', JSON.stringify({ ...GOOD, Token: undefined })],
    ['empty secret', JSON.stringify({ ...GOOD, SecretAccessKey: '' })],
    ['numeric key id', JSON.stringify({ ...GOOD, AccessKeyId: 1 })],
    ['bad Expiration', JSON.stringify({ ...GOOD, Expiration: 'later' })],
  ])('refuses %s: never half a credential', (_name, body) => {
    expect(() => parseContainerCredentials(body)).toThrow();
  });
});

describe('fromContainerEndpoint, against a loopback agent', () => {
  let server: Server;
  let base: string;
  const seen: IncomingHttpHeaders[] = [];
  let answer: (path: string) => { status: number; body: string; delayMs?: number } = () => ({ status: 200, body: JSON.stringify(GOOD) });
  const dir = mkdtempSync(join(tmpdir(), 'lsp-container-creds-'));
  const tokenFile = join(dir, 'token');

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      const a = answer(req.url ?? '/');
      setTimeout(() => {
        res.writeHead(a.status, { 'content-type': 'application/json' });
        res.end(a.body);
      }, a.delayMs ?? 0);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('GETs the URL with the token file as Authorization, re-read at every call', async () => {
    writeFileSync(tokenFile, 'first-token\n');
    const p = fromContainerEndpoint({ url: `${base}/v1/credentials`, tokenFile, token: 'inline-ignored', timeoutMs: 2_000 });
    expect((await p()).accessKeyId).toBe(GOOD.AccessKeyId);
    writeFileSync(tokenFile, 'second-token');
    await p();
    expect(seen.slice(-2).map((h) => h.authorization)).toEqual(['first-token', 'second-token']);
  });

  it('uses the inline token when there is no file, and no header when there is neither', async () => {
    await fromContainerEndpoint({ url: `${base}/v1/credentials`, tokenFile: undefined, token: 'inline', timeoutMs: 2_000 })();
    expect(seen.at(-1)!.authorization).toBe('inline');
    await fromContainerEndpoint({ url: `${base}/v1/credentials`, tokenFile: undefined, token: undefined, timeoutMs: 2_000 })();
    expect(seen.at(-1)!.authorization).toBeUndefined();
  });

  it("an agent's 403 keeps its status, Code and Message for the diagnosis", async () => {
    answer = () => ({ status: 403, body: JSON.stringify({ Code: 'AccessDeniedException', Message: 'no association' }) });
    const url = `${base}/v1/credentials`;
    const err = await fromContainerEndpoint({ url, tokenFile: undefined, token: 't', timeoutMs: 2_000 })().catch((e: unknown) => e);
    expect(err).toMatchObject({ message: 'Server responded with status: 403', Code: 'AccessDeniedException', Message: 'no association' });
    const d = explainContainerError(err, url, undefined);
    expect(d).toMatchObject({ httpStatus: 403, code: 'AccessDeniedException', detail: 'AccessDeniedException: no association' });
    expect(d.hint).toMatch(/association/);
  });

  it('a 500 that is not JSON is the status alone', async () => {
    answer = () => ({ status: 500, body: 'oops' });
    const err = await fromContainerEndpoint({ url: `${base}/x`, tokenFile: undefined, token: 't', timeoutMs: 2_000 })().catch((e: unknown) => e);
    expect(explainContainerError(err, `${base}/x`, undefined)).toMatchObject({ httpStatus: 500, detail: 'the agent answered 500' });
  });

  it('an agent that does not answer in time: ETIMEDOUT', async () => {
    answer = () => ({ status: 200, body: JSON.stringify(GOOD), delayMs: 1_000 });
    const err = await fromContainerEndpoint({ url: `${base}/slow`, tokenFile: undefined, token: 't', timeoutMs: 150 })().catch((e: unknown) => e);
    expect(explainContainerError(err, `${base}/slow`, undefined)).toMatchObject({ code: 'ETIMEDOUT' });
  });

  it('nothing listening: ECONNREFUSED with the agent hint', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const url = `http://127.0.0.1:${port}/v1/credentials`;
    const err = await fromContainerEndpoint({ url, tokenFile: undefined, token: 't', timeoutMs: 2_000 })().catch((e: unknown) => e);
    expect(explainContainerError(err, url, undefined)).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('a missing token file is named, and nothing is requested', async () => {
    const before = seen.length;
    const missing = join(dir, 'missing');
    const err = await fromContainerEndpoint({ url: `${base}/v1/credentials`, tokenFile: missing, token: undefined, timeoutMs: 2_000 })().catch((e: unknown) => e);
    expect(explainContainerError(err, `${base}/v1/credentials`, missing)).toMatchObject({ code: 'ENOENT', detail: `token file ${missing} unreadable` });
    expect(seen.length).toBe(before);
  });

  it('a body larger than 64 KiB is refused', async () => {
    answer = () => ({ status: 200, body: JSON.stringify({ ...GOOD, pad: 'x'.repeat(70_000) }) });
    await expect(fromContainerEndpoint({ url: `${base}/big`, tokenFile: undefined, token: 't', timeoutMs: 2_000 })()).rejects.toThrow(/more than 65536 bytes/);
  });
});
