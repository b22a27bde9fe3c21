// Which server certificates the proxy trusts upstream: the system roots plus the AWS Private CA root(s),
// fetched from ACM PCA (GetCertificateAuthorityCertificate) and/or read from a PEM file. Both are reloaded
// in the background so a rotated CA is picked up without a restart; every change produces one new
// SecureContext, built once and shared by all upstream connections.

import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import type { Config } from './config.js';
import type { CredentialCache } from './credentials.js';
import { PcaError } from './errors.js';
import type { Logger } from './logging.js';
import type { Metrics } from './metrics.js';
import { backoffDelay } from './backoff.js';
import { PcaClient, resolvePcaEndpoint } from './pca.js';

export interface TrustOptions {
  readonly caArn: string | undefined;
  readonly caRegion: string | undefined;
  readonly caFile: string | undefined;
  readonly pcaEndpoint: string | undefined;
  /** AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT, for the ACM PCA endpoint (config.ts rejects them with an override). */
  readonly pcaUseFips?: boolean;
  readonly pcaUseDualStack?: boolean;
  readonly refreshIntervalMs: number;
  /** How often CA_FILE is checked for a change (a Kubernetes ConfigMap/Secret update swaps a symlink). */
  readonly filePollMs?: number;
  readonly credentials: CredentialCache;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly onChange: (context: SecureContext) => void;
  readonly retryBaseMs?: number;
  readonly retryCapMs?: number;
}

/** The trust settings of the configuration: the proxy and `check` build their TrustStore from the same. */
export function trustSettings(c: Config): Pick<TrustOptions, 'caArn' | 'caRegion' | 'caFile' | 'pcaEndpoint' | 'pcaUseFips' | 'pcaUseDualStack' | 'refreshIntervalMs'> {
  return { caArn: c.caArn, caRegion: c.caRegion, caFile: c.caFile, pcaEndpoint: c.pcaEndpoint, pcaUseFips: c.pcaUseFips, pcaUseDualStack: c.pcaUseDualStack, refreshIntervalMs: c.caRefreshIntervalMs };
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Split and validate PEM certificates; throws when there is none or one does not parse. */
export function parsePemBundle(text: string, what: string): string[] {
  const blocks = text.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new Error(`${what} holds no PEM certificate`);
  return blocks.map((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch (e) {
      throw new Error(`${what}: certificate #${i + 1} does not parse (${(e as Error).message})`);
    }
    return pem;
  });
}

function describe(pems: readonly string[]): Array<{ subject: string; fingerprint256: string; validTo: string; ca: boolean }> {
  return pems.map((p) => {
    const c = new X509Certificate(p);
    return { subject: c.subject.replace(/\n/g, ', '), fingerprint256: c.fingerprint256, validTo: c.validTo, ca: c.ca };
  });
}

export class TrustStore {
  readonly #o: TrustOptions;
  #filePems: string[] | undefined;
  #fileText: string | undefined;
  #pcaPems: string[] | undefined;
  #pcaText: string | undefined;
  #timers = new Set<NodeJS.Timeout>();
  #stopped = false;
  #pca: PcaClient | undefined;
  /** The current failure of each source; a source that loads clears its own, so /readyz never shows a stale cause. */
  #errors = new Map<'file' | 'pca', string>();

  constructor(options: TrustOptions) {
    this.#o = options;
  }

  /** True once every configured source has loaded at least once (with none configured: system roots). */
  get loaded(): boolean {
    return (this.#o.caFile === undefined || this.#filePems !== undefined) && (this.#o.caArn === undefined || this.#pcaPems !== undefined);
  }

  get lastError(): string | undefined {
    return this.#errors.size === 0 ? undefined : [...this.#errors.values()].join('; ');
  }

  /** The context for the current roots. With no CA configured it is ready at once. */
  secureContext(): SecureContext {
    return createSecureContext({ ca: [...rootCertificates, ...(this.#filePems ?? []), ...(this.#pcaPems ?? [])] });
  }

  start(): void {
    this.#stopped = false;
    if (this.#o.caFile !== undefined) void this.#loadFile(0);
    if (this.#o.caArn !== undefined) {
      const region = this.#o.caRegion!;
      this.#pca ??= new PcaClient({
        region,
        endpoint: resolvePcaEndpoint({ region, useFips: this.#o.pcaUseFips, useDualStack: this.#o.pcaUseDualStack, endpoint: this.#o.pcaEndpoint }),
        // The PCA call signs with the same cached credentials as the proxy; it never triggers its own fetch.
        credentials: () => this.#o.credentials.current(),
      });
      void this.#loadPca(0);
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#pca?.close();
  }

  #later(fn: () => void, ms: number): void {
    if (this.#stopped) return;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.#timers.add(t);
  }

  #changed(source: 'pca' | 'file', pems: string[]): void {
    this.#o.metrics.caLoaded();
    this.#o.logger.info({ event: 'ca_loaded', source, certificates: describe(pems) }, 'trusted Private CA roots loaded');
    this.#o.onChange(this.secureContext());
  }

  async #loadFile(attempt: number): Promise<void> {
    const file = this.#o.caFile!;
    const started = performance.now();
    try {
      const text = await readFile(file, 'utf8');
      this.#errors.delete('file');
      if (text !== this.#fileText) {
        const pems = parsePemBundle(text, `CA_FILE ${file}`);
        this.#fileText = text;
        this.#filePems = pems;
        this.#o.metrics.caLoad('file', 'success', (performance.now() - started) / 1000);
        this.#changed('file', pems);
      }
      this.#later(() => void this.#loadFile(0), this.#o.filePollMs ?? 10_000);
    } catch (err) {
      const error = (err as Error).message;
      this.#errors.set('file', error);
      this.#o.metrics.caLoad('file', 'failure', 0);
      const delay = this.#filePems ? (this.#o.filePollMs ?? 10_000) : backoffDelay(attempt, this.#o.retryBaseMs ?? 1_000, this.#o.retryCapMs ?? 30_000);
      this.#o.logger.warn({ event: 'ca_file_failed', file, error, retryInMs: delay, keptPrevious: this.#filePems !== undefined }, 'could not load CA_FILE');
      this.#later(() => void this.#loadFile(attempt + 1), delay);
    }
  }

  async #loadPca(attempt: number): Promise<void> {
    const arn = this.#o.caArn!;
    // The PCA API needs signed requests: wait for credentials rather than burn retries without them.
    await this.#o.credentials.whenAvailable();
    if (this.#stopped) return;
    const started = performance.now();
    try {
      const out = await this.#pca!.getCertificateAuthorityCertificate(arn);
      // For a subordinate CA the chain up to the root comes separately; trust all of it.
      const text = out.certificate + '\n' + (out.certificateChain ?? '');
      this.#errors.delete('pca');
      if (text !== this.#pcaText) {
        const pems = parsePemBundle(text, `CA ${arn}`);
        this.#pcaText = text;
        this.#pcaPems = pems;
        this.#o.metrics.caLoad('pca', 'success', (performance.now() - started) / 1000);
        this.#changed('pca', pems);
      }
      this.#later(() => void this.#loadPca(0), this.#o.refreshIntervalMs);
    } catch (err) {
      if (this.#stopped) return; // aborted by stop()
      // A PcaError already names the call, the ARN and the cause.
      const error = err instanceof PcaError ? err.message : `GetCertificateAuthorityCertificate ${arn}: ${(err as Error).message}`;
      this.#errors.set('pca', error);
      this.#o.metrics.caLoad('pca', 'failure', 0);
      const delay = backoffDelay(attempt, this.#o.retryBaseMs ?? 1_000, this.#o.retryCapMs ?? 30_000);
      this.#o.logger.warn(
        { event: 'ca_fetch_failed', code: err instanceof PcaError ? err.code : undefined, error, retryInMs: delay, keptPrevious: this.#pcaPems !== undefined },
        'could not fetch the Private CA root',
      );
      this.#later(() => void this.#loadPca(attempt + 1), delay);
    }
  }
}
