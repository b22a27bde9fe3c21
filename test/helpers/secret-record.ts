// Whole-suite secret scan (issue 7: "a test scans all log output of the whole suite for the secret access key
// and the session token: zero hits").
//
// vitest runs test files in parallel worker processes, so the scan needs a shared place: a run directory
// named by LSP_TEST_LOG_DIR, created by test/global-setup.ts before any worker starts (workers inherit it).
// - every proxy a test starts (test/helpers/proxy-process.ts) appends its stdout+stderr to proxy-<pid>.log
//   there, and records the secrets it was started with (static keys, the Pod Identity token);
// - every temporary credential the emulated IAM issues (test/emulators/iam.ts) is recorded there;
// - after the last test file, the global teardown scans every log for every secret and fails the run on a hit.
// Without LSP_TEST_LOG_DIR (a single file run, the demo, the soak) all of this is a no-op.

import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOG_DIR_ENV = 'LSP_TEST_LOG_DIR';

export function logDir(): string | undefined {
  const d = process.env[LOG_DIR_ENV];
  return d === undefined || d === '' ? undefined : d;
}

/** Remember secrets handed out in this process (one per line, kind first; never printed by the scan). */
export function recordSecrets(secrets: Record<string, string | undefined>): void {
  const dir = logDir();
  if (dir === undefined) return;
  const lines = Object.entries(secrets)
    .filter((e): e is [string, string] => typeof e[1] === 'string' && e[1].length >= 12)
    .map(([kind, value]) => `${kind}\t${value}\n`)
    .join('');
  if (lines !== '') appendFileSync(join(dir, `secrets-${process.pid}.txt`), lines, { mode: 0o600 });
}

/** Append proxy output to the run directory (sync: the teardown must see every byte). */
export function recordProxyOutput(pid: number, chunk: string): void {
  const dir = logDir();
  if (dir === undefined) return;
  appendFileSync(join(dir, `proxy-${pid}.log`), chunk);
}

export interface ScanResult {
  readonly logFiles: number;
  readonly logBytes: number;
  readonly secrets: number;
  /** `<file>: <kind>` for every secret found (never the secret itself). */
  readonly hits: string[];
}

/**
 * Fragments searched for: the whole secret, and 24-character windows from its start, middle and end, so a
 * secret cut short in an error message or a token split across fields is still found.
 */
function needles(secret: string): string[] {
  if (secret.length <= 24) return [secret];
  const mid = Math.floor((secret.length - 24) / 2);
  return [secret, secret.slice(0, 24), secret.slice(mid, mid + 24), secret.slice(-24)];
}

export function readSecrets(dir: string): Array<{ kind: string; value: string }> {
  const out: Array<{ kind: string; value: string }> = [];
  for (const f of readdirSync(dir)) {
    if (!f.startsWith('secrets-')) continue;
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const tab = line.indexOf('\t');
      if (tab > 0) out.push({ kind: line.slice(0, tab), value: line.slice(tab + 1) });
    }
  }
  return out;
}

/** Scan every proxy log in `dir` for every recorded secret (plus `extra`). */
export function scanForSecrets(dir: string, extra: Array<{ kind: string; value: string }> = []): ScanResult {
  const secrets = [...readSecrets(dir), ...extra];
  const unique = new Map<string, string>();
  for (const s of secrets) unique.set(s.value, s.kind);
  const hits: string[] = [];
  let logFiles = 0;
  let logBytes = 0;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.log')) continue;
    const text = readFileSync(join(dir, f), 'latin1');
    logFiles++;
    logBytes += text.length;
    for (const [value, kind] of unique) {
      if (needles(value).some((n) => text.includes(n))) hits.push(`${f}: ${kind}`);
    }
  }
  return { logFiles, logBytes, secrets: unique.size, hits };
}
