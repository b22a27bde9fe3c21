// The environment of a proxy in the EKS Anywhere pod of the seed world (startSeedWorld({ irsa: true })): what the
// pod identity webhook injects (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE), the region the Kyverno policy sets,
// STS reached through AWS_ENDPOINT_URL_STS, every upstream dialled to the Lattice emulator.
import type { SeedWorld } from '../emulators/scenario.js';

export function irsaProxyEnv(world: SeedWorld, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const irsa = world.irsa;
  if (!irsa) throw new Error('the seed world was started without irsa: true');
  return {
    AWS_REGION: world.region,
    APP_DOMAIN: world.scenario.domain,
    CA_ARN: world.caArn,
    AWS_ENDPOINT_URL_ACM_PCA: world.pcaEndpoint,
    AWS_ROLE_ARN: irsa.caller.roleArn,
    AWS_WEB_IDENTITY_TOKEN_FILE: irsa.tokenFile,
    AWS_ENDPOINT_URL_STS: irsa.sts.url,
    CONNECT_TO: `127.0.0.1:${world.latticePort}`,
    ...extra,
  };
}
