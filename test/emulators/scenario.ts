// The seed's demo scenario as data (two EKS clusters, apps namespace, demo-cluster1/2 services behind one Lattice
// service network) and a helper that starts all the emulators for it in-process.
import { randomBytes } from 'node:crypto';
import { createTestCa } from './pki.js';
import { startDemoTarget, type TargetServer } from './demo-target.js';
import { startLattice, type Lattice } from './lattice.js';
import { startPcaEmulator, type PcaEmulator } from './pca.js';
import { startPodIdentityAgent, type PodIdentityAgent } from './pod-identity.js';
import type { PolicyDocument } from './policy.js';

export const SEED_REGION = 'us-west-2';
export const SEED_ACCOUNT = '123456789012';
export const SEED_CA_ARN = `arn:aws:acm-pca:${SEED_REGION}:${SEED_ACCOUNT}:certificate-authority/11111111-2222-3333-4444-555555555555`;
export const SEED_NAMESPACE = 'apps';

export interface PodIdentitySpec {
  cluster: string;
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUid: string;
}

/** The session tags EKS Pod Identity attaches to the role session (usable as aws:PrincipalTag/<key>). */
export function podIdentityTags(spec: PodIdentitySpec, region = SEED_REGION, account = SEED_ACCOUNT): Record<string, string> {
  return {
    'eks-cluster-arn': `arn:aws:eks:${region}:${account}:cluster/${spec.cluster}`,
    'eks-cluster-name': spec.cluster,
    'kubernetes-namespace': spec.namespace,
    'kubernetes-service-account': spec.serviceAccount,
    'kubernetes-pod-name': spec.podName,
    'kubernetes-pod-uid': spec.podUid,
  };
}

/** Service policy of the demo chart: only callers from `fromCluster`'s apps namespace may invoke. */
export function allowClusterNamespacePolicy(fromCluster: string, namespace = SEED_NAMESPACE): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: '*',
        Action: 'vpc-lattice-svcs:Invoke',
        Resource: '*',
        Condition: {
          StringEquals: {
            'aws:PrincipalTag/eks-cluster-name': fromCluster,
            'aws:PrincipalTag/kubernetes-namespace': namespace,
          },
        },
      },
    ],
  };
}

/**
 * Service-network policy: any authenticated principal, never anonymous. This is the form AWS documents for
 * "authenticated only" on a service network (Principal "*" with a StringNotEqualsIgnoreCase on aws:PrincipalType).
 */
export function authenticatedOnlyPolicy(): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: '*',
        Action: 'vpc-lattice-svcs:Invoke',
        Resource: '*',
        Condition: { StringNotEqualsIgnoreCase: { 'aws:PrincipalType': 'anonymous' } },
      },
    ],
  };
}

export interface SeedService {
  /** e.g. demo-cluster1 */
  name: string;
  hostname: string;
  /** the demo app behind it, e.g. demo-cluster1-v1 */
  app: string;
  podName: string;
  authPolicy: PolicyDocument;
}

export interface SeedCaller {
  cluster: string;
  roleArn: string;
  tags: Record<string, string>;
  /** the service this caller is allowed to reach */
  allowedHostname: string;
  /** a service of the scenario it must NOT reach */
  deniedHostname: string;
}

export interface SeedScenario {
  domain: string;
  region: string;
  accountId: string;
  caArn: string;
  services: SeedService[];
  serviceNetworkPolicy: PolicyDocument;
  callers: { cluster1: SeedCaller; cluster2: SeedCaller };
}

export function seedScenario(opts: { domain?: string } = {}): SeedScenario {
  const domain = opts.domain ?? 'example.com';
  const host = (n: string): string => `${n}.${domain}`;
  const caller = (cluster: string, peer: string, self: string): SeedCaller => ({
    cluster,
    roleArn: `arn:aws:iam::${SEED_ACCOUNT}:role/${cluster}-lattice-client`,
    tags: podIdentityTags({
      cluster,
      namespace: SEED_NAMESPACE,
      serviceAccount: 'default',
      podName: `${self}-v1-5d8f7c9b6-x2x7q`,
      podUid: cluster === 'eks-cluster1' ? '0b7c6e0a-1111-4c1a-9d1e-6f3f1a2b3c41' : '0b7c6e0a-2222-4c1a-9d1e-6f3f1a2b3c42',
    }),
    allowedHostname: host(peer),
    deniedHostname: host(self),
  });
  return {
    domain,
    region: SEED_REGION,
    accountId: SEED_ACCOUNT,
    caArn: SEED_CA_ARN,
    services: [
      {
        name: 'demo-cluster1',
        hostname: host('demo-cluster1'),
        app: 'demo-cluster1-v1',
        podName: 'demo-cluster1-v1-6c9f8d7b5-k8m2p',
        // demo-cluster1 lives in eks-cluster1 and is called from eks-cluster2
        authPolicy: allowClusterNamespacePolicy('eks-cluster2'),
      },
      {
        name: 'demo-cluster2',
        hostname: host('demo-cluster2'),
        app: 'demo-cluster2-v1',
        podName: 'demo-cluster2-v1-7b4d9c8f6-q3w9z',
        authPolicy: allowClusterNamespacePolicy('eks-cluster1'),
      },
    ],
    serviceNetworkPolicy: authenticatedOnlyPolicy(),
    callers: {
      cluster1: caller('eks-cluster1', 'demo-cluster2', 'demo-cluster1'),
      cluster2: caller('eks-cluster2', 'demo-cluster1', 'demo-cluster2'),
    },
  };
}

export interface SeedWorld {
  scenario: SeedScenario;
  iamKey: string;
  region: string;
  /** PEM of the emulated Private CA root (what the proxy must trust) */
  caPem: string;
  caArn: string;
  lattice: Lattice;
  latticeUrl: string;
  latticePort: number;
  /** by service name: demo-cluster1, demo-cluster2 */
  targets: Record<string, TargetServer>;
  /** by caller: cluster1, cluster2 */
  agents: { cluster1: PodIdentityAgent; cluster2: PodIdentityAgent };
  tokenFiles: { cluster1: string; cluster2: string };
  pca: PcaEmulator;
  pcaEndpoint: string;
  close(): Promise<void>;
}

export interface SeedWorldOptions {
  iamKey?: string;
  domain?: string;
  host?: string;
  latticePort?: number;
}

/** Starts the whole seed world on loopback ephemeral ports; close() stops everything, also after a partial start. */
export async function startSeedWorld(opts: SeedWorldOptions = {}): Promise<SeedWorld> {
  const scenario = seedScenario({ domain: opts.domain });
  const iamKey = opts.iamKey ?? randomBytes(32).toString('hex');
  const host = opts.host ?? '127.0.0.1';
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (const c of closers.reverse()) await c().catch((e: unknown) => errors.push(e));
    closers.length = 0;
    if (errors.length > 0) throw errors[0];
  };
  try {
    const ca = await createTestCa();
    const serverCert = await ca.issue({
      dnsNames: [...scenario.services.map((s) => s.hostname), 'localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    const targets: Record<string, TargetServer> = {};
    for (const s of scenario.services) {
      const t = await startDemoTarget({ host, app: s.app, podName: s.podName });
      closers.push(() => t.close());
      targets[s.name] = t;
    }
    const lattice = await startLattice({
      host,
      port: opts.latticePort ?? 0,
      certPem: serverCert.certPem,
      keyPem: serverCert.keyPem,
      iamKey,
      region: scenario.region,
      accountId: scenario.accountId,
      serviceNetworkPolicy: scenario.serviceNetworkPolicy,
      services: scenario.services.map((s) => ({
        hostname: s.hostname,
        target: { host, port: (targets[s.name] as TargetServer).port },
        authPolicy: s.authPolicy,
      })),
    });
    closers.push(() => lattice.close());
    const agentFor = async (c: SeedCaller): Promise<PodIdentityAgent> => {
      const agent = await startPodIdentityAgent({
        host,
        token: `eks-pod-identity-token.${c.cluster}.${randomBytes(16).toString('hex')}`,
        iamKey,
        roleArn: c.roleArn,
        tags: c.tags,
        sessionName: `eks-${c.cluster}-${c.tags['kubernetes-pod-name'] ?? 'pod'}`.slice(0, 64),
      });
      closers.push(() => agent.close());
      return agent;
    };
    const cluster1 = await agentFor(scenario.callers.cluster1);
    const cluster2 = await agentFor(scenario.callers.cluster2);
    const pca = await startPcaEmulator({ host, caArn: scenario.caArn, caCertPem: ca.certPem, iamKey, region: scenario.region });
    closers.push(() => pca.close());
    return {
      scenario,
      iamKey,
      region: scenario.region,
      caPem: ca.certPem,
      caArn: scenario.caArn,
      lattice,
      latticeUrl: lattice.url,
      latticePort: lattice.port,
      targets,
      agents: { cluster1, cluster2 },
      tokenFiles: { cluster1: cluster1.tokenFile, cluster2: cluster2.tokenFile },
      pca,
      pcaEndpoint: pca.endpoint,
      close: closeAll,
    };
  } catch (err) {
    await closeAll().catch(() => undefined);
    throw err;
  }
}
