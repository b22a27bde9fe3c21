// images/publish.sh cannot reach ECR here; its plan (--dry-run) is checked instead, and shellcheck keeps the
// script honest where shellcheck is installed (images/ci-build-and-run.sh installs it in CI).
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './k8s/helm.js';

const script = path.join(repoRoot, 'images', 'publish.sh');
const PROXY = '111122223333.dkr.ecr.us-west-2.amazonaws.com/lattice-sigv4-proxy';
const INIT = '111122223333.dkr.ecr.us-west-2.amazonaws.com/lattice-sigv4-proxy-init';

function publish(args: string[]) {
  const r = spawnSync('bash', [script, '--dry-run', '--allow-dirty', ...args], { cwd: repoRoot, encoding: 'utf8' });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;

describe('images/publish.sh', () => {
  const sha = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();

  it('logs in to ECR, builds both images for amd64 and arm64 and pushes version and SHA tags', () => {
    const r = publish(['--proxy-repo', PROXY, '--init-repo', INIT, '--version', '1.2.3']);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    const lines = r.out.split('\n').filter((l) => l.startsWith('+ '));
    expect(lines[0]).toBe(
      '+ aws ecr get-login-password --region us-west-2 | podman login --username AWS --password-stdin 111122223333.dkr.ecr.us-west-2.amazonaws.com',
    );
    const builds = lines.filter((l) => l.startsWith('+ podman build'));
    expect(builds).toHaveLength(2);
    for (const b of builds) {
      expect(b).toContain('--platform linux/amd64\\,linux/arm64');
      expect(b).toContain(`--build-arg REVISION=${sha}`);
      expect(b).toContain('--build-arg VERSION=1.2.3');
    }
    expect(builds[0]).toContain('proxy/Dockerfile');
    expect(builds[1]).toContain('init-iptables/Dockerfile');
    const pushes = lines.filter((l) => l.startsWith('+ podman manifest push')).map((l) => l.split(' ').pop());
    expect(pushes).toEqual([
      `docker://${PROXY}:1.2.3`, `docker://${PROXY}:${sha}`, `docker://${INIT}:1.2.3`, `docker://${INIT}:${sha}`,
    ]);
  });

  it('tags with package.json\'s version by default and takes the region from the repository URI', () => {
    const r = publish(['--proxy-repo', PROXY.replace('us-west-2', 'eu-central-1'), '--init-repo', INIT.replace('us-west-2', 'eu-central-1')]);
    expect(r.status).toBe(0);
    expect(r.out).toContain('--region eu-central-1');
    expect(r.out).toMatch(/lattice-sigv4-proxy:0\.\d+\.\d+/);
  });

  it('refuses a repository that is not an ECR URI, and repositories in two registries', () => {
    expect(publish(['--proxy-repo', 'docker.io/me/proxy', '--init-repo', INIT]).err).toMatch(/not an ECR repository URI/);
    const other = publish(['--proxy-repo', PROXY, '--init-repo', INIT.replace('111122223333', '444455556666')]);
    expect(other.status).not.toBe(0);
    expect(other.err).toMatch(/one registry/);
  });

  it.skipIf(!hasShellcheck)('is shellcheck clean, like the other image scripts', () => {
    const r = spawnSync('shellcheck', ['-x', ...['publish.sh', 'ci-build-and-run.sh', 'bootstrap-base.sh', 'lib.sh'].map((f) => path.join(repoRoot, 'images', f))], { encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });
});
