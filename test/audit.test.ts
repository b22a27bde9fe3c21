// The runtime dependency audit (`npm run audit`): the offline matcher flags vulnerable runtime copies, ignores dev
// ones, honours backported fixes and exceptions, fails on an unreviewed runtime package, and the real
// package-lock.json passes against the reviewed snapshot. Pure functions only: no network, no npm.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  evaluateNpmAudit,
  evaluateOffline,
  formatTable,
  nameFromLockPath,
  npmAuditAvailability,
  runtimePackages,
  validateSnapshot,
  type ExceptionsDoc,
  type Lock,
  type Snapshot,
} from '../scripts/audit-lib.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const readJson = <T>(rel: string): T => JSON.parse(readFileSync(resolve(root, rel), 'utf8')) as T;
const realSnapshot = readJson<Snapshot>('security/advisories.json');
const realExceptions = readJson<ExceptionsDoc>('security/audit-exceptions.json');
const none: ExceptionsDoc = { exceptions: [] };

function lockWith(entries: Record<string, { version: string; dev?: boolean; devOptional?: boolean; link?: boolean }>): Lock {
  return { lockfileVersion: 3, packages: { '': { name: 'x', version: '1.0.0' }, ...entries } };
}

// A small snapshot with a backported fix: vulnerable 1.x before 1.4.2 and 2.x before 2.0.5.
const synthetic: Snapshot = {
  reviewDate: '2026-11-24',
  reviewedPackages: ['demo', 'other'],
  advisories: [
    { id: 'GHSA-aaaa-bbbb-cccc', package: 'demo', severity: 'high', vulnerableRanges: ['>=1.0.0 <1.4.2', '>=2.0.0 <2.0.5'], title: 't', url: 'https://example.test/a', source: 's' },
    { id: 'GHSA-dddd-eeee-ffff', cve: 'CVE-2026-0001', package: 'demo', severity: 'low', vulnerableRanges: ['<3.0.0'], title: 't', url: 'https://example.test/b', source: 's' },
  ],
};

describe('runtime packages of a lock', () => {
  it('takes names from nested and scoped paths and skips dev entries, links and the root', () => {
    expect(nameFromLockPath('node_modules/a/node_modules/@scope/b')).toBe('@scope/b');
    const pkgs = runtimePackages(lockWith({
      'node_modules/a': { version: '1.0.0' },
      'node_modules/a/node_modules/@scope/b': { version: '2.0.0' },
      'node_modules/devonly': { version: '1.0.0', dev: true },
      'node_modules/opt': { version: '1.0.0', devOptional: true },
      'node_modules/linked': { version: '1.0.0', link: true },
    }));
    expect(pkgs.map((p) => `${p.name}@${p.version}`)).toEqual(['a@1.0.0', '@scope/b@2.0.0', 'opt@1.0.0']);
  });

  it('refuses a lock without a packages map (lockfileVersion 1)', () => {
    expect(() => runtimePackages({ lockfileVersion: 1 } as unknown as Lock)).toThrow(/lockfileVersion 2 or 3/);
  });
});

describe('offline matching against the reviewed snapshot', () => {
  it('flags a planted fast-xml-parser 4.2.5 runtime copy as critical and fails without an exception', () => {
    const lock = lockWith({ 'node_modules/fast-xml-parser': { version: '4.2.5' }, 'node_modules/strnum': { version: '1.1.2' } });
    const r = evaluateOffline(lock, realSnapshot, none);
    expect(r.ok).toBe(false);
    const critical = r.unexplained.find((x) => x.advisory === 'GHSA-m7jm-9gc2-mpf2');
    expect(critical).toMatchObject({ name: 'fast-xml-parser', version: '4.2.5', severity: 'critical', status: 'vulnerable' });
    // Outside the 4.1.3-4.2.3 range of GHSA-6w63-h3fj-q4vw (fixed in 4.2.4): reported, but not affected.
    expect(r.rows.find((x) => x.advisory === 'GHSA-6w63-h3fj-q4vw')?.status).toBe('not affected');
    expect(formatTable(r.rows)).toMatch(/fast-xml-parser\s+4\.2\.5\s+node_modules\/fast-xml-parser\s+GHSA-m7jm-9gc2-mpf2\s+critical\s+vulnerable/);
  });

  it('ignores the same copy when it is a dev dependency (and does not ask to review dev-only names)', () => {
    const lock = lockWith({ 'node_modules/fast-xml-parser': { version: '4.2.5', dev: true }, 'node_modules/left-pad': { version: '1.0.0', dev: true } });
    const r = evaluateOffline(lock, realSnapshot, none);
    expect(r.rows).toEqual([]);
    expect(r.unreviewed).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it('honours ranges with backported fixes', () => {
    const statusAt = (version: string) =>
      evaluateOffline(lockWith({ 'node_modules/demo': { version } }), synthetic, none).rows.find((x) => x.advisory === 'GHSA-aaaa-bbbb-cccc')?.status;
    expect(statusAt('1.4.1')).toBe('vulnerable');
    expect(statusAt('1.4.2')).toBe('not affected'); // the backport
    expect(statusAt('1.9.0')).toBe('not affected');
    expect(statusAt('2.0.0')).toBe('vulnerable');
    expect(statusAt('2.0.5')).toBe('not affected');
    // The real fast-xml-parser entry: 4.5.4 carries the 4.x backport of GHSA-m7jm-9gc2-mpf2, 5.3.4 does not.
    const fxp = (version: string) =>
      evaluateOffline(lockWith({ 'node_modules/fast-xml-parser': { version }, 'node_modules/strnum': { version: '1.1.2' } }), realSnapshot, none)
        .rows.find((x) => x.advisory === 'GHSA-m7jm-9gc2-mpf2')?.status;
    expect(fxp('4.5.3')).toBe('vulnerable');
    expect(fxp('4.5.4')).toBe('not affected');
    expect(fxp('5.3.4')).toBe('vulnerable');
    expect(fxp('5.3.5')).toBe('not affected');
  });

  it('matches prerelease versions inside a range (a 2.0.1-rc.1 is in ">=2.0.0 <2.0.5", a 4.0.0-beta.5 in ">=4.0.0-beta.3 <4.5.5")', () => {
    const demo = evaluateOffline(lockWith({ 'node_modules/demo': { version: '2.0.1-rc.1' } }), synthetic, none);
    expect(demo.rows.find((x) => x.advisory === 'GHSA-aaaa-bbbb-cccc')?.status).toBe('vulnerable');
    const r = evaluateOffline(lockWith({ 'node_modules/fast-xml-parser': { version: '4.0.0-beta.5' }, 'node_modules/strnum': { version: '1.1.2' } }), realSnapshot, none);
    expect(r.rows.find((x) => x.advisory === 'GHSA-8gc5-j5rx-235r')?.status).toBe('vulnerable');
  });

  it('honours an exception only for the advisory, package and versions it names', () => {
    const exceptions: ExceptionsDoc = { exceptions: [{ advisory: 'GHSA-aaaa-bbbb-cccc', package: 'demo', versions: '1.4.1', reason: 'unreachable', reviewed: '2026-11-24' }] };
    const explained = evaluateOffline(lockWith({ 'node_modules/demo': { version: '1.4.1' } }), synthetic, exceptions);
    expect(explained.ok).toBe(true);
    expect(explained.rows.find((x) => x.advisory === 'GHSA-aaaa-bbbb-cccc')).toMatchObject({ status: 'explained', reason: 'unreachable' });
    // A low finding without an exception is reported as vulnerable but does not fail.
    expect(explained.rows.find((x) => x.advisory === 'GHSA-dddd-eeee-ffff')?.status).toBe('vulnerable');

    const otherVersion = evaluateOffline(lockWith({ 'node_modules/demo': { version: '1.3.0' } }), synthetic, exceptions);
    expect(otherVersion.ok).toBe(false);
    expect(otherVersion.unexplained.map((x) => x.advisory)).toEqual(['GHSA-aaaa-bbbb-cccc']);
    expect(otherVersion.unusedExceptions.map((x) => x.advisory)).toEqual(['GHSA-aaaa-bbbb-cccc']);

    // An exception may name the CVE instead of the GHSA id.
    const byCve: ExceptionsDoc = { exceptions: [{ advisory: 'CVE-2026-0001', package: 'demo', reason: 'n/a', reviewed: '2026-11-24' }] };
    expect(evaluateOffline(lockWith({ 'node_modules/demo': { version: '2.9.0' } }), synthetic, byCve).rows.find((x) => x.advisory === 'GHSA-dddd-eeee-ffff')?.status).toBe('explained');
  });

  it('fails on a runtime package name nobody reviewed', () => {
    const r = evaluateOffline(lockWith({ 'node_modules/demo': { version: '9.0.0' }, 'node_modules/left-pad': { version: '1.3.0' } }), synthetic, none);
    expect(r.unexplained).toEqual([]);
    expect(r.unreviewed).toEqual(['left-pad']);
    expect(r.ok).toBe(false);
  });

  it('rejects a snapshot entry without a source or with an invalid range', () => {
    const bad = structuredClone(synthetic);
    bad.advisories[0]!.source = '';
    expect(() => validateSnapshot(bad)).toThrow(/source is required/);
    const badRange = structuredClone(synthetic);
    badRange.advisories[0]!.vulnerableRanges = ['not a range'];
    expect(() => validateSnapshot(badRange)).toThrow(/invalid range/);
  });
});

describe('the real package-lock.json', () => {
  it('passes the offline check: no unexplained high/critical finding, every runtime name reviewed', () => {
    const lock = readJson<Lock>('package-lock.json');
    const r = evaluateOffline(lock, realSnapshot, realExceptions);
    expect(r.unreviewed).toEqual([]);
    expect(r.unexplained).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.packageCount).toBeGreaterThan(0);
  });

  it('every advisory in the snapshot cites where it was found', () => {
    validateSnapshot(realSnapshot);
    for (const a of realSnapshot.advisories) expect(a.source).toMatch(/https:\/\//);
  });
});

describe('npm audit when the endpoint answers', () => {
  it('recognises the 405 of a registry mirror as "unavailable"', () => {
    const mirror405 = JSON.stringify({ message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk', statusCode: 405, error: { summary: '', detail: '' } });
    expect(npmAuditAvailability(mirror405)).toEqual({ available: false, reason: expect.stringMatching(/405 Method Not Allowed/) });
    expect(npmAuditAvailability('')).toMatchObject({ available: false });
  });

  it('uses a real report: an unexplained high fails, an explained one passes', () => {
    const report = {
      auditReportVersion: 2,
      vulnerabilities: {
        'fast-xml-parser': {
          name: 'fast-xml-parser', severity: 'critical', range: '4.1.3 - 5.3.4', nodes: ['node_modules/fast-xml-parser'],
          via: [{ source: 1113567, name: 'fast-xml-parser', title: 'entity encoding bypass', url: 'https://github.com/advisories/GHSA-m7jm-9gc2-mpf2', severity: 'critical', range: '>=4.1.3 <4.5.4' }],
        },
        '@aws-sdk/client-sts': { name: '@aws-sdk/client-sts', severity: 'critical', nodes: ['node_modules/@aws-sdk/client-sts'], via: ['fast-xml-parser'] },
      },
    };
    const availability = npmAuditAvailability(JSON.stringify(report));
    expect(availability.available).toBe(true);
    const lock = lockWith({ 'node_modules/fast-xml-parser': { version: '4.2.5' }, 'node_modules/@aws-sdk/client-sts': { version: '3.523.0' } });
    const failing = evaluateNpmAudit(report, lock, none);
    expect(failing.ok).toBe(false);
    expect(failing.rows).toHaveLength(1); // the string `via` of client-sts is not a second advisory
    expect(failing.rows[0]).toMatchObject({ advisory: 'GHSA-m7jm-9gc2-mpf2', version: '4.2.5', severity: 'critical', status: 'vulnerable' });
    const explained: ExceptionsDoc = {
      exceptions: [{ advisory: 'GHSA-m7jm-9gc2-mpf2', package: 'fast-xml-parser', versions: '4.2.5', reviewed: '2026-11-24', reason: 'test: reviewed, not reachable' }],
    };
    expect(evaluateNpmAudit(report, lock, explained).ok).toBe(true);
    // Scoped to the version that was reviewed: the same advisory on another version still fails.
    const otherLock = lockWith({ 'node_modules/fast-xml-parser': { version: '4.3.0' }, 'node_modules/@aws-sdk/client-sts': { version: '3.523.0' } });
    expect(evaluateNpmAudit(report, otherLock, explained).ok).toBe(false);
  });
});
