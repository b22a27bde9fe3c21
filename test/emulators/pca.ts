// Emulated AWS Private CA endpoint for the one call the proxy makes: GetCertificateAuthorityCertificate, spoken in
// the real AWS JSON 1.1 protocol and SigV4-verified (service acm-pca), so the real @aws-sdk/client-acm-pca works
// against it unchanged: that is what makes it a fair judge of the proxy's own client (proxy/src/pca.ts).
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { resolveAccessKey, type Identity, type StaticUser } from './iam.js';
import { closeServer, listen, urlHost } from './server-util.js';
import { verifySigV4 } from './sigv4-verify.js';

export const PCA_SIGNING_SERVICE = 'acm-pca';
const TARGET_PREFIX = 'ACMPrivateCA.';
const MAX_BODY = 64 * 1024;

export interface PcaEmulatorOptions {
  host?: string;
  port?: number;
  caArn: string;
  caCertPem: string;
  /** PEM chain up to the root; omit for a root CA (real PCA then omits CertificateChain). */
  chainPem?: string;
  iamKey: string;
  staticUsers?: StaticUser[];
  /** defaults to the region inside caArn */
  region?: string;
  maxSkewSeconds?: number;
  now?: () => number;
  /** IAM's decision on the call; false answers AccessDeniedException as IAM does. Default: allowed. */
  authorize?: (identity: Identity, caArn: string) => boolean;
}

export interface PcaEmulator {
  endpoint: string;
  port: number;
  setDown(down: boolean): Promise<void>;
  /** the next n calls answer 500 InternalFailure (the SDK retries those) */
  failNext(n: number): void;
  /** Serve another certificate from now on, as after a CA rotation. */
  setCertificate(caCertPem: string, chainPem?: string): void;
  stats: { calls: number; served: number; failed: number };
  close(): Promise<void>;
}

const CA_ARN = /^arn:aws[a-z-]*:acm-pca:([a-z0-9-]+):(\d{12}):certificate-authority\/[0-9a-f-]{36}$/;

function sendAwsJson(res: ServerResponse, status: number, body: unknown, requestId: string, errorType?: string): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId,
  };
  if (errorType) headers['x-amzn-errortype'] = errorType;
  res.writeHead(status, headers);
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => resolve(size <= MAX_BODY ? Buffer.concat(chunks) : undefined));
    req.on('error', reject);
  });
}

export async function startPcaEmulator(opts: PcaEmulatorOptions): Promise<PcaEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const arnMatch = CA_ARN.exec(opts.caArn);
  if (!arnMatch) throw new Error(`not an ACM PCA certificate-authority ARN: ${opts.caArn}`);
  const region = opts.region ?? (arnMatch[1] as string);
  const now = opts.now ?? Date.now;
  const stats = { calls: 0, served: 0, failed: 0 };
  let failures = 0;
  let seq = 0;
  let served: { caCertPem: string; chainPem?: string | undefined } = { caCertPem: opts.caCertPem, chainPem: opts.chainPem };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.calls++;
    const requestId = `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;
    const error = (status: number, type: string, message: string): void => {
      stats.failed++;
      sendAwsJson(res, status, { __type: type, message }, requestId, type);
    };
    const body = await readBody(req);
    if (failures > 0) {
      failures--;
      error(500, 'InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.');
      return;
    }
    if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/') {
      error(404, 'UnknownOperationException', 'Unknown operation');
      return;
    }
    if (body === undefined) {
      error(413, 'SerializationException', 'Request body too large');
      return;
    }
    const verified = verifySigV4(
      { method: 'POST', rawPath: req.url ?? '/', headers: req.rawHeaders },
      {
        service: PCA_SIGNING_SERVICE,
        region,
        now: now(),
        maxSkewSeconds: opts.maxSkewSeconds ?? 300,
        // The SDK may or may not send x-amz-content-sha256; either way the signature covers the real body.
        bodySha256: createHash('sha256').update(body).digest('hex'),
        resolveSecret: (accessKeyId, token) => {
          const r = resolveAccessKey({ iamKey: opts.iamKey, staticUsers: opts.staticUsers }, accessKeyId, token, now());
          return r.ok ? { ok: true, secretAccessKey: r.identity.secretAccessKey, identity: r.identity } : r;
        },
      },
    );
    if (!verified.ok) {
      const type =
        verified.code === 'SignatureDoesNotMatch' || verified.code === 'InvalidPayloadSigning' ? 'InvalidSignatureException' : verified.code;
      const status = verified.code === 'MissingAuthenticationToken' ? 403 : type === 'IncompleteSignature' ? 400 : 403;
      error(status, type, verified.message);
      return;
    }
    const target = req.headers['x-amz-target'];
    const contentType = req.headers['content-type'] ?? '';
    if (!contentType.startsWith('application/x-amz-json-1.1')) {
      error(400, 'SerializationException', `Unsupported content type: ${contentType}`);
      return;
    }
    if (target !== `${TARGET_PREFIX}GetCertificateAuthorityCertificate`) {
      error(400, 'UnknownOperationException', `Operation ${String(target)} is not supported by this emulator`);
      return;
    }
    let input: { CertificateAuthorityArn?: unknown };
    try {
      input = JSON.parse(body.toString('utf8') || '{}') as typeof input;
    } catch {
      error(400, 'SerializationException', 'Request body is not valid JSON');
      return;
    }
    const arn = input.CertificateAuthorityArn;
    if (typeof arn !== 'string' || !CA_ARN.test(arn)) {
      error(400, 'InvalidArnException', `The ARN is not valid: ${String(arn)}`);
      return;
    }
    // IAM decides before the resource is looked up. Coral's AccessDeniedException: namespaced __type,
    // capitalised Message, no x-amzn-errortype header, HTTP 400 (as every AWS JSON 1.1 client error).
    if (opts.authorize && !opts.authorize(verified.identity, arn)) {
      stats.failed++;
      const message =
        `User: ${verified.identity.principalArn} is not authorized to perform: acm-pca:GetCertificateAuthorityCertificate on resource: ${arn} ` +
        'because no identity-based policy allows the acm-pca:GetCertificateAuthorityCertificate action';
      sendAwsJson(res, 400, { __type: 'com.amazon.coral.service#AccessDeniedException', Message: message }, requestId);
      return;
    }
    if (arn !== opts.caArn) {
      error(400, 'ResourceNotFoundException', `Could not find certificate authority ${arn}.`);
      return;
    }
    stats.served++;
    sendAwsJson(
      res,
      200,
      served.chainPem ? { Certificate: served.caCertPem, CertificateChain: served.chainPem } : { Certificate: served.caCertPem },
      requestId,
    );
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch(() => res.destroy());
  };
  let server = createServer(handler);
  const port = await listen(server, host, opts.port ?? 0);
  return {
    endpoint: `http://${urlHost(host)}:${port}`,
    port,
    stats,
    setCertificate(caCertPem: string, chainPem?: string): void {
      served = { caCertPem, chainPem };
    },
    failNext(n: number): void {
      failures = n;
    },
    async setDown(down: boolean): Promise<void> {
      if (down) await closeServer(server);
      else if (!server.listening) {
        server = createServer(handler);
        await listen(server, host, port);
      }
    },
    close: () => closeServer(server),
  };
}
