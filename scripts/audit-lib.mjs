// Pure logic of `npm run audit` (scripts/audit.mjs): which lock entries are runtime packages, which reviewed
// advisories they fall in, which findings an exception explains, and what fails the audit. No I/O here, so
// test/audit.test.ts can feed it synthetic locks, snapshots and npm audit reports.
import semver from 'semver';

export const SEVERITIES = ['low', 'moderate', 'high', 'critical'];
const FAILING = new Set(['high', 'critical']);

export function normalizeSeverity(s) {
  const v = String(s ?? '').toLowerCase();
  if (v === 'medium') return 'moderate';
  if (!SEVERITIES.includes(v)) throw new Error(`unknown severity "${s}"`);
  return v;
}

export function isFailingSeverity(s) {
  return FAILING.has(normalizeSeverity(s));
}

/** The package name of a lock path: the segment after the last `node_modules/` (scoped names keep their scope). */
export function nameFromLockPath(path) {
  const i = path.lastIndexOf('node_modules/');
  return i < 0 ? path : path.slice(i + 'node_modules/'.length);
}

/**
 * Every package `npm audit --omit=dev` would look at: lock entries under node_modules that are not `dev`.
 * `devOptional` entries stay in (npm omits them only when optional dependencies are omitted too); links carry no
 * version of their own (their target entry does) and workspace folders are not registry packages.
 */
export function runtimePackages(lock) {
  if (!lock || typeof lock !== 'object' || !lock.packages || typeof lock.packages !== 'object') {
    throw new Error('package-lock.json has no "packages" map (lockfileVersion 2 or 3 is required)');
  }
  const out = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || !path.includes('node_modules/')) continue;
    if (entry.dev === true || entry.link === true) continue;
    if (typeof entry.version !== 'string') throw new Error(`lock entry ${path} has no version`);
    out.push({ name: entry.name ?? nameFromLockPath(path), version: entry.version, path });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** Throws on a snapshot that could silently match nothing: every advisory needs its source and valid ranges. */
export function validateSnapshot(snapshot) {
  const problems = [];
  if (!/^\d{4}-\d{2}-\d{2}$/.test(String(snapshot?.reviewDate ?? ''))) problems.push('reviewDate must be YYYY-MM-DD');
  if (!Array.isArray(snapshot?.reviewedPackages)) problems.push('reviewedPackages must be a list');
  if (!Array.isArray(snapshot?.advisories)) problems.push('advisories must be a list');
  const seen = new Set();
  for (const [i, a] of (snapshot?.advisories ?? []).entries()) {
    const at = `advisories[${i}] (${a?.id ?? '?'})`;
    for (const field of ['id', 'package', 'severity', 'title', 'url', 'source']) {
      if (typeof a?.[field] !== 'string' || a[field].trim() === '') problems.push(`${at}: ${field} is required`);
    }
    try { normalizeSeverity(a?.severity); } catch (e) { problems.push(`${at}: ${e.message}`); }
    if (!Array.isArray(a?.vulnerableRanges) || a.vulnerableRanges.length === 0) {
      problems.push(`${at}: vulnerableRanges must be a non-empty list`);
    } else {
      for (const r of a.vulnerableRanges) if (semver.validRange(r) === null) problems.push(`${at}: invalid range "${r}"`);
    }
    if (typeof a?.url === 'string' && !/^https:\/\//.test(a.url)) problems.push(`${at}: url must be https`);
    const key = `${a?.id}|${a?.package}`;
    if (seen.has(key)) problems.push(`${at}: duplicate entry`);
    seen.add(key);
  }
  if (problems.length) throw new Error(`invalid advisory snapshot:\n  ${problems.join('\n  ')}`);
}

export function validateExceptions(doc) {
  const problems = [];
  if (!Array.isArray(doc?.exceptions)) problems.push('exceptions must be a list');
  for (const [i, x] of (doc?.exceptions ?? []).entries()) {
    const at = `exceptions[${i}] (${x?.advisory ?? '?'})`;
    for (const field of ['advisory', 'package', 'reason', 'reviewed']) {
      if (typeof x?.[field] !== 'string' || x[field].trim() === '') problems.push(`${at}: ${field} is required`);
    }
    if (x?.reviewed !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(String(x.reviewed))) problems.push(`${at}: reviewed must be YYYY-MM-DD`);
    if (x?.versions !== undefined && semver.validRange(x.versions) === null) problems.push(`${at}: invalid versions range "${x.versions}"`);
  }
  if (problems.length) throw new Error(`invalid audit exceptions:\n  ${problems.join('\n  ')}`);
}

function inRanges(version, ranges) {
  return ranges.some((r) => semver.satisfies(version, r, { includePrerelease: true }));
}

function sameId(a, b) {
  return typeof a === 'string' && typeof b === 'string' && a.toUpperCase() === b.toUpperCase();
}

/** The exception that explains this finding, if any: same advisory (GHSA id or CVE), same package, version in scope. */
export function findException(finding, exceptions) {
  return exceptions.find((x) =>
    (sameId(x.advisory, finding.advisory) || sameId(x.advisory, finding.cve)) &&
    x.package === finding.name &&
    (x.versions === undefined || semver.satisfies(finding.version, x.versions, { includePrerelease: true })) &&
    (x.paths === undefined || x.paths.includes(finding.path)));
}

/**
 * One row per (runtime package copy, advisory recorded for its name): status `vulnerable` when the version is in a
 * vulnerable range, `explained` when an exception covers it, `not affected` otherwise.
 */
export function matchSnapshot(pkgs, snapshot, exceptions = []) {
  const byName = new Map();
  for (const a of snapshot.advisories) {
    if (!byName.has(a.package)) byName.set(a.package, []);
    byName.get(a.package).push(a);
  }
  const rows = [];
  for (const p of pkgs) {
    for (const a of byName.get(p.name) ?? []) {
      const row = { name: p.name, version: p.version, path: p.path, advisory: a.id, cve: a.cve ?? null, severity: normalizeSeverity(a.severity), title: a.title, url: a.url };
      if (!inRanges(p.version, a.vulnerableRanges)) rows.push({ ...row, status: 'not affected' });
      else {
        const x = findException(row, exceptions);
        rows.push(x ? { ...row, status: 'explained', reason: x.reason, reviewed: x.reviewed } : { ...row, status: 'vulnerable' });
      }
    }
  }
  return rows;
}

/** Runtime package names nobody searched advisories for: a new dependency must be reviewed before it passes. */
export function unreviewedNames(pkgs, reviewedPackages) {
  const reviewed = new Set(reviewedPackages);
  return [...new Set(pkgs.map((p) => p.name))].filter((n) => !reviewed.has(n)).sort();
}

/** The offline check: the verdict plus everything the report prints. */
export function evaluateOffline(lock, snapshot, exceptionsDoc = { exceptions: [] }) {
  validateSnapshot(snapshot);
  validateExceptions(exceptionsDoc);
  const pkgs = runtimePackages(lock);
  const rows = matchSnapshot(pkgs, snapshot, exceptionsDoc.exceptions);
  const unreviewed = unreviewedNames(pkgs, snapshot.reviewedPackages);
  const unexplained = rows.filter((r) => r.status === 'vulnerable' && isFailingSeverity(r.severity));
  const names = new Set(pkgs.map((p) => p.name));
  const namesWithEntries = [...new Set(snapshot.advisories.map((a) => a.package))].filter((n) => names.has(n)).sort();
  // An exception nothing matches any more (the package left, or was upgraded) is reported so it can be deleted.
  const unusedExceptions = exceptionsDoc.exceptions.filter((x) => !rows.some((r) => r.status === 'explained' && findException(r, [x])));
  return {
    mode: 'offline',
    reviewDate: snapshot.reviewDate,
    packageCount: pkgs.length,
    nameCount: names.size,
    namesWithEntries,
    rows,
    unexplained,
    unreviewed,
    unusedExceptions,
    ok: unexplained.length === 0 && unreviewed.length === 0,
  };
}

/**
 * Whether `npm audit --json` produced a report. The advisory endpoint failing (405 from a registry mirror, a
 * network error) makes npm print an error object instead, with the same non-zero exit as "vulnerabilities found".
 */
export function npmAuditAvailability(stdout) {
  let report;
  try {
    report = JSON.parse(stdout);
  } catch {
    return { available: false, reason: 'npm audit printed no JSON report' };
  }
  if (report && typeof report === 'object' && report.vulnerabilities && typeof report.vulnerabilities === 'object' && !report.error) {
    return { available: true, report };
  }
  const msg = report?.message || report?.error?.summary || (report?.statusCode ? `HTTP ${report.statusCode}` : 'no "vulnerabilities" in the report');
  return { available: false, reason: String(msg) };
}

function ghsaFromUrl(url) {
  const m = /GHSA-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}/i.exec(String(url ?? ''));
  return m ? m[0] : undefined;
}

/** Rows from an npm audit (auditReportVersion 2) report, one per advisory and affected copy, exceptions applied. */
export function evaluateNpmAudit(report, lock, exceptionsDoc = { exceptions: [] }) {
  validateExceptions(exceptionsDoc);
  const rows = [];
  for (const [name, v] of Object.entries(report.vulnerabilities)) {
    for (const via of v.via ?? []) {
      if (typeof via !== 'object' || via === null) continue; // a string `via` only points at a vulnerable dependency
      const advisory = ghsaFromUrl(via.url) ?? String(via.source ?? via.title);
      for (const path of v.nodes ?? []) {
        const version = lock?.packages?.[path]?.version ?? 'unknown';
        const row = { name: via.name ?? name, version, path, advisory, cve: null, severity: normalizeSeverity(via.severity ?? v.severity), title: via.title ?? '', url: via.url ?? '' };
        const x = version !== 'unknown' ? findException(row, exceptionsDoc.exceptions) : undefined;
        rows.push(x ? { ...row, status: 'explained', reason: x.reason, reviewed: x.reviewed } : { ...row, status: 'vulnerable' });
      }
    }
  }
  const unexplained = rows.filter((r) => r.status === 'vulnerable' && isFailingSeverity(r.severity));
  const pkgs = lock ? runtimePackages(lock) : [];
  return {
    mode: 'npm-audit',
    packageCount: pkgs.length,
    nameCount: new Set(pkgs.map((p) => p.name)).size,
    rows,
    unexplained,
    unreviewed: [],
    unusedExceptions: [],
    ok: unexplained.length === 0,
  };
}

/** A plain-text table: package, version, path, advisory, severity, status. */
export function formatTable(rows) {
  const header = ['package', 'version', 'path', 'advisory', 'severity', 'status'];
  const order = { vulnerable: 0, explained: 1, 'not affected': 2 };
  const sorted = [...rows].sort((a, b) =>
    order[a.status] - order[b.status] || SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity) ||
    a.path.localeCompare(b.path) || a.advisory.localeCompare(b.advisory));
  const lines = [header, ...sorted.map((r) => [r.name, r.version, r.path, r.advisory, r.severity, r.status])];
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l) => l.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [fmt(lines[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.slice(1).map(fmt)].join('\n');
}
