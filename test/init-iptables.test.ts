// The init container's script, run for real in throwaway network namespaces: the rules it installs, that a rerun
// changes nothing, that bad settings and a missing capability fail loudly, and that the kernel then actually
// sends captured traffic to the proxy port while the excluded group goes straight through.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  addAddress,
  connect,
  createNamespace,
  deleteNamespace,
  must,
  natRules,
  netnsSupport,
  nsName,
  run,
  sweepStale,
  type RunResult,
} from './e2e/netns.js';

const SCRIPT = fileURLToPath(new URL('../init-iptables/entrypoint.sh', import.meta.url));
const support = netnsSupport();
if (!support.ok) {
  console.warn(`init-iptables tests: SKIPPED — ${support.reason}`);
}

let counter = 0;
const created: string[] = [];

async function freshNs(): Promise<string> {
  const ns = nsName(`it${counter++}`);
  created.push(ns);
  await createNamespace(ns);
  return ns;
}

function runScript(ns: string, env: Record<string, string> = {}, wrapper: string[] = []): Promise<RunResult> {
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return run('ip', ['netns', 'exec', ns, ...wrapper, 'env', ...envArgs, 'sh', SCRIPT]);
}

async function nat(ns: string, cmd = 'iptables'): Promise<string[]> {
  return (await must('ip', ['netns', 'exec', ns, cmd, '-t', 'nat', '-S'])).trim().split('\n');
}

const DEFAULT_RULES = [
  '-P PREROUTING ACCEPT',
  '-P INPUT ACCEPT',
  '-P OUTPUT ACCEPT',
  '-P POSTROUTING ACCEPT',
  '-N LATTICE_EGRESS',
  '-A OUTPUT -p tcp -j LATTICE_EGRESS',
  '-A LATTICE_EGRESS -p tcp -m owner --gid-owner 0 -j RETURN',
  '-A LATTICE_EGRESS -d 169.254.171.0/24 -p tcp -j REDIRECT --to-ports 8080',
];

describe.skipIf(!support.ok)('init-iptables/entrypoint.sh in a network namespace', () => {
  beforeAll(async () => {
    await sweepStale();
  });

  afterEach(async () => {
    for (const ns of created.splice(0)) await deleteNamespace(ns);
  });

  afterAll(async () => {
    for (const ns of created.splice(0)) await deleteNamespace(ns);
  });

  it('installs the documented defaults in its own chain and prints them', async () => {
    const ns = await freshNs();
    const r = await runScript(ns);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await nat(ns)).toEqual(DEFAULT_RULES);
    expect(r.stdout).toContain('-A LATTICE_EGRESS -d 169.254.171.0/24 -p tcp -j REDIRECT --to-ports 8080');
    expect(r.stdout).toContain('-A LATTICE_EGRESS -p tcp -m owner --gid-owner 0 -j RETURN');
    expect(r.stdout).toMatch(/IPv6 capture skipped: the pod has no global IPv6 address/);
    expect(await nat(ns, 'ip6tables')).not.toContain('-N LATTICE_EGRESS');
  });

  it('leaves the same rules when run twice', async () => {
    const ns = await freshNs();
    expect((await runScript(ns)).code).toBe(0);
    const first = await natRules(ns);
    const again = await runScript(ns);
    expect(again.code).toBe(0);
    expect(await natRules(ns)).toBe(first);
    expect((await nat(ns)).filter((l) => l.includes('-j LATTICE_EGRESS'))).toHaveLength(1);
  });

  it('replaces rules of an earlier run with other settings instead of adding to them', async () => {
    const ns = await freshNs();
    expect((await runScript(ns)).code).toBe(0);
    const r = await runScript(ns, { PROXY_PORT: '15001', EXCLUDE_GID: '1337', LATTICE_CIDR_V4: '169.254.172.0/24' });
    expect(r.code).toBe(0);
    const rules = await nat(ns);
    expect(rules.filter((l) => l.startsWith('-A LATTICE_EGRESS'))).toEqual([
      '-A LATTICE_EGRESS -p tcp -m owner --gid-owner 1337 -j RETURN',
      '-A LATTICE_EGRESS -d 169.254.172.0/24 -p tcp -j REDIRECT --to-ports 15001',
    ]);
    expect(rules.filter((l) => l.includes('-j LATTICE_EGRESS'))).toHaveLength(1);
  });

  it('keeps the previous rules when iptables rejects a value', async () => {
    const ns = await freshNs();
    expect((await runScript(ns)).code).toBe(0);
    const before = await natRules(ns);
    const r = await runScript(ns, { LATTICE_CIDR_V4: '169.254.171.0/99' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/rejected the rules/);
    expect(await natRules(ns)).toBe(before);
  });

  it.each([
    [{ PROXY_PORT: '70000' }, /PROXY_PORT must be a TCP port/],
    [{ PROXY_PORT: '80a' }, /PROXY_PORT must be a TCP port/],
    [{ EXCLUDE_GID: '-1' }, /EXCLUDE_GID must be a numeric group id/],
    [{ ENABLE_IPV6: 'maybe' }, /ENABLE_IPV6 must be auto, true or false/],
    [{ LATTICE_CIDR_V4: '169.254.171.1' }, /LATTICE_CIDR_V4 must be an IPv4 CIDR/],
    [{ LATTICE_CIDR_V6: '169.254.171.0/24' }, /LATTICE_CIDR_V6 must be an IPv6 CIDR/],
    [{ IPTABLES_MODE: 'iptables' }, /IPTABLES_MODE must be default, nft or legacy/],
  ])('refuses %o before touching iptables', async (env, message) => {
    const ns = await freshNs();
    const r = await runScript(ns, env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(await nat(ns)).not.toContain('-N LATTICE_EGRESS');
  });

  it('exits non-zero saying NET_ADMIN is missing when it runs without the capability', async () => {
    const ns = await freshNs();
    const r = await runScript(ns, {}, ['setpriv', '--bounding-set=-net_admin', '--inh-caps=-net_admin']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/missing capability NET_ADMIN/);
    expect(await nat(ns)).not.toContain('-N LATTICE_EGRESS');
  });

  it('says NET_RAW is missing when the legacy back end runs without it', async () => {
    const ns = await freshNs();
    const r = await runScript(ns, { IPTABLES_MODE: 'legacy' }, ['setpriv', '--bounding-set=-net_raw', '--inh-caps=-net_raw']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/missing capability NET_RAW/);
  });

  it('captures IPv6 with ip6tables when the pod has a global IPv6 address, unless disabled', async () => {
    const pod = await freshNs();
    const peer = await freshNs();
    await connect(
      { ns: pod, ifname: 'eth0', v4: '169.254.201.2/30', v6: 'fd00:ec2:81:1::2/64' },
      { ns: peer, ifname: 'veth-pod', v4: '169.254.201.1/30', v6: 'fd00:ec2:81:1::1/64' },
    );
    const off = await runScript(pod, { ENABLE_IPV6: 'false' });
    expect(off.code).toBe(0);
    expect(off.stdout).toMatch(/IPv6 capture skipped: ENABLE_IPV6=false/);
    expect(await nat(pod, 'ip6tables')).not.toContain('-N LATTICE_EGRESS');

    const auto = await runScript(pod);
    expect(auto.code).toBe(0);
    expect(auto.stdout).toMatch(/pod has a global IPv6 address/);
    const v6 = await nat(pod, 'ip6tables');
    expect(v6).toContain('-A OUTPUT -p tcp -j LATTICE_EGRESS');
    expect(v6).toContain('-A LATTICE_EGRESS -p tcp -m owner --gid-owner 0 -j RETURN');
    expect(v6).toContain('-A LATTICE_EGRESS -d fd00:ec2:80::/64 -p tcp -j REDIRECT --to-ports 8080');
    const first = await natRules(pod, 'ip6tables-save');
    expect((await runScript(pod)).code).toBe(0);
    expect(await natRules(pod, 'ip6tables-save')).toBe(first);
  });

  it('installs IPv6 rules when forced even without a global address', async () => {
    const ns = await freshNs();
    const r = await runScript(ns, { ENABLE_IPV6: 'true' });
    expect(r.code).toBe(0);
    expect(await nat(ns, 'ip6tables')).toContain('-A LATTICE_EGRESS -d fd00:ec2:80::/64 -p tcp -j REDIRECT --to-ports 8080');
  });

  it('writes to the legacy backend with IPTABLES_MODE=legacy', async () => {
    const ns = await freshNs();
    const r = await runScript(ns, { IPTABLES_MODE: 'legacy' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('using iptables-legacy');
    expect(await nat(ns, 'iptables-legacy')).toEqual(DEFAULT_RULES);
    // The two backends are separate rule sets; the nft one must stay empty.
    expect(await nat(ns, 'iptables-nft')).not.toContain('-N LATTICE_EGRESS');
  });

  describe('what the kernel does with the rules', () => {
    const children: ChildProcess[] = [];

    afterEach(() => {
      for (const c of children.splice(0)) {
        if (c.pid !== undefined && c.exitCode === null) {
          try {
            process.kill(-c.pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
      }
    });

    // A server that names itself, so the client's answer tells which socket the kernel delivered the connection to.
    function startNamedServer(ns: string, port: number, name: string): Promise<void> {
      const code = `require('node:http').createServer((q, s) => s.end(${JSON.stringify(name)})).listen(${port}, '0.0.0.0', () => console.log('ready'))`;
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      return new Promise((ok, fail) => {
        child.stdout?.once('data', () => ok());
        child.once('exit', (c) => fail(new Error(`server ${name} exited ${c}`)));
      });
    }

    async function curlAs(ns: string, gid: number, url: string): Promise<string> {
      const r = await run('ip', ['netns', 'exec', ns, 'setpriv', `--reuid=1000`, `--regid=${gid}`, '--clear-groups', 'curl', '-sS', '-m', '5', url]);
      return r.code === 0 ? r.stdout : `curl failed: ${r.stderr.trim()}`;
    }

    it('redirects other groups to the proxy port and lets the excluded group through', async () => {
      const ns = await freshNs();
      // The "Lattice" address is local here, which still traverses nat OUTPUT like a remote one would.
      await addAddress(ns, '169.254.171.7/32');
      await startNamedServer(ns, 8080, 'proxy');
      await startNamedServer(ns, 80, 'direct');
      expect(await curlAs(ns, 1000, 'http://169.254.171.7/')).toBe('direct');
      expect((await runScript(ns)).code).toBe(0);
      expect(await curlAs(ns, 1000, 'http://169.254.171.7/')).toBe('proxy');
      expect(await curlAs(ns, 0, 'http://169.254.171.7/')).toBe('direct');
      // Outside the Lattice range nothing is captured.
      await addAddress(ns, '169.254.172.7/32');
      expect(await curlAs(ns, 1000, 'http://169.254.172.7/')).toBe('direct');
    });
  });
});
