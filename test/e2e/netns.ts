// Network-namespace plumbing for the capture tests. Everything is created inside namespaces named
// `lsp-<creator pid>-<role>`: the root namespace's links, routes and iptables are never touched, and a later run
// can tell a namespace whose creator died (and sweep it) from one a concurrent run still uses.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const NS_PREFIX = 'lsp';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion without throwing on a non-zero exit; the caller decides what failure means. */
export interface RunOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  try {
    const { stdout, stderr } = await execFileAsync(cmd, args, {
      cwd: opts.cwd,
      timeout: opts.timeoutMs ?? 30_000,
      killSignal: 'SIGKILL',
      maxBuffer: 16 * 1024 * 1024,
      env: opts.env ?? process.env,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string; killed?: boolean };
    const code = typeof e.code === 'number' ? e.code : -1;
    const killed = e.killed ? ` (killed after ${opts.timeoutMs ?? 30_000} ms)` : '';
    return { code, stdout: e.stdout ?? '', stderr: (e.stderr ?? '') + (code === -1 ? e.message + killed : '') };
  }
}

/** Like run(), but a non-zero exit is an error carrying the command's output. */
export async function must(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

export interface NetnsSupport {
  ok: boolean;
  reason: string;
}

/** Whether this process can create network namespaces; the reason is printed when a suite is skipped. */
export function netnsSupport(): NetnsSupport {
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) return { ok: false, reason: `requires root to create network namespaces (uid=${uid})` };
  const probe = `${NS_PREFIX}-${process.pid}-probe`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' });
  } catch (err) {
    const msg = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err);
    return { ok: false, reason: `'ip netns add' is not possible here: ${msg}` };
  } finally {
    try {
      execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe' });
    } catch {
      // Nothing was created.
    }
  }
  return { ok: true, reason: '' };
}

export function nsName(role: string, pid = process.pid): string {
  return `${NS_PREFIX}-${pid}-${role}`;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function listNamespaces(): Promise<string[]> {
  const out = await must('ip', ['netns', 'list']);
  // Lines look like "name (id: 3)" or just "name".
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

/**
 * Deletes namespaces (and their /etc/netns files) left behind by runs that crashed: those carrying our prefix
 * whose creator pid is gone. Processes still inside them were started by that dead run, so they are ended too.
 */
export async function sweepStale(log: (line: string) => void = () => {}): Promise<string[]> {
  const swept: string[] = [];
  const re = new RegExp(`^${NS_PREFIX}-(\\d+)-`);
  for (const ns of await listNamespaces()) {
    const m = re.exec(ns);
    if (!m) continue;
    const creator = Number(m[1]);
    if (creator === process.pid || pidAlive(creator)) continue;
    await deleteNamespace(ns);
    swept.push(ns);
    log(`swept stale namespace ${ns} (creator pid ${creator} is gone)`);
  }
  return swept;
}

export async function createNamespace(ns: string): Promise<void> {
  await must('ip', ['netns', 'add', ns]);
  await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
}

/** Kills what still runs inside the namespace, deletes it and its /etc/netns directory. Never throws. */
export async function deleteNamespace(ns: string): Promise<void> {
  const pids = await run('ip', ['netns', 'pids', ns]);
  for (const p of pids.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s))) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await run('ip', ['netns', 'del', ns]);
  rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
}

/** `ip netns exec` bind-mounts every file of /etc/netns/<ns>/ over /etc/, so this becomes the namespace's /etc/hosts. */
export function writeHosts(ns: string, entries: ReadonlyArray<readonly [string, string]>): string {
  const dir = `/etc/netns/${ns}`;
  mkdirSync(dir, { recursive: true });
  const lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost', ...entries.map(([addr, name]) => `${addr} ${name}`)];
  const file = `${dir}/hosts`;
  writeFileSync(file, lines.join('\n') + '\n', { mode: 0o644 });
  return file;
}

export interface VethEnd {
  ns: string;
  ifname: string;
  v4: string;
  v6?: string;
}

/** A veth pair created directly in the two namespaces, so it never exists in the root namespace. */
export async function connect(a: VethEnd, b: VethEnd): Promise<void> {
  await must('ip', ['link', 'add', a.ifname, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns]);
  for (const end of [a, b]) {
    await must('ip', ['-n', end.ns, 'addr', 'add', end.v4, 'dev', end.ifname]);
    // nodad: duplicate address detection would keep the address tentative (unusable) for a second or more.
    if (end.v6) await must('ip', ['-n', end.ns, '-6', 'addr', 'add', end.v6, 'dev', end.ifname, 'nodad']);
    await must('ip', ['-n', end.ns, 'link', 'set', end.ifname, 'up']);
  }
}

export async function addAddress(ns: string, cidr: string, dev = 'lo'): Promise<void> {
  const args = ['-n', ns, ...(cidr.includes(':') ? ['-6'] : []), 'addr', 'add', cidr, 'dev', dev];
  if (cidr.includes(':')) args.push('nodad');
  await must('ip', args);
}

export async function addRoute(ns: string, dest: string, via: string): Promise<void> {
  await must('ip', ['-n', ns, ...(dest.includes(':') ? ['-6'] : []), 'route', 'add', dest, 'via', via]);
}

/** The nat table as iptables-save prints it, without the timestamp comments and packet counters that change between calls. */
export async function natRules(ns: string, save: 'iptables-save' | 'ip6tables-save' = 'iptables-save'): Promise<string> {
  const out = await must('ip', ['netns', 'exec', ns, save, '-t', 'nat']);
  return out
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]$/, '[0:0]'))
    .join('\n');
}
