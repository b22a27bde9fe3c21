// A plain-HTTP listener in the "lattice" namespace that names itself and logs every request it gets, so the e2e can
// prove a connection reached Lattice's address directly (not captured) — or that it never got there (captured).
// Usage: tsx test/e2e/marker.ts <host> <port> [<host> <port> ...]
import { createServer, type Server } from 'node:http';

const args = process.argv.slice(2);
if (args.length === 0 || args.length % 2 !== 0) {
  console.error('usage: marker.ts <host> <port> [<host> <port> ...]');
  process.exit(2);
}

const servers: Server[] = [];
for (let i = 0; i < args.length; i += 2) {
  const host = args[i] as string;
  const port = Number(args[i + 1]);
  const server = createServer((req, res) => {
    req.resume();
    const from = req.socket.remoteAddress ?? '?';
    console.log(JSON.stringify({ event: 'request', from, to: host, method: req.method, url: req.url, host: req.headers.host }));
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`marker: reached ${host}:${port} directly from ${from}\n`);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok());
  });
  servers.push(server);
}
console.log(JSON.stringify({ ready: true, name: 'marker', listening: args }));

const stop = (): void => {
  for (const s of servers) {
    s.close();
    s.closeAllConnections();
  }
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
