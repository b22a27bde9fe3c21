// The alternatives the proxy's upstream client and signer were chosen against, measured in the same harness:
// a straightforward Node proxy (node:http server) whose upstream side is either
//   --client https       https.request with an https.Agent (keepAlive, maxSockets 128), or
//   --client http-proxy  the http-proxy package (web() with the same keep-alive https.Agent),
//   --client undici      undici's Agent through its dispatch handler API (what proxy/src/upstream.ts uses),
// and whose signing is
//   --sign none          nothing (the cost of the plumbing alone),
//   --sign smithy        @smithy/signature-v4 + Node crypto, used as documented (one signer, await sign()),
//   --sign ours          the proxy's SigV4Signer (proxy/src/signer.ts).
// No allowlist, metrics or access log: this is the floor of each approach, not a product.
//
// Usage: node --import tsx bench/alt/naive-proxy.ts --port 8081 --connect-to 127.0.0.1:8443 --ca ca.pem
//          --client https|http-proxy --sign none|smithy|ours   (credentials from AWS_* env)

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent, request } from 'node:https';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import httpProxy from 'http-proxy';
import { Agent as UndiciAgent, type Dispatcher } from 'undici';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { SigV4Signer, UNSIGNED_PAYLOAD } from '../../proxy/src/signer.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'connect-to': { type: 'string' },
    ca: { type: 'string' },
    client: { type: 'string', default: 'https' },
    sign: { type: 'string', default: 'none' },
  },
});
const [connectHost, connectPort] = values['connect-to']!.split(':') as [string, string];
const creds = { accessKeyId: process.env['AWS_ACCESS_KEY_ID']!, secretAccessKey: process.env['AWS_SECRET_ACCESS_KEY']!, sessionToken: process.env['AWS_SESSION_TOKEN'] };
const region = process.env['AWS_REGION'] ?? 'us-west-2';
const agent = new Agent({ keepAlive: true, maxSockets: 128, ca: readFileSync(values.ca!) });
const smithy = new SignatureV4({ service: 'vpc-lattice-svcs', region, credentials: creds, sha256: Hash.bind(null, 'sha256'), uriEscapePath: true, applyChecksum: false });
const ours = new SigV4Signer(region, 'vpc-lattice-svcs');
const undiciAgent = new UndiciAgent({ connect: { ca: readFileSync(values.ca!) }, connections: 128, pipelining: 1 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** The headers to send upstream, signed as --sign says. */
async function outgoingHeaders(req: IncomingMessage, host: string): Promise<Record<string, string>> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k) && v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
  headers['host'] = host;
  if (values.sign === 'smithy') {
    const url = new URL(req.url ?? '/', 'https://' + host);
    const signed = await smithy.sign({
      method: req.method!,
      protocol: 'https:',
      hostname: host,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { ...headers, 'x-amz-content-sha256': UNSIGNED_PAYLOAD },
    });
    return signed.headers;
  }
  if (values.sign === 'ours') {
    const list = Object.entries(headers);
    const { authorization } = ours.sign(req.method!, req.url ?? '/', list, creds, Date.now());
    const out = Object.fromEntries(list);
    out['authorization'] = authorization;
    return out;
  }
  return headers;
}

const proxy = httpProxy.createProxyServer({ agent, secure: true, xfwd: false });
proxy.on('error', (err, _req, res) => {
  const r = res as ServerResponse;
  if (!r.headersSent) r.writeHead(502);
  r.end(String(err));
});

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const host = (req.headers.host ?? '').split(':')[0]!;
  const headers = await outgoingHeaders(req, host);
  if (values.client === 'http-proxy') {
    // http-proxy copies req.headers; put the signed set there so it sends exactly what was signed.
    for (const k of Object.keys(req.headers)) delete req.headers[k];
    Object.assign(req.headers, headers);
    proxy.web(req, res, { target: { protocol: 'https:', host: connectHost, port: Number(connectPort), servername: host } as never, changeOrigin: false });
    return;
  }
  if (values.client === 'undici') {
    const list: string[] = [];
    for (const [k, v] of Object.entries(headers)) if (k !== 'host') list.push(k, v);
    list.push('host', host);
    const handler: Dispatcher.DispatchHandler = {
      onConnect() {},
      onHeaders(status, raw, _resume, statusText) {
        const out: string[] = [];
        for (let i = 0; i < raw.length; i += 2) {
          const name = raw[i]!.toString('latin1');
          if (!HOP.has(name.toLowerCase())) out.push(name, raw[i + 1]!.toString('latin1'));
        }
        res.writeHead(status, statusText, out);
        return true;
      },
      onData(chunk) {
        return res.write(chunk);
      },
      onComplete() {
        res.end();
      },
      onError(err) {
        if (!res.headersSent) res.writeHead(502);
        res.end(String(err));
      },
    };
    // Dialled by address: the bench certificate also carries 127.0.0.1, and the Host header is the real name.
    undiciAgent.dispatch({ origin: `https://${connectHost}:${connectPort}`, path: req.url ?? '/', method: req.method as Dispatcher.HttpMethod, headers: list, body: req.method === 'GET' || req.method === 'HEAD' ? null : req }, handler);
    return;
  }
  const up = request({ agent, host: connectHost, port: Number(connectPort), servername: host, method: req.method, path: req.url, headers }, (ures) => {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(ures.headers)) if (!HOP.has(k) && v !== undefined) out[k] = v;
    res.writeHead(ures.statusCode ?? 502, out);
    ures.pipe(res);
  });
  up.on('error', (err) => {
    if (!res.headersSent) res.writeHead(502);
    res.end(String(err));
  });
  req.pipe(up);
}

const server = createServer((req, res) => void handle(req, res));
server.keepAliveTimeout = 65_000;
server.listen(Number(values.port), '127.0.0.1', () => process.stdout.write(JSON.stringify({ listening: true }) + '\n'));
process.on('SIGTERM', () => process.exit(0));
