// Proves the emulated Lattice auth-policy evaluation follows IAM semantics (explicit deny wins, an allow is
// required, default deny) and that Lattice needs both the service-network and the service policy to allow.
import { describe, expect, it } from 'vitest';
import {
  evaluateLattice,
  evaluatePolicy,
  globMatch,
  latticeContext,
  principalEntryMatches,
  principalType,
  UnsupportedConditionError,
  type LatticeRequestFacts,
  type PolicyDocument,
  type PolicyStatement,
} from './emulators/policy.js';
import { allowClusterNamespacePolicy, authenticatedOnlyPolicy, seedScenario } from './emulators/scenario.js';

const SERVICE_ARN = 'arn:aws:vpc-lattice:us-west-2:123456789012:service/svc-0123456789abcdef0';
const NETWORK_ARN = 'arn:aws:vpc-lattice:us-west-2:123456789012:servicenetwork/sn-0123456789abcdef0';
const ROLE_SESSION = 'arn:aws:sts::123456789012:assumed-role/eks-cluster2-lattice-client/eks-session';
const scenario = seedScenario();

function facts(over: Partial<LatticeRequestFacts> = {}): LatticeRequestFacts {
  return {
    principalArn: ROLE_SESSION,
    principalTags: scenario.callers.cluster2.tags,
    method: 'GET',
    path: '/orders/1',
    serviceArn: SERVICE_ARN,
    serviceNetworkArn: NETWORK_ARN,
    ...over,
  };
}

const decide = (policy: PolicyDocument, over: Partial<LatticeRequestFacts> = {}) => evaluatePolicy(policy, latticeContext(facts(over))).decision;

describe('evaluatePolicy', () => {
  it('allows the seed service policy for the tagged cluster and namespace only', () => {
    const policy = allowClusterNamespacePolicy('eks-cluster2');
    expect(decide(policy)).toBe('Allow');
    expect(decide(policy, { principalTags: scenario.callers.cluster1.tags })).toBe('ImplicitDeny');
    expect(decide(policy, { principalTags: { ...scenario.callers.cluster2.tags, 'kubernetes-namespace': 'default' } })).toBe('ImplicitDeny');
    // Both keys are required: a caller missing one tag does not match.
    expect(decide(policy, { principalTags: { 'eks-cluster-name': 'eks-cluster2' } })).toBe('ImplicitDeny');
    expect(decide(policy, { principalArn: undefined, principalTags: undefined })).toBe('ImplicitDeny');
  });

  it('lets an explicit Deny win over an Allow regardless of order', () => {
    const allowAll = { Effect: 'Allow' as const, Principal: '*' as const, Action: '*', Resource: '*' };
    const denyDelete = {
      Sid: 'NoDelete',
      Effect: 'Deny' as const,
      Principal: '*' as const,
      Action: 'vpc-lattice-svcs:Invoke',
      Resource: '*',
      Condition: { StringEquals: { 'vpc-lattice-svcs:RequestMethod': 'DELETE' } },
    };
    for (const Statement of [[allowAll, denyDelete], [denyDelete, allowAll]]) {
      expect(decide({ Statement }, { method: 'DELETE' })).toBe('ExplicitDeny');
      expect(decide({ Statement }, { method: 'GET' })).toBe('Allow');
    }
    expect(evaluatePolicy({ Statement: [allowAll, denyDelete] }, latticeContext(facts({ method: 'DELETE' }))).statement).toBe('NoDelete');
  });

  it('denies by default with no matching statement or an empty policy', () => {
    expect(decide({ Statement: [] })).toBe('ImplicitDeny');
    expect(decide({ Statement: { Effect: 'Allow', Principal: '*', Action: 'vpc-lattice:CreateService', Resource: '*' } })).toBe('ImplicitDeny');
  });

  it('matches Action case-insensitively with wildcards and Resource by the service ARN plus path', () => {
    const p = (Resource: string): PolicyDocument => ({ Statement: [{ Effect: 'Allow', Principal: '*', Action: 'VPC-LATTICE-SVCS:*', Resource }] });
    expect(decide(p(`${SERVICE_ARN}/*`))).toBe('Allow');
    expect(decide(p(`${SERVICE_ARN}/orders/*`))).toBe('Allow');
    expect(decide(p(`${SERVICE_ARN}/admin/*`))).toBe('ImplicitDeny');
    expect(decide(p('arn:aws:vpc-lattice:us-west-2:123456789012:service/svc-other/*'))).toBe('ImplicitDeny');
  });

  it('matches principals by ARN, role (for its sessions), account id and account root', () => {
    expect(principalEntryMatches(ROLE_SESSION, ROLE_SESSION)).toBe(true);
    expect(principalEntryMatches('arn:aws:iam::123456789012:role/eks-cluster2-lattice-client', ROLE_SESSION)).toBe(true);
    expect(principalEntryMatches('arn:aws:iam::123456789012:role/other', ROLE_SESSION)).toBe(false);
    expect(principalEntryMatches('123456789012', ROLE_SESSION)).toBe(true);
    expect(principalEntryMatches('arn:aws:iam::123456789012:root', ROLE_SESSION)).toBe(true);
    expect(principalEntryMatches('arn:aws:iam::999999999999:root', ROLE_SESSION)).toBe(false);
    expect(principalEntryMatches('123456789012', undefined)).toBe(false);
    const policy: PolicyDocument = { Statement: [{ Effect: 'Allow', Principal: { AWS: ['999999999999', 'arn:aws:iam::123456789012:root'] }, Action: '*', Resource: '*' }] };
    expect(decide(policy)).toBe('Allow');
    expect(decide(policy, { principalArn: 'arn:aws:sts::555555555555:assumed-role/x/y' })).toBe('ImplicitDeny');
    expect(decide(policy, { principalArn: undefined })).toBe('ImplicitDeny');
  });

  it('reports principal types as IAM does', () => {
    expect(principalType(undefined)).toBe('Anonymous');
    expect(principalType(ROLE_SESSION)).toBe('AssumedRole');
    expect(principalType('arn:aws:iam::123456789012:user/alice')).toBe('User');
  });

  it('implements negated operators, Null, Bool, StringLike and IfExists on absent keys', () => {
    const cond = (Condition: NonNullable<PolicyStatement['Condition']>): PolicyDocument => ({
      Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*', Condition }],
    });
    // Absent key: a negated operator holds, a positive one does not, unless IfExists.
    expect(decide(cond({ StringNotEquals: { 'aws:PrincipalTag/team': 'red' } }))).toBe('Allow');
    expect(decide(cond({ StringEquals: { 'aws:PrincipalTag/team': 'red' } }))).toBe('ImplicitDeny');
    expect(decide(cond({ StringEqualsIfExists: { 'aws:PrincipalTag/team': 'red' } }))).toBe('Allow');
    expect(decide(cond({ Null: { 'aws:PrincipalTag/team': 'true' } }))).toBe('Allow');
    expect(decide(cond({ Null: { 'aws:PrincipalTag/eks-cluster-name': 'false' } }))).toBe('Allow');
    expect(decide(cond({ Null: { 'aws:PrincipalTag/eks-cluster-name': 'true' } }))).toBe('ImplicitDeny');
    expect(decide(cond({ StringLike: { 'vpc-lattice-svcs:RequestPath': '/orders/*' } }))).toBe('Allow');
    expect(decide(cond({ StringNotLike: { 'vpc-lattice-svcs:RequestPath': '/orders/*' } }))).toBe('ImplicitDeny');
    // Values of one key are ORed; keys are ANDed; condition key names are case-insensitive.
    expect(decide(cond({ StringEquals: { 'VPC-LATTICE-SVCS:REQUESTMETHOD': ['POST', 'GET'] } }))).toBe('Allow');
    expect(decide(cond({ StringEquals: { 'vpc-lattice-svcs:RequestMethod': 'GET', 'vpc-lattice-svcs:ServiceArn': 'x' } }))).toBe('ImplicitDeny');
    expect(decide(cond({ Bool: { 'aws:PrincipalTag/flag': true } }), { principalTags: { flag: 'TRUE' } })).toBe('Allow');
    expect(() => decide(cond({ NumericLessThan: { 'aws:PrincipalTag/x': '3' } }), { principalTags: { x: '1' } })).toThrow(UnsupportedConditionError);
  });

  it('keeps glob metacharacters of regexes literal', () => {
    expect(globMatch('a.b*', 'a.bcd')).toBe(true);
    expect(globMatch('a.b*', 'axbcd')).toBe(false);
    expect(globMatch('a?c', 'abc')).toBe(true);
  });
});

describe('evaluateLattice (service network AND service)', () => {
  const policies = { serviceNetworkPolicy: authenticatedOnlyPolicy(), servicePolicy: allowClusterNamespacePolicy('eks-cluster2') };

  it('allows when both layers allow', () => {
    expect(evaluateLattice(policies, facts())).toEqual({ allowed: true });
  });

  it('refuses anonymous callers at the network layer with the Lattice message', () => {
    const d = evaluateLattice(policies, facts({ principalArn: undefined, principalTags: undefined }));
    expect(d).toMatchObject({ allowed: false, layer: 'network', decision: 'ImplicitDeny' });
    if (!d.allowed) {
      expect(d.message).toBe(
        `AccessDeniedException: User: anonymous is not authorized to perform: vpc-lattice-svcs:Invoke on resource: ${SERVICE_ARN}/orders/1 because no network-based policy allows the vpc-lattice-svcs:Invoke action`,
      );
    }
  });

  it('refuses an authenticated caller the service policy does not allow', () => {
    const d = evaluateLattice(policies, facts({ principalTags: scenario.callers.cluster1.tags }));
    expect(d).toMatchObject({ allowed: false, layer: 'service' });
    if (!d.allowed) expect(d.message).toMatch(/^AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role\/.* because no service-based policy allows/);
  });

  it('skips a layer with auth type NONE (no policy)', () => {
    expect(evaluateLattice({ servicePolicy: policies.servicePolicy }, facts())).toEqual({ allowed: true });
    expect(evaluateLattice({}, facts({ principalArn: undefined }))).toEqual({ allowed: true });
    expect(evaluateLattice({ serviceNetworkPolicy: policies.serviceNetworkPolicy }, facts({ principalArn: undefined }))).toMatchObject({ allowed: false });
  });

  it('names an explicit deny as such', () => {
    const deny: PolicyDocument = { Statement: [{ Effect: 'Deny', Principal: '*', Action: '*', Resource: '*' }] };
    const d = evaluateLattice({ serviceNetworkPolicy: policies.serviceNetworkPolicy, servicePolicy: deny }, facts());
    expect(d).toMatchObject({ allowed: false, layer: 'service', decision: 'ExplicitDeny' });
    if (!d.allowed) expect(d.message).toMatch(/with an explicit deny in a service-based policy$/);
  });
});
