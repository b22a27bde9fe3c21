// The batched asynchronous log writer: lines leave in order, in few write(2) calls, never block the caller,
// and none is lost when the proxy exits after SIGTERM, even with a reader that lags behind.

import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogWriter } from '../proxy/src/log-writer.js';
import { startSeedWorld, type SeedWorld } from './emulators/scenario.js';
import { isolatedEnv, PROXY_MAIN, seedProxyEnv } from './helpers/proxy-process.js';
import { recordProxyOutput } from './helpers/secret-record.js';

describe('LogWriter', () => {
  it('writes every line, in order, batched into far fewer writes than lines', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'lsp-logw-')), 'out.log');
    const fd = openSync(file, 'w');
    const w = new LogWriter({ fd, highWaterBytes: 4096 });
    const lines = Array.from({ length: 5000 }, (_, i) => `{"n":${i}}\n`);
    for (const l of lines) w.write(l);
    await w.end();
    closeSync(fd);
    expect(readFileSync(file, 'utf8')).toBe(lines.join(''));
  });

  it('drops and counts lines beyond the backlog limit instead of growing without bound', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'lsp-logw-')), 'out.log');
    const fd = openSync(file, 'w');
    const w = new LogWriter({ fd, highWaterBytes: 1 << 30, maxBacklogBytes: 1000 });
    for (let i = 0; i < 200; i++) w.write('0123456789\n');
    expect(w.dropped).toBeGreaterThan(0);
    await w.end();
    closeSync(fd);
    const written = readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
    expect(written + w.dropped).toBe(200);
  });

  it('flushSync writes what is batched at once (the fatal path)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'lsp-logw-')), 'out.log');
    const fd = openSync(file, 'w');
    const w = new LogWriter({ fd, highWaterBytes: 1 << 30 });
    w.write('a\n');
    w.write('b\n');
    w.flushSync();
    closeSync(fd);
    expect(readFileSync(file, 'utf8')).toBe('a\nb\n');
  });
});

describe('no access line is lost on SIGTERM', () => {
  let world: SeedWorld;
  beforeAll(async () => {
    world = await startSeedWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('every answered request has its access line in stdout after the exit, with a reader that lags', async () => {
    const env = isolatedEnv(seedProxyEnv(world, 'cluster1'));
    const child = spawn(process.execPath, [PROXY_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => recordProxyOutput(child.pid ?? 0, c));
    // The reader pauses for stretches, so the proxy's writes back up behind a full pipe.
    let port = 0;
    const listening = new Promise<void>((resolve) => {
      child.stdout.on('data', (c: string) => {
        recordProxyOutput(child.pid ?? 0, c);
        out += c;
        const m = /"event":"listening"[^}]*"port":(\d+)/.exec(out);
        if (m && port === 0) {
          port = Number(m[1]);
          resolve();
        }
        child.stdout.pause();
        setTimeout(() => child.stdout.resume(), 5);
      });
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await listening;
    const host = world.scenario.callers.cluster1.allowedHostname;
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const one = (i: number): Promise<number> =>
      new Promise((resolve, reject) => {
        const r = request({ host: '127.0.0.1', port, path: `/logged/${i}`, headers: { host }, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        r.on('error', reject);
        r.end();
      });
    // Wait until the proxy is ready (credentials and CA loaded), then send a burst.
    for (let i = 0; i < 100 && (await one(-1).catch(() => 0)) !== 200; i++) await new Promise((r) => setTimeout(r, 100));
    const count = 1500;
    const statuses = await Promise.all(Array.from({ length: count }, (_, i) => one(i)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    agent.destroy();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    const lines = out.split('\n').filter((l) => l.includes('"event":"access"') && l.includes('"path":"/logged/') && !l.includes('/logged/-1'));
    expect(lines.length).toBe(count);
    expect(out).toContain('"event":"stopped"');
  });
});
