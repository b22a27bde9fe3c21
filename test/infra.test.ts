// Structural checks of the Terraform in infra/: the AWS provider cannot be
// downloaded here, so `terraform validate/plan` cannot run. What can be proved
// without it is proved on the parsed HCL (@cdktf/hcl2json, the Go HCL parser
// compiled to wasm), by shellcheck, and by the fmt check and the provider-free
// `terraform test` of infra/modules/naming (terraform when installed, otherwise
// scripts/infra-hcl built from Debian's packaged HCL source).
import { spawn, spawnSync } from 'node:child_process';

/**
 * Async child process: terraform runs for tens of seconds, and a spawnSync would block the vitest worker long
 * enough to time out its RPC with the main process.
 */
function runAsync(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; encoding?: string; timeout?: number } = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = opts.timeout ? setTimeout(() => child.kill('SIGKILL'), opts.timeout) : undefined;
    child.on('error', (e) => {
      clearTimeout(timer);
      resolvePromise({ status: null, stdout, stderr: stderr + String(e) });
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolvePromise({ status, stdout, stderr });
    });
  });
}
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const INFRA = join(ROOT, 'infra');

type Json = Record<string, unknown>;
type Blocks = Record<string, Json[]>;

interface Stack {
  dir: string;
  files: Record<string, string>;
  variable: Blocks;
  output: Blocks;
  module: Blocks;
  provider: Blocks;
  resource: Record<string, Blocks>;
  data: Record<string, Blocks>;
  locals: Json;
  terraform: Json[];
}

async function loadStack(rel: string): Promise<Stack> {
  const dir = join(INFRA, rel);
  const stack: Stack = {
    dir,
    files: {},
    variable: {},
    output: {},
    module: {},
    provider: {},
    resource: {},
    data: {},
    locals: {},
    terraform: [],
  };
  const names = readdirSync(dir).filter((f) => f.endsWith('.tf')).sort();
  for (const name of names) {
    const text = readFileSync(join(dir, name), 'utf8');
    stack.files[name] = text;
    const parsed = (await parse(name, text)) as Json;
    for (const kind of ['variable', 'output', 'module', 'provider'] as const) {
      for (const [k, v] of Object.entries((parsed[kind] ?? {}) as Blocks)) {
        stack[kind][k] = [...(stack[kind][k] ?? []), ...v];
      }
    }
    for (const kind of ['resource', 'data'] as const) {
      for (const [type, byName] of Object.entries((parsed[kind] ?? {}) as Record<string, Blocks>)) {
        stack[kind][type] ??= {};
        Object.assign(stack[kind][type], byName);
      }
    }
    for (const l of (parsed.locals ?? []) as Json[]) Object.assign(stack.locals, l);
    stack.terraform.push(...((parsed.terraform ?? []) as Json[]));
  }
  return stack;
}

function one(blocks: Blocks | undefined, name: string): Json {
  const found = blocks?.[name];
  expect(found, `block ${name}`).toBeDefined();
  expect(found).toHaveLength(1);
  return found![0]!;
}

const res = (s: Stack, type: string, name: string): Json => one(s.resource[type], name);
const dat = (s: Stack, type: string, name: string): Json => one(s.data[type], name);

function statements(doc: Json): Json[] {
  return (doc.statement ?? []) as Json[];
}

/** The role's trust policy is this policy document, of one Allow statement: that statement. */
function onlyTrustStatement(s: Stack, role: string, doc: string): Json {
  expect(res(s, 'aws_iam_role', role).assume_role_policy).toBe(`\${data.aws_iam_policy_document.${doc}.json}`);
  const stmts = statements(dat(s, 'aws_iam_policy_document', doc));
  expect(stmts).toHaveLength(1);
  expect(stmts[0]!.effect).toBe('Allow');
  return stmts[0]!;
}

function allText(s: Stack): string {
  return Object.values(s.files).join('\n');
}

let env: Stack;
let cluster: Stack;
let naming: Stack;
let eksa: Stack;

beforeAll(async () => {
  [env, cluster, naming, eksa] = await Promise.all([
    loadStack('environment'),
    loadStack('cluster'),
    loadStack('modules/naming'),
    loadStack('eks-anywhere'),
  ]);
});

describe('environment stack: sidecar IAM role', () => {
  it('trusts only pods.eks.amazonaws.com, for both sts:AssumeRole and sts:TagSession', () => {
    const trust = onlyTrustStatement(env, 'sidecar', 'sidecar_trust');
    expect([...(trust.actions as string[])].sort()).toEqual(['sts:AssumeRole', 'sts:TagSession']);
    expect(trust.principals).toEqual([{ type: 'Service', identifiers: ['pods.eks.amazonaws.com'] }]);
  });

  it('is allowed vpc-lattice-svcs:Invoke and GetCertificateAuthorityCertificate on this CA only', () => {
    const policy = res(env, 'aws_iam_role_policy', 'sidecar');
    expect(policy.role).toBe('${aws_iam_role.sidecar.id}');
    expect(policy.policy).toBe('${data.aws_iam_policy_document.sidecar.json}');
    const stmts = statements(dat(env, 'aws_iam_policy_document', 'sidecar'));
    const byAction = new Map(stmts.map((s) => [JSON.stringify(s.actions), s]));
    expect([...byAction.keys()].sort()).toEqual(
      [JSON.stringify(['acm-pca:GetCertificateAuthorityCertificate']), JSON.stringify(['vpc-lattice-svcs:Invoke'])].sort(),
    );
    const ca = byAction.get(JSON.stringify(['acm-pca:GetCertificateAuthorityCertificate']))!;
    expect(ca.resources).toEqual(['${aws_acmpca_certificate_authority.root.arn}']);
    const invoke = byAction.get(JSON.stringify(['vpc-lattice-svcs:Invoke']))!;
    expect(invoke.resources as string[]).toHaveLength(1);
    expect((invoke.resources as string[])[0]).toMatch(/^arn:\$\{local\.partition\}:vpc-lattice:\$\{var\.region\}:\$\{local\.account_id\}:service\//);
    for (const s of stmts) expect(s.effect).toBe('Allow');
  });

  it('has no managed-policy attachment (no broad read-only or invoke-all policies)', () => {
    expect(env.resource.aws_iam_role_policy_attachment).toBeUndefined();
    expect(allText(env)).not.toMatch(/arn:aws:iam::aws:policy\//);
  });
});

describe('environment stack: PKI, DNS, registries, outputs', () => {
  it('activates a root private CA with its self-signed certificate', () => {
    const ca = res(env, 'aws_acmpca_certificate_authority', 'root');
    expect(ca.type).toBe('ROOT');
    const cert = res(env, 'aws_acmpca_certificate', 'root');
    expect(cert.certificate_signing_request).toBe('${aws_acmpca_certificate_authority.root.certificate_signing_request}');
    expect(cert.template_arn).toMatch(/template\/RootCACertificate\/V1$/);
    const installed = res(env, 'aws_acmpca_certificate_authority_certificate', 'root');
    expect(installed.certificate).toBe('${aws_acmpca_certificate.root.certificate}');
  });

  it('issues the wildcard and apex certificate from that CA, after ACM may renew it', () => {
    const perm = res(env, 'aws_acmpca_permission', 'acm_renewal');
    expect(perm.principal).toBe('acm.amazonaws.com');
    expect([...(perm.actions as string[])].sort()).toEqual(['GetCertificate', 'IssueCertificate', 'ListPermissions']);
    const cert = res(env, 'aws_acm_certificate', 'wildcard');
    expect(cert.domain_name).toBe('${var.domain}');
    expect(cert.subject_alternative_names).toEqual(['${module.naming.wildcard_domain}']);
    expect(cert.certificate_authority_arn).toBe('${aws_acmpca_certificate_authority.root.arn}');
    expect(cert.depends_on).toEqual(
      expect.arrayContaining(['${aws_acmpca_certificate_authority_certificate.root}', '${aws_acmpca_permission.acm_renewal}']),
    );
  });

  it('creates the private hosted zone for the domain, default example.com', () => {
    expect(one(env.variable, 'domain').default).toBe('example.com');
    expect(res(env, 'aws_route53_zone', 'private').name).toBe('${var.domain}');
  });

  it('creates the proxy and init ECR repositories with scan on push and immutable tags', () => {
    for (const name of ['proxy', 'init']) {
      const repo = res(env, 'aws_ecr_repository', name);
      expect(repo.image_tag_mutability).toBe('IMMUTABLE');
      expect(repo.image_scanning_configuration).toEqual([{ scan_on_push: true }]);
    }
  });

  it('outputs what the cluster stack and the publish script read', () => {
    const required = [
      'region', 'domain', 'private_zone_id', 'ca_arn', 'certificate_arn', 'sidecar_role_arn',
      'proxy_repository_url', 'init_repository_url',
    ];
    for (const name of required) expect(Object.keys(env.output)).toContain(name);
    // Every environment value the cluster stack uses must be an output.
    const used = new Set([...allText(cluster).matchAll(/local\.env\.([a-z_]+)/g)].map((m) => m[1]!));
    expect(used.size).toBeGreaterThan(5);
    for (const name of used) expect(Object.keys(env.output), `local.env.${name}`).toContain(name);
  });
});

describe('eks-anywhere stack: the sidecar role on IRSA', () => {
  it('registers the cluster\'s service account issuer as an IAM OIDC provider with the STS audience', () => {
    const provider = res(eksa, 'aws_iam_openid_connect_provider', 'cluster');
    expect(provider.url).toBe('${var.oidc_issuer_url}');
    expect(provider.client_id_list).toEqual(['sts.amazonaws.com']);
    expect(one(eksa.variable, 'oidc_issuer_url').validation).toBeDefined();
  });

  it('trusts only that provider, for sts:AssumeRoleWithWebIdentity, pinning sub and aud with StringEquals', () => {
    const trust = onlyTrustStatement(eksa, 'sidecar_irsa', 'sidecar_irsa_trust');
    expect(trust.actions).toEqual(['sts:AssumeRoleWithWebIdentity']);
    expect(trust.principals).toEqual([{ type: 'Federated', identifiers: ['${aws_iam_openid_connect_provider.cluster.arn}'] }]);
    const conditions = (trust.condition as Json[]).map((c) => [c.test, c.variable, c.values]);
    expect(conditions).toEqual([
      ['StringEquals', '${local.issuer_host_path}:sub', '${local.subjects}'],
      ['StringEquals', '${local.issuer_host_path}:aud', ['sts.amazonaws.com']],
    ]);
    // sub is system:serviceaccount:<namespace>:<name> for exactly the listed service accounts: no wildcard.
    expect(eksa.locals.subjects).toBe('${[for sa in var.service_accounts : "system:serviceaccount:${sa.namespace}:${sa.name}"]}');
    expect(eksa.locals.issuer_host_path).toBe('${trimprefix(var.oidc_issuer_url, "https://")}');
    expect(JSON.stringify(trust)).not.toMatch(/StringLike|\*/);
  });

  it('has the same least privilege as the Pod Identity role: Invoke in this account and region, this CA\'s certificate only', () => {
    const policy = res(eksa, 'aws_iam_role_policy', 'sidecar_irsa');
    expect(policy.role).toBe('${aws_iam_role.sidecar_irsa.id}');
    expect(policy.policy).toBe('${data.aws_iam_policy_document.sidecar_irsa.json}');
    const byAction = new Map(statements(dat(eksa, 'aws_iam_policy_document', 'sidecar_irsa')).map((st) => [JSON.stringify(st.actions), st]));
    expect([...byAction.keys()].sort()).toEqual([JSON.stringify(['acm-pca:GetCertificateAuthorityCertificate']), JSON.stringify(['vpc-lattice-svcs:Invoke'])].sort());
    expect(byAction.get(JSON.stringify(['acm-pca:GetCertificateAuthorityCertificate']))!.resources).toEqual(['${local.env.ca_arn}']);
    expect(byAction.get(JSON.stringify(['vpc-lattice-svcs:Invoke']))!.resources).toEqual([
      'arn:${data.aws_partition.current.partition}:vpc-lattice:${local.region}:${local.env.account_id}:service/*',
    ]);
    // The same statement ids as the environment stack's Pod Identity role.
    const sids = (st: Stack, name: string) => statements(dat(st, 'aws_iam_policy_document', name)).map((x) => x.sid).sort();
    expect(sids(eksa, 'sidecar_irsa')).toEqual(sids(env, 'sidecar'));
    expect(eksa.resource.aws_iam_role_policy_attachment).toBeUndefined();
    expect(allText(eksa)).not.toMatch(/arn:aws:iam::aws:policy\//);
  });

  it('reads the region, account, prefix and CA from the environment\'s outputs', () => {
    expect(eksa.locals.env).toBe('${data.terraform_remote_state.environment.outputs}');
    expect(one(eksa.provider, 'aws').region).toBe('${local.region}');
    const used = new Set([...allText(eksa).matchAll(/local\.env\.([a-z_]+)/g)].map((m) => m[1]!));
    expect([...used].sort()).toEqual(['account_id', 'ca_arn', 'name_prefix', 'region']);
    for (const name of used) expect(Object.keys(env.output), `local.env.${name}`).toContain(name);
  });

  it('outputs the role ARN as the service account annotation', () => {
    expect(one(eksa.output, 'service_account_annotations').value).toEqual({ 'eks.amazonaws.com/role-arn': '${aws_iam_role.sidecar_irsa.arn}' });
  });
});

describe('region', () => {
  it('is a literal exactly once (the environment variable default); the cluster stack reads it from state', () => {
    const literal = /["'](us|eu|ap|sa|ca|me|af|il|mx)(-gov)?-[a-z]+-\d["']/g;
    const hits: string[] = [];
    for (const s of [env, cluster, naming, eksa]) {
      for (const [name, text] of Object.entries(s.files)) {
        for (const m of text.matchAll(literal)) hits.push(`${s.dir}/${name}: ${m[0]}`);
      }
    }
    expect(hits).toHaveLength(1);
    expect(hits[0]).toContain('environment/variables.tf');
    expect(one(env.provider, 'aws').region).toBe('${var.region}');
    expect(cluster.variable.region).toBeUndefined();
    expect(cluster.locals.region).toBe('${local.env.region}');
    expect(one(cluster.provider, 'aws').region).toBe('${local.region}');
  });
});

describe('pinning', () => {
  it('pins every provider with ~> and a source, and requires a Terraform version', () => {
    for (const s of [env, cluster, eksa]) {
      expect(s.terraform.length).toBeGreaterThan(0);
      const blocks = s.terraform.flatMap((t) => (t.required_providers ?? []) as Json[]);
      expect(blocks.length, s.dir).toBeGreaterThan(0);
      for (const providers of blocks) {
        for (const [name, spec] of Object.entries(providers as Record<string, Json>)) {
          expect(spec.source, `${s.dir} ${name}`).toMatch(/^hashicorp\//);
          expect(spec.version, `${s.dir} ${name}`).toMatch(/^~> \d+\.\d+$/);
        }
      }
    }
    for (const s of [env, cluster, naming, eksa]) {
      expect(s.terraform.some((t) => typeof t.required_version === 'string'), s.dir).toBe(true);
    }
  });

  it('pins every registry module to an exact version and uses local modules by path', () => {
    const modules = [...Object.entries(env.module), ...Object.entries(cluster.module)];
    const sources = modules.map(([, [m]]) => m!.source as string);
    expect(sources).toEqual(expect.arrayContaining(['terraform-aws-modules/vpc/aws', 'terraform-aws-modules/eks/aws']));
    for (const [name, [m]] of modules) {
      const source = m!.source as string;
      if (source.startsWith('../')) {
        expect(m!.version, name).toBeUndefined();
        expect(existsSync(join(INFRA, 'cluster', source)), name).toBe(true);
      } else {
        expect(m!.version, name).toMatch(/^\d+\.\d+\.\d+$/);
      }
    }
  });

  it('pins every third-party chart to an exact version', () => {
    const versions = one(cluster.variable, 'chart_versions').default as Record<string, string>;
    const releases = cluster.resource.helm_release!;
    for (const [name, [release]] of Object.entries(releases)) {
      if ((release!.chart as string).startsWith('${local.charts_dir}')) continue;
      const key = /^\$\{var\.chart_versions\.([a-z_]+)\}$/.exec(release!.version as string)?.[1];
      expect(key, name).toBeDefined();
      expect(versions[key!], name).toMatch(/^v?\d+\.\d+\.\d+$/);
    }
  });
});

describe('variables and outputs', () => {
  it('every variable has a description and a type', () => {
    let count = 0;
    for (const s of [env, cluster, naming, eksa]) {
      for (const [name, [v]] of Object.entries(s.variable)) {
        count++;
        expect(v!.description, `${s.dir} var.${name}`).toEqual(expect.any(String));
        expect((v!.description as string).length, `${s.dir} var.${name}`).toBeGreaterThan(10);
        expect(v!.type, `${s.dir} var.${name}`).toEqual(expect.any(String));
      }
    }
    expect(count).toBeGreaterThan(20);
  });

  it('every variable of the naming module is validated', () => {
    for (const [name, [v]] of Object.entries(naming.variable)) {
      expect((v!.validation as Json[] | undefined)?.length ?? 0, `var.${name}`).toBeGreaterThan(0);
    }
  });

  it('every output has a description', () => {
    for (const s of [env, cluster, naming, eksa]) {
      for (const [name, [o]] of Object.entries(s.output)) {
        expect(o!.description, `${s.dir} output.${name}`).toEqual(expect.any(String));
      }
    }
  });

  it('the naming module is provider-free (testable with terraform test, no credentials)', () => {
    expect(Object.keys(naming.resource)).toEqual([]);
    expect(Object.keys(naming.data)).toEqual([]);
    expect(Object.keys(naming.provider)).toEqual([]);
    expect(Object.keys(naming.module)).toEqual([]);
    expect(naming.terraform.some((t) => 'required_providers' in t)).toBe(false);
  });
});

describe('cluster stack', () => {
  it('is one configuration per workspace, named through the naming module', () => {
    const m = one(cluster.module, 'naming');
    expect(m.cluster).toBe('${terraform.workspace}');
    expect(one(cluster.module, 'eks').cluster_name).toBe('${module.naming.eks_cluster_name}');
  });

  it('gives both clusters the same VPC CIDR (not derived from the workspace)', () => {
    const vpc = one(cluster.module, 'vpc');
    expect(vpc.cidr).toBe('${var.vpc_cidr}');
    expect(one(cluster.variable, 'vpc_cidr').default).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
  });

  it('runs a managed node group and the EKS Pod Identity agent add-on', () => {
    const eks = one(cluster.module, 'eks');
    const groups = (eks.eks_managed_node_groups as Json) ?? {};
    expect(Object.keys(groups).length).toBeGreaterThan(0);
    expect(Object.keys(eks.cluster_addons as Json)).toContain('eks-pod-identity-agent');
  });

  it('allows the VPC Lattice managed prefix lists in, for IPv4 and IPv6', () => {
    for (const family of ['ipv4', 'ipv6']) {
      const list = dat(cluster, 'aws_ec2_managed_prefix_list', `lattice_${family}`);
      expect(list.name).toBe(`\${module.naming.lattice_prefix_list_names.${family}}`);
      const rule = res(cluster, 'aws_vpc_security_group_ingress_rule', `lattice_${family}`);
      expect(rule.prefix_list_id).toBe(`\${data.aws_ec2_managed_prefix_list.lattice_${family}.id}`);
      expect(rule.security_group_id).toBe('${module.eks.node_security_group_id}');
      expect(rule.ip_protocol).toBe('-1');
    }
  });

  it('associates the apps namespace service account with the sidecar role', () => {
    const a = res(cluster, 'aws_eks_pod_identity_association', 'sidecar');
    expect(a.namespace).toBe('${module.naming.app_namespace}');
    expect(one(naming.variable, 'app_namespace').default).toBe('apps');
    // charts/demo names its ServiceAccount demo-<cluster>-v1 (naming module output).
    expect(a.service_account).toBe('${module.naming.demo_app_name}');
    expect(a.role_arn).toBe('${local.env.sidecar_role_arn}');
    expect(a.cluster_name).toBe('${module.eks.cluster_name}');
  });

  it('gives the Gateway API controller its own Pod Identity role and policy, before it starts', () => {
    const a = res(cluster, 'aws_eks_pod_identity_association', 'gateway_api_controller');
    expect(a.role_arn).toBe('${aws_iam_role.gateway_api_controller.arn}');
    expect(a.namespace).toBe('${local.gateway_api_controller.namespace}');
    expect(a.service_account).toBe('${local.gateway_api_controller.service_account}');
    const values = cluster.locals.gateway_api_controller_values as Json;
    expect(values.serviceAccount).toEqual({ create: true, name: '${local.gateway_api_controller.service_account}' });
    const actions = statements(dat(cluster, 'aws_iam_policy_document', 'gateway_api_controller')).flatMap(
      (s) => s.actions as string[],
    );
    expect(actions).toEqual(expect.arrayContaining(['vpc-lattice:*', 'iam:CreateServiceLinkedRole']));
    const release = res(cluster, 'helm_release', 'gateway_api_controller');
    expect(release.repository).toBe('oci://public.ecr.aws/aws-application-networking-k8s');
    expect(release.chart).toBe('aws-gateway-controller-chart');
    expect(release.depends_on).toContain('${aws_eks_pod_identity_association.gateway_api_controller}');
  });

  it('runs ExternalDNS on the controller DNSEndpoints (--source=crd) into the private zone only', () => {
    const values = cluster.locals.external_dns_values as Json;
    expect(values.sources).toEqual(['crd']);
    expect(values.domainFilters).toEqual(['${local.env.domain}']);
    expect(values.extraArgs).toContain('--aws-zone-type=private');
    const change = statements(dat(cluster, 'aws_iam_policy_document', 'external_dns')).find((s) =>
      (s.actions as string[]).includes('route53:ChangeResourceRecordSets'),
    );
    expect(change?.resources).toEqual(['${local.env.private_zone_arn}']);
    expect(res(cluster, 'aws_eks_pod_identity_association', 'external_dns').role_arn).toBe('${aws_iam_role.external_dns.arn}');
    expect(res(cluster, 'helm_release', 'external_dns').depends_on).toContain('${helm_release.gateway_api_controller}');
  });

  it('installs Kyverno and orders the platform release after it is ready', () => {
    const kyverno = res(cluster, 'helm_release', 'kyverno');
    expect(kyverno.chart).toBe('kyverno');
    expect(kyverno.wait).toBe(true);
    const platform = res(cluster, 'helm_release', 'platform');
    expect(platform.chart).toBe('${local.charts_dir}/platform');
    expect(platform.depends_on).toContain('${helm_release.kyverno}');
    expect(platform.values).toEqual(['${yamlencode(local.platform_values)}']);
  });

  it('passes the platform chart the certificate, images, CA, domain and region', () => {
    expect(cluster.locals.platform_values).toEqual({
      gateway: { name: '${var.service_network_name}', certificateArn: '${local.env.certificate_arn}' },
      sidecar: {
        proxyImage: '${local.env.proxy_repository_url}:${var.image_tag}',
        initImage: '${local.env.init_repository_url}:${var.image_tag}',
        caArn: '${local.env.ca_arn}',
        appDomain: '${local.env.domain}',
        region: '${local.region}',
      },
      kyverno: { enabled: true },
    });
  });

  it("gives the demo release the PEER cluster's EKS name for its IAM auth policy", () => {
    const values = cluster.locals.demo_values as Json;
    expect(values.cluster).toBe('${module.naming.cluster}');
    expect(values.allowedCaller).toEqual({
      eksClusterName: '${module.naming.peer_eks_cluster_name}',
      namespace: '${module.naming.app_namespace}',
    });
    const demo = res(cluster, 'helm_release', 'demo');
    expect(demo.chart).toBe('${local.charts_dir}/demo');
    // The HTTPRoute attaches to the Gateway the platform release creates in its own namespace.
    expect(values.gateway).toEqual({
      name: (cluster.locals.platform_values as { gateway: Json }).gateway.name,
      namespace: res(cluster, 'helm_release', 'platform').namespace,
    });
    expect(values.namespace).toBe(demo.namespace);
    expect(demo.depends_on).toEqual(
      expect.arrayContaining(['${helm_release.platform}', '${aws_eks_pod_identity_association.sidecar}']),
    );
    // The peer mapping itself (cluster1 -> eks-cluster2 and back) is proved by
    // infra/modules/naming/tests/naming.tftest.hcl.
    const main = naming.files['main.tf']!;
    expect(main).toMatch(/peer_eks_cluster_name\s*=.*"eks-\$\{local\.peer\}"/);
  });

  it('outputs configure_kubectl', () => {
    expect(one(cluster.output, 'configure_kubectl').value).toMatch(/update-kubeconfig --name \$\{module\.eks\.cluster_name\}/);
  });
});

describe('references (what terraform validate would catch, for the stack it cannot init here)', () => {
  const code = (s: Stack): string =>
    Object.values(s.files)
      .join('\n')
      .split('\n')
      .map((line) => line.replace(/(^|\s)#.*$/, ''))
      .join('\n');
  const refs = (text: string, re: RegExp): Set<string> => new Set([...text.matchAll(re)].map((m) => m[1]!));

  it('every var.*, local.* and module.naming.* used is declared', () => {
    for (const s of [env, cluster, naming, eksa]) {
      const text = code(s);
      for (const v of refs(text, /\bvar\.([a-z0-9_]+)/g)) expect(Object.keys(s.variable), `${s.dir}: var.${v}`).toContain(v);
      for (const l of refs(text, /\blocal\.([a-z0-9_]+)/g)) expect(Object.keys(s.locals), `${s.dir}: local.${l}`).toContain(l);
      for (const o of refs(text, /\bmodule\.naming\.([a-z0-9_]+)/g)) {
        expect(Object.keys(naming.output), `${s.dir}: module.naming.${o}`).toContain(o);
      }
    }
  });

  it('every resource and data source referenced is declared', () => {
    for (const s of [env, cluster, eksa]) {
      const text = code(s);
      for (const m of text.matchAll(/(?<![.\w])(data\.)?((?:aws|helm)_[a-z0-9_]+)\.([a-z0-9_]+)/g)) {
        const [, isData, type, name] = m;
        const declared = isData ? s.data[type!]?.[name!] : s.resource[type!]?.[name!];
        expect(declared, `${s.dir}: ${m[0]}`).toBeDefined();
      }
    }
  });

  it('every -target in deploy.sh and destroy.sh names something the cluster stack declares', () => {
    for (const name of ['deploy.sh', 'destroy.sh']) {
      const targets = [...readFileSync(join(INFRA, name), 'utf8').matchAll(/-target=([a-z_.0-9]+)/g)].map((m) => m[1]!);
      expect(targets.length, name).toBeGreaterThan(2);
      for (const t of targets) {
        const [kind, a, b] = t.split('.');
        const found = kind === 'module' ? cluster.module[a!] : cluster.resource[kind!]?.[a!];
        expect(found, `${name}: ${t}`).toBeDefined();
        expect(b).toBeUndefined();
      }
    }
  });
});

describe('charts contract', () => {
  const chartValues = (name: string): unknown => {
    const file = join(ROOT, 'charts', name, 'values.yaml');
    return existsSync(file) ? parseYaml(readFileSync(file, 'utf8')) : undefined;
  };

  function missingKeys(set: Json, chart: unknown, prefix = ''): string[] {
    const out: string[] = [];
    for (const [k, v] of Object.entries(set)) {
      const path = prefix ? `${prefix}.${k}` : k;
      const c = chart && typeof chart === 'object' ? (chart as Json)[k] : undefined;
      if (c === undefined) out.push(path);
      else if (v && typeof v === 'object' && !Array.isArray(v)) out.push(...missingKeys(v as Json, c, path));
    }
    return out;
  }

  it.skipIf(!existsSync(join(ROOT, 'charts/platform/values.yaml')))('sets only keys charts/platform declares', () => {
    expect(missingKeys(cluster.locals.platform_values as Json, chartValues('platform'))).toEqual([]);
  });

  it.skipIf(!existsSync(join(ROOT, 'charts/demo/values.yaml')))('sets only keys charts/demo declares', () => {
    expect(missingKeys(cluster.locals.demo_values as Json, chartValues('demo'))).toEqual([]);
  });
});

describe('deploy.sh and destroy.sh', () => {
  const script = (name: string): string => readFileSync(join(INFRA, name), 'utf8');
  const body = (text: string, fn: string): string => {
    const start = text.indexOf(`${fn}() {`);
    expect(start, fn).toBeGreaterThanOrEqual(0);
    return text.slice(start, text.indexOf('\n}\n', start) + 1);
  };
  const order = (text: string, needles: string[]): number[] => needles.map((n) => text.indexOf(n));

  it('deploys EKS first, then controllers, then everything (platform after Kyverno)', () => {
    const d = body(script('deploy.sh'), 'deploy_cluster');
    const idx = order(d, ['-target=module.eks', 'gateway-api/releases/download', '-target=helm_release.kyverno', 'apply -input=false -auto-approve\n']);
    for (const i of idx) expect(i).toBeGreaterThanOrEqual(0);
    expect([...idx].sort((a, b) => a - b)).toEqual(idx);
    const main = body(script('deploy.sh'), 'main');
    expect(main.indexOf('deploy_environment')).toBeLessThan(main.indexOf('deploy_cluster'));
  });

  it('destroys apps first, then controllers, then EKS, then the rest; the environment last', () => {
    const d = body(script('destroy.sh'), 'destroy_cluster');
    const idx = order(d, [
      '-target=helm_release.demo',
      '-target=helm_release.platform',
      '-target=helm_release.gateway_api_controller',
      '-target=module.eks',
      'destroy -input=false -auto-approve\n',
    ]);
    for (const i of idx) expect(i).toBeGreaterThanOrEqual(0);
    expect([...idx].sort((a, b) => a - b)).toEqual(idx);
    const main = body(script('destroy.sh'), 'main');
    expect(main.indexOf('destroy_cluster')).toBeLessThan(main.indexOf('destroy_environment'));
  });

  it('are strict bash and pass shellcheck', (ctx) => {
    for (const name of ['deploy.sh', 'destroy.sh']) expect(script(name)).toContain('set -euo pipefail');
    if (spawnSync('shellcheck', ['--version']).status !== 0) {
      console.warn('SKIPPED: shellcheck is not installed (apt-get install shellcheck)');
      ctx.skip();
    }
    const r = spawnSync('shellcheck', ['-x', 'deploy.sh', 'destroy.sh', 'common.sh'], { cwd: INFRA, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('terraform fmt and terraform test', () => {
  const terraform = spawnSync('terraform', ['version'], { encoding: 'utf8' }).status === 0;
  const noTerraform = terraform
    ? ''
    : ' [SKIPPED: no terraform binary on this machine; HashiCorp releases are unreachable and no npm or Debian package ships it]';
  if (!terraform) {
    console.warn(
      'SKIPPED: `terraform fmt -check -recursive` and `terraform test` cannot run without a terraform binary. ' +
        'The same checks run below with scripts/infra-hcl (the HCL formatter and a provider-free test runner).',
    );
  }
  let hclTool: string | undefined;
  let hclToolError = '';

  beforeAll(async () => {
    // With terraform present the stand-in is built only if Go is already here;
    // without terraform it is the only fmt/test there is, so it may install Go.
    const r = await runAsync('bash', [join(ROOT, 'scripts/infra-tools.sh')], {
      encoding: 'utf8',
      timeout: 600_000,
      env: { ...process.env, INFRA_TOOLS_INSTALL: terraform ? '0' : '1' },
    });
    if (r.status === 0) hclTool = r.stdout.trim().split('\n').pop();
    else hclToolError = `scripts/infra-tools.sh exited ${r.status}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`;
  }, 600_000);

  it.runIf(terraform)(`terraform fmt -check -recursive infra${noTerraform}`, async () => {
    const r = await runAsync('terraform', ['fmt', '-check', '-recursive', 'infra'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout, 'unformatted files').toBe('');
    expect(r.status).toBe(0);
  });

  it.runIf(terraform)(`terraform test infra/modules/naming${noTerraform}`, async () => {
    const dir = join(INFRA, 'modules/naming');
    expect((await runAsync('terraform', ['init', '-backend=false', '-input=false'], { cwd: dir })).status).toBe(0);
    const r = await runAsync('terraform', ['test', '-no-color'], { cwd: dir, encoding: 'utf8' });
    const runs = (readFileSync(join(dir, 'tests/naming.tftest.hcl'), 'utf8').match(/^run "/gm) ?? []).length;
    expect(r.stdout).toContain(`Success! ${runs} passed, 0 failed.`);
    expect(r.status).toBe(0);
  });

  const mirror = process.env.TF_PLUGIN_MIRROR ?? '/opt/tf-plugins';
  const hasAwsProvider = existsSync(join(mirror, 'registry.terraform.io/hashicorp/aws'));
  const noProvider = terraform && hasAwsProvider ? '' : ` [SKIPPED: needs terraform and the AWS provider in ${mirror}]`;

  // The environment and eks-anywhere stacks need only the AWS provider; run in a
  // copy so no .terraform directory or lock file lands in the work tree.
  async function envWorkdir(stack = 'environment'): Promise<{ dir: string; env: NodeJS.ProcessEnv }> {
    const tmp = mkdtempSync(join(tmpdir(), 'infra-env-'));
    cpSync(join(INFRA, stack), join(tmp, 'infra', stack), { recursive: true });
    cpSync(join(INFRA, 'modules'), join(tmp, 'infra/modules'), { recursive: true });
    const rc = join(tmp, 'terraformrc');
    writeFileSync(
      rc,
      `provider_installation {\n  filesystem_mirror {\n    path    = ${JSON.stringify(mirror)}\n    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n`,
    );
    const env = { ...process.env, TF_CLI_CONFIG_FILE: rc, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' };
    const dir = join(tmp, 'infra', stack);
    const init = await runAsync('terraform', ['init', '-backend=false', '-input=false', '-no-color'], { cwd: dir, env, encoding: 'utf8' });
    expect(init.status, init.stdout + init.stderr).toBe(0);
    return { dir, env };
  }

  it.runIf(terraform && hasAwsProvider)(`terraform validate infra/environment (real AWS provider schema)${noProvider}`, async () => {
    const { dir, env } = await envWorkdir();
    try {
      const r = await runAsync('terraform', ['validate', '-no-color'], { cwd: dir, env, encoding: 'utf8' });
      expect(r.stdout + r.stderr).toContain('The configuration is valid');
      expect(r.status).toBe(0);
    } finally {
      rmSync(resolve(dir, '../..'), { recursive: true, force: true });
    }
  });

  it.runIf(terraform && hasAwsProvider)(`terraform test infra/environment (mocked AWS provider)${noProvider}`, async () => {
    const { dir, env } = await envWorkdir();
    try {
      const r = await runAsync('terraform', ['test', '-no-color'], { cwd: dir, env, encoding: 'utf8', timeout: 300_000 });
      const runs = (readFileSync(join(INFRA, 'environment/tests/environment.tftest.hcl'), 'utf8').match(/^run "/gm) ?? []).length;
      expect(r.stdout + r.stderr).toContain(`Success! ${runs} passed, 0 failed.`);
      expect(r.status).toBe(0);
    } finally {
      rmSync(resolve(dir, '../..'), { recursive: true, force: true });
    }
  });

  it.runIf(terraform && hasAwsProvider)(`terraform validate infra/eks-anywhere (real AWS provider schema)${noProvider}`, async () => {
    const { dir, env } = await envWorkdir('eks-anywhere');
    try {
      const r = await runAsync('terraform', ['validate', '-no-color'], { cwd: dir, env, encoding: 'utf8' });
      expect(r.stdout + r.stderr).toContain('The configuration is valid');
      expect(r.status).toBe(0);
    } finally {
      rmSync(resolve(dir, '../..'), { recursive: true, force: true });
    }
  });

  it.runIf(terraform && hasAwsProvider)(`terraform test infra/eks-anywhere (mocked AWS provider, environment state overridden)${noProvider}`, async () => {
    const { dir, env } = await envWorkdir('eks-anywhere');
    try {
      const r = await runAsync('terraform', ['test', '-no-color'], { cwd: dir, env, encoding: 'utf8', timeout: 300_000 });
      const runs = (readFileSync(join(INFRA, 'eks-anywhere/tests/eks-anywhere.tftest.hcl'), 'utf8').match(/^run "/gm) ?? []).length;
      expect(runs).toBeGreaterThan(5);
      expect(r.stdout + r.stderr).toContain(`Success! ${runs} passed, 0 failed.`);
      expect(r.status).toBe(0);
    } finally {
      rmSync(resolve(dir, '../..'), { recursive: true, force: true });
    }
  });

  it('HCL formatting of infra/** (hclwrite.Format, the formatter of terraform fmt)', async (ctx) => {
    if (!hclTool) {
      console.warn(`SKIPPED: infra-hcl unavailable: ${hclToolError}`);
      ctx.skip();
    }
    const r = await runAsync(hclTool!, ['fmt', INFRA], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toMatch(/fmt: \d+ files formatted/);
    expect(r.status).toBe(0);
  });

  it('naming module tests (tests/naming.tftest.hcl) pass, each run block evaluated', async (ctx) => {
    if (!hclTool) {
      console.warn(`SKIPPED: infra-hcl unavailable: ${hclToolError}`);
      ctx.skip();
    }
    const r = await runAsync(hclTool!, ['test', join(INFRA, 'modules/naming')], { encoding: 'utf8' });
    const runs = (readFileSync(join(INFRA, 'modules/naming/tests/naming.tftest.hcl'), 'utf8').match(/^run "/gm) ?? []).length;
    expect(runs).toBeGreaterThan(5);
    expect(r.stdout).toContain(`${runs} passed, 0 failed`);
    expect(r.status).toBe(0);
  });
});
