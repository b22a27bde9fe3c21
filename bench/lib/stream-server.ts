// HTTPS sink and source for the 1 GiB streaming scenario (nginx cannot answer a streamed upload only after
// discarding it all, and generating a 1 GiB download would need a 1 GiB file).
// GET / -> "ok"; POST /sink -> reads and discards the body, answers {"bytes":N};
// GET /source?bytes=N -> N bytes, written with backpressure.
//
// Usage: node --import tsx bench/lib/stream-server.ts --port 0 --cert c.pem --key k.pem  (prints {"port":N})

import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, cert: { type: 'string' }, key: { type: 'string' } } });
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

const server = createServer({ cert: readFileSync(values.cert!), key: readFileSync(values.key!) }, (req, res) => {
  const url = new URL(req.url ?? '/', 'https://x');
  if (req.method === 'POST' && url.pathname === '/sink') {
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      // Content-length framing, so the floor yardstick (content-length only) can stream through it too.
      const body = JSON.stringify({ bytes });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
      res.end(body);
    });
    return;
  }
  if (req.method === 'GET' && url.pathname === '/source') {
    let left = Number(url.searchParams.get('bytes') ?? '0');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(left) });
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return;
  }
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' });
  res.end('ok\n');
});
server.keepAliveTimeout = 300_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(JSON.stringify({ port: typeof a === 'object' && a ? a.port : 0 }) + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
