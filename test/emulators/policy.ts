// IAM auth-policy evaluation as VPC Lattice applies it (pure functions).
// Semantics of IAM resource policies: an explicit Deny wins, otherwise an Allow is required, otherwise the
// default (implicit) deny. Lattice evaluates the service-network policy AND the service policy: both must allow;
// a layer whose auth type is NONE (no policy) does not take part.

export type Values = string | string[];

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  /** AWS: IAM principals; Federated: an identity provider (trust policies of web-identity roles). */
  Principal?: '*' | { AWS?: Values; Federated?: Values };
  NotPrincipal?: { AWS: Values };
  Action?: Values;
  NotAction?: Values;
  Resource?: Values;
  NotResource?: Values;
  Condition?: Record<string, Record<string, Values | boolean>>;
}

export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement | PolicyStatement[];
}

export interface RequestContext {
  /** undefined for an unsigned (anonymous) request */
  principalArn?: string;
  /**
   * For sts:AssumeRoleWithWebIdentity: the OIDC provider ARN the token was issued by. Such a caller is named by
   * `Principal.Federated` only, never by an `AWS` entry.
   */
  federatedProvider?: string;
  action: string;
  resource: string;
  /** Condition keys as IAM names them (case-insensitive); undefined/absent = key not present. */
  conditionKeys: Record<string, string | undefined>;
}

export type Decision = 'Allow' | 'ExplicitDeny' | 'ImplicitDeny';

export interface PolicyResult {
  decision: Decision;
  /** Sid (or index) of the deciding statement */
  statement?: string;
}

const asList = (v: Values | boolean | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)];

/** IAM glob: `*` any run, `?` one character; everything else literal. */
export function globMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, ignoreCase ? 'is' : 's').test(value);
}

/** Principal type the way IAM reports it in aws:PrincipalType. */
export function principalType(principalArn: string | undefined): string {
  if (principalArn === undefined) return 'Anonymous';
  if (/^arn:aws[a-z-]*:sts::\d{12}:assumed-role\//.test(principalArn)) return 'AssumedRole';
  if (/^arn:aws[a-z-]*:iam::\d{12}:root$/.test(principalArn)) return 'Account';
  if (/^arn:aws[a-z-]*:iam::\d{12}:user\//.test(principalArn)) return 'User';
  if (/^arn:aws[a-z-]*:sts::\d{12}:federated-user\//.test(principalArn)) return 'FederatedUser';
  return 'User';
}

function accountOf(arn: string): string | undefined {
  return /^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):/.exec(arn)?.[1];
}

/**
 * Does a policy principal entry name this caller? Account ids and :root name every principal in the account;
 * a role ARN names its assumed-role sessions, as in IAM.
 */
export function principalEntryMatches(entry: string, principalArn: string | undefined): boolean {
  if (entry === '*') return true;
  if (principalArn === undefined) return false;
  if (/^\d{12}$/.test(entry)) return accountOf(principalArn) === entry;
  const root = /^arn:aws[a-z-]*:iam::(\d{12}):root$/.exec(entry);
  if (root) return accountOf(principalArn) === root[1];
  if (entry === principalArn) return true;
  const role = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(entry);
  const session = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(principalArn);
  return !!role && !!session && role[1] === session[1] && role[2] === session[2] && role[3] === session[3];
}

function principalMatches(stmt: PolicyStatement, ctx: RequestContext): boolean {
  if (ctx.federatedProvider !== undefined) {
    if (stmt.NotPrincipal) return false;
    if (stmt.Principal === '*') return true;
    return asList(stmt.Principal?.Federated).includes(ctx.federatedProvider);
  }
  const principalArn = ctx.principalArn;
  if (stmt.NotPrincipal) return !asList(stmt.NotPrincipal.AWS).some((e) => principalEntryMatches(e, principalArn));
  if (stmt.Principal === undefined) return false;
  if (stmt.Principal === '*') return true;
  return asList(stmt.Principal.AWS).some((e) => principalEntryMatches(e, principalArn));
}

function actionMatches(stmt: PolicyStatement, action: string): boolean {
  // Action names are case-insensitive in IAM.
  if (stmt.NotAction !== undefined) return !asList(stmt.NotAction).some((p) => globMatch(p, action, true));
  return asList(stmt.Action).some((p) => globMatch(p, action, true));
}

function resourceMatches(stmt: PolicyStatement, resource: string): boolean {
  if (stmt.NotResource !== undefined) return !asList(stmt.NotResource).some((p) => globMatch(p, resource));
  // Lattice auth policies may omit Resource (it defaults to the resource the policy is attached to).
  if (stmt.Resource === undefined) return true;
  return asList(stmt.Resource).some((p) => globMatch(p, resource));
}

function lookup(keys: Record<string, string | undefined>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(keys)) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

type Matcher = (actual: string, expected: string) => boolean;

const POSITIVE: Record<string, Matcher> = {
  StringEquals: (a, e) => a === e,
  StringEqualsIgnoreCase: (a, e) => a.toLowerCase() === e.toLowerCase(),
  StringLike: (a, e) => globMatch(e, a),
  ArnEquals: (a, e) => a === e,
  ArnLike: (a, e) => globMatch(e, a),
  Bool: (a, e) => a.toLowerCase() === e.toLowerCase(),
};

const NEGATED: Record<string, string> = {
  StringNotEquals: 'StringEquals',
  StringNotEqualsIgnoreCase: 'StringEqualsIgnoreCase',
  StringNotLike: 'StringLike',
  ArnNotEquals: 'ArnEquals',
  ArnNotLike: 'ArnLike',
};

export class UnsupportedConditionError extends Error {
  constructor(operator: string) {
    super(`unsupported condition operator: ${operator}`);
    this.name = 'UnsupportedConditionError';
  }
}

/** One condition operator block (all its keys must hold — AND; the values of one key are alternatives — OR). */
function conditionHolds(operator: string, block: Record<string, Values | boolean>, keys: Record<string, string | undefined>): boolean {
  const ifExists = operator.endsWith('IfExists');
  const op = ifExists ? operator.slice(0, -'IfExists'.length) : operator;
  return Object.entries(block).every(([key, expected]) => {
    const actual = lookup(keys, key);
    const values = asList(expected);
    if (op === 'Null') {
      // "true" asserts the key is absent, "false" that it is present.
      return values.some((v) => (v.toLowerCase() === 'true') === (actual === undefined));
    }
    if (actual === undefined) {
      // Absent key: positive operators fail, negated operators hold (nothing can equal a missing value).
      return ifExists || op in NEGATED;
    }
    const positive = POSITIVE[op];
    if (positive) return values.some((v) => positive(actual, v));
    const base = NEGATED[op];
    if (base) return !values.some((v) => (POSITIVE[base] as Matcher)(actual, v));
    throw new UnsupportedConditionError(operator);
  });
}

function statementApplies(stmt: PolicyStatement, ctx: RequestContext): boolean {
  return (
    principalMatches(stmt, ctx) &&
    actionMatches(stmt, ctx.action) &&
    resourceMatches(stmt, ctx.resource) &&
    Object.entries(stmt.Condition ?? {}).every(([op, block]) => conditionHolds(op, block, ctx.conditionKeys))
  );
}

export function evaluatePolicy(policy: PolicyDocument, ctx: RequestContext): PolicyResult {
  const statements = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement];
  let allowedBy: string | undefined;
  for (const [i, stmt] of statements.entries()) {
    if (!statementApplies(stmt, ctx)) continue;
    const id = stmt.Sid ?? `#${i}`;
    if (stmt.Effect === 'Deny') return { decision: 'ExplicitDeny', statement: id };
    allowedBy ??= id;
  }
  return allowedBy !== undefined ? { decision: 'Allow', statement: allowedBy } : { decision: 'ImplicitDeny' };
}

// ---------------------------------------------------------------- Lattice

export const INVOKE_ACTION = 'vpc-lattice-svcs:Invoke';

export interface LatticeRequestFacts {
  principalArn?: string;
  principalTags?: Record<string, string>;
  method: string;
  /** path without the query string */
  path: string;
  serviceArn: string;
  serviceNetworkArn: string;
  sourceVpc?: string;
}

export function latticeContext(f: LatticeRequestFacts): RequestContext {
  const keys: Record<string, string | undefined> = {
    'aws:PrincipalType': principalType(f.principalArn),
    'aws:PrincipalArn': f.principalArn,
    'aws:PrincipalAccount': f.principalArn ? accountOf(f.principalArn) : undefined,
    'vpc-lattice-svcs:RequestMethod': f.method,
    'vpc-lattice-svcs:RequestPath': f.path,
    'vpc-lattice-svcs:ServiceNetworkArn': f.serviceNetworkArn,
    'vpc-lattice-svcs:ServiceArn': f.serviceArn,
    'vpc-lattice-svcs:SourceVpc': f.sourceVpc,
  };
  for (const [tag, value] of Object.entries(f.principalTags ?? {})) keys[`aws:PrincipalTag/${tag}`] = value;
  return {
    principalArn: f.principalArn,
    action: INVOKE_ACTION,
    // Lattice authorises against the service ARN suffixed with the request path.
    resource: `${f.serviceArn}${f.path.startsWith('/') ? '' : '/'}${f.path}`,
    conditionKeys: keys,
  };
}

export type LatticeDecision =
  | { allowed: true }
  | { allowed: false; layer: 'network' | 'service'; decision: Exclude<Decision, 'Allow'>; message: string };

/** Lattice's AccessDeniedException text; the body starts with `AccessDeniedException: User:`. */
export function accessDeniedMessage(ctx: RequestContext, layer: 'network' | 'service', decision: Exclude<Decision, 'Allow'>): string {
  const who = ctx.principalArn ?? 'anonymous';
  const why =
    decision === 'ExplicitDeny'
      ? `with an explicit deny in a ${layer}-based policy`
      : `because no ${layer}-based policy allows the ${INVOKE_ACTION} action`;
  return `AccessDeniedException: User: ${who} is not authorized to perform: ${INVOKE_ACTION} on resource: ${ctx.resource} ${why}`;
}

export function evaluateLattice(
  policies: { serviceNetworkPolicy?: PolicyDocument; servicePolicy?: PolicyDocument },
  facts: LatticeRequestFacts,
): LatticeDecision {
  const ctx = latticeContext(facts);
  const layers: Array<['network' | 'service', PolicyDocument | undefined]> = [
    ['network', policies.serviceNetworkPolicy],
    ['service', policies.servicePolicy],
  ];
  for (const [layer, policy] of layers) {
    if (!policy) continue;
    const { decision } = evaluatePolicy(policy, ctx);
    if (decision !== 'Allow') return { allowed: false, layer, decision, message: accessDeniedMessage(ctx, layer, decision) };
  }
  return { allowed: true };
}

// ---------------------------------------------------------------- STS trust policies (web identity)

export const ASSUME_ROLE_WITH_WEB_IDENTITY = 'sts:AssumeRoleWithWebIdentity';

/** An OIDC provider as IAM names it: the issuer URL without its scheme (also the prefix of its condition keys). */
export function oidcProviderKey(issuerUrl: string): string {
  return issuerUrl.replace(/^https?:\/\//, '').replace(/\/$/, '');
}

export function oidcProviderArn(accountId: string, issuerUrl: string, partition = 'aws'): string {
  return `arn:${partition}:iam::${accountId}:oidc-provider/${oidcProviderKey(issuerUrl)}`;
}

export interface WebIdentityFacts {
  roleArn: string;
  providerArn: string;
  issuerUrl: string;
  sub: string;
  /** the token's audiences; IAM's `<provider>:aud` is the one the provider's client id list matched */
  aud: string;
}

/** The request context STS evaluates a role's trust policy with, for AssumeRoleWithWebIdentity. */
export function webIdentityTrustContext(f: WebIdentityFacts): RequestContext {
  const key = oidcProviderKey(f.issuerUrl);
  return {
    federatedProvider: f.providerArn,
    action: ASSUME_ROLE_WITH_WEB_IDENTITY,
    resource: f.roleArn,
    conditionKeys: {
      [`${key}:sub`]: f.sub,
      [`${key}:aud`]: f.aud,
      'aws:FederatedProvider': f.providerArn,
    },
  };
}
