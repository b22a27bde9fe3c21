// npm run try — the proxy by hand, against the local emulators (no AWS account).
//
// Starts the emulated AWS side of the two-cluster scenario (VPC Lattice serving demo-cluster1/2.example.com with
// the demo chart's auth policies, one EKS Pod Identity agent per cluster, ACM PCA serving the Private CA root),
// then prints the exact environment to run the built proxy as the sidecar of a pod in one cluster, and three
// requests with what each answer means. The emulators run until Ctrl-C.

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startSeedWorld } from '../test/emulators/scenario.js';
import { isolatedEnv, seedProxyEnv } from '../test/helpers/proxy-process.js';

const USAGE = `Usage: npm run try -- [--cluster cluster1|cluster2] [--port 8080] [--admin-port 9901] [--write-env FILE]

  --cluster     which cluster's pod the proxy stands in for (default cluster1)
  --port        LISTEN_PORT the printed environment uses (default 8080)
  --admin-port  ADMIN_PORT the printed environment uses (default 9901)
  --write-env   also write the environment to FILE, one NAME=value per line
`;

/** A value as one shell word: bare when it is safe, else single-quoted. */
export function shellWord(v: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

function fail(message: string): never {
  process.stderr.write(`try: ${message}\n\n${USAGE}`);
  process.exit(2);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cluster: { type: 'string', default: 'cluster1' },
      port: { type: 'string', default: '8080' },
      'admin-port': { type: 'string', default: '9901' },
      'write-env': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const caller = values.cluster;
  if (caller !== 'cluster1' && caller !== 'cluster2') fail(`--cluster must be cluster1 or cluster2, got "${caller}"`);
  for (const [flag, v] of [['--port', values.port], ['--admin-port', values['admin-port']]] as const) {
    if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65535) fail(`${flag} must be a port number, got "${v}"`);
  }
  const port = values.port;
  const adminPort = values['admin-port'];

  const world = await startSeedWorld();
  let closing = false;
  const stop = (): void => {
    if (closing) return;
    closing = true;
    world.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  // What the proxy in a pod of that cluster gets (as the Kyverno policy and EKS Pod Identity wire it), then the
  // ports, then isolatedEnv's variables that keep a developer's own AWS credentials, profiles and IMDS out of the
  // default credential chain (PATH is passed by the printed command itself).
  const isolation = Object.entries(isolatedEnv({})).filter(([k]) => !['PATH', 'LISTEN_PORT', 'ADMIN_PORT'].includes(k));
  const env: Record<string, string> = {};
  for (const [k, v] of [...Object.entries(seedProxyEnv(world, caller)), ['LISTEN_PORT', port], ['ADMIN_PORT', adminPort], ...isolation]) {
    if (v !== undefined) env[k as string] = v;
  }
  if (values['write-env']) writeFileSync(values['write-env'], Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(''));

  const scenario = world.scenario;
  const self = scenario.callers[caller];
  const peer = caller === 'cluster1' ? 'cluster2' : 'cluster1';
  const allowed = self.allowedHostname;
  const denied = self.deniedHostname;
  const outside = 'api.example.org';
  const url = `http://127.0.0.1:${port}/`;
  const out = [
    'lattice-sigv4-proxy, by hand, against local emulators of the AWS side (no AWS account involved)',
    '',
    `  VPC Lattice             ${world.latticeUrl}  serving ${scenario.services.map((s) => s.hostname).join(' and ')}`,
    `                          each admitting only callers from the other cluster's "${self.tags['kubernetes-namespace']}" namespace`,
    `  EKS Pod Identity agent  ${world.agents[caller].url}  (role ${self.roleArn}, session tags of a pod in ${self.cluster})`,
    `  ACM Private CA          ${world.pcaEndpoint}  (${world.caArn})`,
    '',
    `1. In another terminal, from this directory, run the proxy as the sidecar of a pod in ${self.cluster}:`,
    '',
    '   env -i PATH="$PATH" \\',
    ...Object.entries(env).map(([k, v]) => `     ${k}=${shellWord(v)} \\`),
    '     node proxy/dist/main.js',
    '',
    '   AWS_REGION, APP_DOMAIN and CA_ARN are what the Kyverno policy sets, AWS_CONTAINER_* what EKS Pod Identity',
    '   injects; AWS_ENDPOINT_URL_ACM_PCA and CONNECT_TO send the ACM PCA call and every service name to the',
    '   emulators (in a pod, DNS answers with Lattice addresses); the last ones keep your own AWS configuration out.',
    ...(values['write-env'] ? [`   The same environment is in ${values['write-env']}.`] : []),
    '',
    '2. In a third terminal, as the app would (plain HTTP; in a pod, iptables sends it to the proxy):',
    '',
    `   curl -si -H 'Host: ${allowed}' ${url}`,
    `     200 "Requesting to Pod(...): Hello from ${scenario.services.find((s) => s.hostname === allowed)?.app ?? ''}": signed with the pod's`,
    `     credentials, verified by Lattice and allowed by ${allowed}'s auth policy (callers from ${self.cluster}).`,
    '',
    `   curl -si -H 'Host: ${denied}' ${url}`,
    '     403 from Lattice: no x-lattice-proxy-error header, x-amzn-errortype: AccessDeniedException, body',
    `     "AccessDeniedException: User: arn:aws:sts::...:assumed-role/${self.roleArn.split('/').pop() ?? ''}/... is not authorized to perform:`,
    '     vpc-lattice-svcs:Invoke ... because no service-based policy allows ...". The request was signed and the',
    `     signature verified; ${denied}'s auth policy admits only eks-${peer}.`,
    '',
    `   curl -si -H 'Host: ${outside}' ${url}`,
    '     403 from the proxy: x-lattice-proxy-error: ERR_TARGET_NOT_ALLOWED, body "lattice-sigv4-proxy: target host',
    `     "${outside}" is not in the allowed hosts of this sidecar; ...". Nothing was signed or sent.`,
    '',
    `   curl -s http://127.0.0.1:${adminPort}/readyz; curl -s http://127.0.0.1:${adminPort}/metrics | grep '^lattice_proxy_requests_total'`,
    '',
    '3. The same environment, with `node proxy/dist/main.js check <url>` instead, reports each step of a call:',
    `   env -i PATH="$PATH" ... node proxy/dist/main.js check http://${denied}/`,
    '',
    'What each answer means, and what to check when yours differs: docs/troubleshooting.md',
    'Waiting. Ctrl-C stops the emulators.',
  ];
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`try: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
