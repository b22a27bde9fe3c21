// The JSON patch the amazon-eks-pod-identity-webhook (the IRSA webhook EKS Anywhere deploys) answers for a pod whose
// service account is annotated eks.amazonaws.com/role-arn, rendered from its source (pkg/handler/handler.go,
// getPodSpecPatch and addEnvToContainer) so the Kyverno policy's output can be run through it:
//   - every container AND init container gets, unless skipped by the eks.amazonaws.com/skip-containers annotation:
//     AWS_STS_REGIONAL_ENDPOINTS=regional (when the service account or the --sts-regional-endpoint flag asks),
//     AWS_DEFAULT_REGION and AWS_REGION (only with --aws-default-region, and only if the container defines neither),
//     AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (only if it defines neither: one of the pair present adds none),
//     and the aws-iam-token volume mount (read-only, /var/run/secrets/eks.amazonaws.com/serviceaccount);
//   - the pod gets the projected volume aws-iam-token (serviceAccountToken: audience, expirationSeconds, path token),
//     as `add /spec/volumes/0`, or `add /spec/volumes` when the pod has none;
//   - the containers and init containers come back whole (`add /spec/containers`, `add /spec/initContainers`),
//     re-serialised from the Go types the webhook was built with: a field those types do not know is dropped. Before
//     v0.5.3 (k8s.io/api older than 0.29, PR #209) Container had no restartPolicy, so a native sidecar lost it.
// Go's encoding also writes `resources: {}` for a container without one (ResourceRequirements is not omitempty).
import type { Json } from './kyverno.js';

type Obj = { [k: string]: Json };

export interface WebhookOptions {
  roleArn: string;
  /** --token-audience / eks.amazonaws.com/audience; default sts.amazonaws.com */
  audience?: string;
  /** --token-expiration / eks.amazonaws.com/token-expiration; default 86400 */
  expirationSeconds?: number;
  /** --aws-default-region; unset by default */
  region?: string;
  /** --sts-regional-endpoint or eks.amazonaws.com/sts-regional-endpoints: "true" */
  regionalSts?: boolean;
  /** the release; versions before 0.5.3 drop Container.restartPolicy */
  version?: string;
}

export const WEBHOOK_VOLUME = 'aws-iam-token';
export const WEBHOOK_MOUNT_PATH = '/var/run/secrets/eks.amazonaws.com/serviceaccount';
export const WEBHOOK_TOKEN_FILE = `${WEBHOOK_MOUNT_PATH}/token`;
/** The MutatingWebhookConfiguration names: the API server calls mutating webhooks in the order of these names. */
export const WEBHOOK_CONFIGURATION = 'pod-identity-webhook';
export const KYVERNO_MUTATING_CONFIGURATION = 'kyverno-resource-mutating-webhook-cfg';

function versionBefore(version: string, major: number, minor: number, patch: number): boolean {
  const [a = 0, b = 0, c = 0] = version.replace(/^v/, '').split('.').map(Number);
  return a !== major ? a < major : b !== minor ? b < minor : c < patch;
}

function mutateContainer(c: Obj, o: WebhookOptions): Obj {
  const out: Obj = structuredClone(c);
  const env = ((out.env as Obj[] | undefined) ?? []).slice();
  const has = (...names: string[]) => env.some((e) => names.includes(String(e.name)));
  const roleDefined = has('AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE');
  const regionDefined = has('AWS_REGION', 'AWS_DEFAULT_REGION');
  const stsDefined = has('AWS_STS_REGIONAL_ENDPOINTS');
  if (!stsDefined && o.regionalSts) env.push({ name: 'AWS_STS_REGIONAL_ENDPOINTS', value: 'regional' });
  if (!regionDefined && o.region) env.push({ name: 'AWS_DEFAULT_REGION', value: o.region }, { name: 'AWS_REGION', value: o.region });
  if (!roleDefined) env.push({ name: 'AWS_ROLE_ARN', value: o.roleArn }, { name: 'AWS_WEB_IDENTITY_TOKEN_FILE', value: WEBHOOK_TOKEN_FILE });
  if (env.length > 0) out.env = env;
  const mounts = ((out.volumeMounts as Obj[] | undefined) ?? []).slice();
  if (!mounts.some((m) => m.name === WEBHOOK_VOLUME)) mounts.push({ name: WEBHOOK_VOLUME, readOnly: true, mountPath: WEBHOOK_MOUNT_PATH });
  out.volumeMounts = mounts;
  return out;
}

/** The webhook's JSON patch for this pod (its service account annotated with roleArn). */
export function podIdentityWebhookPatch(pod: Obj, o: WebhookOptions): Obj[] {
  const spec = pod.spec as Obj;
  const annotations = ((pod.metadata as Obj | undefined)?.annotations as Obj | undefined) ?? {};
  const skip = new Set(String(annotations['eks.amazonaws.com/skip-containers'] ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  const keep = !versionBefore(o.version ?? '0.6.0', 0, 5, 3);
  // Skipped containers get no env or mount, but go through the same Go types (and lose the same fields).
  const reserialise = (c: Obj): Obj => {
    const out: Obj = structuredClone(c);
    if (!keep) delete out.restartPolicy;
    out.resources ??= {};
    return out;
  };
  const each = (list: Json | undefined): Obj[] =>
    ((list as Obj[] | undefined) ?? []).map((c) => (skip.has(String(c.name)) ? reserialise(c) : mutateContainer(reserialise(c), o)));
  const volume: Obj = {
    name: WEBHOOK_VOLUME,
    projected: { sources: [{ serviceAccountToken: { audience: o.audience ?? 'sts.amazonaws.com', expirationSeconds: o.expirationSeconds ?? 86_400, path: 'token' } }] },
  };
  const volumes = spec.volumes as Obj[] | undefined;
  const patch: Obj[] = [];
  if (!volumes?.some((v) => v.name === WEBHOOK_VOLUME)) {
    patch.push(volumes === undefined ? { op: 'add', path: '/spec/volumes', value: [volume] } : { op: 'add', path: '/spec/volumes/0', value: volume });
  }
  patch.push({ op: 'add', path: '/spec/containers', value: each(spec.containers) });
  const inits = each(spec.initContainers);
  if (inits.length > 0) patch.push({ op: 'add', path: '/spec/initContainers', value: inits });
  return patch;
}
