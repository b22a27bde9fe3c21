// The signing figure to compare with ("signing micro-benchmark unchanged or better", issue 11): taken from
// the newest reference JSON committed under bench/results/ (by commit time) from a full run (a --quick run
// times the signer for 600 ms instead of 1,500 and is not a baseline), preferring, among the files of that
// commit, the one measured on the same Node version as this run's proxy.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const OURS_SIGNER = 'ours (SigV4Signer.sign)';

export interface SigningReference {
  file: string;
  usPerOp: number;
  node: string;
  /** The commit that committed the reference file: its proxy/src/signer.ts is the same-run baseline. */
  commit: string;
}

export function newestSigningReference(repoRoot: string, proxyNodeVersion: string): SigningReference | undefined {
  let files: string[];
  try {
    files = execFileSync('git', ['ls-files', 'bench/results/reference-*.json'], { cwd: repoRoot, encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return undefined; // not a git checkout: nothing committed to compare with
  }
  const candidates: Array<SigningReference & { committed: number }> = [];
  for (const file of files) {
    let report: { quick?: boolean; signing?: { results?: Array<{ name: string; usPerOp: number }> }; setup?: { proxyNode?: string }; machine?: { node?: string } };
    try {
      report = JSON.parse(readFileSync(join(repoRoot, file), 'utf8')) as typeof report;
    } catch {
      continue;
    }
    const ours = report.signing?.results?.find((r) => r.name === OURS_SIGNER);
    if (!ours || report.quick) continue;
    const [ct, commit] = execFileSync('git', ['log', '-1', '--format=%ct %H', '--', file], { cwd: repoRoot, encoding: 'utf8' }).trim().split(' ');
    candidates.push({ file, usPerOp: ours.usPerOp, node: report.setup?.proxyNode ?? report.machine?.node ?? '?', committed: Number(ct || 0), commit: commit ?? '' });
  }
  if (candidates.length === 0) return undefined;
  const newest = Math.max(...candidates.map((c) => c.committed));
  const latest = candidates.filter((c) => c.committed === newest);
  const pick = latest.find((c) => c.node === proxyNodeVersion) ?? latest.sort((a, b) => a.file.localeCompare(b.file))[0]!;
  return { file: pick.file, usPerOp: pick.usPerOp, node: pick.node, commit: pick.commit };
}

/**
 * The SigV4Signer source as of the reference's commit, written to dir, for sign-micro.ts to time in the same
 * run as ours. Undefined when git cannot show it (a shallow clone without that commit).
 */
export function writeBaselineSigner(repoRoot: string, ref: SigningReference, dir: string): string | undefined {
  if (!ref.commit) return undefined;
  let src: string;
  try {
    src = execFileSync('git', ['show', `${ref.commit}:proxy/src/signer.ts`], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
  const file = join(dir, `baseline-signer-${ref.commit.slice(0, 7)}.ts`);
  writeFileSync(file, src);
  return file;
}
