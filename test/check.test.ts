// `node proxy/dist/main.js check [URL]`, the built command as the image runs it, against the emulators: the call
// allowed, denied by an auth policy (explained), an untrusted certificate, no credentials, a host outside the
// allowlist, an invalid configuration, and the DNS answer in and out of VPC Lattice's ranges (through a private
// /etc/hosts, root only; every connection goes to loopback: CONNECT_TO or a loopback answer). Plus the pure parts: range test, credential source, Lattice's answers explained.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialSource, explainLatticeAnswer, inLatticeRange } from '../proxy/src/check.js';
import { startSeedWorld, type SeedWorld } from './emulators/scenario.js';
import { isolatedEnv, PROXY_MAIN, REPO_ROOT, seedProxyEnv } from './helpers/proxy-process.js';
import { recordProxyOutput, recordSecrets } from './helpers/secret-record.js';

interface CheckRun {
  code: number | null;
  lines: string[];
  output: string;
}

/** Runs the built `check` with exactly `env` (isolated like a test proxy); `wrap` prefixes the command (unshare). */
function runCheck(env: Record<string, string | undefined>, args: string[], wrap: string[] = []): Promise<CheckRun> {
  if (!existsSync(PROXY_MAIN)) throw new Error(`${PROXY_MAIN} is missing: run npm run build first`);
  const childEnv = isolatedEnv(env);
  const tokenFile = childEnv['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE'];
  recordSecrets({ podIdentityToken: tokenFile && existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : undefined });
  const argv = [...wrap, process.execPath, PROXY_MAIN, 'check', ...args];
  const child = spawn(argv[0]!, argv.slice(1), { env: childEnv, cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (c: Buffer): void => {
    output += c.toString('utf8');
    recordProxyOutput(child.pid ?? 0, c.toString('utf8'));
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`check did not finish in 30 s:\n${output}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, lines: output.trimEnd().split('\n'), output });
    });
  });
}

const line = (run: CheckRun, prefix: RegExp): string | undefined => run.lines.find((l) => prefix.test(l));

let world: SeedWorld;
beforeAll(async () => {
  world = await startSeedWorld();
});
afterAll(async () => {
  await world?.close();
});
const host = (name: 'demo-cluster1' | 'demo-cluster2'): string => `${name}.${world.scenario.domain}`;

describe('check against the emulators', () => {
  it('an allowed call: every step ok, the answer, exit 0', async () => {
    const before = world.lattice.log.length;
    const run = await runCheck(seedProxyEnv(world, 'cluster1'), [`http://${host('demo-cluster2')}/`]);
    expect(run.code, run.output).toBe(0);
    expect(line(run, /^ok {4}configuration: valid; region us-west-2/)).toBeDefined();
    expect(line(run, /^ok {4}credentials: from container provider, EKS Pod Identity .*access key \.\.\.\w{4}, temporary, expire /)).toBeDefined();
    expect(line(run, /^ok {4}trusted roots: CA_ARN arn:aws:acm-pca:.*: CN=Emulated AWS Private CA root.*, expires /)).toBeDefined();
    expect(line(run, /^ok {4}allowlist: demo-cluster2\.example\.com is allowed/)).toBeDefined();
    expect(line(run, /^ok {4}TLS: TLSv1\.\d, certificate verified for demo-cluster2\.example\.com/)).toBeDefined();
    expect(line(run, /^ok {4}request: GET http:\/\/demo-cluster2\.example\.com\/ signed as \.\.\.\w{4} -> 200 OK: Requesting to Pod\(.+\): Hello from demo-cluster2-v1$/)).toBeDefined();
    expect(run.lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    // Lattice saw one signed, verified request from the check.
    const seen = world.lattice.log.slice(before);
    expect(seen.map((e) => [e.host, e.signed, e.verified, e.status])).toEqual([['demo-cluster2.example.com', true, true, 200]]);
    // The secret and the token never appear (the whole-suite scan checks every issued one too).
    expect(run.output).not.toMatch(/aws_secret|secretAccessKey|eks-pod-identity-token/i);
  });

  it('denied by an auth policy: Lattice\'s answer, which policy, which principal, exit 1', async () => {
    const run = await runCheck(seedProxyEnv(world, 'cluster1'), [`http://${host('demo-cluster1')}/`]);
    expect(run.code, run.output).toBe(1);
    expect(line(run, /^FAIL {2}request: GET .* -> 403 Forbidden \(x-amzn-errortype: AccessDeniedException\): AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role\/eks-cluster1-lattice-client\//)).toBeDefined();
    expect(run.output).toContain("refused by the service's own auth policy");
    expect(run.output).toContain('no Allow statement matched');
    expect(run.output).toMatch(/caller: role eks-cluster1-lattice-client of account 123456789012, session \S+/);
    expect(run.output).toContain('eks-cluster-name, kubernetes-namespace');
    expect(line(run, /^ {8}request id [0-9a-f-]{36}$/)).toBeDefined();
  });

  it('an untrusted certificate: what was presented, nothing sent, exit 1', async () => {
    const before = world.lattice.log.length;
    // Without CA_ARN only the system roots are trusted, and the emulated Private CA is not among them.
    const run = await runCheck(seedProxyEnv(world, 'cluster1', { CA_ARN: undefined }), [`http://${host('demo-cluster2')}/`]);
    expect(run.code, run.output).toBe(1);
    expect(line(run, /^ok {4}TCP: connected to 127\.0\.0\.1:\d+ in \d+ ms$/)).toBeDefined();
    expect(line(run, /^FAIL {2}TLS: TLSv1\.\d: certificate refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE \(the sidecar answers 502 ERR_UPSTREAM_TLS and sends nothing\)$/)).toBeDefined();
    expect(run.output).toMatch(/presented: subject demo-cluster1\.example\.com, DNS:demo-cluster1\.example\.com, DNS:demo-cluster2\.example\.com.*issuer Emulated AWS Private CA root/);
    expect(line(run, /^(ok|FAIL) +request:/)).toBeUndefined();
    expect(world.lattice.log.length).toBe(before);
  });

  it('no credentials: the source and its error, the CA not fetched, no request, exit 1', async () => {
    const agent = world.agents.cluster2;
    await agent.setDown(true);
    try {
      const before = world.lattice.log.length;
      const run = await runCheck(seedProxyEnv(world, 'cluster2', { CONNECT_TIMEOUT_MS: '1000' }), [`http://${host('demo-cluster1')}/`]);
      expect(run.code, run.output).toBe(1);
      expect(line(run, /^FAIL {2}credentials: none from container provider, EKS Pod Identity \(http:\/\/127\.0\.0\.1:\d+\/v1\/credentials\): .+ \(the sidecar answers 503 ERR_NO_CREDENTIALS and is not ready\)$/)).toBeDefined();
      expect(line(run, /^FAIL {2}trusted roots: Private CA root not loaded: needs credentials to call ACM PCA/)).toBeDefined();
      expect(line(run, /^FAIL {2}TLS: .*certificate refused/)).toBeDefined();
      expect(world.lattice.log.length).toBe(before);
    } finally {
      await agent.setDown(false);
    }
  });

  it('a host outside the allowlist: the verdict, nothing resolved or sent, exit 1', async () => {
    const before = world.lattice.log.length;
    const run = await runCheck(seedProxyEnv(world, 'cluster1'), ['http://api.example.org/x']);
    expect(run.code, run.output).toBe(1);
    expect(line(run, /^FAIL {2}allowlist: api\.example\.org is not in ALLOWED_HOSTS \(\*\.on\.aws, \*\.example\.com\): the sidecar answers 403 ERR_TARGET_NOT_ALLOWED and signs nothing$/)).toBeDefined();
    expect(run.lines.at(-1)).toMatch(/^FAIL {2}allowlist/);
    expect(world.lattice.log.length).toBe(before);
  });

  it('without a URL: configuration, credentials and roots only, exit 0', async () => {
    const run = await runCheck(seedProxyEnv(world, 'cluster1'), []);
    expect(run.code, run.output).toBe(0);
    expect(run.lines.map((l) => l.split(':')[0])).toEqual(['ok    configuration', 'ok    credentials', 'ok    trusted roots', 'ok    trusted roots']);
  });

  it('an invalid configuration: the variable, exit 78 as the sidecar', async () => {
    const run = await runCheck(seedProxyEnv(world, 'cluster1', { CONNECT_TO: 'nowhere' }), [`http://${host('demo-cluster2')}/`]);
    expect(run.code).toBe(78);
    expect(run.lines).toEqual(['FAIL  configuration: invalid: CONNECT_TO: must be address:port (IPv6 as [addr]:port), got "nowhere" (the sidecar exits 78 with this)']);
  });

  it('an https:// URL: told to give the plain http:// the app uses, exit 1', async () => {
    const run = await runCheck(seedProxyEnv(world, 'cluster1'), [`https://${host('demo-cluster2')}/`]);
    expect(run.code).toBe(1);
    expect(line(run, /^FAIL {2}URL: send plain http:\/\/ requests/)).toBeDefined();
  });
});

// getaddrinfo reads /etc/hosts first (nsswitch "files dns"); a private mount namespace gives the check its own.
const unshare = spawnSync('unshare', ['--mount', 'true']).status === 0;
if (!unshare) console.warn('check DNS tests: SKIPPED — needs root for a private mount namespace (unshare --mount), to give the check its own /etc/hosts');

describe.skipIf(!unshare)('check: the DNS answer, through a private /etc/hosts', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'check-dns-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function withHosts(address: string): string[] {
    const file = path.join(dir, `hosts-${address.replace(/[:.]/g, '-')}`);
    writeFileSync(file, `127.0.0.1 localhost\n${address} demo-cluster2.example.com\n`);
    // Private propagation (unshare's default): the bind mount never reaches the host's /etc/hosts.
    return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount --bind "$0" /etc/hosts && exec "$@"`, file];
  }

  it.each([['169.254.171.12'], ['fd00:ec2:80::12']])('%s: in the Lattice range, so captured; the call goes on', async (address) => {
    const run = await runCheck(seedProxyEnv(world, 'cluster1'), [`http://${host('demo-cluster2')}/`], withHosts(address));
    expect(run.code, run.output).toBe(0);
    expect(line(run, new RegExp(`^ok {4}DNS: demo-cluster2\\.example\\.com -> ${address.replace(/\./g, '\\.')}: in the VPC Lattice range .* captured into the sidecar$`))).toBeDefined();
  });

  it('outside the Lattice range: a warning that the app\'s call would not be captured', async () => {
    const run = await runCheck(seedProxyEnv(world, 'cluster1'), [`http://${host('demo-cluster2')}/`], withHosts('10.20.30.40'));
    // The call itself, dialled through CONNECT_TO, succeeds: the exit code is the call's.
    expect(run.code, run.output).toBe(0);
    expect(line(run, /^warn {2}DNS: demo-cluster2\.example\.com -> 10\.20\.30\.40: 10\.20\.30\.40 outside the VPC Lattice range .* not captured and leaves unsigned/)).toBeDefined();
  });

  it('without CONNECT_TO the sidecar dials the DNS answer itself', async () => {
    // Loopback stands in for the service's address (traffic stays on this host); UPSTREAM_PORT is the emulator's.
    const env = seedProxyEnv(world, 'cluster1', { CONNECT_TO: undefined, UPSTREAM_PORT: String(world.latticePort) });
    const run = await runCheck(env, [`http://${host('demo-cluster2')}/`], withHosts('127.0.0.1'));
    expect(run.code, run.output).toBe(0);
    expect(line(run, /^warn {2}DNS: demo-cluster2\.example\.com -> 127\.0\.0\.1: 127\.0\.0\.1 outside the VPC Lattice range/)).toBeDefined();
    expect(line(run, /^ok {4}CONNECT_TO/)).toBeUndefined();
    expect(line(run, new RegExp(`^ok {4}TCP: connected to 127\\.0\\.0\\.1:${world.latticePort} in \\d+ ms$`))).toBeDefined();
    expect(line(run, /^ok {4}request: .* -> 200 OK/)).toBeDefined();
  });
});

describe('check: the pure parts', () => {
  it('knows VPC Lattice\'s ranges', () => {
    for (const a of ['169.254.171.0', '169.254.171.255', 'fd00:ec2:80::', 'fd00:ec2:80::ffff:1', 'fd00:ec2:80:0:ffff:ffff:ffff:ffff']) expect(inLatticeRange(a), a).toBe(true);
    for (const a of ['169.254.170.23', '169.254.172.1', '10.0.0.1', 'fd00:ec2:81::1', 'fd00:ec2:80:1::1', '::1', 'example.com']) expect(inLatticeRange(a), a).toBe(false);
  });

  it('names the credential source the default chain takes', () => {
    expect(credentialSource({ AWS_ACCESS_KEY_ID: 'AKIA', AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://x' })).toMatch(/^environment variables/);
    expect(credentialSource({ AWS_WEB_IDENTITY_TOKEN_FILE: '/t', AWS_ROLE_ARN: 'arn:aws:iam::1:role/r' })).toBe('web identity, IRSA (role arn:aws:iam::1:role/r)');
    expect(credentialSource({ AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://169.254.170.23/v1/credentials' })).toMatch(/EKS Pod Identity/);
    expect(credentialSource({})).toMatch(/shared files or instance metadata/);
  });

  it('explains Lattice\'s answers', () => {
    const net = explainLatticeAnswer(
      403,
      'AccessDeniedException: User: anonymous is not authorized to perform: vpc-lattice-svcs:Invoke on resource: arn:aws:vpc-lattice:us-west-2:1:service/svc-1/ with an explicit deny in a network-based policy',
      'us-west-2',
    );
    expect(net[0]).toMatch(/service network's auth policy/);
    expect(net[1]).toMatch(/a Deny statement matched/);
    expect(net[2]).toMatch(/unsigned/);
    expect(explainLatticeAnswer(403, 'InvalidSignatureException: Signature expired', 'eu-west-1')[0]).toMatch(/AWS_REGION \(eu-west-1\)/);
    expect(explainLatticeAnswer(404, "NotFoundException: No service is associated with host 'x'.", 'us-west-2')[0]).toMatch(/HTTPRoute/);
    expect(explainLatticeAnswer(503, 'Service Unavailable', 'us-west-2')[0]).toMatch(/target group health/);
    expect(explainLatticeAnswer(418, 'teapot', 'us-west-2')).toEqual([]);
  });
});
