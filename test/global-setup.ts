// vitest globalSetup: the run directory for the whole-suite secret scan (see test/helpers/secret-record.ts).
// Setup runs in the main process before the worker processes are forked, so they inherit LSP_TEST_LOG_DIR;
// the returned teardown runs after the last test file and fails the run if any proxy log line of any test
// holds a secret access key, a session token or a Pod Identity token that was handed out during the run.
// vitest writes its JSON report before this teardown, so a failing scan leaves a report that says "passed":
// with LSP_SECRET_SCAN_REPORT set (scripts/test.sh), the scan's line is written there too and
// scripts/summarize-tests.mjs counts a hit (or a missing line) as a failure.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOG_DIR_ENV, scanForSecrets } from './helpers/secret-record.js';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'lsp-test-logs-'));
  process.env[LOG_DIR_ENV] = dir;
  return () => {
    const r = scanForSecrets(dir);
    const line = `log-secrets: scanned ${r.logFiles} proxy logs (${(r.logBytes / 2 ** 20).toFixed(1)} MiB) of the whole suite for ${r.secrets} secrets: ${r.hits.length} hits`;
    console.log(line);
    const report = process.env['LSP_SECRET_SCAN_REPORT'];
    if (report !== undefined && report !== '') writeFileSync(report, line + '\n' + r.hits.map((h) => `hit: ${h}\n`).join(''));
    if (r.hits.length > 0) {
      // The logs stay for inspection; the secret values are never printed.
      throw new Error(`secrets found in proxy logs (kept in ${dir}):\n${r.hits.join('\n')}`);
    }
    if (process.env['LSP_KEEP_TEST_LOGS'] !== '1') rmSync(dir, { recursive: true, force: true });
  };
}
