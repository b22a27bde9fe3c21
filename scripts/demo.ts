// npm run demo — the seed's validation, replayed locally with no AWS account.
//
// Starts the emulated AWS side (Lattice-like verifier serving demo-cluster1/2.example.com with the demo
// chart's IAM auth policies, one Pod Identity agent per cluster, ACM PCA serving the Private CA root) and
// one BUILT proxy per "pod" (cluster1, cluster2), each configured like the Kyverno policy configures the
// sidecar (CA_ARN, APP_DOMAIN, Pod Identity env). Then, as the app would after the iptables capture, sends
// plain HTTP `GET /` with `Host: demo-clusterN.example.com` to each pod's proxy, and checks the four
// outcomes of the seed. Exits 0 only if all four are as expected.

import { request } from 'node:http';
import { startSeedWorld } from '../test/emulators/scenario.js';
import { seedProxyEnv, startProxy, type ProxyProcess } from '../test/helpers/proxy-process.js';

interface Check {
  from: 'cluster1' | 'cluster2';
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
  console.log('lattice-sigv4-proxy demo: the seed\'s four checks against local AWS emulators\n');
  const world = await startSeedWorld();
  const proxies: Partial<Record<'cluster1' | 'cluster2', ProxyProcess>> = {};
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
    console.log('');

    const checks: Check[] = [
      { from: 'cluster1', host: `demo-cluster2.${world.scenario.domain}`, expectStatus: 200, expectBody: /^Requesting to Pod\(.+\): Hello from demo-cluster2-v1$/ },
      { from: 'cluster2', host: `demo-cluster1.${world.scenario.domain}`, expectStatus: 200, expectBody: /^Requesting to Pod\(.+\): Hello from demo-cluster1-v1$/ },
      { from: 'cluster1', host: `demo-cluster1.${world.scenario.domain}`, expectStatus: 403, expectBody: /^AccessDeniedException: / },
      { from: 'cluster2', host: `demo-cluster2.${world.scenario.domain}`, expectStatus: 403, expectBody: /^AccessDeniedException: / },
    ];
    let failed = 0;
    for (const [i, check] of checks.entries()) {
      const got = await appRequest(proxies[check.from]!.port, check.host);
      const ok = got.status === check.expectStatus && check.expectBody.test(got.body);
      if (!ok) failed++;
      console.log(`${i + 1}. app in eks-${check.from} -> curl http://${check.host}/`);
      console.log(`   expected ${check.expectStatus}, got ${got.status}: ${got.body.length > 220 ? got.body.slice(0, 220) + '...' : got.body}`);
      console.log(`   ${ok ? color(32, 'PASS') : color(31, 'FAIL')}\n`);
    }
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
