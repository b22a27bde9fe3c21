// Wiring and lifecycle: parse config, create every component, start them, and shut down cleanly on SIGTERM.

import { createAdminServer } from './admin.js';
import { ConfigError, parseConfig, type Config } from './config.js';
import { describeSource, loadCredentialSource } from './credential-source.js';
import { CredentialCache } from './credentials.js';
import { createLogger } from './logging.js';
import { createMetrics } from './metrics.js';
import { ProxyServer } from './proxy.js';
import { SigV4Signer } from './signer.js';
import { TrustStore } from './trust.js';
import { Upstream } from './upstream.js';

function loadConfig(): Config {
  try {
    return parseConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`lattice-sigv4-proxy: invalid configuration: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const metrics = createMetrics();

  // Only the SDK provider of the configured source is loaded; a new provider per refresh re-reads the token files.
  const source = await loadCredentialSource(config.credentialSource, { region: config.region });
  logger.info({ event: 'credentials_source', ...describeSource(source.source) }, 'credential source');
  const credentials = new CredentialCache({
    providerFactory: source.providerFactory,
    refreshMarginMs: config.credentialsRefreshMarginMs,
    logger,
    metrics,
  });
  const upstream = new Upstream({
    connectTo: config.connectTo,
    connectTimeoutMs: config.connectTimeoutMs,
    timeoutMs: config.upstreamTimeoutMs,
    maxConnections: config.upstreamMaxConnections,
    keepAliveTimeoutMs: config.upstreamKeepAliveTimeoutMs,
    metrics,
    logger,
  });
  const trust = new TrustStore({
    caArn: config.caArn,
    caRegion: config.caRegion,
    caFile: config.caFile,
    pcaEndpoint: config.pcaEndpoint,
    pcaUseFips: config.pcaUseFips,
    pcaUseDualStack: config.pcaUseDualStack,
    refreshIntervalMs: config.caRefreshIntervalMs,
    credentials,
    logger,
    metrics,
    onChange: (context) => upstream.setSecureContext(context),
  });
  if (trust.loaded) upstream.setSecureContext(trust.secureContext()); // no Private CA configured: system roots

  const proxy = new ProxyServer({ config, signer: new SigV4Signer(config.region, config.signingService), credentials, upstream, metrics, logger });
  const admin = createAdminServer(
    {
      notReadyReason() {
        if (proxy.draining) return 'draining';
        if (!proxy.listening) return 'listener not started';
        const c = credentials.state();
        if (c.status === 'pending') return `no AWS credentials yet${c.lastError ? `: ${c.lastError}` : ''}`;
        if (c.status === 'expired') return `AWS credentials expired and not refreshed${c.lastError ? `: ${c.lastError}` : ''}`;
        if (!trust.loaded || !upstream.ready) return `Private CA root not loaded${trust.lastError ? `: ${trust.lastError}` : ''}`;
        return undefined;
      },
    },
    metrics,
    logger,
  );

  process.on('unhandledRejection', (err) => logger.error({ event: 'unhandled_rejection', error: (err as Error)?.message }, 'unhandled promise rejection'));
  process.on('uncaughtException', (err) => {
    // State is unknown after an uncaught exception: exit and let the kubelet restart the sidecar.
    logger.fatal({ event: 'uncaught_exception', error: err.message, stack: err.stack }, 'uncaught exception');
    logger.flush();
    process.exit(1);
  });

  const adminPort = await admin.listen(config.adminPort, config.adminAddress);
  logger.info({ event: 'admin_listening', address: config.adminAddress, port: adminPort }, 'admin listening');
  credentials.start();
  trust.start();
  await proxy.listen();

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'draining', signal, inFlight: proxy.inFlight, timeoutMs: config.drainTimeoutMs }, 'draining');
    const { completed, abandoned } = await proxy.drain(config.drainTimeoutMs);
    credentials.stop();
    trust.stop();
    await (completed ? upstream.close() : upstream.destroy());
    await admin.close();
    logger.info({ event: 'stopped', completed, abandoned }, 'stopped');
    logger.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`lattice-sigv4-proxy: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
