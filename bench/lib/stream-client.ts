// Streams N bytes through the proxy (upload to /sink or download from /source) with backpressure on both
// sides, and checks that every byte arrived. Prints one JSON line.
//
// Usage: node --import tsx bench/lib/stream-client.ts --port 8080 --host bench.example.com --mode upload --bytes 1073741824

import { request } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' }, mode: { type: 'string' }, bytes: { type: 'string' } } });
const total = Number(values.bytes);
const CHUNK = Buffer.alloc(64 * 1024, 0x62);
const started = performance.now();

const result = await new Promise<{ status: number; bytes: number }>((resolve, reject) => {
  const upload = values.mode === 'upload';
  const req = request(
    {
      host: '127.0.0.1',
      port: Number(values.port),
      method: upload ? 'POST' : 'GET',
      path: upload ? '/sink' : `/source?bytes=${total}`,
      headers: upload ? { host: values.host, 'content-length': String(total), 'content-type': 'application/octet-stream' } : { host: values.host },
      agent: false,
    },
    (res) => {
      let received = 0;
      let body = '';
      res.on('data', (c: Buffer) => {
        received += c.length;
        if (upload) body += c.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: upload ? Number((JSON.parse(body || '{}') as { bytes?: number }).bytes ?? -1) : received }));
      res.on('error', reject);
    },
  );
  req.on('error', reject);
  if (!upload) {
    req.end();
    return;
  }
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!req.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        req.once('drain', pump);
        return;
      }
    }
    req.end();
  };
  pump();
});
const seconds = (performance.now() - started) / 1000;
process.stdout.write(JSON.stringify({ mode: values.mode, status: result.status, bytesExpected: total, bytesTransferred: result.bytes, seconds: Math.round(seconds * 100) / 100, mbPerSecond: Math.round(total / 1048576 / seconds) }) + '\n');
