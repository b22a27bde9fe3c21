// The seed's demo scenario as data (two EKS clusters, apps namespace, demo-cluster1/2 services behind one Lattice
// service network; optionally grpc-cluster1/2, gRPC services with the same cross-cluster policies) and a helper that
// starts all the emulators for it in-process.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOidcIssuer, type OidcIssuer } from './oidc.js';
import { createTestCa } from './pki.js';
import { irsaTrustPolicy, startStsEmulator, type StsEmulator } from './sts.js';
import { startDemoTarget, type TargetServer } from './demo-target.js';
import { startGrpcTarget, type GrpcTarget } from './grpc-target.js';
import { startLattice, type Lattice, type LatticeServiceConfig } from './lattice.js';
import { startPcaEmulator, type PcaEmulator } from './pca.js';
import { startPodIdentityAgent, type PodIdentityAgent } from './pod-identity.js';
import type { PolicyDocument, PolicyStatement } from './policy.js';

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
  /** with seedScenario({ grpc: true }): the gRPC service it may call (the peer cluster's) and its own, denied */
  allowedGrpcHostname?: string;
  deniedGrpcHostname?: string;
}

/**
 * A pod of an EKS Anywhere cluster on IRSA (no Pod Identity agent): its service account's token is issued by the
 * cluster's own OIDC issuer, and STS trusts that issuer for exactly this subject. Lattice sees an assumed-role
 * session without session tags, so the service policy names the role.
 */
export interface IrsaCaller {
  cluster: string;
  namespace: string;
  serviceAccount: string;
  /** system:serviceaccount:<namespace>:<serviceAccount>, the token's sub and the trust policy's pinned value */
  subject: string;
  roleArn: string;
  allowedHostname: string;
  deniedHostname: string;
  /** with seedScenario({ grpc: true }): grpc-cluster1 allows the role, like demo-cluster1 */
  allowedGrpcHostname?: string;
  deniedGrpcHostname?: string;
}

export const IRSA_CLUSTER = 'eksa-cluster3';

/** Service-policy statement allowing one role's sessions by principal ARN (what an IRSA caller needs). */
export function allowRoleStatement(roleArn: string): PolicyStatement {
  return { Sid: 'AllowIrsaRole', Effect: 'Allow', Principal: { AWS: roleArn }, Action: 'vpc-lattice-svcs:Invoke', Resource: '*' };
}

export interface SeedScenario {
  domain: string;
  region: string;
  accountId: string;
  caArn: string;
  services: SeedService[];
  /**
   * with seedScenario({ grpc: true }): grpc-cluster1/2, GRPC target groups (the controller's protocol version for a
   * GRPCRoute backend) with the policies of demo-cluster1/2; empty otherwise
   */
  grpcServices: SeedService[];
  serviceNetworkPolicy: PolicyDocument;
  callers: { cluster1: SeedCaller; cluster2: SeedCaller };
  /** with seedScenario({ irsa: true }): the EKS Anywhere caller, allowed by demo-cluster1's policy only */
  irsa?: IrsaCaller;
}

export function seedScenario(opts: { domain?: string; irsa?: boolean; grpc?: boolean } = {}): SeedScenario {
  const domain = opts.domain ?? 'example.com';
  const host = (n: string): string => `${n}.${domain}`;
  // demo-clusterN's gRPC sibling: grpc-clusterN.
  const grpcNames = (allowed: string, denied: string): { allowedGrpcHostname?: string; deniedGrpcHostname?: string } =>
    opts.grpc ? { allowedGrpcHostname: host(allowed.replace(/^demo-/, 'grpc-')), deniedGrpcHostname: host(denied.replace(/^demo-/, 'grpc-')) } : {};
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
    ...grpcNames(peer, self),
  });
  const irsa: IrsaCaller | undefined = opts.irsa
    ? {
        cluster: IRSA_CLUSTER,
        namespace: SEED_NAMESPACE,
        serviceAccount: 'demo-eksa-v1',
        subject: `system:serviceaccount:${SEED_NAMESPACE}:demo-eksa-v1`,
        roleArn: `arn:aws:iam::${SEED_ACCOUNT}:role/${IRSA_CLUSTER}-lattice-client`,
        allowedHostname: host('demo-cluster1'),
        deniedHostname: host('demo-cluster2'),
        ...grpcNames('demo-cluster1', 'demo-cluster2'),
      }
    : undefined;
  const withIrsa = (p: PolicyDocument): PolicyDocument =>
    irsa ? { ...p, Statement: [...(Array.isArray(p.Statement) ? p.Statement : [p.Statement]), allowRoleStatement(irsa.roleArn)] } : p;
  return {
    domain,
    region: SEED_REGION,
    accountId: SEED_ACCOUNT,
    caArn: SEED_CA_ARN,
    ...(irsa ? { irsa } : {}),
    services: [
      {
        name: 'demo-cluster1',
        hostname: host('demo-cluster1'),
        app: 'demo-cluster1-v1',
        podName: 'demo-cluster1-v1-6c9f8d7b5-k8m2p',
        // demo-cluster1 lives in eks-cluster1 and is called from eks-cluster2 (and the IRSA caller, when present)
        authPolicy: withIrsa(allowClusterNamespacePolicy('eks-cluster2')),
      },
      {
        name: 'demo-cluster2',
        hostname: host('demo-cluster2'),
        app: 'demo-cluster2-v1',
        podName: 'demo-cluster2-v1-7b4d9c8f6-q3w9z',
        authPolicy: allowClusterNamespacePolicy('eks-cluster1'),
      },
    ],
    grpcServices: opts.grpc
      ? [
          {
            name: 'grpc-cluster1',
            hostname: host('grpc-cluster1'),
            app: 'grpc-cluster1-v1',
            podName: 'grpc-cluster1-v1-5f7d8c6b9-h4n8t',
            authPolicy: withIrsa(allowClusterNamespacePolicy('eks-cluster2')),
          },
          {
            name: 'grpc-cluster2',
            hostname: host('grpc-cluster2'),
            app: 'grpc-cluster2-v1',
            podName: 'grpc-cluster2-v1-8c5b7d9f4-r6v2m',
            authPolicy: allowClusterNamespacePolicy('eks-cluster1'),
          },
        ]
      : [],
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
  /** with startSeedWorld({ grpc: true }), by service name: grpc-cluster1, grpc-cluster2 (grpc-js servers) */
  grpcTargets: Record<string, GrpcTarget>;
  /** by caller: cluster1, cluster2 */
  agents: { cluster1: PodIdentityAgent; cluster2: PodIdentityAgent };
  tokenFiles: { cluster1: string; cluster2: string };
  pca: PcaEmulator;
  pcaEndpoint: string;
  /** with startSeedWorld({ irsa: true }) */
  irsa?: IrsaWorld;
  close(): Promise<void>;
}

export interface IrsaWorld {
  caller: IrsaCaller;
  issuer: OidcIssuer;
  sts: StsEmulator;
  /** the pod's projected token file, written with a fresh token at start */
  tokenFile: string;
  /** Writes a new token for the caller's service account to tokenFile (as the kubelet rotates it); returns it. */
  rotateToken(): string;
}

export interface SeedWorldOptions {
  iamKey?: string;
  domain?: string;
  host?: string;
  latticePort?: number;
  /** also start the EKS Anywhere (IRSA) side: an OIDC issuer and STS; demo-cluster1 then allows the IRSA role */
  irsa?: boolean;
  /** lifetime of the STS credentials when the SDK asks none (STS: 3600) */
  irsaDurationSeconds?: number;
  /** also serve grpc-cluster1/2 (GRPC target groups in front of grpc-js demo targets), see SeedScenario.grpcServices */
  grpc?: boolean;
}

/** Starts the whole seed world on loopback ephemeral ports; close() stops everything, also after a partial start. */
export async function startSeedWorld(opts: SeedWorldOptions = {}): Promise<SeedWorld> {
  const scenario = seedScenario({ domain: opts.domain, irsa: opts.irsa, grpc: opts.grpc });
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
      dnsNames: [...scenario.services.map((s) => s.hostname), ...scenario.grpcServices.map((s) => s.hostname), 'localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    const targets: Record<string, TargetServer> = {};
    for (const s of scenario.services) {
      const t = await startDemoTarget({ host, app: s.app, podName: s.podName });
      closers.push(() => t.close());
      targets[s.name] = t;
    }
    const grpcTargets: Record<string, GrpcTarget> = {};
    for (const s of scenario.grpcServices) {
      const t = await startGrpcTarget({ host, app: s.app, podName: s.podName });
      closers.push(() => t.close());
      grpcTargets[s.name] = t;
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
      services: [
        ...scenario.services.map((s) => ({
          hostname: s.hostname,
          target: { host, port: (targets[s.name] as TargetServer).port },
          authPolicy: s.authPolicy,
        })),
        ...scenario.grpcServices.map((s): LatticeServiceConfig => ({
          hostname: s.hostname,
          target: { host, port: (grpcTargets[s.name] as GrpcTarget).port },
          authPolicy: s.authPolicy,
          protocolVersion: 'GRPC',
        })),
      ],
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
    const irsa = scenario.irsa ? await startIrsaSide(scenario.irsa, { host, iamKey, durationSeconds: opts.irsaDurationSeconds, closers }) : undefined;
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
      grpcTargets,
      agents: { cluster1, cluster2 },
      tokenFiles: { cluster1: cluster1.tokenFile, cluster2: cluster2.tokenFile },
      pca,
      pcaEndpoint: pca.endpoint,
      ...(irsa ? { irsa } : {}),
      close: closeAll,
    };
  } catch (err) {
    await closeAll().catch(() => undefined);
    throw err;
  }
}

async function startIrsaSide(
  caller: IrsaCaller,
  o: { host: string; iamKey: string; durationSeconds?: number; closers: Array<() => Promise<void>> },
): Promise<IrsaWorld> {
  const issuer = await startOidcIssuer({ host: o.host });
  o.closers.push(() => issuer.close());
  const sts = await startStsEmulator({
    host: o.host,
    iamKey: o.iamKey,
    roles: [{ roleArn: caller.roleArn, trustPolicy: irsaTrustPolicy(SEED_ACCOUNT, issuer.url, [caller.subject]) }],
    oidcProviders: [{ url: issuer.url, clientIds: ['sts.amazonaws.com'] }],
    defaultDurationSeconds: o.durationSeconds,
  });
  o.closers.push(() => sts.close());
  const dir = mkdtempSync(join(tmpdir(), 'irsa-token-'));
  o.closers.push(async () => rmSync(dir, { recursive: true, force: true }));
  const tokenFile = join(dir, 'token');
  const rotateToken = (): string => {
    const token = issuer.mint({ namespace: caller.namespace, serviceAccount: caller.serviceAccount });
    writeFileSync(tokenFile, token, { mode: 0o600 });
    return token;
  };
  rotateToken();
  return { caller, issuer, sts, tokenFile, rotateToken };
}
