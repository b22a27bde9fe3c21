// Every error a client of the sidecar can hit, with a stable code, in one place (modelled on undici's
// lib/core/errors.js). The proxy maps them to a status and a plain-text body through `errorResponse`, so
// the wording and the status of an error never drift apart between call sites.

export type ProxyErrorCode =
  | 'ERR_BAD_REQUEST'
  | 'ERR_TARGET_NOT_ALLOWED'
  | 'ERR_METHOD_NOT_ALLOWED'
  | 'ERR_UPGRADE_NOT_SUPPORTED'
  | 'ERR_HEADERS_TOO_LARGE'
  | 'ERR_REQUEST_TIMEOUT'
  | 'ERR_UNSUPPORTED_TRANSFER_CODING'
  | 'ERR_NO_CREDENTIALS'
  | 'ERR_SIGNING_FAILED'
  | 'ERR_UPSTREAM_CONNECT'
  | 'ERR_UPSTREAM_TLS'
  | 'ERR_UPSTREAM_RESET'
  | 'ERR_UPSTREAM_PROTOCOL'
  | 'ERR_UPSTREAM_TIMEOUT'
  | 'ERR_SHUTTING_DOWN'
  | 'ERR_NOT_READY'
  | 'ERR_INTERNAL';

export class ProxyError extends Error {
  readonly code: ProxyErrorCode;
  readonly status: number;
  constructor(code: ProxyErrorCode, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = status;
    this.name = new.target.name;
  }
}

export class BadRequestError extends ProxyError {
  constructor(message: string) {
    super('ERR_BAD_REQUEST', 400, message);
  }
}

export class TargetNotAllowedError extends ProxyError {
  constructor(readonly host: string) {
    super('ERR_TARGET_NOT_ALLOWED', 403, `target host "${host}" is not in the allowed hosts of this sidecar; the request was not signed or forwarded`);
  }
}

export class MethodNotAllowedError extends ProxyError {
  constructor(method: string) {
    super('ERR_METHOD_NOT_ALLOWED', 405, `${method} is not supported: send plain HTTP requests (the sidecar adds TLS and the SigV4 signature itself)`);
  }
}

export class UpgradeNotSupportedError extends ProxyError {
  constructor() {
    super('ERR_UPGRADE_NOT_SUPPORTED', 501, 'protocol upgrades (e.g. WebSocket) are not supported through the signing sidecar');
  }
}

export class HeadersTooLargeError extends ProxyError {
  constructor(detail?: string) {
    super('ERR_HEADERS_TOO_LARGE', 431, `request header block is larger than the sidecar accepts${detail ? ` (${detail})` : ''}`);
  }
}

export class RequestTimeoutError extends ProxyError {
  constructor() {
    super('ERR_REQUEST_TIMEOUT', 408, 'the request was not received in time');
  }
}

export class UnsupportedTransferCodingError extends ProxyError {
  constructor(coding: string) {
    super('ERR_UNSUPPORTED_TRANSFER_CODING', 501, `transfer coding "${coding}" is not supported: send the body chunked or with a Content-Length (content codings go in Content-Encoding)`);
  }
}

export class InternalError extends ProxyError {
  constructor(cause: unknown) {
    super('ERR_INTERNAL', 500, 'unexpected error while proxying the request', { cause });
  }
}

export class NoCredentialsError extends ProxyError {
  constructor(reason: string) {
    super('ERR_NO_CREDENTIALS', 503, `no valid AWS credentials to sign with (${reason}); the request was not forwarded`);
  }
}

export class SigningError extends ProxyError {
  constructor(cause: unknown) {
    super('ERR_SIGNING_FAILED', 500, 'the request could not be signed; it was not forwarded', { cause });
  }
}

export type UpstreamErrorKind = 'connect' | 'tls' | 'reset' | 'protocol' | 'timeout';

export class UpstreamError extends ProxyError {
  constructor(
    readonly kind: UpstreamErrorKind,
    code: ProxyErrorCode,
    status: number,
    message: string,
    cause: unknown,
  ) {
    super(code, status, message, { cause });
  }
}

export class ShuttingDownError extends ProxyError {
  constructor() {
    super('ERR_SHUTTING_DOWN', 503, 'the sidecar is shutting down; retry the request');
  }
}

export class NotReadyError extends ProxyError {
  constructor(reason: string) {
    super('ERR_NOT_READY', 503, `the sidecar is not ready (${reason}); the request was not forwarded`);
  }
}

// ---------------------------------------------------------------- ACM PCA (the Private CA root fetch)

export type PcaErrorCode =
  | 'ERR_PCA_NO_CREDENTIALS'
  | 'ERR_PCA_CREDENTIALS_REJECTED'
  | 'ERR_PCA_ACCESS_DENIED'
  | 'ERR_PCA_NOT_FOUND'
  | 'ERR_PCA_INVALID_ARN'
  | 'ERR_PCA_INVALID_STATE'
  | 'ERR_PCA_BUSY'
  | 'ERR_PCA_THROTTLED'
  | 'ERR_PCA_SERVICE'
  | 'ERR_PCA_BAD_RESPONSE'
  | 'ERR_PCA_TIMEOUT'
  | 'ERR_PCA_NETWORK';

/**
 * Why GetCertificateAuthorityCertificate failed. Never sent to an app: the message is what /readyz and the
 * `ca_fetch_failed` log line show an operator, so it names the CA ARN and the cause, and never a secret.
 */
export class PcaError extends Error {
  readonly code: PcaErrorCode;
  /** The AWS error code (`__type`), when the service answered with one. */
  readonly awsCode: string | undefined;
  readonly httpStatus: number | undefined;
  constructor(code: PcaErrorCode, message: string, options: { awsCode?: string | undefined; httpStatus?: number | undefined; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.awsCode = options.awsCode;
    this.httpStatus = options.httpStatus;
    this.name = new.target.name;
  }
}

const TLS_CODES = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_TLS_HANDSHAKE_TIMEOUT',
]);

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);
const TIMEOUT_CODES = new Set(['ERR_UPSTREAM_CONNECT_TIMEOUT', 'ERR_UPSTREAM_RESPONSE_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ERR_UPSTREAM_CLOSED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/** The most specific error code on an error or its causes (undici wraps socket errors). */
export function errorCode(err: unknown): string {
  let e: unknown = err;
  // undici wraps socket errors; the interesting code may sit on the cause.
  for (let depth = 0; depth < 3 && e && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
    const next = (e as { cause?: unknown }).cause;
    if (!next) return typeof code === 'string' ? code : '';
    e = next;
  }
  return '';
}

/** Classify an error raised while talking to the upstream into the one the client sees. */
export function upstreamErrorFrom(err: unknown, host: string): UpstreamError {
  const code = errorCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  if (TIMEOUT_CODES.has(code)) {
    return new UpstreamError('timeout', 'ERR_UPSTREAM_TIMEOUT', 504, `upstream ${host} did not answer in time (${code})`, err);
  }
  if (TLS_CODES.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || /certificate|tls|ssl/i.test(detail)) {
    return new UpstreamError('tls', 'ERR_UPSTREAM_TLS', 502, `TLS to upstream ${host} failed (${code || 'tls'}): ${detail}; nothing was sent`, err);
  }
  if (CONNECT_CODES.has(code)) {
    return new UpstreamError('connect', 'ERR_UPSTREAM_CONNECT', 502, `could not connect to upstream ${host} (${code})`, err);
  }
  if (RESET_CODES.has(code) || code === '') {
    return new UpstreamError('reset', 'ERR_UPSTREAM_RESET', 502, `upstream ${host} closed the connection (${code || 'closed'})`, err);
  }
  return new UpstreamError('protocol', 'ERR_UPSTREAM_PROTOCOL', 502, `upstream ${host} failed (${code}): ${detail}`, err);
}

export interface ErrorResponse {
  readonly status: number;
  readonly code: string;
  readonly body: string;
  /** The status a gRPC caller sees for it (gRPC's codes, github.com/grpc/grpc/blob/master/doc/statuscodes.md). */
  readonly grpcStatus: number;
}

/** gRPC status codes used here. */
export const GrpcStatus = {
  INTERNAL: 13,
  PERMISSION_DENIED: 7,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  INVALID_ARGUMENT: 3,
} as const;

/**
 * What a gRPC client is told for each of the proxy's own errors: a status it can act on (retry UNAVAILABLE,
 * not PERMISSION_DENIED), as grpc-js would map the HTTP status (403 → PERMISSION_DENIED, 503 → UNAVAILABLE).
 */
const GRPC_STATUS: Record<ProxyErrorCode, number> = {
  ERR_BAD_REQUEST: GrpcStatus.INTERNAL,
  ERR_TARGET_NOT_ALLOWED: GrpcStatus.PERMISSION_DENIED,
  ERR_METHOD_NOT_ALLOWED: GrpcStatus.UNIMPLEMENTED,
  ERR_UPGRADE_NOT_SUPPORTED: GrpcStatus.UNIMPLEMENTED,
  ERR_HEADERS_TOO_LARGE: GrpcStatus.RESOURCE_EXHAUSTED,
  ERR_REQUEST_TIMEOUT: GrpcStatus.DEADLINE_EXCEEDED,
  ERR_UNSUPPORTED_TRANSFER_CODING: GrpcStatus.UNIMPLEMENTED,
  ERR_NO_CREDENTIALS: GrpcStatus.UNAVAILABLE,
  ERR_SIGNING_FAILED: GrpcStatus.INTERNAL,
  ERR_UPSTREAM_CONNECT: GrpcStatus.UNAVAILABLE,
  ERR_UPSTREAM_TLS: GrpcStatus.UNAVAILABLE,
  ERR_UPSTREAM_RESET: GrpcStatus.UNAVAILABLE,
  ERR_UPSTREAM_PROTOCOL: GrpcStatus.UNAVAILABLE,
  ERR_UPSTREAM_TIMEOUT: GrpcStatus.DEADLINE_EXCEEDED,
  ERR_SHUTTING_DOWN: GrpcStatus.UNAVAILABLE,
  ERR_NOT_READY: GrpcStatus.UNAVAILABLE,
  ERR_INTERNAL: GrpcStatus.INTERNAL,
};

/** The single mapping from an error to what the client receives. Unknown errors are 502s, never crashes. */
export function errorResponse(err: unknown): ErrorResponse {
  if (err instanceof ProxyError) {
    return { status: err.status, code: err.code, body: `lattice-sigv4-proxy: ${err.message}\n`, grpcStatus: GRPC_STATUS[err.code] };
  }
  return { status: 500, code: 'ERR_INTERNAL', body: 'lattice-sigv4-proxy: unexpected error while proxying the request\n', grpcStatus: GrpcStatus.INTERNAL };
}
