// `npm run e2e`: the seed's cross-cluster checks through the real kernel. Two "pod" namespaces (one per EKS
// cluster) get the init container's iptables rules, the Pod Identity agent and the built proxy; a third stands for
// an EKS Anywhere cluster on IRSA (no agent: a projected service-account token, STS and the cluster's OIDC issuer);
// a "lattice" namespace holds the Lattice-like verifier in front of the two demo apps, the PCA, STS and the issuer.
// An app process in each pod then runs plain `curl http://demo-clusterN.example.com/`, exactly as in the seed, and a
// grpc-js app calls grpc-clusterN.example.com (GRPC target groups in front of grpc-js targets); cluster2's proxy
// signs with SigV4A. See test/e2e/README.md.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, accessSync, constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSigningKey, mintServiceAccountToken, type SigningKey } from '../emulators/oidc.js';
import { hostWithoutPort } from '../emulators/lattice.js';
import { seedScenario, SEED_CA_ARN, SEED_REGION, type IrsaCaller, type SeedCaller } from '../emulators/scenario.js';
import { tokenSha256 } from '../emulators/sts.js';
import {
  addAddress,
  addRoute,
  connect,
  createNamespace,
  deleteNamespace,
  listNamespaces,
  natRules,
  netnsSupport,
  nsName,
  run,
  sweepStale,
  writeHosts,
} from './netns.js';
import { Supervisor, tail, type Proc } from './procs.js';
import { curlIn, describe, Report, type HttpResult } from './report.js';
import { describeGrpc, grpcAppIn, type GrpcOutcome, type GrpcRun } from './grpc-app.js';
import { stageGrpcClient, stageProxy, type StagedClient } from './stage.js';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const ENTRYPOINT = join(REPO, 'init-iptables/entrypoint.sh');
const BUILT_MAIN = join(REPO, 'proxy/dist/main.js');
const EMULATOR_CLI = join(REPO, 'test/emulators/cli.ts');
const MARKER = join(REPO, 'test/e2e/marker.ts');
const OVERALL_TIMEOUT_MS = 300_000;

// Identities: the proxy as the sidecar runs in the pod (non-root, group 0 = the excluded group), the app with
// a group of its own so the init container's rules capture it.
const PROXY_USER = { uid: 1337, gid: 0 };
const APP_USER = { uid: 1000, gid: 1000 };
const GID0_USER = { uid: 1000, gid: 0 };
const ROOT = { uid: 0, gid: 0 };

// Addresses, all inside namespaces this run creates.
const SERVICE_V4: Record<string, string> = {
  'demo-cluster1': '169.254.171.11', 'demo-cluster2': '169.254.171.12', 'grpc-cluster1': '169.254.171.13', 'grpc-cluster2': '169.254.171.14',
};
const SERVICE_V6: Record<string, string> = {
  'demo-cluster1': 'fd00:ec2:80::11', 'demo-cluster2': 'fd00:ec2:80::12', 'grpc-cluster1': 'fd00:ec2:80::13', 'grpc-cluster2': 'fd00:ec2:80::14',
};
/** messages of each bidirectional Chat */
const CHAT_MESSAGES = 3;
const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
const SIGV4A_ALGORITHM = 'AWS4-ECDSA-P256-SHA256';
const MARKER_V4 = '169.254.171.20';
const MARKER_V6 = 'fd00:ec2:80::20';
/** in the captured range, nothing there: only the proxy can answer */
const UNUSED_V4 = '169.254.171.99';
/** outside the captured range, so the proxy's PCA calls are not captured (like the real regional endpoint) */
const PCA_V4 = '169.254.180.10';
const PCA_PORT = 8443;
const AGENT_V4 = '169.254.170.23';
/** STS and the EKS Anywhere cluster's service-account issuer: outside the captured range, like their public endpoints */
const STS_V4 = '169.254.180.11';
const OIDC_V4 = '169.254.180.12';
const OIDC_ISSUER_PATH = '/id/EKSA0CLUSTER3';
/** STS credentials this short make the IRSA proxy refresh within the run (at half their life) */
const IRSA_CREDENTIALS_S = 30;
const PROXY_PORT = 8080;
const ADMIN_PORT = 9901;

interface Pod {
  key: 'cluster1' | 'cluster2' | 'eksa';
  ns: string;
  /** the EKS Pod Identity caller; the EKS Anywhere pod has an IRSA caller instead */
  caller: SeedCaller;
  irsa?: IrsaCaller;
  link: { pod4: string; lat4: string; pod6: string; lat6: string };
  /** cluster1 trusts the CA fetched from the (emulated) Private CA by ARN, cluster2 a CA file: both paths run */
  caMode: 'arn' | 'file';
  /** SIGNING_ALGORITHM of its proxy: cluster2's signs with SigV4A, the others with SigV4 */
  signing: 'sigv4' | 'sigv4a';
  dir: string;
  proxy?: Proc;
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function jsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const readyJson = (line: string): Record<string, unknown> | undefined => {
  const j = jsonLine(line);
  return j?.ready === true ? j : undefined;
};

function missingTools(): string[] {
  const tools: Array<[string, string]> = [
    ['ip', 'iproute2'],
    ['iptables', 'iptables'],
    ['ip6tables', 'iptables'],
    ['iptables-save', 'iptables'],
    ['iptables-restore', 'iptables'],
    ['curl', 'curl'],
    ['setpriv', 'util-linux'],
    ['sh', 'dash'],
  ];
  const path = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':');
  const missing: string[] = [];
  for (const [tool, pkg] of tools) {
    const found = path.some((d) => {
      try {
        accessSync(join(d, tool), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    if (!found) missing.push(`${tool} (apt package ${pkg})`);
  }
  return missing;
}

class E2e {
  readonly report = new Report(out);
  readonly tmp = mkdtempSync(join(tmpdir(), `lsp-e2e-${process.pid}-`));
  readonly sup = new Supervisor(this.tmp, REPO);
  readonly lat = nsName('lattice');
  readonly scenario = seedScenario({ domain: 'example.com', irsa: true, grpc: true });
  readonly iamKey = randomBytes(32).toString('hex');
  readonly pods: Pod[];
  readonly created: string[] = [];
  lattice?: Proc;
  marker?: Proc;
  sts?: Proc;
  /** the EKS Anywhere issuer's signing key: this runner mints the pod's projected tokens with it */
  oidcKey?: SigningKey;
  readonly issuerUrl = `http://${OIDC_V4}${OIDC_ISSUER_PATH}`;
  /** proxy/dist/main.js staged where uid 1337 can read it */
  proxyMain = BUILT_MAIN;
  /** the gRPC app staged where uid 1000 can read it */
  grpcApp?: StagedClient;
  /** false when this kernel cannot do IPv6 nat: the IPv6 checks are then reported as SKIP, loudly */
  ipv6 = true;
  ipv6Reason = '';
  private cleaning: Promise<void> | undefined;
  private aborted = false;

  constructor() {
    // The non-root proxy must read the CA file and its token under this directory.
    chmodSync(this.tmp, 0o755);
    const mk = (key: Pod['key'], n: number, caMode: 'arn' | 'file', signing: Pod['signing'] = 'sigv4'): Pod => ({
      key,
      ns: nsName(`pod${n}`),
      // The EKS Anywhere pod has no Pod Identity caller; its proxy signs as the IRSA role.
      caller: this.scenario.callers[key === 'eksa' ? 'cluster1' : key],
      ...(key === 'eksa' ? { irsa: this.scenario.irsa as IrsaCaller } : {}),
      link: { pod4: `169.254.20${n}.2/30`, lat4: `169.254.20${n}.1/30`, pod6: `fd00:ec2:81:${n}::2/64`, lat6: `fd00:ec2:81:${n}::1/64` },
      caMode,
      signing,
      dir: join(this.tmp, `pod${n}`),
    });
    this.pods = [mk('cluster1', 1, 'arn'), mk('cluster2', 2, 'file', 'sigv4a'), mk('eksa', 3, 'arn')];
  }

  emulatorEnv(): Record<string, string> {
    return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', EMULATOR_IAM_KEY: this.iamKey };
  }

  startEmulator(name: string, ns: string, args: string[]): Promise<Proc> {
    return this.sup.start({
      name,
      ns,
      cmd: process.execPath,
      args: ['--import', 'tsx', EMULATOR_CLI, ...args],
      env: this.emulatorEnv(),
      readyLine: readyJson,
      timeoutMs: 60_000,
    });
  }

  async buildTopology(): Promise<void> {
    this.guard();
    await createNamespace(this.lat);
    this.created.push(this.lat);
    for (const addr of [...Object.values(SERVICE_V4), MARKER_V4, PCA_V4, STS_V4, OIDC_V4]) await addAddress(this.lat, `${addr}/32`);
    if (this.ipv6) for (const addr of [...Object.values(SERVICE_V6), MARKER_V6]) await addAddress(this.lat, `${addr}/128`);
    for (const pod of this.pods) {
      this.guard();
      await createNamespace(pod.ns);
      this.created.push(pod.ns);
      await connect(
        { ns: pod.ns, ifname: 'eth0', v4: pod.link.pod4, ...(this.ipv6 ? { v6: pod.link.pod6 } : {}) },
        { ns: this.lat, ifname: `veth-${pod.key}`, v4: pod.link.lat4, ...(this.ipv6 ? { v6: pod.link.lat6 } : {}) },
      );
      const via4 = pod.link.lat4.split('/')[0] as string;
      const via6 = pod.link.lat6.split('/')[0] as string;
      await addRoute(pod.ns, '169.254.171.0/24', via4);
      await addRoute(pod.ns, `${PCA_V4}/32`, via4);
      if (this.ipv6) await addRoute(pod.ns, 'fd00:ec2:80::/64', via6);
      // EKS Anywhere: no Pod Identity agent on the node, STS reached like its regional endpoint.
      if (pod.irsa) await addRoute(pod.ns, `${STS_V4}/32`, via4);
      else await addAddress(pod.ns, `${AGENT_V4}/32`);
      const hosts: Array<[string, string]> = [];
      for (const svc of [...this.scenario.services, ...this.scenario.grpcServices]) {
        hosts.push([SERVICE_V4[svc.name] as string, svc.hostname]);
        if (this.ipv6) hosts.push([SERVICE_V6[svc.name] as string, svc.hostname]);
      }
      writeHosts(pod.ns, hosts);
      mkdirSync(pod.dir, { mode: 0o755 });
    }
  }

  async startLatticeSide(): Promise<{ caFile: string }> {
    const pki = join(this.tmp, 'pki');
    const hostnames = [...this.scenario.services, ...this.scenario.grpcServices].map((s) => s.hostname);
    const made = await run(process.execPath, ['--import', 'tsx', EMULATOR_CLI, 'make-pki', '--out', pki, '--dns', hostnames.join(',')], {
      timeoutMs: 60_000,
      cwd: REPO,
    });
    if (made.code !== 0) throw new Error(`make-pki failed: ${made.stderr}`);
    const caFile = join(pki, 'ca.pem');
    chmodSync(caFile, 0o644);

    // The seed's HTTP/1.1 demo apps and a grpc-js server per cluster, with the scenario's policies (HTTP1 and GRPC
    // target groups), as the lattice process's config file.
    const services: Array<Record<string, unknown>> = [];
    for (const [kind, list] of [['demo-target', this.scenario.services], ['grpc-target', this.scenario.grpcServices]] as const) {
      for (const svc of list) {
        const t = await this.startEmulator(`target-${svc.name}`, this.lat, [
          kind, '--host', '127.0.0.1', '--port', '0', '--app', svc.app, '--pod-name', svc.podName,
        ]);
        const target = { host: '127.0.0.1', port: (t.ready as { port: number }).port };
        services.push({ hostname: svc.hostname, target, authPolicy: svc.authPolicy, ...(kind === 'grpc-target' ? { protocolVersion: 'GRPC' } : {}) });
      }
    }
    const latticeConfig = join(this.tmp, 'lattice.json');
    writeFileSync(latticeConfig, JSON.stringify({ services, serviceNetworkPolicy: this.scenario.serviceNetworkPolicy }, null, 2));
    // '::' is dual-stack: one listener answers on every service address, IPv4 and IPv6, like Lattice's VIPs.
    this.lattice = await this.startEmulator('lattice', this.lat, [
      'lattice', '--host', '::', '--port', '443', '--cert', join(pki, 'server.pem'), '--key', join(pki, 'server-key.pem'),
      '--region', SEED_REGION, '--account-id', this.scenario.accountId, '--config', latticeConfig,
    ]);
    await this.startEmulator('pca', this.lat, [
      'pca', '--host', PCA_V4, '--port', String(PCA_PORT), '--ca-arn', SEED_CA_ARN, '--ca-cert', caFile, '--region', SEED_REGION,
    ]);
    // The EKS Anywhere cluster's service-account issuer (its discovery documents are public, so STS fetches the
    // JWKS from it), and STS trusting it for the IRSA caller's service account only.
    this.oidcKey = createSigningKey();
    const keyFile = join(this.tmp, 'oidc-signer.pem');
    writeFileSync(keyFile, this.oidcKey.privateKeyPem, { mode: 0o600 });
    await this.startEmulator('oidc', this.lat, ['oidc', '--host', OIDC_V4, '--port', '80', '--key-file', keyFile, '--issuer-path', OIDC_ISSUER_PATH]);
    const irsa = this.scenario.irsa as IrsaCaller;
    this.sts = await this.startEmulator('sts', this.lat, [
      'sts', '--host', STS_V4, '--port', '80', '--role-arn', irsa.roleArn, '--issuer', this.issuerUrl, '--subjects', irsa.subject,
      '--duration', String(IRSA_CREDENTIALS_S),
    ]);
    this.marker = await this.sup.start({
      name: 'marker',
      ns: this.lat,
      cmd: process.execPath,
      args: ['--import', 'tsx', MARKER, MARKER_V4, '80', ...(this.ipv6 ? [MARKER_V6, '80'] : [])],
      env: this.emulatorEnv(),
      readyLine: readyJson,
      timeoutMs: 60_000,
    });
    return { caFile };
  }

  /** Writes a fresh projected token into the EKS Anywhere pod's token file, as the kubelet does; returns its hash. */
  writeIrsaToken(pod: Pod): string {
    const irsa = pod.irsa as IrsaCaller;
    const token = mintServiceAccountToken(this.oidcKey as SigningKey, { issuer: this.issuerUrl, namespace: irsa.namespace, serviceAccount: irsa.serviceAccount });
    writeFileSync(this.irsaTokenFile(pod), token, { mode: 0o644 });
    return tokenSha256(token);
  }

  irsaTokenFile(pod: Pod): string {
    return join(pod.dir, 'token');
  }

  async startAgent(pod: Pod): Promise<string> {
    if (pod.irsa) {
      this.writeIrsaToken(pod);
      return this.irsaTokenFile(pod);
    }
    // Written before the agent starts so it keeps this file (and its mode): the non-root proxy reads it, as the
    // projected service-account token is readable by the pod's containers on EKS.
    const tokenFile = join(pod.dir, 'eks-pod-identity-token');
    writeFileSync(tokenFile, `eks-pod-identity-token.${pod.caller.cluster}.${randomBytes(16).toString('hex')}`, { mode: 0o644 });
    const config = join(pod.dir, 'agent.json');
    writeFileSync(config, JSON.stringify({ roleArn: pod.caller.roleArn, tags: pod.caller.tags }), { mode: 0o600 });
    await this.startEmulator(`agent-${pod.key}`, pod.ns, [
      'pod-identity', '--host', AGENT_V4, '--port', '80', '--token-file', tokenFile, '--config', config,
    ]);
    return tokenFile;
  }

  async runInitScript(pod: Pod): Promise<void> {
    const first = await run('ip', ['netns', 'exec', pod.ns, 'sh', ENTRYPOINT], { env: { PATH: process.env.PATH ?? '' } });
    const printed = first.stdout.includes(`-A LATTICE_EGRESS -d 169.254.171.0/24 -p tcp -j REDIRECT --to-ports ${PROXY_PORT}`);
    this.report.record(
      `init-iptables installs the capture in ${pod.key}'s pod namespace and prints the rules`,
      first.code === 0 && printed,
      first.code === 0 ? `exit 0, rules printed: ${printed}` : `exit ${first.code}: ${first.stderr.trim()}`,
    );
    const v6Line = (first.stdout.split('\n').find((l) => l.includes('IPv6')) ?? '(no IPv6 line)').trim();
    if (this.ipv6) {
      this.report.record(`init-iptables detects ${pod.key}'s IPv6 address (ENABLE_IPV6=auto) and captures fd00:ec2:80::/64`, /global IPv6 address: capturing/.test(v6Line), v6Line);
    } else {
      this.report.record(`init-iptables in ${pod.key} (no IPv6 address) skips IPv6 with a log line`, /IPv6 capture skipped/.test(v6Line), v6Line);
    }

    const before4 = await natRules(pod.ns, 'iptables-save');
    const before6 = this.ipv6 ? await natRules(pod.ns, 'ip6tables-save') : '';
    const again = await run('ip', ['netns', 'exec', pod.ns, 'sh', ENTRYPOINT], { env: { PATH: process.env.PATH ?? '' } });
    const same4 = before4 === (await natRules(pod.ns, 'iptables-save'));
    const same6 = before6 === (this.ipv6 ? await natRules(pod.ns, 'ip6tables-save') : '');
    this.report.record(
      `init-iptables run twice in ${pod.key} leaves the same iptables and ip6tables nat rules`,
      again.code === 0 && same4 && same6,
      `second exit ${again.code}, iptables same: ${same4}, ip6tables same: ${same6}`,
    );
  }

  async checkNoNetAdmin(pod: Pod): Promise<void> {
    const r = await run('ip', ['netns', 'exec', pod.ns, 'setpriv', '--bounding-set=-net_admin', '--inh-caps=-net_admin', 'sh', ENTRYPOINT], {
      env: { PATH: process.env.PATH ?? '' },
    });
    this.report.record(
      'init-iptables without NET_ADMIN exits non-zero saying the capability is missing',
      r.code !== 0 && /missing capability NET_ADMIN/.test(r.stderr),
      `exit ${r.code}: ${r.stderr.trim()}`,
    );
  }

  async startProxy(pod: Pod, tokenFile: string, caFile: string): Promise<void> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/tmp',
      LISTEN_PORT: String(PROXY_PORT),
      LISTEN_ADDRESS: '127.0.0.1,::1',
      ADMIN_PORT: String(ADMIN_PORT),
      AWS_REGION: SEED_REGION,
      APP_DOMAIN: this.scenario.domain,
      LOG_LEVEL: 'info',
      SIGNING_ALGORITHM: pod.signing,
    };
    if (pod.irsa) {
      // What the pod identity webhook injects, plus the STS endpoint of this topology.
      env.AWS_ROLE_ARN = pod.irsa.roleArn;
      env.AWS_WEB_IDENTITY_TOKEN_FILE = tokenFile;
      env.AWS_ENDPOINT_URL_STS = `http://${STS_V4}`;
    } else {
      env.AWS_CONTAINER_CREDENTIALS_FULL_URI = `http://${AGENT_V4}/v1/credentials`;
      env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = tokenFile;
    }
    if (pod.caMode === 'arn') {
      env.CA_ARN = SEED_CA_ARN;
      env.AWS_ENDPOINT_URL_ACM_PCA = `http://${PCA_V4}:${PCA_PORT}`;
    } else {
      env.CA_FILE = caFile;
    }
    pod.proxy = await this.sup.start({
      name: `proxy-${pod.key}`, ns: pod.ns, cmd: process.execPath, args: [this.proxyMain], env, user: PROXY_USER, cwd: this.tmp,
    });
    const deadline = Date.now() + 30_000;
    let last: HttpResult = { status: 0, body: '', error: 'not asked yet' };
    while (Date.now() < deadline) {
      if (pod.proxy.exited()) throw new Error(`proxy-${pod.key} exited:\n${tail(pod.proxy.lines)}`);
      last = await curlIn(pod.ns, ROOT, [`http://127.0.0.1:${ADMIN_PORT}/readyz`], 3);
      if (last.status === 200) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`proxy-${pod.key} not ready after 30 s (readyz ${describe(last)}); log:\n${tail(pod.proxy.lines)}`);
  }

  async checkProxyIdentity(pod: Pod): Promise<void> {
    const status = await run('cat', [`/proc/${pod.proxy?.pid}/status`]);
    const uid = /^Uid:\s+(\d+)/m.exec(status.stdout)?.[1];
    const gid = /^Gid:\s+(\d+)/m.exec(status.stdout)?.[1];
    this.report.record(
      `proxy in ${pod.key} runs as non-root uid ${PROXY_USER.uid} with GID ${PROXY_USER.gid}`,
      uid === String(PROXY_USER.uid) && gid === String(PROXY_USER.gid),
      `uid=${uid} gid=${gid}`,
    );
  }

  /** Requests the proxy has seen (served or rejected), from its /metrics. */
  async proxyRequestCount(pod: Pod): Promise<number> {
    const r = await curlIn(pod.ns, ROOT, [`http://127.0.0.1:${ADMIN_PORT}/metrics`], 5);
    if (r.status !== 200) throw new Error(`metrics: ${describe(r)}`);
    // Every request the proxy answers is counted here, rejected ones included (they also have a counter of their own).
    if (!r.body.includes('# TYPE lattice_proxy_requests_total')) throw new Error('lattice_proxy_requests_total is missing from /metrics');
    let sum = 0;
    for (const line of r.body.split('\n')) {
      const m = /^lattice_proxy_requests_total(\{[^}]*\})?\s+([0-9.e+]+)$/.exec(line);
      if (m) sum += Number(m[2]);
    }
    return sum;
  }

  markerHits(): number {
    return (this.marker?.lines ?? []).filter((l) => jsonLine(l)?.event === 'request').length;
  }

  /** The Lattice emulator prints its request log on SIGUSR2. */
  latticeLog(): Promise<Array<Record<string, unknown>>> {
    return this.dumpLog(this.lattice, 'log');
  }

  /** STS prints its call log (token hashes, never tokens) on SIGUSR2. */
  stsCalls(): Promise<Array<Record<string, unknown>>> {
    return this.dumpLog(this.sts, 'calls');
  }

  private async dumpLog(proc: Proc | undefined, key: string): Promise<Array<Record<string, unknown>>> {
    if (!proc) throw new Error('emulator not started');
    const from = proc.lines.length;
    process.kill(proc.pid, 'SIGUSR2');
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      for (const line of proc.lines.slice(from)) {
        const j = jsonLine(line);
        if (j && Array.isArray(j[key])) return j[key] as Array<Record<string, unknown>>;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${proc.name} did not print its ${key} after SIGUSR2`);
  }

  async seedChecks(): Promise<void> {
    const [pod1, pod2] = this.pods as [Pod, Pod, Pod];
    const svc = (name: string) => this.scenario.services.find((s) => s.name === name)!;
    const allowed = (from: Pod, to: string, ipFlag: string[] = []) =>
      this.report.check(`${from.key} -> ${to}${ipFlag.join(' ') ? ` (curl ${ipFlag.join(' ')})` : ''}: 200 Hello from ${svc(to).app}`, async () => {
        const r = await curlIn(from.ns, APP_USER, [...ipFlag, `http://${svc(to).hostname}/`]);
        const re = new RegExp(`^Requesting to Pod\\(${svc(to).podName}\\): Hello from ${svc(to).app}$`);
        return { ok: r.status === 200 && re.test(r.body.trim()), detail: describe(r) };
      });
    const denied = (from: Pod, to: string, ipFlag: string[] = []) =>
      this.report.check(`${from.key} -> ${to}${ipFlag.join(' ') ? ` (curl ${ipFlag.join(' ')})` : ''}: 403 AccessDeniedException`, async () => {
        const r = await curlIn(from.ns, APP_USER, [...ipFlag, `http://${svc(to).hostname}/`]);
        // Lattice's wording names the caller's role session; eks-clusterN proves the proxy signed as this pod.
        const ok = r.status === 403 && r.body.startsWith('AccessDeniedException: ') && r.body.includes(from.caller.cluster);
        return { ok, detail: describe(r) };
      });

    out('--- the seed\'s four checks: plain curl from an app process (uid 1000, gid 1000) ---');
    await allowed(pod1, 'demo-cluster2');
    await allowed(pod2, 'demo-cluster1');
    await denied(pod1, 'demo-cluster1');
    await denied(pod2, 'demo-cluster2');

    out('--- IPv4 and IPv6 forced (iptables and ip6tables paths) ---');
    await allowed(pod1, 'demo-cluster2', ['-4']);
    await allowed(pod2, 'demo-cluster1', ['-4']);
    if (this.ipv6) {
      // Nothing listens on port 80 of the service addresses: a 200 over IPv6 can only come through the capture.
      await allowed(pod1, 'demo-cluster2', ['-6']);
      await allowed(pod2, 'demo-cluster1', ['-6']);
      await denied(pod1, 'demo-cluster1', ['-6']);
      await denied(pod2, 'demo-cluster2', ['-6']);
    } else {
      this.report.skip('IPv6 path (curl -6 through ip6tables)', this.ipv6Reason);
    }

    await this.report.check('Lattice saw only verified signatures (SigV4, or SigV4A from cluster2) for the allowed calls, signed as the calling cluster', async () => {
      const log = await this.latticeLog();
      const ok200 = log.filter((e) => e.status === 200);
      const bad = ok200.filter((e) => e.verified !== true || typeof e.principalArn !== 'string');
      const byCluster = (c: string, host: string) => ok200.some((e) => e.host === host && String(e.principalArn).includes(c));
      const ok =
        ok200.length >= (this.ipv6 ? 6 : 4) &&
        bad.length === 0 &&
        byCluster('eks-cluster1', svc('demo-cluster2').hostname) &&
        byCluster('eks-cluster2', svc('demo-cluster1').hostname);
      return { ok, detail: `${log.length} requests logged, ${ok200.length} answered 200, ${bad.length} of them not verified` };
    });
  }

  /** The gRPC app of a pod: a unary Hello and a bidirectional Chat to one host, by name or in one address family. */
  callGrpc(from: Pod, hostname: string, family?: 4 | 6): Promise<GrpcRun> {
    const app = this.grpcApp;
    if (!app) throw new Error('the gRPC app was not staged');
    return grpcAppIn(from.ns, APP_USER, { script: app.script, proto: app.proto, host: hostname, family, name: from.key, messages: CHAT_MESSAGES });
  }

  /**
   * gRPC through the capture: grpc-js with insecure channel credentials (h2c prior knowledge) to port 80 of a
   * Lattice name, redirected to the proxy, signed per RPC and sent as h2 over TLS; GRPC target groups in front of
   * grpc-js servers. Allowed cross-cluster, denied same-cluster (Lattice's 403, which grpc-js reports as
   * PERMISSION_DENIED), by name and over IPv4 and IPv6; the EKS Anywhere pod by role.
   */
  async grpcChecks(): Promise<void> {
    const [pod1, pod2, pod3] = this.pods as [Pod, Pod, Pod];
    const grpcSvc = (hostname: string) => this.scenario.grpcServices.find((s) => s.hostname === hostname)!;
    const how = (family?: 4 | 6): string => (family ? `IPv${family}` : 'by name');
    // The principal Lattice names: the Pod Identity role of the cluster, or the IRSA role.
    const principalOf = (p: Pod): string => (p.irsa ? p.irsa.roleArn : p.caller.roleArn).split('/').pop() as string;
    const expectAddress = (to: string, family?: 4 | 6): string | undefined =>
      family === 4 ? SERVICE_V4[grpcSvc(to).name] : family === 6 ? SERVICE_V6[grpcSvc(to).name] : undefined;

    const allowed = (from: Pod, to: string, family?: 4 | 6) => {
      const svc = grpcSvc(to);
      return this.report.check(`${from.key} -> ${svc.name} (gRPC, ${how(family)}): unary Hello and bidirectional Chat OK from ${svc.app}`, async () => {
        const r = await this.callGrpc(from, to, family);
        const greeting = (name: string): string => `Requesting to Pod(${svc.podName}): Hello from ${svc.app}, ${name}`;
        const h = r.hello;
        const c = r.chat;
        const ok =
          r.error === undefined &&
          h?.code === 0 &&
          h.message === greeting(from.key) &&
          // Lattice's identity header names the role the proxy signed as; no credential reached the target.
          String(h.targetSaw?.latticeIdentity).includes(principalOf(from)) &&
          h.targetSaw?.authorization === false &&
          h.targetSaw?.securityToken === false &&
          h.trailers?.['x-demo-trailer'] === 'hello-done' &&
          c?.code === 0 &&
          c.sent === CHAT_MESSAGES &&
          c.replies.length === CHAT_MESSAGES &&
          c.replies.every((m, i) => m === greeting(`${from.key}-${i + 1}`)) &&
          c.headers?.['x-demo-pod'] === svc.podName &&
          c.trailers?.['x-demo-count'] === String(CHAT_MESSAGES) &&
          r.address === expectAddress(to, family);
        return { ok, detail: describeGrpc(r) };
      });
    };
    const denied = (from: Pod, to: string, family?: 4 | 6) => {
      const svc = grpcSvc(to);
      return this.report.check(`${from.key} -> ${svc.name} (gRPC, ${how(family)}): Hello and Chat PERMISSION_DENIED (Lattice's 403 relayed)`, async () => {
        const r = await this.callGrpc(from, to, family);
        // The refusal is Lattice's, relayed as it came (its 403 names the error type); the sidecar's own gRPC errors
        // would carry x-lattice-proxy-error instead.
        const byLattice = (o: GrpcOutcome | undefined): boolean =>
          o?.code === 7 &&
          o.headers?.['x-amzn-errortype'] === 'AccessDeniedException' &&
          o.headers['x-lattice-proxy-error'] === undefined &&
          o.metadata?.['x-lattice-proxy-error'] === undefined;
        const ok = r.error === undefined && byLattice(r.hello) && byLattice(r.chat) && r.address === expectAddress(to, family);
        return { ok, detail: describeGrpc(r) };
      });
    };

    out(`--- gRPC: a grpc-js app (uid 1000, gid 1000, insecure channel) calls Hello and Chat (${CHAT_MESSAGES} messages) on port 80 ---`);
    const families: Array<4 | 6 | undefined> = [undefined, 4];
    if (this.ipv6) families.push(6);
    else this.report.skip('gRPC over IPv6 (ip6tables)', this.ipv6Reason);
    for (const family of families) {
      for (const pod of [pod1, pod2]) {
        await allowed(pod, pod.caller.allowedGrpcHostname as string, family);
        await denied(pod, pod.caller.deniedGrpcHostname as string, family);
      }
    }
    const irsa = pod3.irsa as IrsaCaller;
    await allowed(pod3, irsa.allowedGrpcHostname as string);
    await denied(pod3, irsa.deniedGrpcHostname as string);

    await this.report.check('Lattice took every RPC as HTTP/2 gRPC POST /lattice.demo.v1.Demo/{Hello,Chat}, verified, allowed by policy per cluster; the proxies logged h2c in, h2 out', async () => {
      const log = (await this.latticeLog()).filter((e) => this.scenario.grpcServices.some((s) => s.hostname === hostWithoutPort(String(e.host))));
      const paths = new Set(log.map((e) => String(e.rawPath)));
      const wellFormed = log.every((e) => e.protocol === 'HTTP/2' && e.grpc === true && e.method === 'POST' && e.verified === true);
      const okCalls = log.filter((e) => e.status === 200 && e.grpcStatus === 0);
      const deniedCalls = log.filter((e) => e.status === 403 && e.code === 'AccessDeniedException');
      // Each allowed call came from the cluster the service's policy names (or the IRSA role for grpc-cluster1).
      const rightCaller = okCalls.every((e) => {
        const host = hostWithoutPort(String(e.host));
        const callers = this.pods.filter((p) => (p.irsa ? p.irsa.allowedGrpcHostname : p.caller.allowedGrpcHostname) === host);
        return callers.some((p) => String(e.principalArn).includes(`/${principalOf(p)}/`));
      });
      const perRun = families.length * 2 + 1;
      const grpcAccessLines = () =>
        this.pods.flatMap((p) => (p.proxy?.lines ?? []).map(jsonLine).filter((j) => j?.event === 'access' && String(j.path).startsWith('/lattice.demo.v1.Demo/')));
      // The proxies write their access lines in batches: give the last ones a moment to arrive.
      for (let waited = 0; grpcAccessLines().length < log.length && waited < 3000; waited += 100) await new Promise((r) => setTimeout(r, 100));
      const accessLines = grpcAccessLines();
      const h2 = accessLines.every((j) => j?.protocol === 'h2c' && j.upstreamProtocol === 'h2');
      const ok =
        wellFormed &&
        rightCaller &&
        paths.has('/lattice.demo.v1.Demo/Hello') &&
        paths.has('/lattice.demo.v1.Demo/Chat') &&
        paths.size === 2 &&
        okCalls.length === 2 * perRun &&
        deniedCalls.length === 2 * perRun &&
        okCalls.length + deniedCalls.length === log.length &&
        accessLines.length === log.length &&
        h2;
      return {
        ok,
        detail: `${log.length} gRPC requests logged: ${okCalls.length} answered 200 grpc-status 0, ${deniedCalls.length} 403 AccessDeniedException; well-formed ${wellFormed}, right callers ${rightCaller}; ${accessLines.length} proxy access lines, all h2c -> h2: ${h2}`,
      };
    });

    await this.report.check(`cluster2's proxy (SIGNING_ALGORITHM=sigv4a) signed every request, HTTP/1.1 and gRPC, with ${SIGV4A_ALGORITHM}; the others with ${SIGV4_ALGORITHM}`, async () => {
      const log = await this.latticeLog();
      const from = (p: Pod) => log.filter((e) => String(e.principalArn).includes(`/${principalOf(p)}/`));
      const signedWith = (p: Pod, algorithm: string) => from(p).every((e) => e.signingAlgorithm === algorithm && e.verified === true);
      const v4a = from(pod2);
      const v4aGrpc = v4a.filter((e) => e.grpc === true && e.status === 200).length;
      const v4aHttp = v4a.filter((e) => e.grpc === false && e.status === 200).length;
      const ok =
        signedWith(pod2, SIGV4A_ALGORITHM) &&
        signedWith(pod1, SIGV4_ALGORITHM) &&
        signedWith(pod3, SIGV4_ALGORITHM) &&
        v4aGrpc > 0 &&
        v4aHttp > 0 &&
        from(pod1).length > 0 &&
        from(pod3).length > 0;
      const algorithms = (p: Pod) => [...new Set(from(p).map((e) => String(e.signingAlgorithm)))].join(',') || 'none';
      return {
        ok,
        detail: `cluster2: ${v4a.length} requests (${v4aGrpc} gRPC and ${v4aHttp} HTTP/1.1 answered 200), algorithms ${algorithms(pod2)}; cluster1: ${from(pod1).length}, ${algorithms(pod1)}; eksa: ${from(pod3).length}, ${algorithms(pod3)}`,
      };
    });
  }

  /** The EKS Anywhere pod on IRSA: allowed and denied by role, and a rotated token used at the next refresh. */
  async irsaChecks(): Promise<void> {
    const pod = this.pods.find((p) => p.irsa) as Pod;
    const irsa = pod.irsa as IrsaCaller;
    const roleName = irsa.roleArn.split('/').pop() as string;
    const curl = (host: string) => curlIn(pod.ns, APP_USER, [`http://${host}/`]);
    const issued = async () => (await this.stsCalls()).filter((c) => c.outcome === 'issued');
    const proxyLines = () => (pod.proxy?.lines ?? []).map(jsonLine).filter((j): j is Record<string, unknown> => j !== undefined);

    out('--- EKS Anywhere pod on IRSA (no Pod Identity agent: STS AssumeRoleWithWebIdentity) ---');
    await this.report.check(`eksa -> ${irsa.allowedHostname}: 200, the service policy allows role ${roleName}`, async () => {
      const r = await curl(irsa.allowedHostname);
      return { ok: r.status === 200 && /^Requesting to Pod\(.+\): Hello from demo-cluster1-v1$/.test(r.body.trim()), detail: describe(r) };
    });
    await this.report.check(`eksa -> ${irsa.deniedHostname}: 403 AccessDeniedException from Lattice, naming the assumed role`, async () => {
      const r = await curl(irsa.deniedHostname);
      const ok = r.status === 403 && r.body.startsWith(`AccessDeniedException: User: arn:aws:sts::${this.scenario.accountId}:assumed-role/${roleName}/`);
      return { ok, detail: describe(r) };
    });
    await this.report.check('Lattice verified the IRSA call with the key STS issued for the pod\'s token', async () => {
      const calls = await issued();
      const log = await this.latticeLog();
      const entry = log.filter((e) => e.host === irsa.allowedHostname && e.status === 200 && String(e.principalArn).includes(`assumed-role/${roleName}/`)).pop();
      const first = calls[0];
      const ok = entry !== undefined && first !== undefined && entry.verified === true && entry.accessKeyId === first.accessKeyId;
      return { ok, detail: `${calls.length} STS credential(s) issued; Lattice entry ${entry ? `${String(entry.principalArn)} key …${String(entry.accessKeyId).slice(-4)}` : 'missing'}` };
    });
    await this.report.check('the kubelet rotates the token file: the next refresh calls STS with the new token, and requests sign with its credentials', async () => {
      const before = await issued();
      const newHash = this.writeIrsaToken(pod);
      // STS credentials live IRSA_CREDENTIALS_S; the proxy refreshes at half their life, re-reading the file.
      const deadline = Date.now() + (IRSA_CREDENTIALS_S + 10) * 1000;
      let used: Record<string, unknown> | undefined;
      while (Date.now() < deadline && used === undefined) {
        await new Promise((r) => setTimeout(r, 1000));
        used = (await issued()).find((c) => c.tokenSha256 === newHash);
      }
      const r = await curl(irsa.allowedHostname);
      const entry = (await this.latticeLog()).filter((e) => e.host === irsa.allowedHostname && e.status === 200).pop();
      const refreshes = proxyLines().filter((l) => l.event === 'credentials_refreshed').length;
      const ok = used !== undefined && !before.some((c) => c.tokenSha256 === newHash) && r.status === 200 && entry?.accessKeyId === used.accessKeyId;
      return {
        ok,
        detail: `${before.length} STS call(s) before the rotation; ${used ? `the new token (sha256 ${newHash.slice(0, 12)}…) was used` : 'the new token was never used'}; ${refreshes} refreshes; then ${describe(r)}, signed with ${entry?.accessKeyId === used?.accessKeyId ? 'its' : 'another'} key`,
      };
    });
  }

  async captureChecks(): Promise<void> {
    const [pod1] = this.pods as [Pod, Pod, Pod];
    out('--- what is captured and what is not ---');
    const families: Array<readonly [string, string]> = [['IPv4', `http://${MARKER_V4}/`]];
    if (this.ipv6) families.push(['IPv6', `http://[${MARKER_V6}]/`]);
    else this.report.skip('GID 0 / GID 1000 over IPv6', this.ipv6Reason);
    for (const [family, url] of families) {
      await this.report.check(`GID 0 process (${family}) is not captured: reaches Lattice's address directly, proxy never sees it`, async () => {
        const proxyBefore = await this.proxyRequestCount(pod1);
        const hitsBefore = this.markerHits();
        const r = await curlIn(pod1.ns, GID0_USER, [url]);
        await new Promise((res) => setTimeout(res, 200));
        const proxyAfter = await this.proxyRequestCount(pod1);
        const ok = r.status === 200 && r.body.startsWith('marker: reached') && proxyAfter === proxyBefore && this.markerHits() === hitsBefore + 1;
        return { ok, detail: `${describe(r)}; proxy requests ${proxyBefore} -> ${proxyAfter}` };
      });
      await this.report.check(`GID 1000 process (${family}) to the same address is captured: the proxy answers, Lattice's address never sees it`, async () => {
        const proxyBefore = await this.proxyRequestCount(pod1);
        const hitsBefore = this.markerHits();
        const r = await curlIn(pod1.ns, APP_USER, [url]);
        await new Promise((res) => setTimeout(res, 200));
        const proxyAfter = await this.proxyRequestCount(pod1);
        // An IP literal is not an allowed target, so the proxy refuses it itself.
        const ok = r.status === 403 && !r.body.startsWith('marker:') && proxyAfter === proxyBefore + 1 && this.markerHits() === hitsBefore;
        return { ok, detail: `${describe(r)}; proxy requests ${proxyBefore} -> ${proxyAfter}` };
      });
    }
    await this.report.check('disallowed destination in the captured range (Host evil.example.org) gets the proxy\'s 403, nothing reaches Lattice', async () => {
      const before = (await this.latticeLog()).length;
      const r = await curlIn(pod1.ns, APP_USER, ['-H', 'Host: evil.example.org', `http://${UNUSED_V4}/`]);
      const after = await this.latticeLog();
      const ok = r.status === 403 && r.body.includes('evil.example.org') && after.length === before && !after.some((e) => e.host === 'evil.example.org');
      return { ok, detail: `${describe(r)}; Lattice log ${before} -> ${after.length} entries` };
    });
  }

  /**
   * Stops every process by PID and deletes every namespace of this run (all `lsp-<our pid>-*`, so one a step was
   * still creating is not missed). Every caller gets the same promise. Logs are kept when something failed.
   */
  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      this.aborted = true;
      await this.sup.stopAll();
      const ours = (await listNamespaces()).filter((n) => n.startsWith(nsName('')));
      for (const ns of new Set([...this.created, ...ours])) await deleteNamespace(ns);
      if (this.report.failed === 0) rmSync(this.tmp, { recursive: true, force: true });
      else out(`e2e: logs kept in ${this.tmp}`);
    })();
    return this.cleaning;
  }

  /** Called before each step that creates something: a torn-down run must not create more. */
  private guard(): void {
    if (this.aborted) throw new Error('run torn down');
  }

  cleanupNow(): void {
    this.sup.killAllNow();
  }

  /** ip6tables nat (REDIRECT) works in a fresh namespace, or the reason it does not. */
  async probeIpv6Nat(): Promise<void> {
    if (process.env.E2E_IPV6 === '0') {
      this.ipv6 = false;
      this.ipv6Reason = 'IPv6 disabled by E2E_IPV6=0';
      out(`e2e: IPv6 checks will be SKIPPED — ${this.ipv6Reason}`);
      return;
    }
    const probe = nsName('v6probe');
    this.created.push(probe);
    await createNamespace(probe);
    const r = await run('ip', ['netns', 'exec', probe, 'ip6tables', '-w', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', 'fd00:ec2:80::/64', '-j', 'REDIRECT', '--to-ports', '8080']);
    await deleteNamespace(probe);
    if (r.code !== 0) {
      this.ipv6 = false;
      this.ipv6Reason = `this kernel cannot do IPv6 nat REDIRECT: ${r.stderr.trim().split('\n')[0]}`;
      out('!'.repeat(100));
      out(`e2e: IPv6 checks will be SKIPPED — ${this.ipv6Reason}`);
      out('!'.repeat(100));
    }
  }

  async main(): Promise<void> {
    const swept = await sweepStale(out);
    if (swept.length > 0) out(`e2e: removed ${swept.length} stale namespace(s) of earlier runs`);
    await this.probeIpv6Nat();
    out(`e2e: namespaces ${this.lat}, ${this.pods.map((p) => p.ns).join(', ')}; logs in ${this.tmp}`);
    await this.buildTopology();
    const { caFile } = await this.startLatticeSide();
    for (const pod of this.pods) {
      const tokenFile = await this.startAgent(pod);
      await this.runInitScript(pod);
      await this.startProxy(pod, tokenFile, caFile);
      await this.checkProxyIdentity(pod);
    }
    await this.checkNoNetAdmin(this.pods[0] as Pod);
    await this.seedChecks();
    await this.grpcChecks();
    await this.irsaChecks();
    await this.captureChecks();
  }

  dumpLogsOnFailure(): void {
    if (this.report.failed === 0) return;
    out('--- last output of each process ---');
    for (const p of [this.lattice, this.marker, this.sts, ...this.pods.map((x) => x.proxy)]) {
      // The Lattice log dumps asked for by the checks are not output worth repeating.
      if (p) out(`${p.name} (pid ${p.pid}):\n${tail(p.lines.filter((l) => !l.startsWith('{"log":') && !l.startsWith('{"calls":')), 20)}`);
    }
  }
}

async function main(): Promise<number> {
  const support = netnsSupport();
  if (!support.ok) {
    out('');
    out('#'.repeat(100));
    out(`e2e: SKIPPED — ${support.reason}`);
    out('e2e: nothing was tested; run `sudo npm run e2e` (CI runs it as root).');
    out('#'.repeat(100));
    out('0 passed, 0 failed');
    return 0;
  }
  const e2e = new E2e();
  const missing = missingTools();
  if (missing.length > 0) {
    e2e.report.record('prerequisites', false, `missing: ${missing.join(', ')}`);
  } else if (!existsSync(BUILT_MAIN)) {
    e2e.report.record('prerequisites', false, `${BUILT_MAIN} not found: run \`npm run build\` first (npm run e2e does)`);
  }
  if (e2e.report.failed === 0) {
    // The sidecar runs as uid 1337 / gid 0 like in the pod: it runs a staged copy of proxy/dist and the production
    // node_modules under the run's directory, so the checkout itself may sit under a private (0700) home.
    try {
      const staged = await stageProxy(REPO, join(e2e.tmp, 'stage'));
      e2e.proxyMain = staged.main;
      // Every production dependency of package.json, imported by name from the staged tree as uid 1337.
      const deps = Object.keys((JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {});
      const probe = await run('setpriv', [
        `--reuid=${PROXY_USER.uid}`, `--regid=${PROXY_USER.gid}`, '--clear-groups',
        process.execPath, '--input-type=module', '-e', 'for (const d of JSON.parse(process.argv[1])) await import(d);', JSON.stringify(deps),
      ], { cwd: join(e2e.tmp, 'stage') });
      e2e.report.record(
        `the proxy and its ${staged.packages} production packages are staged where uid ${PROXY_USER.uid} can load them`,
        probe.code === 0 && deps.length > 0,
        probe.code === 0 ? `${staged.main}; imported ${deps.join(', ')}` : `uid ${PROXY_USER.uid} cannot import ${deps.join(', ')} from the staged tree: ${probe.stderr.trim()}`,
      );
      // The gRPC app runs as the app's uid/gid 1000 from a tree of its own (grpc-js is a dev dependency).
      const app = stageGrpcClient(REPO, join(e2e.tmp, 'grpc-app'));
      e2e.grpcApp = app;
      const probeApp = await run('setpriv', [
        `--reuid=${APP_USER.uid}`, `--regid=${APP_USER.gid}`, '--clear-groups',
        process.execPath, '--input-type=module', '-e', "await import('@grpc/grpc-js'); await import('@grpc/proto-loader');",
      ], { cwd: join(e2e.tmp, 'grpc-app') });
      e2e.report.record(
        `the gRPC app (grpc-client.mjs, grpc-js and ${app.packages} packages) is staged where uid ${APP_USER.uid} can load it`,
        probeApp.code === 0,
        probeApp.code === 0 ? app.script : `uid ${APP_USER.uid} cannot import @grpc/grpc-js from the staged tree: ${probeApp.stderr.trim()}`,
      );
    } catch (err) {
      e2e.report.record('prerequisites', false, `staging the proxy or the gRPC app failed: ${(err as Error).message}`);
    }
  }
  if (e2e.report.failed > 0) {
    await e2e.cleanup();
    out(e2e.report.summary());
    return 1;
  }

  // A signal or the overall timeout ends the run the same way a failing step does: through the cleanup below.
  let signalled: NodeJS.Signals | undefined;
  let timer: NodeJS.Timeout | undefined;
  const stopped = new Promise<never>((_, reject) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      if (signalled) return;
      signalled = sig;
      out(`e2e: ${sig} received, cleaning up`);
      reject(new Error(`interrupted by ${sig}`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    timer = setTimeout(() => reject(new Error(`e2e did not finish within ${OVERALL_TIMEOUT_MS / 1000} s`)), OVERALL_TIMEOUT_MS);
  });
  process.on('exit', () => e2e.cleanupNow());

  try {
    await Promise.race([e2e.main(), stopped]);
  } catch (err) {
    e2e.report.record('e2e run', false, (err as Error).message);
  } finally {
    clearTimeout(timer);
  }
  e2e.dumpLogsOnFailure();
  await e2e.cleanup();
  const left = (await listNamespaces()).filter((n) => n.startsWith(`lsp-${process.pid}-`));
  const running = e2e.sup.running();
  e2e.report.record(
    'cleanup: every process stopped, every namespace of this run deleted',
    left.length === 0 && running.length === 0,
    `namespaces left: ${left.join(', ') || 'none'}; processes running: ${running.join(', ') || 'none'}`,
  );
  out(e2e.report.summary());
  if (signalled) return signalled === 'SIGINT' ? 130 : 143;
  return e2e.report.failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`e2e: ${(err as Error).stack ?? String(err)}\n`);
    out('0 passed, 1 failed');
    process.exit(1);
  },
);
