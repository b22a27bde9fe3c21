// `npm run try` prints an environment and three requests. Run exactly that: the printed environment starts the
// built proxy, and each printed request gets the answer the printed explanation announces.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startProxy, type ProxyProcess } from './helpers/proxy-process.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, host: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Undo shellWord: a bare word, or a single-quoted one with '\'' for a quote. */
function unshell(word: string): string {
  return word.startsWith("'") ? word.slice(1, -1).replace(/'\\''/g, "'") : word;
}

let tryProc: ChildProcess | undefined;
let proxy: ProxyProcess | undefined;
let output = '';
const dir = mkdtempSync(path.join(tmpdir(), 'try-test-'));
const envFile = path.join(dir, 'proxy.env');

beforeAll(async () => {
  tryProc = spawn(process.execPath, ['--import', 'tsx', 'scripts/try.ts', '--port', '18080', '--admin-port', '19901', '--write-env', envFile], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  tryProc.stdout!.setEncoding('utf8');
  tryProc.stderr!.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm run try did not get ready:\n${output}`)), 30_000);
    tryProc!.stdout!.on('data', (c: string) => {
      output += c;
      if (output.includes('Ctrl-C stops the emulators.')) {
        clearTimeout(timer);
        resolve();
      }
    });
    tryProc!.stderr!.on('data', (c: string) => (output += c));
    tryProc!.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`try exited ${code}:\n${output}`));
    });
  });
});

afterAll(async () => {
  await proxy?.stop('SIGTERM');
  if (tryProc && tryProc.exitCode === null) {
    const exited = new Promise((r) => tryProc!.once('exit', r));
    tryProc.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('npm run try', () => {
  it('prints the environment it writes, and the proxy started with it gets ready', async () => {
    const lines = output.split('\n');
    const start = lines.findIndex((l) => l.trim().startsWith('env -i PATH="$PATH"'));
    const end = lines.findIndex((l, i) => i > start && l.trim() === 'node proxy/dist/main.js');
    expect(start).toBeGreaterThan(0);
    expect(end).toBeGreaterThan(start);
    const printed: Record<string, string> = {};
    for (const l of lines.slice(start + 1, end)) {
      const m = /^\s+([A-Z_][A-Z0-9_]*)=(\S+) \\$/.exec(l);
      expect(m, `not NAME=value: ${l}`).not.toBeNull();
      printed[m![1]!] = unshell(m![2]!);
    }
    const written = Object.fromEntries(
      readFileSync(envFile, 'utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(written).toEqual(printed);
    expect(printed).toMatchObject({ AWS_REGION: 'us-west-2', APP_DOMAIN: 'example.com', LISTEN_PORT: '18080', ADMIN_PORT: '19901' });
    // Ports 0 so a parallel test never collides; everything else exactly as printed.
    proxy = await startProxy({ ...printed, LISTEN_PORT: '0', ADMIN_PORT: '0' });
  });

  it('each printed request gets the answer printed under it', async () => {
    const lines = output.split('\n');
    const curls = lines.flatMap((l, i) => {
      const m = /^\s+curl -si -H 'Host: ([^']+)' http:\/\/127\.0\.0\.1:18080\/$/.exec(l);
      return m ? [{ host: m[1]!, meaning: lines[i + 1]!.trim() }] : [];
    });
    expect(curls.map((c) => c.meaning.split(':')[0])).toEqual(['200 "Requesting to Pod(...)', '403 from Lattice', '403 from the proxy']);

    const ok = await get(proxy!.port, curls[0]!.host);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatch(/^Requesting to Pod\(.+\): Hello from demo-cluster2-v1/);

    const lattice = await get(proxy!.port, curls[1]!.host);
    expect(lattice.status).toBe(403);
    expect(lattice.headers['x-lattice-proxy-error']).toBeUndefined();
    expect(lattice.headers['x-amzn-errortype']).toBe('AccessDeniedException');
    expect(lattice.body).toMatch(/^AccessDeniedException: User: arn:aws:sts::\d+:assumed-role\/eks-cluster1-lattice-client\/.+ because no service-based policy allows/);

    const own = await get(proxy!.port, curls[2]!.host);
    expect(own.status).toBe(403);
    expect(own.headers['x-lattice-proxy-error']).toBe('ERR_TARGET_NOT_ALLOWED');
    expect(own.body).toMatch(new RegExp(`^lattice-sigv4-proxy: target host "${curls[2]!.host.replace(/\./g, '\\.')}" is not in the allowed hosts of this sidecar`));
  });
});
