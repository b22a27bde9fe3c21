// Runs the BUILT proxy (proxy/dist/main.js) as a child process, the way it runs in a pod, and exposes its
// ports and log lines. Used by the integration tests, the demo and the load tests.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { resolve } from 'node:path';
import type { SeedWorld } from '../emulators/scenario.js';
import { recordProxyOutput, recordSecrets } from './secret-record.js';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const PROXY_MAIN = resolve(REPO_ROOT, 'proxy', 'dist', 'main.js');

export interface ProxyProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly adminPort: number;
  /** Parsed JSON log lines, in order. */
  readonly logs: Array<Record<string, unknown>>;
  /** Raw stdout + stderr text. */
  output(): string;
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  readyz(): Promise<{ status: number; body: string }>;
  waitReady(timeoutMs?: number): Promise<void>;
  metrics(): Promise<string>;
  /** Send a signal and wait for the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/**
 * The environment a test proxy starts with: nothing inherited from the developer's shell except PATH, no
 * shared AWS config files, and IMDS disabled so the default chain never probes 169.254.169.254.
 */
export function isolatedEnv(extra: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: '/nonexistent',
    AWS_CONFIG_FILE: '/nonexistent/config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
    LISTEN_PORT: '0',
    ADMIN_PORT: '0',
    ADMIN_ADDRESS: '127.0.0.1',
  };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

/**
 * The environment of a proxy in one of the seed's pods, wired the way the Kyverno policy wires it (CA_ARN,
 * APP_DOMAIN, EKS Pod Identity), with every upstream dialled to the Lattice emulator.
 */
export function seedProxyEnv(
  world: SeedWorld,
  caller: 'cluster1' | 'cluster2' = 'cluster1',
  extra: Record<string, string | undefined> = {},
): Record<string, string | undefined> {
  const agent = world.agents[caller];
  return {
    AWS_REGION: world.region,
    APP_DOMAIN: world.scenario.domain,
    CA_ARN: world.caArn,
    AWS_ENDPOINT_URL_ACM_PCA: world.pcaEndpoint,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: agent.url,
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: agent.tokenFile,
    CONNECT_TO: `127.0.0.1:${world.latticePort}`,
    ...extra,
  };
}

export function httpGet(port: number, path: string, host = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host, port, path, method: 'GET', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The Node/V8 flags the image runs the proxy with: the exec-form ENTRYPOINT of proxy/Dockerfile, between node and
 * the script. Tests and the bench run the proxy as it ships (memory figures depend on them).
 */
export function imageNodeFlags(): string[] {
  const m = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(resolve(REPO_ROOT, 'proxy', 'Dockerfile'), 'utf8'));
  if (!m) throw new Error('proxy/Dockerfile has no exec-form ENTRYPOINT to read the node flags from');
  return (JSON.parse(m[1]!) as string[]).slice(1).filter((a) => a.startsWith('--'));
}

export async function startProxy(env: Record<string, string | undefined>, opts: { waitReady?: boolean; readyTimeoutMs?: number } = {}): Promise<ProxyProcess> {
  if (!existsSync(PROXY_MAIN)) throw new Error(`${PROXY_MAIN} is missing: run npm run build first`);
  const childEnv = isolatedEnv(env);
  const child = spawn(process.execPath, [...imageNodeFlags(), PROXY_MAIN], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  // Whole-suite secret scan (test/helpers/secret-record.ts): what this proxy may hold, and all it prints.
  const tokenFile = childEnv['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE'];
  recordSecrets({
    secretAccessKey: childEnv['AWS_SECRET_ACCESS_KEY'],
    sessionToken: childEnv['AWS_SESSION_TOKEN'],
    podIdentityToken: tokenFile && existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : undefined,
  });
  const record = (chunk: string): void => recordProxyOutput(child.pid ?? 0, chunk);
  const logs: Array<Record<string, unknown>> = [];
  let text = '';
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    record(chunk);
    text += chunk;
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      try {
        const obj = JSON.parse(line) as Record<string, unknown>;
        logs.push(obj);
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i]!.pred(obj)) waiters.splice(i, 1)[0]!.resolve(obj);
        }
      } catch {
        // not JSON: kept in text only
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => {
    record(c);
    text += c;
  });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));

  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`log line not seen within ${timeoutMs} ms; output:\n${text}`)), timeoutMs);
      const w = {
        pred,
        resolve: (l: Record<string, unknown>) => {
          clearTimeout(timer);
          res(l);
        },
      };
      waiters.push(w);
      void exited.then((code) => {
        clearTimeout(timer);
        rej(new Error(`proxy exited (${code}) before the expected log line; output:\n${text}`));
      });
    });
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };

  try {
    const listening = await waitForLog((l) => l['event'] === 'listening');
    const admin = await waitForLog((l) => l['event'] === 'admin_listening');
    const port = listening['port'] as number;
    const adminPort = admin['port'] as number;
    const proc: ProxyProcess = {
      child,
      pid: child.pid!,
      port,
      adminPort,
      logs,
      output: () => text,
      waitForLog,
      readyz: () => httpGet(adminPort, '/readyz'),
      async waitReady(timeoutMs = 20_000) {
        const deadline = Date.now() + timeoutMs;
        let last = { status: 0, body: '' };
        while (Date.now() < deadline) {
          last = await httpGet(adminPort, '/readyz').catch(() => ({ status: 0, body: '' }));
          if (last.status === 200) return;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`proxy not ready after ${timeoutMs} ms: ${last.status} ${last.body}\n${text}`);
      },
      metrics: async () => (await httpGet(adminPort, '/metrics')).body,
      stop,
    };
    if (opts.waitReady !== false) await proc.waitReady(opts.readyTimeoutMs);
    return proc;
  } catch (err) {
    await stop('SIGKILL');
    throw err;
  }
}
