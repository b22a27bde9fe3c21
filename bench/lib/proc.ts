// Process plumbing for the bench: start children pinned to a core, read their CPU time and memory from
// /proc, and make sure every child is killed by PID on any exit path (normal end, error, SIGINT).

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';

const CLK_TCK = 100; // USER_HZ on every Linux ABI Node supports

export interface Child {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Child>();

/** Kill every child still running (by PID). Safe to call more than once. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(2_000)));
}

/** Synchronous last resort for `process.on('exit')`: SIGKILL whatever is left. */
export function killAllSync(): void {
  for (const c of live) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Start `cmd args` pinned to `core` with `taskset` (taskset execs, so the PID is the program's own).
 * Output goes where `stdio` says; a child that dies early is reported by `exited`.
 */
export function startPinned(name: string, core: number | undefined, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions; cwd?: string } = {}): Child {
  const argv = core === undefined ? [cmd, ...args] : ['taskset', '-c', String(core), cmd, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { env: opts.env ?? process.env, stdio: opts.stdio ?? ['ignore', 'ignore', 'inherit'], cwd: opts.cwd });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${argv.join(' ')}`);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  const c: Child = {
    name,
    child,
    pid: child.pid,
    exited,
    async stop(graceMs = 5_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      live.delete(c);
    },
  };
  live.add(c);
  void exited.then(() => live.delete(c));
  return c;
}

/** Run a pinned child to completion and return its stdout (throws with stderr on a non-zero exit). */
export async function runPinned(name: string, core: number | undefined, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<string> {
  const c = startPinned(name, core, cmd, args, { env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  c.child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  c.child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const timer = setTimeout(() => {
    err += `\n(${name} killed after ${opts.timeoutMs} ms)`;
    c.child.kill('SIGKILL');
  }, opts.timeoutMs);
  const code = await c.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${name} exited with ${code}:\n${err.trim()}\n${out.trim()}`);
  return out;
}

/** utime + stime of a process (all its threads), in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
}

/** Current and peak resident set size of a process, in bytes. */
export function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/**
 * Reset the process's VmHWM to its current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux >= 4.0), so the
 * next read of VmHWM is the peak of what ran in between. False when the kernel refuses (then VmHWM stays
 * the peak over the process's whole life).
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Time the hypervisor ran something else while this VM's vCPUs wanted to run (/proc/stat steal), in ms. */
export function stealMs(): number {
  const v = /^cpu\s+(.*)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]?.split(/\s+/).map(Number) ?? [];
  return ((v[7] ?? 0) * 1000) / 100; // USER_HZ is 100 on Linux
}

/** Busy and total jiffies per CPU from /proc/stat, for "how busy was each core during the run". */
export function cpuTimes(): Array<{ busy: number; total: number }> {
  const out: Array<{ busy: number; total: number }> = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2]!.split(/\s+/).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    out[Number(m[1])] = { busy: total - idle, total };
  }
  return out;
}

export function coreBusy(before: Array<{ busy: number; total: number }>, after: Array<{ busy: number; total: number }>): number[] {
  return after.map((a, i) => {
    const b = before[i]!;
    const dt = a.total - b.total;
    return dt > 0 ? Math.round((1000 * (a.busy - b.busy)) / dt) / 10 : 0;
  });
}

export function httpGetText(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET 127.0.0.1:${port}${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Poll until `probe` resolves true, or fail after `timeoutMs` naming `what`. */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, dead?: Promise<unknown>): Promise<void> {
  let died = false;
  void dead?.then(() => (died = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (died) throw new Error(`${what}: the process exited while starting`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
