// AWS credentials for signing, fetched in the background and read synchronously on the request path.
//
// The request path calls `current()`, which never waits: either valid credentials are cached, or the
// request is refused with 503 (fail closed: never forwarded unsigned). A timer refreshes well before
// expiry, and on failure retries with backoff while the cached credentials are still good.

import type { Logger } from './logging.js';
import type { Metrics } from './metrics.js';
import type { Credentials } from './signer.js';
import { backoffDelay } from './backoff.js';
import { CredentialSourceError } from './credential-source.js';

export type CredentialProvider = () => Promise<Credentials>;

export interface CredentialCacheOptions {
  /** Returns a fresh provider per refresh: the AWS default chain memoises, and we want a real fetch. */
  readonly providerFactory: () => CredentialProvider;
  /** Refresh this long before expiry (capped at half the remaining lifetime). */
  readonly refreshMarginMs: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now?: () => number;
  /** Credentials this close to expiry are not used: a request signed now must still verify on arrival. */
  readonly expirySafetyMs?: number;
  /** Credentials without an expiry (env, shared file) are re-read this often. */
  readonly staticRefreshMs?: number;
  readonly retryBaseMs?: number;
  readonly retryCapMs?: number;
}

export type CredentialState =
  | { readonly status: 'pending'; readonly lastError?: string }
  | { readonly status: 'valid'; readonly expiresAt?: number }
  | { readonly status: 'expired'; readonly expiresAt: number; readonly lastError?: string };

export class CredentialCache {
  readonly #o: Required<Omit<CredentialCacheOptions, 'now'>> & { now: () => number };
  #creds: Credentials | undefined;
  #expiresAt = Infinity;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #lastError: string | undefined;
  #stopped = false;
  #refreshing: Promise<void> | undefined;
  #waiters: Array<() => void> = [];

  constructor(options: CredentialCacheOptions) {
    this.#o = {
      expirySafetyMs: 10_000,
      staticRefreshMs: 3_600_000,
      retryBaseMs: 1_000,
      retryCapMs: 30_000,
      now: Date.now,
      ...options,
    };
    this.#o.metrics.credentialExpirySource(() =>
      this.#creds === undefined ? undefined : this.#expiresAt === Infinity ? Infinity : (this.#expiresAt - this.#o.now()) / 1000,
    );
  }

  /** Credentials to sign with now, or undefined (none yet, or expired and not refreshed). Never waits. */
  current(): Credentials | undefined {
    const c = this.#creds;
    if (c === undefined) return undefined;
    if (this.#expiresAt !== Infinity && this.#o.now() >= this.#expiresAt - this.#o.expirySafetyMs) return undefined;
    return c;
  }

  state(): CredentialState {
    if (this.#creds === undefined) return this.#lastError ? { status: 'pending', lastError: this.#lastError } : { status: 'pending' };
    if (this.current() === undefined) {
      return this.#lastError
        ? { status: 'expired', expiresAt: this.#expiresAt, lastError: this.#lastError }
        : { status: 'expired', expiresAt: this.#expiresAt };
    }
    return this.#expiresAt === Infinity ? { status: 'valid' } : { status: 'valid', expiresAt: this.#expiresAt };
  }

  /** Resolves once valid credentials exist (used by the CA fetch, which needs them; not by requests). */
  whenAvailable(): Promise<void> {
    if (this.current() !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  start(): void {
    this.#stopped = false;
    void this.refresh();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Fetch now (deduplicated). Resolves when the attempt ends, whatever its outcome. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#fetch().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #fetch(): Promise<void> {
    const { logger, metrics } = this.#o;
    try {
      const creds = await this.#o.providerFactory()();
      if (!creds.accessKeyId || !creds.secretAccessKey) throw new Error('the credential provider returned no key');
      this.#creds = {
        accessKeyId: creds.accessKeyId,
        secretAccessKey: creds.secretAccessKey,
        sessionToken: creds.sessionToken,
        expiration: creds.expiration,
      };
      this.#expiresAt = creds.expiration ? creds.expiration.getTime() : Infinity;
      this.#failures = 0;
      this.#lastError = undefined;
      metrics.credentialRefresh('success');
      logger.info(
        {
          event: 'credentials_refreshed',
          accessKeyIdSuffix: creds.accessKeyId.slice(-4),
          temporary: Boolean(creds.sessionToken),
          expiration: creds.expiration?.toISOString() ?? null,
        },
        'credentials refreshed',
      );
      for (const w of this.#waiters.splice(0)) w();
      this.#schedule(this.#nextRefreshDelay());
    } catch (err) {
      this.#failures++;
      this.#lastError = err instanceof Error ? err.message : String(err);
      metrics.credentialRefresh('failure');
      const delay = backoffDelay(this.#failures - 1, this.#o.retryBaseMs, this.#o.retryCapMs);
      // The provider, URL, status and STS or agent code as fields too, so log queries need not parse the text.
      const d = err instanceof CredentialSourceError ? err.diagnosis : undefined;
      logger.warn(
        {
          event: 'credentials_refresh_failed',
          error: this.#lastError,
          ...(d ? { provider: d.provider, url: d.url, httpStatus: d.httpStatus, code: d.code, hint: d.hint } : {}),
          attempt: this.#failures,
          retryInMs: delay,
          haveValidCredentials: this.current() !== undefined,
        },
        'credential refresh failed',
      );
      this.#schedule(delay);
    }
  }

  #nextRefreshDelay(): number {
    if (this.#expiresAt === Infinity) return this.#o.staticRefreshMs;
    const remaining = this.#expiresAt - this.#o.now();
    const margin = Math.min(this.#o.refreshMarginMs, remaining / 2);
    return Math.max(1_000, remaining - margin);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.refresh(), delayMs);
    // The proxy's listeners keep the process alive; this timer must not keep it alive during shutdown.
    this.#timer.unref();
  }
}
