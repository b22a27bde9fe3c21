// npm run demo — the seed's validation, replayed locally with no AWS account.
//
// Starts the emulated AWS side (Lattice-like verifier serving demo-cluster1/2.example.com with the demo
// chart's IAM auth policies, one Pod Identity agent per cluster, ACM PCA serving the Private CA root) and
// one BUILT proxy per "pod" (cluster1, cluster2), each configured like the Kyverno policy configures the
// sidecar (CA_ARN, APP_DOMAIN, Pod Identity env). Then, as the app would after the iptables capture, sends
// plain HTTP `GET /` with `Host: demo-clusterN.example.com` to each pod's proxy, and checks the four
// outcomes of the seed. Then the same from a pod of an EKS Anywhere cluster on IRSA (web identity token, STS,
// no Pod Identity agent): allowed by demo-cluster1's policy, which names its role, and denied by demo-cluster2.
// Exits 0 only if all six are as expected.

import { request } from 'node:http';
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

const color = process.stdout.isTTY ? (c: number, s: string) => `\x1b[${c}m${s}\x1b[0m` : (_c: number, s: string) => s;

async function main(): Promise<number> {
  console.log('lattice-sigv4-proxy demo: the seed\'s four checks, and an EKS Anywhere pod on IRSA, against local AWS emulators\n');
  const world = await startSeedWorld({ irsa: true });
  const irsa = world.irsa!;
  const proxies: Partial<Record<Pod, ProxyProcess>> = {};
  try {
    console.log(`  emulated VPC Lattice   https://127.0.0.1:${world.latticePort} (demo-cluster1/2.${world.scenario.domain}, IAM auth policies of the demo chart)`);
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
    console.log(`${checks.length - failed} passed, ${failed} failed`);
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
