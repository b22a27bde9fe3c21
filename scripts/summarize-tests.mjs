// Adds up what the suites of scripts/test.sh counted: vitest's JSON report, and the
// "N passed, M failed" closing lines of the e2e and image suites (a SKIPPED suite counts nothing).
import { existsSync, readFileSync } from 'node:fs';

const [vitestJson, ...logs] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
const parts = [];
if (vitestJson && existsSync(vitestJson)) {
  const r = JSON.parse(readFileSync(vitestJson, 'utf8'));
  passed += r.numPassedTests;
  // A file that fails to load has no failed test in it, but is a failure all the same.
  failed += r.numFailedTests + (r.numFailedTests === 0 ? r.numFailedTestSuites : 0);
  skipped += r.numPendingTests + r.numTodoTests;
  parts.push(`vitest ${r.numPassedTests}/${r.numTotalTests}`);
} else {
  failed += 1;
  parts.push('vitest: no report');
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
