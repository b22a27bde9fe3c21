// npm run demo — the seed's validation, replayed locally with no AWS account.
//
// Starts the emulated AWS side (Lattice-like verifier serving demo-cluster1/2.example.com with the demo
// chart's IAM auth policies, one Pod Identity agent per cluster, ACM PCA serving the Private CA root) and
// one BUILT proxy per "pod" (cluster1, cluster2), each configured like the Kyverno policy configures the
// sidecar (CA_ARN, APP_DOMAIN, Pod Identity env). Then, as the app would after the iptables capture, sends
// plain HTTP `GET /` with `Host: demo-clusterN.example.com` to each pod's proxy, and checks the four
// outcomes of the seed. Then the same from a pod of an EKS Anywhere cluster on IRSA (web identity token, STS,
// no Pod Identity agent): allowed by demo-cluster1's policy, which names its role, and denied by demo-cluster2.
// Then gRPC: the app in eks-cluster1 calls Demo/Hello with grpc-js (insecure channel, so h2c to the proxy) on
// grpc-cluster2.example.com, a GRPC target group in front of a grpc-js server (allowed), and on its own
// grpc-cluster1.example.com (denied: Lattice's 403, which grpc-js reports as PERMISSION_DENIED).
// Exits 0 only if all eight are as expected.

import { request } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { loadDemoPackage, type HelloReply } from '../test/emulators/grpc-target.js';
import type { LatticeLogEntry } from '../test/emulators/lattice.js';
import { startSeedWorld } from '../test/emulators/scenario.js';
import { irsaProxyEnv } from '../test/helpers/irsa-env.js';
import { seedProxyEnv, startProxy, type ProxyProcess } from '../test/helpers/proxy-process.js';

type Pod = 'cluster1' | 'cluster2' | 'eksa';

interface Check {
  from: Pod;
  host: string;
  expectStatus: number;
  expectBody: RegExp;
}

function appRequest(proxyPort: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // What the app sends: plain HTTP to demo-clusterN.example.com:80, redirected by iptables to the proxy.
    const req = request({ host: '127.0.0.1', port: proxyPort, path: '/', headers: { host, 'user-agent': 'curl/8.5.0', accept: '*/*' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface GrpcCheck {
  from: Pod;
  host: string;
  expectCode: grpc.status;
  expectText: RegExp;
}

type DemoClient = grpc.Client & {
  Hello(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r?: HelloReply) => void): grpc.ClientUnaryCall;
};

/**
 * What the gRPC app does: a unary Hello with insecure channel credentials to `host` port 80, which the capture
 * redirects to the proxy; here the channel dials the proxy's port and keeps the authority the name gives.
 */
function grpcHello(proxyPort: number, host: string): Promise<{ code: grpc.status; text: string }> {
  const client = new (loadDemoPackage().Demo)(`127.0.0.1:${proxyPort}`, grpc.credentials.createInsecure(), {
    'grpc.default_authority': `${host}:80`,
  }) as unknown as DemoClient;
  return new Promise((resolve) => {
    client.Hello({ name: 'demo' }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, reply) => {
      client.close();
      resolve(err ? { code: err.code, text: err.details } : { code: grpc.status.OK, text: reply?.message ?? '' });
    });
  });
}

const grpcStatusName = (code: number): string => grpc.status[code] ?? String(code);

/** What Lattice made of the call: status, protocol and the verified signature (its request log). */
function latticeSaw(e: LatticeLogEntry | undefined): string {
  if (!e) return 'Lattice logged no request';
  const who = e.principalArn ? `, ${e.principalArn.split('/').slice(-2, -1)[0]}` : '';
  return `Lattice: ${e.status}${e.code ? ` ${e.code}` : ''} over ${e.protocol}${e.grpc ? ' gRPC' : ''}, ${e.verified ? 'verified' : 'not verified'} ${e.signingAlgorithm ?? 'unsigned'}${who}`;
}

const color = process.stdout.isTTY ? (c: number, s: string) => `\x1b[${c}m${s}\x1b[0m` : (_c: number, s: string) => s;

async function main(): Promise<number> {
  console.log('lattice-sigv4-proxy demo: the seed\'s four checks, an EKS Anywhere pod on IRSA, and gRPC, against local AWS emulators\n');
  const world = await startSeedWorld({ irsa: true, grpc: true });
  const irsa = world.irsa!;
  const proxies: Partial<Record<Pod, ProxyProcess>> = {};
  try {
    console.log(`  emulated VPC Lattice   https://127.0.0.1:${world.latticePort} (demo-cluster1/2.${world.scenario.domain}, IAM auth policies of the demo chart;`);
    console.log(`                         grpc-cluster1/2.${world.scenario.domain}: GRPC target groups, grpc-js targets, the same policies)`);
    console.log(`  emulated ACM PCA       ${world.pcaEndpoint} (${world.caArn})`);
    for (const c of ['cluster1', 'cluster2'] as const) {
      const agent = world.agents[c];
      // Configured like the Kyverno policy configures the sidecar (CA_ARN, APP_DOMAIN, Pod Identity). In a pod
      // the name resolves to Lattice's link-local address; here CONNECT_TO sends every name to the emulator.
      proxies[c] = await startProxy(seedProxyEnv(world, c));
      console.log(`  pod in eks-${c}: proxy pid ${proxies[c]!.pid} on 127.0.0.1:${proxies[c]!.port} (Pod Identity: ${agent.url})`);
    }
    // The pod identity webhook's AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE; STS at its emulator.
    proxies.eksa = await startProxy(irsaProxyEnv(world));
    console.log(`  pod in ${irsa.caller.cluster} (EKS Anywhere, IRSA): proxy pid ${proxies.eksa.pid} on 127.0.0.1:${proxies.eksa.port} (STS: ${irsa.sts.url}, issuer ${irsa.issuer.url}, role ${irsa.caller.roleArn})`);
    console.log('');

    const checks: Check[] = [
      { from: 'cluster1', host: `demo-cluster2.${world.scenario.domain}`, expectStatus: 200, expectBody: /^Requesting to Pod\(.+\): Hello from demo-cluster2-v1$/ },
      { from: 'cluster2', host: `demo-cluster1.${world.scenario.domain}`, expectStatus: 200, expectBody: /^Requesting to Pod\(.+\): Hello from demo-cluster1-v1$/ },
      { from: 'cluster1', host: `demo-cluster1.${world.scenario.domain}`, expectStatus: 403, expectBody: /^AccessDeniedException: / },
      { from: 'cluster2', host: `demo-cluster2.${world.scenario.domain}`, expectStatus: 403, expectBody: /^AccessDeniedException: / },
      { from: 'eksa', host: irsa.caller.allowedHostname, expectStatus: 200, expectBody: /^Requesting to Pod\(.+\): Hello from demo-cluster1-v1$/ },
      { from: 'eksa', host: irsa.caller.deniedHostname, expectStatus: 403, expectBody: /^AccessDeniedException: User: arn:aws:sts::\d{12}:assumed-role\/eksa-cluster3-lattice-client\// },
    ];
    const podName = (p: Pod): string => (p === 'eksa' ? `${irsa.caller.cluster} (IRSA)` : `eks-${p}`);
    let failed = 0;
    for (const [i, check] of checks.entries()) {
      const got = await appRequest(proxies[check.from]!.port, check.host);
      const ok = got.status === check.expectStatus && check.expectBody.test(got.body);
      if (!ok) failed++;
      console.log(`${i + 1}. app in ${podName(check.from)} -> curl http://${check.host}/`);
      console.log(`   expected ${check.expectStatus}, got ${got.status}: ${got.body.length > 220 ? got.body.slice(0, 220) + '...' : got.body}`);
      console.log(`   ${ok ? color(32, 'PASS') : color(31, 'FAIL')}\n`);
    }
    const calls = irsa.sts.issued();
    console.log(`   STS issued ${calls.length} credential(s) to the IRSA pod, for token sha256 ${calls.map((c) => c.tokenSha256?.slice(0, 12) + '…').join(', ')}\n`);

    const caller = world.scenario.callers.cluster1;
    const grpcChecks: GrpcCheck[] = [
      { from: 'cluster1', host: caller.allowedGrpcHostname!, expectCode: grpc.status.OK, expectText: /^Requesting to Pod\(.+\): Hello from grpc-cluster2-v1, demo$/ },
      { from: 'cluster1', host: caller.deniedGrpcHostname!, expectCode: grpc.status.PERMISSION_DENIED, expectText: /^Received HTTP status code 403$/ },
    ];
    for (const [i, check] of grpcChecks.entries()) {
      const got = await grpcHello(proxies[check.from]!.port, check.host);
      const entry = [...world.lattice.log].reverse().find((e) => e.host === check.host && e.rawPath === '/lattice.demo.v1.Demo/Hello');
      const status = check.expectCode === grpc.status.OK ? 200 : 403;
      const ok = got.code === check.expectCode && check.expectText.test(got.text) && entry?.status === status && entry.verified;
      if (!ok) failed++;
      console.log(`${checks.length + i + 1}. app in ${podName(check.from)} -> grpc-js Demo/Hello on ${check.host}:80 (insecure channel: h2c to the proxy, h2 to Lattice)`);
      console.log(`   expected ${status}/${grpcStatusName(check.expectCode)}, got ${grpcStatusName(got.code)}: ${got.text}`);
      console.log(`   ${latticeSaw(entry)}`);
      console.log(`   ${ok ? color(32, 'PASS') : color(31, 'FAIL')}\n`);
    }
    const total = checks.length + grpcChecks.length;
    console.log(`${total - failed} passed, ${failed} failed`);
    return failed === 0 ? 0 : 1;
  } finally {
    for (const p of Object.values(proxies)) await p?.stop('SIGTERM');
    await world.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('demo failed to run:', err);
    process.exit(2);
  },
);
