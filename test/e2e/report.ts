// The e2e report: one line per check with what was expected and what came back, and the final
// `N passed, M failed` line that CI parses.
import { run } from './netns.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export class Report {
  readonly results: CheckResult[] = [];
  readonly skipped: CheckResult[] = [];

  constructor(private readonly out: (line: string) => void) {}

  record(name: string, ok: boolean, detail: string): boolean {
    this.results.push({ name, ok, detail });
    this.out(`${ok ? 'PASS' : 'FAIL'}  ${name}${detail ? ` — ${detail}` : ''}`);
    return ok;
  }

  /** A check this machine cannot run: printed loudly, counted neither as passed nor as failed. */
  skip(name: string, reason: string): void {
    this.skipped.push({ name, ok: true, detail: reason });
    this.out(`SKIP  ${name} — ${reason}`);
  }

  /** Runs a check; an exception is a failure of that check, not of the whole run. */
  async check(name: string, fn: () => Promise<{ ok: boolean; detail: string }>): Promise<boolean> {
    try {
      const r = await fn();
      return this.record(name, r.ok, r.detail);
    } catch (err) {
      return this.record(name, false, `error: ${(err as Error).message}`);
    }
  }

  get failed(): number {
    return this.results.filter((r) => !r.ok).length;
  }

  get passed(): number {
    return this.results.filter((r) => r.ok).length;
  }

  /** The line CI parses; skipped checks are announced on a line of their own just before it. */
  summary(): string {
    const skipped = this.skipped.length > 0 ? `SKIPPED: ${this.skipped.map((s) => s.name).join('; ')}\n` : '';
    return `${skipped}${this.passed} passed, ${this.failed} failed`;
  }
}

export interface HttpResult {
  /** 0 when curl got no HTTP answer at all */
  status: number;
  body: string;
  /** curl's own error (connection refused, timeout, ...) */
  error: string;
}

const STATUS_MARK = '\n@@lsp-status@@';

/**
 * curl run inside a namespace as the given uid/gid, with an empty environment so no proxy variable of the host
 * changes where it goes.
 */
export async function curlIn(ns: string, user: { uid: number; gid: number }, args: string[], timeoutS = 10): Promise<HttpResult> {
  const r = await run(
    'ip',
    [
      'netns', 'exec', ns,
      'setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups',
      'curl', '-sS', '--noproxy', '*', '-m', String(timeoutS), '-o', '-', '-w', `${STATUS_MARK}%{http_code}`,
      ...args,
    ],
    { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/tmp' }, timeoutMs: (timeoutS + 5) * 1000 },
  );
  const at = r.stdout.lastIndexOf(STATUS_MARK);
  const body = at >= 0 ? r.stdout.slice(0, at) : r.stdout;
  const status = at >= 0 ? Number(r.stdout.slice(at + STATUS_MARK.length)) : 0;
  return { status, body, error: r.code === 0 ? '' : r.stderr.trim() };
}

/** `200 "Requesting to ..."`: what the report prints for an HTTP answer. */
export function describe(r: HttpResult): string {
  const body = r.body.trim().replace(/\s+/g, ' ');
  const shown = body.length > 160 ? `${body.slice(0, 160)}…` : body;
  return r.error ? `got ${r.status} (${r.error}) ${JSON.stringify(shown)}` : `got ${r.status} ${JSON.stringify(shown)}`;
}
