// Adds up what the suites of scripts/test.sh counted: vitest's JSON report, and the
// "N passed, M failed" closing lines of the e2e and image suites (a SKIPPED suite counts nothing).
//
// usage: summarize-tests.mjs <vitest.json> [--vitest-status <file>] [--secret-scan <file>] [<suite.log> ...]
// vitest's JSON is written before its global teardown runs, so a teardown that fails (the whole-suite secret
// scan, test/global-setup.ts) leaves a report that says every test passed while vitest exits 1: the exit
// status (written by scripts/test.sh) and the scan's own report count that as a failure here.
import { existsSync, readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const flags = new Map();
const positional = [];
for (let i = 0; i < args.length; i++) {
  if (args[i].startsWith('--')) flags.set(args[i], args[++i]);
  else positional.push(args[i]);
}
const [vitestJson, ...logs] = positional;
let passed = 0;
let failed = 0;
let skipped = 0;
const parts = [];
let vitestFailures = 0;
if (vitestJson && existsSync(vitestJson)) {
  const r = JSON.parse(readFileSync(vitestJson, 'utf8'));
  passed += r.numPassedTests;
  // A file that fails to load has no failed test in it, but is a failure all the same.
  vitestFailures = r.numFailedTests + (r.numFailedTests === 0 ? r.numFailedTestSuites : 0);
  failed += vitestFailures;
  skipped += r.numPendingTests + r.numTodoTests;
  parts.push(`vitest ${r.numPassedTests}/${r.numTotalTests}`);
} else {
  failed += 1;
  vitestFailures = 1;
  parts.push('vitest: no report');
}

const scanFile = flags.get('--secret-scan');
let scanHits = 0;
if (scanFile !== undefined) {
  if (!existsSync(scanFile)) {
    // The teardown did not get as far as writing its result: it failed, or never ran.
    parts.push('secret scan: no report');
    scanHits = -1;
  } else {
    const m = /: (\d+) hits/.exec(readFileSync(scanFile, 'utf8'));
    scanHits = m ? Number(m[1]) : -1;
    parts.push(m ? `secret scan ${scanHits} hits` : 'secret scan: unreadable report');
  }
}
const statusFile = flags.get('--vitest-status');
const status = statusFile !== undefined && existsSync(statusFile) ? Number(readFileSync(statusFile, 'utf8').trim()) : undefined;
if (scanHits !== 0 && scanFile !== undefined) {
  failed += 1;
} else if (status !== undefined && status !== 0 && vitestFailures === 0) {
  // vitest failed for a reason its report does not count (global setup or teardown).
  failed += 1;
  parts.push(`vitest exited ${status} with no failed test in its report (global setup/teardown failed)`);
}

for (const log of logs) {
  const name = log.replace(/^.*\//, '').replace(/\.log$/, '');
  if (!existsSync(log)) {
    parts.push(`${name}: no output`);
    failed += 1;
    continue;
  }
  const text = readFileSync(log, 'utf8');
  const m = [...text.matchAll(/^(?:\S+: )?(\d+) passed, (\d+) failed/gm)].pop();
  if (/SKIPPED/.test(text) && !m) {
    parts.push(`${name}: SKIPPED`);
  } else if (m) {
    passed += Number(m[1]);
    failed += Number(m[2]);
    parts.push(`${name} ${m[1]}/${Number(m[1]) + Number(m[2])}`);
  } else {
    parts.push(`${name}: no summary line`);
    failed += 1;
  }
}
console.log(`suites: ${parts.join(', ')}`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
