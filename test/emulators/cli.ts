// Runs one emulator as a process (the netns end-to-end test starts them inside network namespaces).
const USAGE = `Usage: node --import tsx test/emulators/cli.ts <command> [--flags]   (or: npx tsx test/emulators/cli.ts ...)

Every server prints ONE JSON line on stdout once listening, e.g. {"ready":true,"url":"http://127.0.0.1:4000",...},
and exits 0 on SIGTERM/SIGINT after closing its port. Flags may also come from a JSON file (--config FILE) whose
keys are the flag names in camelCase (flags win). The shared IAM key may be given as --iam-key or env EMULATOR_IAM_KEY;
every process that issues or checks credentials (pod-identity, lattice, pca) needs the same one.

Commands:
  pod-identity  --host 127.0.0.1 --port 0 --iam-key K --role-arn arn:aws:iam::123456789012:role/R
                (--token T | --token-file F: the file is created with a random token when missing)
                [--tags k=v,k=v | config "tags": {...}] [--ttl 3600] [--session-name S]
                ready: {"ready":true,"url":"http://HOST:PORT/v1/credentials","tokenFile":...}
  pca           --host --port --iam-key K --ca-arn ARN --ca-cert ca.pem [--chain chain.pem] [--region R]
                ready: {"ready":true,"url":"http://HOST:PORT","caArn":...}
  lattice       --host --port 443 --iam-key K --cert server.pem --key server-key.pem [--region us-west-2]
                [--account-id 123456789012] [--max-skew 300] --config lattice.json with
                {"services":[{"hostname":"demo-cluster1.example.com","target":{"host":"10.0.0.2","port":8080},
                  "authPolicy":{...}}], "serviceNetworkPolicy":{...}, "staticUsers":[...]}
                (a service may add "protocolVersion":"HTTP1"|"HTTP2"|"GRPC"; the config may set maxConnectionAgeMs,
                idleTimeoutMs, alpnProtocols) or --seed-services TARGET_HOST:PORT1,TARGET_HOST:PORT2 for the seed scenario's two services and
                policies (demo-cluster1/2.<--domain example.com>; --irsa true adds the IRSA role to demo-cluster1's).
                ready: {"ready":true,"url":"https://HOST:PORT","serviceArns":{...}}
                SIGUSR2 prints the request log (no secrets) as one JSON line {"log":[...]}.
  demo-target   --host --port --app demo-cluster1-v1 --pod-name NAME
  grpc-target   --host --port --app grpc-demo --pod-name NAME: the gRPC demo target (proto/demo.proto), plaintext h2c
                ready: {"ready":true,"url":"http://HOST:PORT","address":"HOST:PORT"}
  echo-target   --host --port
  make-pki      --out DIR --dns a.example.com,b.example.com [--ip 169.254.171.1,127.0.0.1]
                writes ca.pem, ca-key.pem, server.pem, server-key.pem; prints {"ready":true,"out":DIR,...}
  seed-world    [--host 127.0.0.1] [--iam-key K] [--irsa true] [--grpc true]: the whole seed scenario in one process
                (demo, manual tries); prints URLs, ports, token files and the CA path (--irsa: also the OIDC issuer, STS
                and the IRSA caller's token file; demo-cluster1 then allows the IRSA role; --grpc: also
                grpc-cluster1/2.<domain>, GRPC target groups in front of grpc-js targets, with demo-cluster1/2's policies).
  oidc          --host --port --key-file signer.pem [--issuer-path /id/HEX] [--public-url URL]: a service-account
                issuer (discovery + JWKS); the key file is created (RSA 2048, PKCS#8) when missing.
                ready: {"ready":true,"url":ISSUER_URL,"jwksUri":...,"kid":...}
  mint-sa-token --key-file signer.pem --issuer URL --namespace NS --service-account SA [--audience sts.amazonaws.com]
                [--ttl 86400] --out FILE: writes a projected service-account token (mode 0644); prints
                {"ready":true,"out":FILE,"tokenSha256":...} (never the token)
  sts           --host --port --iam-key K --config sts.json with {"roles":[{"roleArn":...,"trustPolicy":{...}}],
                "oidcProviders":[{"url":ISSUER_URL,"clientIds":["sts.amazonaws.com"]}]}, or --role-arn R --issuer URL
                --subjects system:serviceaccount:NS:SA[,...] for an IRSA trust policy; [--duration 3600]
                ready: {"ready":true,"url":"http://HOST:PORT"}; SIGUSR2 prints the call log {"calls":[...]}
                (token SHA-256s, never tokens).
`;

import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createTestCa } from './pki.js';
import { startPodIdentityAgent } from './pod-identity.js';
import { startPcaEmulator } from './pca.js';
import { startLattice, type LatticeServiceConfig } from './lattice.js';
import { startDemoTarget, startEchoTarget } from './demo-target.js';
import { startGrpcTarget } from './grpc-target.js';
import { seedScenario, startSeedWorld } from './scenario.js';
import { createSigningKey, mintServiceAccountToken, signingKeyFromPem, startOidcIssuer } from './oidc.js';
import { irsaTrustPolicy, startStsEmulator, tokenSha256, type StsOidcProvider, type StsRole } from './sts.js';
import { parseRoleArn } from './iam.js';
import type { PolicyDocument } from './policy.js';
import type { StaticUser } from './iam.js';

type Flags = Record<string, string | undefined>;

const FLAG_NAMES = [
  'config', 'host', 'port', 'iam-key', 'role-arn', 'token', 'token-file', 'tags', 'ttl', 'session-name', 'ca-arn',
  'ca-cert', 'chain', 'region', 'cert', 'key', 'account-id', 'max-skew', 'seed-services', 'domain', 'app', 'pod-name',
  'out', 'dns', 'ip', 'irsa', 'key-file', 'issuer-path', 'public-url', 'issuer', 'namespace', 'service-account',
  'audience', 'subjects', 'duration', 'grpc',
] as const;

const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

class UsageError extends Error {}

function parse(argv: string[]): { command: string; flags: Flags; config: Record<string, unknown> } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...Object.fromEntries(FLAG_NAMES.map((n) => [n, { type: 'string' as const }])),
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const configFile = (values as Record<string, unknown>).config;
  const config = typeof configFile === 'string' ? (JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>) : {};
  const flags: Flags = {};
  for (const n of FLAG_NAMES) {
    const v = (values as Record<string, unknown>)[n];
    const fromConfig = config[camel(n)];
    if (typeof v === 'string') flags[n] = v;
    else if (typeof fromConfig === 'string' || typeof fromConfig === 'number') flags[n] = String(fromConfig);
  }
  return { command: positionals[0] as string, flags, config };
}

function need(flags: Flags, name: string): string {
  const v = flags[name];
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

function port(flags: Flags): number {
  const p = Number(flags.port ?? '0');
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new UsageError(`--port must be 0..65535, got ${flags.port}`);
  return p;
}

function iamKey(flags: Flags): string {
  const k = flags['iam-key'] ?? process.env.EMULATOR_IAM_KEY;
  if (!k) throw new UsageError('--iam-key (or env EMULATOR_IAM_KEY) is required');
  return k;
}

function parseTags(text: string | undefined, config: Record<string, unknown>): Record<string, string> {
  if (text !== undefined) {
    const tags: Record<string, string> = {};
    for (const pair of text.split(',').filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`--tags expects k=v,k=v; got '${pair}'`);
      tags[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    return tags;
  }
  return (config.tags as Record<string, string> | undefined) ?? {};
}

function ready(info: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ ready: true, ...info }) + '\n');
}

function serveUntilSignal(close: () => Promise<void>): void {
  let closing = false;
  const stop = (): void => {
    if (closing) return;
    closing = true;
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`close failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function main(): Promise<void> {
  const { command, flags, config } = parse(process.argv.slice(2));
  const host = flags.host ?? '127.0.0.1';
  switch (command) {
    case 'pod-identity': {
      let token = flags.token;
      const tokenFile = flags['token-file'];
      if (token === undefined && tokenFile !== undefined && existsSync(tokenFile)) token = readFileSync(tokenFile, 'utf8').trim();
      token ??= randomBytes(24).toString('hex');
      const agent = await startPodIdentityAgent({
        host,
        port: port(flags),
        token,
        tokenFile,
        iamKey: iamKey(flags),
        roleArn: need(flags, 'role-arn'),
        tags: parseTags(flags.tags, config),
        ttlSeconds: flags.ttl ? Number(flags.ttl) : 3600,
        sessionName: flags['session-name'],
      });
      ready({ url: agent.url, port: agent.port, tokenFile: agent.tokenFile });
      serveUntilSignal(() => agent.close());
      return;
    }
    case 'pca': {
      const pca = await startPcaEmulator({
        host,
        port: port(flags),
        caArn: need(flags, 'ca-arn'),
        caCertPem: readFileSync(need(flags, 'ca-cert'), 'utf8'),
        chainPem: flags.chain ? readFileSync(flags.chain, 'utf8') : undefined,
        iamKey: iamKey(flags),
        staticUsers: config.staticUsers as StaticUser[] | undefined,
        region: flags.region,
      });
      ready({ url: pca.endpoint, port: pca.port, caArn: flags['ca-arn'] });
      serveUntilSignal(() => pca.close());
      return;
    }
    case 'lattice': {
      let services = (config.services as LatticeServiceConfig[] | undefined) ?? [];
      let serviceNetworkPolicy = config.serviceNetworkPolicy as PolicyDocument | undefined;
      if (flags['seed-services']) {
        const targets = flags['seed-services'].split(',').map((t) => {
          const colon = t.lastIndexOf(':');
          return { host: t.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(t.slice(colon + 1)) };
        });
        if (targets.length !== 2 || targets.some((t) => !t.host || !Number.isInteger(t.port))) {
          throw new UsageError('--seed-services expects HOST:PORT,HOST:PORT (demo-cluster1 target, demo-cluster2 target)');
        }
        const scenario = seedScenario({ domain: flags.domain, irsa: flags.irsa === 'true' });
        services = scenario.services.map((s, i) => ({ hostname: s.hostname, target: targets[i] as { host: string; port: number }, authPolicy: s.authPolicy }));
        serviceNetworkPolicy = scenario.serviceNetworkPolicy;
      }
      if (services.length === 0) throw new UsageError('lattice needs services: --config FILE with "services" or --seed-services');
      const lattice = await startLattice({
        host,
        port: port(flags),
        certPem: readFileSync(need(flags, 'cert'), 'utf8'),
        keyPem: readFileSync(need(flags, 'key'), 'utf8'),
        iamKey: iamKey(flags),
        staticUsers: config.staticUsers as StaticUser[] | undefined,
        region: flags.region,
        accountId: flags['account-id'],
        services,
        serviceNetworkPolicy,
        maxSkewSeconds: flags['max-skew'] ? Number(flags['max-skew']) : undefined,
        maxConnectionAgeMs: config.maxConnectionAgeMs as number | undefined,
        idleTimeoutMs: config.idleTimeoutMs as number | undefined,
        alpnProtocols: config.alpnProtocols as string[] | undefined,
      });
      process.on('SIGUSR2', () => process.stdout.write(JSON.stringify({ log: lattice.log }) + '\n'));
      ready({ url: lattice.url, port: lattice.port, serviceArns: lattice.serviceArns, serviceNetworkArn: lattice.serviceNetworkArn });
      serveUntilSignal(() => lattice.close());
      return;
    }
    case 'demo-target': {
      const t = await startDemoTarget({ host, port: port(flags), app: need(flags, 'app'), podName: need(flags, 'pod-name') });
      ready({ url: t.url, port: t.port });
      serveUntilSignal(() => t.close());
      return;
    }
    case 'grpc-target': {
      const t = await startGrpcTarget({ host, port: port(flags), app: flags.app, podName: flags['pod-name'] });
      ready({ url: t.url, address: t.address, port: t.port });
      serveUntilSignal(() => t.close());
      return;
    }
    case 'echo-target': {
      const t = await startEchoTarget({ host, port: port(flags) });
      ready({ url: t.url, port: t.port });
      serveUntilSignal(() => t.close());
      return;
    }
    case 'make-pki': {
      const out = need(flags, 'out');
      const dnsNames = (flags.dns ?? '').split(',').filter(Boolean);
      const ipAddresses = (flags.ip ?? '').split(',').filter(Boolean);
      if (dnsNames.length === 0 && ipAddresses.length === 0) throw new UsageError('make-pki needs --dns and/or --ip');
      const ca = await createTestCa();
      const leaf = await ca.issue({ dnsNames, ipAddresses });
      mkdirSync(out, { recursive: true });
      const files = { ca: join(out, 'ca.pem'), caKey: join(out, 'ca-key.pem'), cert: join(out, 'server.pem'), key: join(out, 'server-key.pem') };
      writeFileSync(files.ca, ca.certPem);
      writeFileSync(files.caKey, ca.keyPem, { mode: 0o600 });
      writeFileSync(files.cert, leaf.certPem);
      writeFileSync(files.key, leaf.keyPem, { mode: 0o600 });
      ready({ out, files });
      return;
    }
    case 'oidc': {
      const keyFile = need(flags, 'key-file');
      if (!existsSync(keyFile)) writeFileSync(keyFile, createSigningKey().privateKeyPem, { mode: 0o600 });
      const issuer = await startOidcIssuer({
        host,
        port: port(flags),
        key: signingKeyFromPem(readFileSync(keyFile, 'utf8')),
        issuerPath: flags['issuer-path'],
        publicUrl: flags['public-url'],
      });
      ready({ url: issuer.url, port: issuer.port, jwksUri: issuer.jwksUri, kid: issuer.key().kid });
      serveUntilSignal(() => issuer.close());
      return;
    }
    case 'mint-sa-token': {
      const out = need(flags, 'out');
      const token = mintServiceAccountToken(signingKeyFromPem(readFileSync(need(flags, 'key-file'), 'utf8')), {
        issuer: need(flags, 'issuer'),
        namespace: need(flags, 'namespace'),
        serviceAccount: need(flags, 'service-account'),
        audience: flags.audience,
        ttlSeconds: flags.ttl ? Number(flags.ttl) : undefined,
      });
      writeFileSync(out, token, { mode: 0o644 });
      ready({ out, tokenSha256: tokenSha256(token) });
      return;
    }
    case 'sts': {
      let roles = (config.roles as StsRole[] | undefined) ?? [];
      let oidcProviders = (config.oidcProviders as StsOidcProvider[] | undefined) ?? [];
      if (flags['role-arn'] !== undefined) {
        const issuerUrl = need(flags, 'issuer');
        const subjects = need(flags, 'subjects').split(',').filter(Boolean);
        const roleArn = flags['role-arn'];
        roles = [...roles, { roleArn, trustPolicy: irsaTrustPolicy(parseRoleArn(roleArn).accountId, issuerUrl, subjects) }];
        oidcProviders = [...oidcProviders, { url: issuerUrl, clientIds: [flags.audience ?? 'sts.amazonaws.com'] }];
      }
      if (roles.length === 0) throw new UsageError('sts needs roles: --config FILE with "roles" and "oidcProviders", or --role-arn --issuer --subjects');
      const sts = await startStsEmulator({
        host,
        port: port(flags),
        iamKey: iamKey(flags),
        roles,
        oidcProviders,
        defaultDurationSeconds: flags.duration ? Number(flags.duration) : undefined,
      });
      process.on('SIGUSR2', () => process.stdout.write(JSON.stringify({ calls: sts.calls }) + '\n'));
      ready({ url: sts.url, port: sts.port });
      serveUntilSignal(() => sts.close());
      return;
    }
    case 'seed-world': {
      const world = await startSeedWorld({ host, iamKey: flags['iam-key'] ?? process.env.EMULATOR_IAM_KEY, irsa: flags.irsa === 'true', grpc: flags.grpc === 'true' });
      const caFile = join(world.agents.cluster1.tokenFile, '..', 'seed-ca.pem');
      writeFileSync(caFile, world.caPem);
      ready({
        url: world.latticeUrl,
        latticePort: world.latticePort,
        region: world.region,
        caArn: world.caArn,
        caFile,
        pcaEndpoint: world.pcaEndpoint,
        podIdentity: {
          cluster1: { url: world.agents.cluster1.url, tokenFile: world.tokenFiles.cluster1 },
          cluster2: { url: world.agents.cluster2.url, tokenFile: world.tokenFiles.cluster2 },
        },
        hostnames: world.scenario.services.map((s) => s.hostname),
        ...(flags.grpc === 'true' ? { grpcHostnames: world.scenario.grpcServices.map((s) => s.hostname) } : {}),
        ...(world.irsa
          ? { irsa: { roleArn: world.irsa.caller.roleArn, tokenFile: world.irsa.tokenFile, stsEndpoint: world.irsa.sts.url, issuer: world.irsa.issuer.url } }
          : {}),
        targets: Object.fromEntries(Object.entries(world.targets).map(([k, t]) => [k, t.url])),
        ...(flags.grpc === 'true' ? { grpcTargets: Object.fromEntries(Object.entries(world.grpcTargets).map(([k, t]) => [k, t.address])) } : {}),
      });
      serveUntilSignal(() => world.close());
      return;
    }
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
