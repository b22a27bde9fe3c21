// Prometheus metrics. One registry per process, created in main and passed down (no prom-client global
// default registry). Label values are small closed sets: never paths, hosts or anything a client controls.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { UpstreamErrorKind } from './errors.js';

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx';
export type Origin = 'upstream' | 'proxy';

const CLASSES: readonly StatusClass[] = ['1xx', '2xx', '3xx', '4xx', '5xx'];

export interface Metrics {
  readonly registry: Registry;
  /** Count one finished request and its duration. */
  request(status: number, origin: Origin, seconds: number): void;
  /** Where the in-flight gauge reads from at scrape time (the proxy already counts; no per-request gauge call). */
  inFlightSource(fn: () => number): void;
  upstreamError(kind: UpstreamErrorKind): void;
  readonly upstreamConnections: Counter;
  signingFailure(reason: 'no_credentials' | 'error'): void;
  rejected(reason: 'not_allowed' | 'bad_request' | 'method' | 'shutting_down'): void;
  credentialRefresh(result: 'success' | 'failure'): void;
  /** Where the credential expiry gauge reads from at scrape time (seconds left, or undefined for none). */
  credentialExpirySource(fn: () => number | undefined): void;
  caLoad(source: 'pca' | 'file', result: 'success' | 'failure', seconds: number): void;
  readonly caLoaded: Gauge;
}

export function statusClass(status: number): StatusClass {
  return CLASSES[Math.min(Math.max(Math.floor(status / 100) - 1, 0), 4)]!;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'lattice_proxy_' });

  const requests = new Counter({
    name: 'lattice_proxy_requests_total',
    help: 'Requests handled, by status class and by who produced the status (upstream answer or the proxy itself)',
    labelNames: ['code', 'origin'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'lattice_proxy_request_duration_seconds',
    help: 'Time from request received to response finished, by status class',
    labelNames: ['code'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  // Every closed label set starts at 0, so rate() and absent-vs-zero alerts work from the first scrape.
  // Pre-bound children: the request path only does an array index and an add.
  const reqChildren = new Map<string, ReturnType<typeof requests.labels>>();
  for (const c of CLASSES) for (const o of ['upstream', 'proxy'] as const) reqChildren.set(c + o, requests.labels(c, o));
  const durChildren = CLASSES.map((c) => duration.labels(c));

  const upstreamErrors = new Counter({
    name: 'lattice_proxy_upstream_errors_total',
    help: 'Failures talking to the upstream, by kind (connect, tls, reset, protocol, timeout)',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  for (const k of ['connect', 'tls', 'reset', 'protocol', 'timeout']) upstreamErrors.labels(k).inc(0);
  const signingFailures = new Counter({
    name: 'lattice_proxy_signing_failures_total',
    help: 'Requests that could not be signed and were refused, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const r of ['no_credentials', 'error']) signingFailures.labels(r).inc(0);
  const rejected = new Counter({
    name: 'lattice_proxy_rejected_requests_total',
    help: 'Requests refused by the proxy before signing, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const r of ['not_allowed', 'bad_request', 'method', 'shutting_down']) rejected.labels(r).inc(0);
  const credentialRefreshes = new Counter({
    name: 'lattice_proxy_credential_refreshes_total',
    help: 'Background credential fetches, by result',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  for (const r of ['success', 'failure']) credentialRefreshes.labels(r).inc(0);
  const caLoads = new Counter({
    name: 'lattice_proxy_ca_loads_total',
    help: 'Private CA root loads, by source (pca, file) and result',
    labelNames: ['source', 'result'] as const,
    registers: [registry],
  });
  const caLoadSeconds = new Gauge({
    name: 'lattice_proxy_ca_load_duration_seconds',
    help: 'Duration of the last successful Private CA root load, by source',
    labelNames: ['source'] as const,
    registers: [registry],
  });

  let expirySource: () => number | undefined = () => undefined;
  let inFlightSource: () => number = () => 0;
  new Gauge({
    name: 'lattice_proxy_in_flight_requests',
    help: 'Requests being proxied now',
    registers: [registry],
    collect() {
      this.set(inFlightSource());
    },
  });
  new Gauge({
    name: 'lattice_proxy_credentials_expiry_seconds',
    help: 'Seconds until the current AWS credentials expire (absent: no credentials; static credentials report +Inf)',
    registers: [registry],
    collect() {
      const v = expirySource();
      if (v === undefined) this.reset();
      else this.set(v);
    },
  });

  return {
    registry,
    credentialExpirySource(fn) {
      expirySource = fn;
    },
    request(status, origin, seconds) {
      const c = statusClass(status);
      reqChildren.get(c + origin)!.inc();
      durChildren[CLASSES.indexOf(c)]!.observe(seconds);
    },
    inFlightSource(fn) {
      inFlightSource = fn;
    },
    upstreamError: (kind) => upstreamErrors.labels(kind).inc(),
    upstreamConnections: new Counter({
      name: 'lattice_proxy_upstream_connections_opened_total',
      help: 'TLS connections opened to upstreams (a handful under steady load means keep-alive holds)',
      registers: [registry],
    }),
    signingFailure: (reason) => signingFailures.labels(reason).inc(),
    rejected: (reason) => rejected.labels(reason).inc(),
    credentialRefresh: (result) => credentialRefreshes.labels(result).inc(),
    caLoad(source, result, seconds) {
      caLoads.labels(source, result).inc();
      if (result === 'success') caLoadSeconds.labels(source).set(seconds);
    },
    caLoaded: new Gauge({
      name: 'lattice_proxy_ca_loaded_timestamp_seconds',
      help: 'Unix time of the last change of the trusted Private CA roots',
      registers: [registry],
    }),
  };
}
