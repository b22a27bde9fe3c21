// Issue 13, Kubernetes: on an EKS Anywhere cluster the amazon-eks-pod-identity-webhook mutates pods after Kyverno
// (mutating webhooks run in the order of their configuration names), and Kyverno, reinvoked (IfNeeded) after the
// webhook's change, runs the policy again. The injected sidecar must come out of both intact — still a native
// sidecar, first after iptables-init, its own AWS_REGION kept — carrying the IRSA variables and token mount, and
// the second pass of the policy must change nothing. The webhook's patch is rendered from its source
// (test/k8s/pod-identity-webhook.ts).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Pod } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseCredentialSource } from '../proxy/src/credential-source.js';
import { applyJsonPatch, applyPolicy, type Json } from './k8s/kyverno.js';
import {
  KYVERNO_MUTATING_CONFIGURATION,
  podIdentityWebhookPatch,
  WEBHOOK_CONFIGURATION,
  WEBHOOK_MOUNT_PATH,
  WEBHOOK_TOKEN_FILE,
  WEBHOOK_VOLUME,
  type WebhookOptions,
} from './k8s/pod-identity-webhook.js';
import { configMapFile, policyDir, policyFile } from './k8s/render-policy.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const policy = parse(readFileSync(policyFile, 'utf8')) as Obj;
const configMap = parse(readFileSync(configMapFile, 'utf8')) as Obj;
const config = { config: configMap.data as Record<string, string> };
const samples = parseAllDocuments(readFileSync(path.join(policyDir, 'resources.yaml'), 'utf8')).map((d) => d.toJS() as Obj);
const sample = (name: string): Obj => structuredClone(samples.find((r) => r.metadata.name === name)!);

const ROLE_ARN = 'arn:aws:iam::123456789012:role/eksa-cluster3-lattice-client';
// The webhook as EKS Anywhere runs it here: with --aws-default-region and regional STS, so every injection it can
// make is made.
const WEBHOOK: WebhookOptions = { roleArn: ROLE_ARN, region: 'eu-central-1', regionalSts: true, version: 'v0.6.4' };

const SIDECAR = 'lattice-sigv4-proxy';
const init = (pod: Obj, name: string): Obj => pod.spec.initContainers.find((c: Obj) => c.name === name);
const envOf = (c: Obj): Record<string, string> => Object.fromEntries((c.env ?? []).map((e: Obj) => [e.name, e.value]));
const withoutIrsa = (c: Obj): Obj => {
  const { env, volumeMounts, ...rest } = structuredClone(c);
  return { ...rest, env: (env as Obj[]).filter((e) => !['AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_STS_REGIONAL_ENDPOINTS'].includes(e.name)), volumeMounts: (volumeMounts ?? []).filter((m: Obj) => m.name !== WEBHOOK_VOLUME) };
};

/** Admission as the API server runs it: Kyverno, the webhook, Kyverno reinvoked. */
function admit(pod: Obj, webhook: WebhookOptions = WEBHOOK) {
  const first = applyPolicy(policy, pod, config);
  const afterWebhook = applyJsonPatch(first.patched, podIdentityWebhookPatch(first.patched, webhook)) as Obj;
  const reinvoked = applyPolicy(policy, afterWebhook, config);
  return { first: first.patched as Obj, afterWebhook, reinvoked };
}

describe('Kyverno, then the pod identity webhook, then Kyverno again', () => {
  for (const name of ['bare-pod', 'job-pod-with-overrides']) {
    describe(name, () => {
      const { first, afterWebhook, reinvoked } = admit(sample(name));

      it('the second pass of the policy changes nothing, and its validation passes', () => {
        expect(reinvoked.patched).toEqual(afterWebhook as Json);
        const status = Object.fromEntries(reinvoked.rules.map((r) => [r.rule, r.status]));
        expect(status['refuse-app-containers-in-proxy-gid']).toBe('pass');
        expect(Object.values(status).filter((s) => s === 'pass')).toHaveLength(1);
      });

      it('the sidecar is intact: native sidecar, same image, ports, probes, resources, securityContext, first after iptables-init', () => {
        const before = init(first, SIDECAR);
        const after = init(afterWebhook, SIDECAR);
        expect(after.restartPolicy).toBe('Always');
        expect(withoutIrsa(after)).toEqual({ ...before, volumeMounts: before.volumeMounts ?? [] });
        expect(afterWebhook.spec.initContainers.map((c: Obj) => c.name)).toEqual(first.spec.initContainers.map((c: Obj) => c.name));
        expect(afterWebhook.spec.initContainers.slice(0, 2).map((c: Obj) => c.name)).toEqual(['iptables-init', SIDECAR]);
        expect(() => new Pod(afterWebhook as never).validate()).not.toThrow();
      });

      it('the sidecar carries IRSA: the role, the token file and its read-only mount, and keeps its own AWS_REGION', () => {
        const sidecar = init(afterWebhook, SIDECAR);
        const env = envOf(sidecar);
        expect(env).toMatchObject({ AWS_ROLE_ARN: ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE: WEBHOOK_TOKEN_FILE, AWS_REGION: configMap.data.region });
        // The sidecar's AWS_REGION is one of the webhook's region pair: it adds neither, whatever --aws-default-region says.
        expect(env.AWS_DEFAULT_REGION).toBeUndefined();
        expect(sidecar.env.filter((e: Obj) => e.name === 'AWS_REGION')).toHaveLength(1);
        expect(sidecar.volumeMounts).toContainEqual({ name: WEBHOOK_VOLUME, readOnly: true, mountPath: WEBHOOK_MOUNT_PATH });
        expect(afterWebhook.spec.volumes).toContainEqual({
          name: WEBHOOK_VOLUME,
          projected: { sources: [{ serviceAccountToken: { audience: 'sts.amazonaws.com', expirationSeconds: 86400, path: 'token' } }] },
        });
        // And the proxy started with that environment is on IRSA, in the ConfigMap's region.
        expect(parseCredentialSource(env)).toEqual({ kind: 'web-identity', roleArn: ROLE_ARN, tokenFile: WEBHOOK_TOKEN_FILE, sessionName: undefined, stsEndpoint: undefined });
      });

      it('the app containers get the webhook\'s region, the sidecar\'s is not overridden', () => {
        for (const c of afterWebhook.spec.containers) expect(envOf(c)).toMatchObject({ AWS_REGION: 'eu-central-1', AWS_ROLE_ARN: ROLE_ARN });
      });

      it('a second webhook pass would change nothing either', () => {
        expect(applyJsonPatch(afterWebhook, podIdentityWebhookPatch(afterWebhook, WEBHOOK))).toEqual(afterWebhook as Json);
      });
    });
  }
});

describe('what the facts of the issue imply', () => {
  it('Kyverno\'s mutating configuration sorts before the webhook\'s, so the webhook sees the injected sidecar', () => {
    expect([WEBHOOK_CONFIGURATION, KYVERNO_MUTATING_CONFIGURATION].sort()).toEqual([KYVERNO_MUTATING_CONFIGURATION, WEBHOOK_CONFIGURATION]);
  });

  it('in the other order (webhook first, not reinvoked) the sidecar would have no IRSA variables: the proxy falls back to the default chain', () => {
    const pod = sample('bare-pod');
    const webhookFirst = applyJsonPatch(pod, podIdentityWebhookPatch(pod, WEBHOOK)) as Obj;
    const sidecar = init(applyPolicy(policy, webhookFirst, config).patched as Obj, SIDECAR);
    expect(envOf(sidecar).AWS_ROLE_ARN).toBeUndefined();
    expect(parseCredentialSource(envOf(sidecar)).kind).toBe('default-chain');
  });

  it('a webhook older than v0.5.3 drops restartPolicy: the sidecar becomes a plain init container with probes, which the API server refuses', () => {
    const { afterWebhook, reinvoked } = admit(sample('bare-pod'), { ...WEBHOOK, version: 'v0.5.2' });
    const sidecar = init(afterWebhook, SIDECAR);
    expect(sidecar.restartPolicy).toBeUndefined();
    // "spec.initContainers[1].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always"
    expect(sidecar.readinessProbe).toBeDefined();
    // The policy sees its sidecar already there and does not inject again: it cannot repair this.
    expect(reinvoked.patched).toEqual(afterWebhook as Json);
  });

  it('the webhook\'s eks.amazonaws.com/skip-containers leaves the sidecar without IRSA', () => {
    const pod = sample('bare-pod');
    pod.metadata.annotations['eks.amazonaws.com/skip-containers'] = SIDECAR;
    const { afterWebhook } = admit(pod);
    expect(envOf(init(afterWebhook, SIDECAR)).AWS_ROLE_ARN).toBeUndefined();
    expect(init(afterWebhook, SIDECAR).restartPolicy).toBe('Always');
  });
});
