// Signing micro-benchmark (and the access log line's cost), no I/O: µs per SigV4 signature for the same realistic request (7 app headers,
// a ~1,000-character session token like a Pod Identity one, a path with a query) signed by
// - @smithy/signature-v4 with @aws-crypto/sha256-js (pure-JS hash),
// - @smithy/signature-v4 with Node's crypto (@smithy/hash-node, what the SDK uses on Node),
// - the proxy's SigV4Signer (proxy/src/signer.ts, the code that ships), alone and with the header
//   preparation the proxy does before it (proxy/src/headers.ts),
// - the proxy's SigV4ASigner (proxy/src/sigv4a.ts, ECDSA P-256; its key pair derived once and cached).
// Each signer is created once and reused (the SDK's usual pattern); smithy caches its signing key too.
//
// - with --single FILE, only the SigV4Signer of FILE, alone in the process: bench/run.ts alternates processes
//   for ours and for the signer of the committed reference's commit, so "signing unchanged or better" compares
//   two figures from the same minutes of the same host.
//
// Usage: node --import tsx bench/lib/sign-micro.ts [--ms 1500] | [--single FILE --label L]
//        prints one JSON line.

import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Hash } from '@smithy/hash-node';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SigV4Signer, UNSIGNED_PAYLOAD } from '../../proxy/src/signer.js';
import { SigV4ASigner } from '../../proxy/src/sigv4a.js';
import { compileHeaderPolicy, prepareHeaders } from '../../proxy/src/headers.js';
import { AccessLog, createLogger } from '../../proxy/src/logging.js';
import { LogWriter } from '../../proxy/src/log-writer.js';
import { openSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const { values } = parseArgs({ options: { ms: { type: 'string', default: '1500' }, single: { type: 'string' }, label: { type: 'string', default: 'signer' } } });
const budgetMs = Number(values.ms);

export const SESSION_TOKEN_CHARS = 1_000;
const creds = {
  accessKeyId: 'ASIA' + randomBytes(8).toString('hex').toUpperCase(),
  secretAccessKey: randomBytes(30).toString('base64'),
  // Pod Identity session tokens are ~1,000 base64 characters.
  sessionToken: randomBytes(750).toString('base64').slice(0, SESSION_TOKEN_CHARS),
};
const host = 'checkout.example.com';
const path = '/api/v1/orders';
const query = 'limit=20&cursor=eyJpZCI6MTIzfQ';
const appHeaders: Array<[string, string]> = [
  ['accept', 'application/json'],
  ['accept-encoding', 'gzip, deflate'],
  ['content-type', 'application/json'],
  ['user-agent', 'orders-client/2.3.1 node/20'],
  ['x-request-id', 'f3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d'],
  ['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
  ['tracestate', 'rojo=00f067aa0ba902b7'],
];
// What the parser hands the header preparation: lower-case names, trimmed values.
const names: string[] = ['host', ...appHeaders.map(([k]) => k)];
const headerValues: string[] = [host, ...appHeaders.map(([, v]) => v)];

async function measure(name: string, fn: () => unknown, ms = budgetMs): Promise<{ name: string; usPerOp: number; ops: number }> {
  // Warm up (JIT, caches), then time whole batches so the clock read is not part of the per-op cost.
  const warm = performance.now() + Math.min(500, ms / 2);
  while (performance.now() < warm) {
    const r = fn();
    if (r instanceof Promise) await r;
  }
  let ops = 0;
  const start = performance.now();
  const end = start + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) {
      // Only the async signers pay for an await; the synchronous one is timed as it is called.
      const r = fn();
      if (r instanceof Promise) await r;
    }
    ops += 100;
  }
  const us = ((performance.now() - start) * 1000) / ops;
  return { name, usPerOp: Math.round(us * 100) / 100, ops };
}

function smithyRequest(): HttpRequest {
  const headers: Record<string, string> = { host, 'x-amz-content-sha256': UNSIGNED_PAYLOAD };
  for (const [k, v] of appHeaders) headers[k] = v;
  return new HttpRequest({ method: 'GET', protocol: 'https:', hostname: host, path, query: { limit: '20', cursor: 'eyJpZCI6MTIzfQ' }, headers });
}

const smithyJs = new SignatureV4({ service: 'vpc-lattice-svcs', region: 'us-west-2', credentials: creds, sha256: Sha256, uriEscapePath: true, applyChecksum: false });
const smithyNode = new SignatureV4({ service: 'vpc-lattice-svcs', region: 'us-west-2', credentials: creds, sha256: Hash.bind(null, 'sha256'), uriEscapePath: true, applyChecksum: false });
const ours = new SigV4Signer('us-west-2', 'vpc-lattice-svcs');
const oursV4a = new SigV4ASigner('vpc-lattice-svcs', '*');
const policy = compileHeaderPolicy([], 'x-original-authorization');
const fullPath = path + '?' + query;

function signWith(signer: { sign: SigV4Signer['sign'] }): () => unknown {
  return () => {
    const headers: Array<[string, string]> = [['host', host]];
    for (let i = 0; i < appHeaders.length; i++) headers.push([appHeaders[i]![0], appHeaders[i]![1]]);
    return signer.sign('GET', fullPath, headers, creds, Date.now());
  };
}

/** SigV4Signer.sign of the module at `file`, alone in this process (no other signer has warmed or polluted the JIT). */
async function single(file: string, label: string): Promise<{ name: string; usPerOp: number; ops: number }> {
  const mod = (await import(pathToFileURL(file).href)) as { SigV4Signer: typeof SigV4Signer };
  const signer = new mod.SigV4Signer('us-west-2', 'vpc-lattice-svcs');
  return { ...(await measure('', signWith(signer))), name: label };
}

if (values['single']) {
  // bench/run.ts alternates processes (ours, the baseline, ...) and compares the best of each: in one process
  // the second signer class makes the call sites polymorphic, and identical code read 12.1 vs 9.1 µs.
  const r = await single(values['single'], values['label']!);
  process.stdout.write(JSON.stringify({ sessionTokenChars: creds.sessionToken.length, signedHeaders: appHeaders.length + 4, results: [r] }) + '\n');
  process.exit(0);
}

// The async smithy path is awaited per call, as a proxy handling one request at a time would.
const results = [
  await measure('smithy + @aws-crypto/sha256-js', () => smithyJs.sign(smithyRequest())),
  await measure('smithy + node:crypto', () => smithyNode.sign(smithyRequest())),
  await measure('ours (SigV4Signer.sign)', signWith(ours)),
  await measure('ours (prepareHeaders + sign)', () => {
    const h = prepareHeaders(names, headerValues, [], policy);
    h.signed.push(['host', h.host!]);
    return ours.sign('GET', fullPath, h.signed, creds, Date.now());
  }),
  await measure('ours SigV4A (SigV4ASigner.sign)', () => {
    const headers: Array<[string, string]> = [['host', host]];
    for (let i = 0; i < appHeaders.length; i++) headers.push([appHeaders[i]![0], appHeaders[i]![1]]);
    return oursV4a.sign('GET', fullPath, headers, creds, Date.now());
  }),
];
// The other per-request cost in the proxy's own code: one access log line, written through the production
// writer (batched, asynchronous) to /dev/null; for comparison, the same fields through pino.
const writer = new LogWriter({ fd: openSync('/dev/null', 'w') });
const access = new AccessLog(writer);
const baseLogger = createLogger('info', writer);
let n = 0;
results.push(
  await measure('access log line, pino (full redaction paths)', () =>
    baseLogger.info({ event: 'access', method: 'GET', host, path, status: 200, origin: 'upstream', durationMs: 1.234, bytesIn: n++, bytesOut: 512 }, 'request'),
  ),
);
results.push(
  await measure('access log line, AccessLog (the proxy\'s)', () =>
    access.write({ method: 'GET', host, path, status: 200, origin: 'upstream', code: undefined, durationMs: 1.234, bytesIn: n++, bytesOut: 512 }),
  ),
);
await writer.end();
process.stdout.write(JSON.stringify({ sessionTokenChars: creds.sessionToken.length, signedHeaders: appHeaders.length + 4, results }) + '\n');
