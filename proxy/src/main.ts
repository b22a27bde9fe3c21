// Wiring and lifecycle: parse config, create every component, start them, and shut down cleanly on SIGTERM.

import { createAdminServer } from './admin.js';
import { ConfigError, parseConfig, type Config } from './config.js';
import { describeSource, loadCredentialSource } from './credential-source.js';
import { CredentialCache } from './credentials.js';
import { LogWriter } from './log-writer.js';
import { AccessLog, createLogger } from './logging.js';
import { createMetrics } from './metrics.js';
import { ProxyServer } from './proxy.js';
import { SigV4Signer } from './signer.js';
import { SigV4ASigner } from './sigv4a.js';
import { H2Upstream } from './h2-upstream.js';
import { Ticker, tickFor } from './ticker.js';
import { TrustStore, trustSettings } from './trust.js';
import { Upstream } from './upstream.js';

// `node main.js check [URL]` runs the diagnosis (proxy/src/check.ts) instead of the sidecar, and exits.
if (process.argv[2] === 'check') await (await import('./check.js')).checkCommand(process.argv.slice(3));

function loadConfig(): Config {
  try {
    return parseConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`lattice-sigv4-proxy: invalid configuration: ${p.variable}: ${p.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}

/** Exit code when a listener cannot bind (98 = EADDRINUSE on Linux, the usual cause); docs/errors.md. */
const EXIT_LISTEN_FAILED = 98;

/** Bind, or exit naming the variable whose port could not be bound (LISTEN_PORT or ADMIN_PORT). */
async function listenOr<T>(variable: string, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    const why = e.code === 'EADDRINUSE' ? 'is already in use' : e.code === 'EACCES' ? 'may not be bound by this user' : 'cannot be bound';
    process.stderr.write(`lattice-sigv4-proxy: cannot listen: ${variable}: port ${e.port ?? '?'} on ${e.address ?? '?'} ${why} (${e.code ?? e.message})\n`);
    process.exit(EXIT_LISTEN_FAILED);
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  // Every line (pino's and the access log's) goes through one batched asynchronous writer on stdout.
  const writer = new LogWriter({ fd: 1 });
  const logger = createLogger(config.logLevel, writer);
  const metrics = createMetrics();
  const ticker = new Ticker(tickFor([config.connectTimeoutMs, config.upstreamTimeoutMs, config.requestTimeoutMs, config.upstreamKeepAliveTimeoutMs]));

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
    maxHeaderSize: config.maxHeaderSize,
    metrics,
    logger,
    ticker,
  });
  const h2upstream = new H2Upstream({
    connectTo: config.connectTo,
    connectTimeoutMs: config.connectTimeoutMs,
    idleTimeoutMs: config.upstreamKeepAliveTimeoutMs,
    maxAgeMs: config.h2MaxSessionAgeMs,
    metrics,
    logger,
    ticker,
  });
  const trust = new TrustStore({
    ...trustSettings(config),
    credentials,
    logger,
    metrics,
    onChange: (context) => {
      upstream.setSecureContext(context);
      h2upstream.setSecureContext(context);
    },
  });
  if (trust.loaded) {
    // No Private CA configured: system roots.
    const context = trust.secureContext();
    upstream.setSecureContext(context);
    h2upstream.setSecureContext(context);
  }

  const proxy = new ProxyServer({
    config,
    signer: config.signingAlgorithm === 'sigv4a' ? new SigV4ASigner(config.signingService, config.sigv4aRegionSet) : new SigV4Signer(config.region, config.signingService),
    credentials,
    upstream,
    metrics,
    logger,
    accessLog: new AccessLog(writer),
    ticker,
    h2upstream,
  });
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
    writer.flushSync();
    process.exit(1);
  });

  const adminPort = await listenOr('ADMIN_PORT', () => admin.listen(config.adminPort, config.adminAddress));
  logger.info({ event: 'admin_listening', address: config.adminAddress, port: adminPort }, 'admin listening');
  credentials.start();
  trust.start();
  await listenOr('LISTEN_PORT', () => proxy.listen());

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'draining', signal, inFlight: proxy.inFlight, timeoutMs: config.drainTimeoutMs }, 'draining');
    const { completed, abandoned } = await proxy.drain(config.drainTimeoutMs);
    credentials.stop();
    trust.stop();
    await Promise.all(completed ? [upstream.close(), h2upstream.close()] : [upstream.destroy(), h2upstream.destroy()]);
    await admin.close();
    ticker.stop();
    logger.info({ event: 'stopped', completed, abandoned }, 'stopped');
    // Every line written so far reaches stdout before the exit.
    await writer.end();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`lattice-sigv4-proxy: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
