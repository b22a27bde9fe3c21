// The demo server: answers every request with the pod's name and the app's name, as the pattern's demo app does
// ("Requesting to Pod(<hostname>): Hello from <app>"). Plain node:http so any Node >= 18 image runs it unchanged.
import { createServer } from 'node:http';
import { hostname } from 'node:os';

const port = Number(process.env.PORT ?? 8090);
const app = process.env.APP_NAME ?? 'demo';

const server = createServer((req, res) => {
  const body = req.url === '/healthz' ? 'ok\n' : `Requesting to Pod(${hostname()}): Hello from ${app}\n`;
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});

server.listen(port, '0.0.0.0', () => console.log(`${app} listening on :${port}`));
// Kubernetes sends SIGTERM and waits; closing lets in-flight requests finish.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
