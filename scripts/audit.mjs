// `npm run audit`: the runtime dependency tree against known advisories. Fails (exit 1) on any high or critical
// finding that security/audit-exceptions.json does not explain.
//
// It first asks `npm audit --omit=dev --json`. Where the registry does not serve the advisory endpoint (this
// project's machines reach a mirror that answers 405), it says so and falls back to an offline check of
// package-lock.json against security/advisories.json, a snapshot reviewed by hand from public sources; in that
// mode a runtime package name absent from the snapshot's reviewedPackages fails too (a new dependency must be
// reviewed before it passes).
//
// Options: --offline (skip npm audit), --lock <file>, --snapshot <file>, --exceptions <file>.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluateNpmAudit, evaluateOffline, formatTable, npmAuditAvailability } from './audit-lib.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const opts = {
    offline: false,
    lock: resolve(root, 'package-lock.json'),
    snapshot: resolve(root, 'security/advisories.json'),
    exceptions: resolve(root, 'security/audit-exceptions.json'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--offline') opts.offline = true;
    else if (a === '--lock' || a === '--snapshot' || a === '--exceptions') {
      const v = argv[++i];
      if (!v) throw new Error(`${a} needs a file`);
      opts[a.slice(2)] = resolve(v);
    } else throw new Error(`unknown option ${a}`);
  }
  return opts;
}

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

function runNpmAudit() {
  // Under `npm run`, npm_execpath is the npm that runs us; otherwise whatever npm is on PATH.
  const execPath = process.env.npm_execpath;
  const [cmd, args] = execPath && /\.c?js$/.test(execPath)
    ? [process.execPath, [execPath, 'audit', '--omit=dev', '--json']]
    : ['npm', ['audit', '--omit=dev', '--json']];
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) return { available: false, reason: `could not run npm audit: ${r.error.message}` };
  return npmAuditAvailability(r.stdout);
}

function report(result) {
  console.log('');
  if (result.rows.length === 0) console.log('no advisory rows');
  else console.log(formatTable(result.rows));
  console.log('');
  for (const r of result.rows.filter((x) => x.status === 'explained' && (x.severity === 'high' || x.severity === 'critical'))) {
    console.log(`explained ${r.advisory} (${r.severity}) in ${r.name}@${r.version}, reviewed ${r.reviewed}: ${r.reason}`);
  }
  for (const x of result.unusedExceptions) {
    console.log(`note: exception ${x.advisory} for ${x.package}${x.versions ? `@${x.versions}` : ''} matches nothing in the lock any more; delete it`);
  }
  const counts = {};
  for (const r of result.rows) counts[r.status] = (counts[r.status] ?? 0) + 1;
  console.log(`rows: ${counts.vulnerable ?? 0} vulnerable, ${counts.explained ?? 0} explained, ${counts['not affected'] ?? 0} not affected`);
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const lock = readJson(opts.lock);
  const exceptionsDoc = readJson(opts.exceptions);

  if (!opts.offline) {
    const npm = runNpmAudit();
    if (npm.available) {
      console.log('audit: source = npm audit --omit=dev (live advisory database)');
      const result = evaluateNpmAudit(npm.report, lock, exceptionsDoc);
      report(result);
      console.log(`checked ${result.packageCount} runtime package entries (${result.nameCount} distinct names) via npm audit`);
      return finish(result);
    }
    console.error('');
    console.error('!!! audit: npm audit is NOT AVAILABLE here: ' + npm.reason);
    console.error('!!! audit: falling back to the OFFLINE check against security/advisories.json, a snapshot reviewed by');
    console.error('!!! audit: hand from public sources; it is not the full advisory database and knows nothing newer than its review date.');
    console.error('');
  }

  const snapshot = readJson(opts.snapshot);
  const result = evaluateOffline(lock, snapshot, exceptionsDoc);
  console.log(`audit: source = offline snapshot ${opts.snapshot.replace(root + '/', '')}, reviewed ${result.reviewDate}`);
  report(result);
  console.log(`checked ${result.packageCount} runtime package entries (${result.nameCount} distinct names); ` +
    `${result.namesWithEntries.length} of those names have advisory entries in the snapshot (${result.namesWithEntries.join(', ') || 'none'})`);
  if (result.unreviewed.length) {
    console.error(`audit: FAIL: runtime package names nobody reviewed (add them to reviewedPackages after searching advisories): ${result.unreviewed.join(', ')}`);
  }
  return finish(result);
}

function finish(result) {
  if (result.unexplained.length) {
    console.error(`audit: FAIL: ${result.unexplained.length} unexplained high/critical finding(s): ` +
      result.unexplained.map((r) => `${r.advisory} ${r.name}@${r.version} (${r.severity})`).join(', '));
  }
  console.log(result.ok ? 'audit: PASS' : 'audit: FAIL');
  process.exitCode = result.ok ? 0 : 1;
}

try {
  main();
} catch (e) {
  console.error(`audit: ERROR: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 2;
}
