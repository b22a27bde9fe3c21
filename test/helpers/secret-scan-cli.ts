// The whole-suite secret scan for runs outside vitest (the e2e: scripts/test.sh gives it LSP_TEST_LOG_DIR,
// test/e2e/procs.ts records every proxy's output there and passes the directory on to the emulators, which
// record every credential and token they hand out). Usage: tsx test/helpers/secret-scan-cli.ts <dir> [name]
// Prints a closing `N passed, M failed` line for scripts/summarize-tests.mjs; exit 1 on a hit.

import { existsSync, rmSync } from 'node:fs';
import { scanForSecrets } from './secret-record.js';

const [dir, name = 'secret scan'] = process.argv.slice(2);
if (dir === undefined || !existsSync(dir)) {
  console.log(`${name}: SKIPPED (no log directory)`);
  process.exit(0);
}
const r = scanForSecrets(dir);
if (r.logFiles === 0) {
  console.log(`${name}: SKIPPED (no proxy output was recorded: the run did not start a proxy)`);
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
console.log(`${name}: scanned ${r.logFiles} proxy logs (${(r.logBytes / 2 ** 20).toFixed(1)} MiB) for ${r.secrets} secrets: ${r.hits.length} hits`);
if (r.secrets === 0) {
  // Proxies ran but nothing was recorded as secret: the scan would pass whatever the logs hold.
  console.log(`${name}: no secret was recorded, so the scan proves nothing`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
if (r.hits.length > 0) {
  console.log(`secrets found in proxy logs (kept in ${dir}):\n${r.hits.join('\n')}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
if (process.env['LSP_KEEP_TEST_LOGS'] !== '1') rmSync(dir, { recursive: true, force: true });
console.log('1 passed, 0 failed');
