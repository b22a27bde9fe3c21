// Issue 15, the suite's own honesty: a whole-suite secret scan that fails in vitest's global teardown must
// fail the closing line of scripts/test.sh (vitest's JSON report, written before the teardown, says every
// test passed), rotated Pod Identity tokens are recorded for the scan, and the scan of runs outside vitest
// (the e2e) reports through the same closing-line format.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import setup from './global-setup.js';
import { startPodIdentityAgent } from './emulators/pod-identity.js';
import { REPO_ROOT } from './helpers/proxy-process.js';
import { LOG_DIR_ENV, logDir, readSecrets } from './helpers/secret-record.js';

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((done) => {
    execFile(cmd, args, { cwd: REPO_ROOT }, (err, stdout) => done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout }));
  });
}

const tmp = (): string => mkdtempSync(join(tmpdir(), 'lsp-secret-scan-test-'));

/** A vitest JSON report in which every test passed. */
function passingReport(dir: string): string {
  const f = join(dir, 'vitest.json');
  writeFileSync(f, JSON.stringify({ numPassedTests: 10, numFailedTests: 0, numFailedTestSuites: 0, numTotalTests: 10, numPendingTests: 0, numTodoTests: 0 }));
  return f;
}

const closing = (stdout: string): string => stdout.trim().split('\n').pop() ?? '';
const summarize = (args: string[]): Promise<{ code: number; stdout: string }> => run(process.execPath, [resolve(REPO_ROOT, 'scripts/summarize-tests.mjs'), ...args]);

describe('scripts/summarize-tests.mjs counts a failed global teardown', () => {
  it('report says passed, vitest exited 1: one failure', async () => {
    const d = tmp();
    writeFileSync(join(d, 'status'), '1\n');
    const r = await summarize([passingReport(d), '--vitest-status', join(d, 'status')]);
    expect(closing(r.stdout)).toBe('10 passed, 1 failed');
    expect(r.stdout).toContain('vitest exited 1 with no failed test in its report');
  });

  it('the secret scan reports hits: one failure, whatever the exit status', async () => {
    const d = tmp();
    writeFileSync(join(d, 'status'), '0\n');
    writeFileSync(join(d, 'scan'), 'log-secrets: scanned 3 proxy logs (0.1 MiB) of the whole suite for 9 secrets: 2 hits\n');
    const r = await summarize([passingReport(d), '--vitest-status', join(d, 'status'), '--secret-scan', join(d, 'scan')]);
    expect(closing(r.stdout)).toBe('10 passed, 1 failed');
    expect(r.stdout).toContain('secret scan 2 hits');
  });

  it('the secret scan wrote no report (the teardown never got there): one failure', async () => {
    const d = tmp();
    const r = await summarize([passingReport(d), '--secret-scan', join(d, 'missing')]);
    expect(closing(r.stdout)).toBe('10 passed, 1 failed');
  });

  it('control: exit 0 and a clean scan count nothing extra', async () => {
    const d = tmp();
    writeFileSync(join(d, 'status'), '0\n');
    writeFileSync(join(d, 'scan'), 'log-secrets: scanned 3 proxy logs (0.1 MiB) of the whole suite for 9 secrets: 0 hits\n');
    const r = await summarize([passingReport(d), '--vitest-status', join(d, 'status'), '--secret-scan', join(d, 'scan')]);
    expect(closing(r.stdout)).toBe('10 passed, 0 failed');
  });
});

describe('test/global-setup.ts writes the scan line where scripts/test.sh reads it', () => {
  it('a planted secret: the teardown throws and its report says 1 hits', () => {
    const saved = { dir: process.env[LOG_DIR_ENV], report: process.env['LSP_SECRET_SCAN_REPORT'] };
    const report = join(tmp(), 'scan.txt');
    process.env['LSP_SECRET_SCAN_REPORT'] = report;
    try {
      const teardown = setup();
      const dir = process.env[LOG_DIR_ENV]!;
      const secret = 'planted-secret-value-0123456789abcdef';
      writeFileSync(join(dir, 'secrets-1.txt'), `sessionToken\t${secret}\n`);
      writeFileSync(join(dir, 'proxy-1.log'), `{"msg":"oops ${secret}"}\n`);
      // (Its "1 hits" line in this test's output is this planted secret, not a leak.)
      expect(() => teardown()).toThrow(/secrets found in proxy logs/);
      expect(readFileSync(report, 'utf8')).toMatch(/: 1 hits\n/);
      rmSync(dir, { recursive: true, force: true });
    } finally {
      process.env[LOG_DIR_ENV] = saved.dir;
      if (saved.report === undefined) delete process.env['LSP_SECRET_SCAN_REPORT'];
      else process.env['LSP_SECRET_SCAN_REPORT'] = saved.report;
    }
  });
});

describe('what the scan knows about', () => {
  it('a rotated Pod Identity token (setToken) is recorded, like the first one', async () => {
    const dir = logDir();
    expect(dir, 'vitest runs with the global setup, which sets LSP_TEST_LOG_DIR').toBeDefined();
    const first = `pod-identity-token-first-${process.pid}-${Date.now()}`;
    const rotated = `pod-identity-token-rotated-${process.pid}-${Date.now()}`;
    const agent = await startPodIdentityAgent({ token: first, iamKey: 'k'.repeat(32), roleArn: 'arn:aws:iam::123456789012:role/r', tags: {} });
    try {
      agent.setToken(rotated);
      const recorded = readSecrets(dir!).map((s) => s.value);
      expect(recorded).toContain(first);
      expect(recorded).toContain(rotated);
    } finally {
      await agent.close();
    }
  });
});

describe('test/helpers/secret-scan-cli.ts (the e2e scan)', () => {
  const cli = (dir: string): Promise<{ code: number; stdout: string }> => run(process.execPath, ['--import', 'tsx', resolve(REPO_ROOT, 'test/helpers/secret-scan-cli.ts'), dir, 'e2e-secrets']);

  it('a proxy log holding a recorded secret: exit 1, "0 passed, 1 failed"', async () => {
    const d = tmp();
    writeFileSync(join(d, 'secrets-9.txt'), 'secretAccessKey\tleaked-secret-access-key-000000000000\n');
    writeFileSync(join(d, 'proxy-9.log'), 'a line with leaked-secret-access-key-000000000000 in it\n');
    const r = await cli(d);
    expect(r.code).toBe(1);
    expect(closing(r.stdout)).toBe('0 passed, 1 failed');
  });

  it('clean logs: "1 passed, 0 failed"; no proxy log at all: SKIPPED', async () => {
    const clean = tmp();
    writeFileSync(join(clean, 'secrets-9.txt'), 'secretAccessKey\tnever-printed-secret-000000000000\n');
    writeFileSync(join(clean, 'proxy-9.log'), '{"event":"listening"}\n');
    expect(closing((await cli(clean)).stdout)).toBe('1 passed, 0 failed');
    const empty = tmp();
    const r = await cli(empty);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('e2e-secrets: SKIPPED');
  });
});
