// Long-running processes of the e2e topology, each started inside a namespace (optionally as another uid/gid) in
// its own process group, so stopping it by its PID also stops anything it spawned.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { LOG_DIR_ENV, logDir, recordProxyOutput } from '../helpers/secret-record.js';

export interface StartOptions {
  /** short name used in logs and the report */
  name: string;
  ns: string;
  cmd: string;
  args: string[];
  env: Record<string, string>;
  /** run as this uid/gid (setpriv, supplementary groups cleared); root when absent */
  user?: { uid: number; gid: number };
  /** working directory; the supervisor's when absent (a non-root process needs one it can enter) */
  cwd?: string;
  /** resolves with the first stdout line for which it returns a value */
  readyLine?: (line: string) => unknown;
  timeoutMs?: number;
}

export interface Proc {
  name: string;
  pid: number;
  /** every stdout and stderr line so far */
  lines: string[];
  /** what readyLine returned */
  ready: unknown;
  exited(): boolean;
}

interface Entry {
  proc: Proc;
  child: ChildProcess;
  log: WriteStream;
  exit: Promise<void>;
}

export class Supervisor {
  private readonly entries: Entry[] = [];
  private closed = false;

  /** cwd: where the children run (the repository, so `--import tsx` resolves from its node_modules) */
  constructor(
    private readonly logDir: string,
    private readonly cwd: string,
  ) {}

  start(opts: StartOptions): Promise<Proc> {
    // After stopAll() (an interrupted or timed-out run) a step still in flight must not leave a process behind.
    if (this.closed) return Promise.reject(new Error(`${opts.name}: not started, the run is being torn down`));
    const wrapper = opts.user
      ? ['setpriv', `--reuid=${opts.user.uid}`, `--regid=${opts.user.gid}`, '--clear-groups']
      : [];
    // Whole-suite secret scan (scripts/test.sh): the emulators record what they issue in the run directory.
    const scanDir = logDir();
    const child = spawn('ip', ['netns', 'exec', opts.ns, ...wrapper, opts.cmd, ...opts.args], {
      env: scanDir === undefined ? opts.env : { ...opts.env, [LOG_DIR_ENV]: scanDir },
      cwd: opts.cwd ?? this.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) return Promise.reject(new Error(`${opts.name}: spawn failed`));
    const lines: string[] = [];
    const log = createWriteStream(join(this.logDir, `${opts.name}.log`));
    let exited = false;
    const proc: Proc = { name: opts.name, pid: child.pid, lines, ready: undefined, exited: () => exited };
    const exit = new Promise<void>((done) => child.once('exit', () => ((exited = true), done())));
    this.entries.push({ proc, child, log, exit });

    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(proc);
      };
      const timeoutMs = opts.timeoutMs ?? 30_000;
      const timer = setTimeout(
        () => settle(new Error(`${opts.name}: not ready after ${timeoutMs} ms; last output:\n${tail(lines)}`)),
        timeoutMs,
      );
      const onLine = (stream: 'out' | 'err') => (line: string) => {
        lines.push(line);
        log.write(`${stream}: ${line}\n`);
        if (opts.name.startsWith('proxy')) recordProxyOutput(proc.pid, line + '\n');
        if (stream === 'out' && opts.readyLine && !settled) {
          const ready = opts.readyLine(line);
          if (ready !== undefined && ready !== false) {
            proc.ready = ready;
            settle();
          }
        }
      };
      createInterface({ input: child.stdout! }).on('line', onLine('out'));
      createInterface({ input: child.stderr! }).on('line', onLine('err'));
      child.once('exit', (code, signal) =>
        settle(new Error(`${opts.name}: exited early (code ${code}, signal ${signal}); output:\n${tail(lines)}`)),
      );
      if (!opts.readyLine) settle();
    });
  }

  /** Stops one process group: SIGTERM, then SIGKILL if it has not exited after graceMs. */
  async stop(proc: Proc, graceMs = 3000): Promise<void> {
    const entry = this.entries.find((e) => e.proc === proc);
    if (!entry) return;
    await stopEntry(entry, graceMs);
  }

  async stopAll(graceMs = 3000): Promise<void> {
    this.closed = true;
    await Promise.all(this.entries.map((e) => stopEntry(e, graceMs)));
  }

  /** Synchronous last resort for process exit handlers, where nothing can be awaited. */
  killAllNow(): void {
    for (const e of this.entries) if (!e.proc.exited()) signalGroup(e.proc.pid, 'SIGKILL');
  }

  /** `name (pid)` of every process that has not exited. */
  running(): string[] {
    return this.entries.filter((e) => !e.proc.exited()).map((e) => `${e.proc.name} (${e.proc.pid})`);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

async function stopEntry(entry: Entry, graceMs: number): Promise<void> {
  if (!entry.proc.exited()) {
    signalGroup(entry.proc.pid, 'SIGTERM');
    const timedOut = await Promise.race([
      entry.exit.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref()),
    ]);
    if (timedOut) {
      signalGroup(entry.proc.pid, 'SIGKILL');
      await entry.exit;
    }
  }
  // Children of the group leader (if any) may outlive it after SIGTERM; the group is swept regardless.
  signalGroup(entry.proc.pid, 'SIGKILL');
  await new Promise<void>((r) => entry.log.end(() => r()));
}

export function tail(lines: readonly string[], n = 15): string {
  return lines
    .slice(-n)
    .map((l) => `    | ${l.length > 600 ? `${l.slice(0, 600)}…` : l}`)
    .join('\n');
}
